"""The one outbound webhook POST (the engine's attempts and the partner audit's probes): the target
checked (https where required, then the SSRF guard, again on connect), at most the first
SNIPPET_CHARS of the answer read, and a hard deadline on the whole exchange.

httpx's timeout is per socket operation: a receiver that drips a byte every 4.9 s keeps a 5 s
timeout alive for hours, outliving the claim on the delivery so that a second worker sends the same
message in parallel. Here every connect, write and read of the attempt gets at most the time left
until its deadline (the network streams below), so an attempt ends within `timeout` plus a moment."""

import logging
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

from levqor.outbound import (
    OutboundLookupFailed,
    OutboundTargetRefused,
    outbound_receiver_allowed,
    outbound_request_pin,
)
from levqor.webhooks.policy import webhook_https_required

logger = logging.getLogger("levqor.webhooks")
SNIPPET_CHARS = 500
HTTPS_REQUIRED = "https is required for webhook URLs here, and this URL is not https"

_local = threading.local()


@dataclass(frozen=True)
class WebhookPostResult:
    status_code: int | None  # None when no answer came (refused, unreachable, timed out before the headers)
    snippet: str  # the first SNIPPET_CHARS of the answer
    error: str  # "" when the receiver answered 2xx in time
    duration_ms: int
    refused: bool = False  # the target may not be called at all (retrying cannot help)
    timed_out: bool = False
    content: bytes = b""  # the bytes of the answer read (at most read_limit when the caller gave one)
    truncated: bool = False  # the answer was longer than read_limit (only when the caller gave one)

    @property
    def succeeded(self) -> bool:
        return not self.error


def _time_left(timeout: float | None) -> float:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the current attempt's deadline (thread-local: each
    worker thread has its own client and makes one attempt at a time)."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _time_left(timeout)))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_tcp(host, port, _time_left(timeout), local_address,
                                                         socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_unix_socket(path, _time_left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response):
        self._response = response

    def __iter__(self):
        with _httpx_errors():
            yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


class _httpx_errors:  # noqa: N801  (used as a context manager, like a function)
    """httpcore's exceptions as httpx's of the same name (both libraries name them alike, publicly)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, httpcore.TimeoutException | httpcore.NetworkError
                                         | httpcore.ProtocolError | httpcore.UnsupportedProtocol):
            return False
        raise getattr(httpx, type(exc).__name__, httpx.TransportError)(str(exc)) from exc


class _DeadlineTransport(httpx.BaseTransport):
    """httpx over an httpcore connection pool whose network backend keeps the attempt's deadline
    (httpcore's public `network_backend`; httpx's own transport does not take one). Every request is
    first pinned to the public address its host resolves to (levqor.outbound, the SSRF guard)."""

    def __init__(self):
        self._pool = httpcore.ConnectionPool(ssl_context=ssl.create_default_context(cafile=certifi.where()),
                                             network_backend=_DeadlineBackend(httpcore.SyncBackend()))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The address is looked up here, once, within the attempt's deadline (a slow resolver counts).
        with _httpx_errors():
            left = _time_left(None)
        outbound_request_pin(request, lookup_timeout=left)
        core = httpcore.Request(method=request.method,
                                url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                                                 port=request.url.port, target=request.url.raw_path),
                                headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        with _httpx_errors():
            response = self._pool.handle_request(core)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


CLIENTS_PER_THREAD = 32


def _client(url: str) -> httpx.Client:
    """A client per worker thread and receiver origin (scheme, host, port), reused: kept-alive
    connections to busy receivers. Per origin because the transport pins each request to the address
    its host resolves to: one pool shared by two host names on one address (a CDN, shared hosting)
    would send b.example's request down a connection whose TLS was set up for a.example. Its
    transport resolves and checks the target's address on every request (redirects are not
    followed), and its connections keep the attempt's deadline. At most CLIENTS_PER_THREAD are
    kept, the least recently used closed first."""
    parts = urlsplit(url)
    origin = (parts.scheme, parts.hostname, parts.port)
    clients = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    client = clients.pop(origin, None)
    if client is None:
        client = httpx.Client(transport=_DeadlineTransport(), follow_redirects=False)
        if len(clients) >= CLIENTS_PER_THREAD:
            clients.pop(next(iter(clients))).close()
    clients[origin] = client  # re-inserted: the dict's order is the least recently used first
    return client


def webhook_target_check(url: str) -> None:
    """Raise OutboundTargetRefused for a target no attempt may reach: not https where it is required,
    or not an http(s) URL httpx can send to. Whether its address is public is checked by the
    transport as it connects (looked up once, within the attempt's deadline)."""
    if webhook_https_required() and urlsplit(url).scheme != "https" and not outbound_receiver_allowed(url):
        raise OutboundTargetRefused(HTTPS_REQUIRED)
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decoded here: an invalid IDNA host raises the idna codec's own error
    except Exception as exc:  # httpx.InvalidURL, idna errors
        raise OutboundTargetRefused(f"The URL cannot be sent to: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not host:
        raise OutboundTargetRefused("Only http and https URLs with a host are allowed.")


def webhook_post(url: str, *, body: bytes, headers: dict[str, str], timeout: float,
                 read_limit: int | None = None) -> WebhookPostResult:
    """POST `body` to `url` and read at most the first SNIPPET_CHARS of the answer, all within `timeout`
    seconds: an answer (or its snippet) not complete by then is a failed attempt (a timeout). A 2xx in
    time is a success; anything else says why in `error`. Never raises for the receiver's doing.

    `read_limit`: read up to that many bytes of the answer instead (a caller that uses the answer, as a
    marketplace module run does); `content` holds them and `truncated` says the answer was longer."""
    started = time.monotonic()
    status_code, read, error, refused, timed_out = None, b"", "", False, False
    # One byte past the caller's limit tells an answer of exactly the limit from a longer one.
    stop_at = SNIPPET_CHARS * 4 if read_limit is None else read_limit + 1
    try:
        webhook_target_check(url)
        _local.deadline = started + timeout
        try:
            with _client(url).stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
                status_code = response.status_code
                for chunk in response.iter_bytes():
                    read += chunk
                    if len(read) >= stop_at:  # by default SNIPPET_CHARS: UTF-8 has at most 4 bytes a character
                        break
        finally:
            _local.deadline = None
        if not 200 <= status_code < 300:
            error = f"The receiver answered {status_code}."
    except OutboundLookupFailed as exc:
        error = str(exc)  # DNS may answer next time: a failed attempt, retried, not a refusal
    except OutboundTargetRefused as exc:
        error, refused = str(exc), True
    except httpx.TimeoutException as exc:
        error, timed_out = f"{type(exc).__name__}: no complete answer within {timeout:g} s", True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # never raise for the receiver's doing (its URL, its answer): a failed attempt
        logger.warning("webhook POST to %s failed unexpectedly", url, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
    return WebhookPostResult(status_code=status_code, snippet=read.decode("utf-8", "replace")[:SNIPPET_CHARS],
                             error=error[:500], duration_ms=int((time.monotonic() - started) * 1000),
                             refused=refused, timed_out=timed_out, content=read[:read_limit] if read_limit is not None else read,
                             truncated=read_limit is not None and len(read) > read_limit)
