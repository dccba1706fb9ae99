"""llm.chat: one chat completion from an OpenAI-compatible endpoint; real token usage sets the cost."""

from decimal import ROUND_HALF_UP, Decimal

import httpx
from django.conf import settings

from jobs.workflows.base import JobContext, JobError, JobErrorCode, TransientJobError, Workflow

SCHEMA = {
    "type": "object",
    "required": ["messages"],
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 100},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 32000},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "messages": {
            "type": "array", "minItems": 1, "maxItems": 200,
            "items": {
                "type": "object", "required": ["role", "content"], "additionalProperties": False,
                "properties": {"role": {"enum": ["system", "user", "assistant"]},
                               "content": {"type": "string", "maxLength": 100000}},
            },
        },
    },
}
DEFAULT_MAX_TOKENS = 512
MICRO = Decimal("0.000001")


def _price(input_tokens: int, output_tokens: int) -> Decimal:
    cost = (Decimal(input_tokens) * settings.LLM_PRICE_INPUT_PER_1K
            + Decimal(output_tokens) * settings.LLM_PRICE_OUTPUT_PER_1K) / 1000
    return cost.quantize(MICRO, rounding=ROUND_HALF_UP)


def estimate(payload: dict) -> Decimal:
    """Worst case before running: ~4 characters a token for the input, all of max_tokens out."""
    chars = sum(len(m.get("content", "")) for m in payload.get("messages", []) if isinstance(m, dict))
    return _price(chars // 4 + 1, payload.get("max_tokens", DEFAULT_MAX_TOKENS))


def handle(ctx: JobContext, payload: dict) -> dict:
    if not settings.LLM_BASE_URL:
        raise JobError(JobErrorCode.PROVIDER_NOT_CONFIGURED, "No LLM provider is configured (LLM_BASE_URL is not set).")
    body = {
        "model": payload.get("model") or settings.LLM_DEFAULT_MODEL,
        "messages": payload["messages"],
        "max_tokens": payload.get("max_tokens", DEFAULT_MAX_TOKENS),
    }
    if "temperature" in payload:
        body["temperature"] = payload["temperature"]
    headers = {"X-Levqor-Job-Id": str(ctx.job_id)}
    if settings.LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.LLM_API_KEY}"
    url = settings.LLM_BASE_URL.rstrip("/") + "/chat/completions"
    ctx.checkpoint()
    try:
        response = httpx.post(url, json=body, headers=headers,
                              timeout=min(settings.LLM_TIMEOUT_SECONDS, max(ctx.remaining(), 0.1)))
    except httpx.TimeoutException as exc:
        raise TransientJobError(JobErrorCode.PROVIDER_TIMEOUT, "The LLM provider did not answer in time.") from exc
    except httpx.TransportError as exc:
        raise TransientJobError(JobErrorCode.PROVIDER_UNREACHABLE,
                                f"The LLM provider is unreachable: {type(exc).__name__}.") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientJobError(JobErrorCode.PROVIDER_ERROR, f"The LLM provider answered {response.status_code}.")
    if response.status_code >= 400:
        raise JobError(JobErrorCode.PROVIDER_REJECTED, f"The LLM provider refused the request ({response.status_code}).",
                       details={"body": response.text[:2000]})
    try:
        # Everything read from the answer is read here, so any odd shape is a bad response, not a crash.
        data = response.json()
        choice = data["choices"][0]
        message = choice["message"]
        role, content = message.get("role", "assistant"), message.get("content", "")
        usage = data["usage"]
        input_tokens, output_tokens = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
        if input_tokens < 0 or output_tokens < 0:  # would bill a credit
            raise ValueError("negative token count")
        model, finish_reason = data.get("model", body["model"]), choice.get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise JobError(JobErrorCode.PROVIDER_BAD_RESPONSE, "The LLM provider's answer was not a chat completion.") from exc
    ctx.actual_cost = _price(input_tokens, output_tokens)
    return {
        "model": model,
        "message": {"role": role, "content": content},
        "finish_reason": finish_reason,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "cost": str(ctx.actual_cost),
    }


WORKFLOW = Workflow(
    name="llm.chat",
    description="One chat completion from the configured OpenAI-compatible provider, billed by real usage.",
    payload_schema=SCHEMA,
    handler=handle,
    estimate_cost=estimate,
    timeout_seconds=90,
    max_attempts=3,
)
