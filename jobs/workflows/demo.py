"""demo.flow: echoes its payload; can simulate work (delay_ms) and transient failures (fail_times)."""

from decimal import Decimal

from jobs.workflows.base import JobContext, JobErrorCode, TransientJobError, Workflow

SCHEMA = {
    "type": "object",
    "properties": {
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": 10000},
        "fail_times": {"type": "integer", "minimum": 0, "maximum": 100},
    },
}


def handle(ctx: JobContext, payload: dict) -> dict:
    ctx.checkpoint()
    delay_ms = payload.get("delay_ms", 0)
    if delay_ms:
        ctx.sleep(delay_ms / 1000)
    if ctx.attempt <= payload.get("fail_times", 0):
        raise TransientJobError(JobErrorCode.SIMULATED_FAILURE,
                                f"Simulated transient failure on attempt {ctx.attempt} of the requested "
                                f"{payload['fail_times']}.")
    return {"echo": payload}


WORKFLOW = Workflow(
    name="demo.flow",
    description="Echoes the payload back. delay_ms simulates work; fail_times fails that many attempts first.",
    payload_schema=SCHEMA,
    handler=handle,
    estimate_cost=lambda payload: Decimal("0.001"),
    timeout_seconds=30,
    max_attempts=3,
)
