"""The correlation id of the request (or task) being handled, for logs and error bodies."""

import contextvars
import re
import uuid

_correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_correlation_id() -> str:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> contextvars.Token:
    """Use the caller's id when it is sane, otherwise a fresh one."""
    if not value or not _VALID.match(value):
        value = uuid.uuid4().hex
    return _correlation_id.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)
