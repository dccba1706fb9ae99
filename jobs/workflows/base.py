"""What a workflow is: a name, a payload schema, a cost estimate, a timeout, a retry policy
and a handler. Handlers get a JobContext and raise JobError subclasses to fail."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.exceptions import Unresolvable

logger = logging.getLogger("levqor.jobs")


class JobErrorCode(StrEnum):
    """Why a job (or one attempt of it) failed: the `error.code` a job shows. One registry, like
    the API's levqor.errors.ErrorCode; these describe the job's work, not the request."""

    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    LEASE_EXPIRED = "lease_expired"
    UNKNOWN_WORKFLOW = "unknown_workflow"
    HANDLER_ERROR = "handler_error"
    SIMULATED_FAILURE = "simulated_failure"
    TARGET_NOT_ALLOWED = "target_not_allowed"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_STATUS = "upstream_status"
    PROVIDER_NOT_CONFIGURED = "provider_not_configured"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_UNREACHABLE = "provider_unreachable"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_REJECTED = "provider_rejected"
    PROVIDER_BAD_RESPONSE = "provider_bad_response"
    DATABASE_UNREACHABLE = "database_unreachable"


def schema_validator(schema: dict) -> Draft202012Validator:
    """A 2020-12 validator of `schema` that never fetches anything: an empty referencing Registry
    (no retrieve), so a `$ref` to a URL (or file://) is not looked up over the network at validation
    time (jsonschema's default would urlopen it: SSRF, no timeout). A `$ref` that is not inside the
    schema then raises referencing.exceptions.Unresolvable when it is reached (payload_errors says so)."""
    return Draft202012Validator(schema, registry=Registry(), format_checker=FormatChecker())


class SchemaUnresolvable(ValueError):
    """The workflow's schema has a reference that cannot be resolved (nothing is fetched)."""


class JobError(Exception):
    """A failure of the job's work, with a stable code. Permanent unless a subclass says so."""

    retryable = False

    def __init__(self, code: JobErrorCode | str, message: str, *, details: dict | None = None):
        # Our own workflows use JobErrorCode; a workflow added later (a marketplace module) may
        # pass its own stable code through.
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class TransientJobError(JobError):
    """A failure that may pass: the job is retried with backoff while attempts remain."""

    retryable = True


class JobCancelled(Exception):
    """Raised at a checkpoint when the job's cancel was requested."""


class JobTimedOut(TransientJobError):
    def __init__(self, timeout_seconds: float):
        super().__init__(JobErrorCode.TIMEOUT, f"The job ran past its {timeout_seconds:g} s timeout.")


class JobContext:
    """What a handler may ask while it runs: time left, cancel checks, cost reporting."""

    CANCEL_POLL_SECONDS = 0.25

    def __init__(self, *, job_id, attempt: int, livemode: bool, timeout_seconds: float,
                 cancel_requested: Callable[[], bool], clock: Callable[[], float] = time.monotonic,
                 cancel_known_clear: bool = False):
        self.job_id = job_id
        self.attempt = attempt
        self.livemode = livemode
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._deadline = clock() + timeout_seconds
        self._cancel_requested = cancel_requested
        # A claim that just read the row already knows no cancel was asked: skip the first poll.
        self._last_cancel_poll = clock() if cancel_known_clear else float("-inf")
        self.actual_cost: Decimal | None = None

    def remaining(self) -> float:
        return self._deadline - self._clock()

    def checkpoint(self) -> None:
        """Stop here if the job was cancelled or ran out of time."""
        if self.remaining() <= 0:
            raise JobTimedOut(self.timeout_seconds)
        now = self._clock()
        if now - self._last_cancel_poll >= self.CANCEL_POLL_SECONDS:
            self._last_cancel_poll = now
            try:
                cancelled = self._cancel_requested()
            except (OperationalError, InterfaceError) as exc:
                # The worker lost the database (its link cut, PostgreSQL restarting): the run stops
                # here and is retried, rather than carrying on blind past its lease (`make chaos`).
                # The dead connection goes, so recording the retry opens a new one (else the finish
                # fails on it too and the job waits out its lease).
                try:
                    if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
                        connection.close()
                except Exception:  # closing a broken connection may fail as well: it is gone either way
                    logger.warning("closing a lost database connection failed", exc_info=True)
                raise TransientJobError(JobErrorCode.DATABASE_UNREACHABLE,
                                        "The worker lost its database connection while running the job.") from exc
            if cancelled:
                raise JobCancelled()
            # The poll itself may have taken long (a connection that stopped answering): the
            # handler goes on only within its time, so never past its lease.
            if self.remaining() <= 0:
                raise JobTimedOut(self.timeout_seconds)

    def sleep(self, seconds: float) -> None:
        """Sleep in small steps, checking for cancel and the deadline between them."""
        end = self._clock() + seconds
        while True:
            self.checkpoint()
            left = end - self._clock()
            if left <= 0:
                return
            time.sleep(min(left, self.CANCEL_POLL_SECONDS, max(self.remaining(), 0.001)))


@dataclass(frozen=True)
class Workflow:
    name: str
    description: str
    payload_schema: dict
    handler: Callable[[JobContext, dict], Any]
    estimate_cost: Callable[[dict], Decimal]
    timeout_seconds: float = 60
    max_attempts: int = 3
    retry_base_seconds: float | None = None
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        Draft202012Validator.check_schema(self.payload_schema)
        # Compiled once per workflow, not per request.
        object.__setattr__(self, "validator", schema_validator(self.payload_schema))

    def schema_errors(self, payload: dict) -> list:
        """The validator's errors for `payload`; SchemaUnresolvable when the schema refers to
        something outside itself (never fetched)."""
        try:
            return list(self.validator.iter_errors(payload))
        except Unresolvable as exc:
            raise SchemaUnresolvable(f"The {self.name} workflow's schema has a reference that cannot be resolved "
                                     f"(only references inside the schema are followed).") from exc

    def payload_errors(self, payload: dict) -> list[dict]:
        """Every way the payload breaks the schema: which field, and why."""
        errors = sorted(self.schema_errors(payload), key=lambda e: list(e.absolute_path))
        return [
            {"field": "payload" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path),
             "message": e.message, "validator": e.validator}
            for e in errors
        ]
