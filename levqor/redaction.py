"""Secrets never reach a log line or an error report: raw API keys, webhook secrets, bearer
tokens, passwords, Authorization and Cookie headers, and query or form parameters named like
key/token/secret/password are replaced by [REDACTED] wherever they appear."""

import functools
import logging
import re
from collections.abc import Mapping

REDACTED = "[REDACTED]"
# Names (dict keys, log record extras, headers, parameters) whose values are secret.
_SECRET_NAME = re.compile(r"pass(?:word|wd)?|pwd|secret|token|key|authori[sz]ation|cookie|session|csrf|signature|"
                          r"credential|auth", re.I)
# Named like a secret but safe and wanted: the display prefix of an API key, never the key.
_SAFE_NAMES = frozenset({"key_prefix"})
_PATTERNS = [
    (re.compile(r"\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]+", re.I), rf"\g<1>\g<2>{REDACTED}"),
    # A raw key; its display prefix (4 characters after lvk_live_) is safe to show and stays.
    (re.compile(r"\b(lvk_(?:live|test)_)[0-9A-Za-z]{5,}"), rf"\g<1>{REDACTED}"),
    (re.compile(r"\b(whsec_)[A-Za-z0-9+/=]+"), rf"\g<1>{REDACTED}"),
    # key=value in a query string, a form body or free text: ?api_key=..., &password=...
    (re.compile(r"((?:^|[?&;\s])[^=&;\s?'\"]*(?:pass|pwd|secret|token|key|auth|session|signature|cookie)"
                r"[^=&;\s'\"]*=)[^&;\s'\"#]*", re.I), rf"\g<1>{REDACTED}"),
    # "password": "..." in JSON-like text
    (re.compile(r"""(["'][^"']*(?:pass|pwd|secret|token|key|auth|session|signature|cookie)[^"']*["']\s*:\s*)"""
                r"""(["'])(?:(?!\2).)*\2""", re.I), rf"\g<1>\g<2>{REDACTED}\g<2>"),
]


_PLAIN, _SAFE, _SECRET = 0, 1, 2


@functools.lru_cache(maxsize=4096)
def _name_kind(name: str) -> int:
    """What a name says of its value, remembered: the same few names (log extras, dict keys) come
    again on every line, and the regex was most of a request line's cost."""
    if name.lower() in _SAFE_NAMES:
        return _SAFE
    return _SECRET if _SECRET_NAME.search(name) else _PLAIN


def secret_name(name) -> bool:
    return isinstance(name, str) and _name_kind(name) == _SECRET


# Every pattern above needs one of these words: text without any (most log fields: paths,
# methods, addresses, ids) is returned as it is, without running the five substitutions.
_MAY_HOLD_SECRET = re.compile(r"bearer|basic|token|lvk_|whsec_|pass|pwd|secret|key|auth|session|signature|cookie",
                              re.I)


_MEMO_TEXT_MAX = 256


def redact_text(text: str) -> str:
    # Short texts come again and again (methods, paths, addresses, user agents): their answer is
    # remembered; a long one (a traceback, a message) is worked out each time.
    return _redact_text_short(text) if len(text) <= _MEMO_TEXT_MAX else _redact_text(text)


def _redact_text(text: str) -> str:
    if not _MAY_HOLD_SECRET.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_redact_text_short = functools.lru_cache(maxsize=4096)(_redact_text)


def redact_value(value, name=None, _depth: int = 0):
    """A copy of value with secrets replaced; plain numbers and booleans are kept as they are.
    Objects other than containers become their redacted text (a request's repr carries its
    query string)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    kind = _name_kind(name) if isinstance(name, str) else _PLAIN
    if kind == _SAFE:
        return value if isinstance(value, str) and len(value) <= 20 else REDACTED
    if kind == _SECRET:
        return REDACTED
    if _depth > 8:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {k: redact_value(v, k, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, None, _depth + 1) for v in value]
    return redact_text(str(value))


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """On every handler: rewrites the record in place (message, extras, traceback text), so the
    handlers after this one see the redacted record too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_levqor_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string still gets logged, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact_text(str(message)), ()
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                record.__dict__[key] = redact_value(value, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._levqor_redacted = True
        return True
