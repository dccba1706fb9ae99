"""`chaos.flow`: demo.flow's handler, with each run written to CHAOS_RUN_LOG (one JSON line at
its start and one at its end, each fsync'd) so the rehearsal can find runs of the same job that
overlapped, whatever happened to the database meanwhile."""

import json
import os
import socket
import time

from django.apps import AppConfig


def _log(event: str, ctx, **extra) -> None:
    path = os.environ.get("CHAOS_RUN_LOG")
    if not path:
        return
    line = json.dumps({"ev": event, "job": str(ctx.job_id), "attempt": ctx.attempt,
                       "host": os.environ.get("CHAOS_HOST") or socket.gethostname(), "pid": os.getpid(),
                       "t": time.time(), **extra}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class ChaosAppConfig(AppConfig):
    name = "chaosapp"
    label = "chaosapp"

    def ready(self):
        from dataclasses import replace

        from jobs.workflows import workflow_get, workflow_register

        demo = workflow_get("demo.flow")

        def handle(ctx, payload):
            _log("start", ctx)
            try:
                result = demo.handler(ctx, payload)
            except BaseException as exc:
                _log("end", ctx, outcome=type(exc).__name__)
                raise
            _log("end", ctx, outcome="ok")
            return result

        workflow_register(replace(demo, name="chaos.flow", description="demo.flow, each run logged (make chaos).",
                                  handler=handle))
