"""The HTTP transport: uvicorn's httptools protocol with the limits it lacks.

What a connection can cost, and for how long:

- **The request head in memory.** The raw bytes of a request head are counted as they arrive,
  before the parser sees them (`swr_official_images.http.head`): a request line longer than the
  target limit plus `REQUEST_LINE_OVERHEAD` answers 414, a header block (every header line, up
  to and including the blank line) over the header limit answers 431, and the bytes past the
  limit are never parsed. The parser, which copies an unfinished line each time it grows,
  therefore never holds more than the two limits of one head, however the bytes are split. A
  request target over the target limit answers 414 too.
- **No request body.** The API's operations take none, so a request that announces one
  (`Content-Length` above 0, or any `Transfer-Encoding`) answers 400 as soon as its head is
  complete, and nothing after that head is parsed (what still arrives is dropped until the
  connection closes): no body is buffered, no trailer field is seen.
- **Time.** A connection must send a complete request head within the head timeout, counted
  from when it opens or when its previous response was sent; and a connection on which neither
  side has made progress for the idle timeout is closed, whatever its state. It is not idle
  while the server is still producing a response, unless that response is stuck because the
  client does not read it.
- **One write per response.** A response's head is held until its body's first write, and both
  leave in one write (one system call instead of two); a head without a body
  (HEAD, 304) leaves when its response completes, and anything held leaves before the
  connection closes (`ResponseWriter`).
- **Order.** An error the transport answers for a pipelined request (400, 414, 431, 505) is
  sent after the responses to the requests before it, then the connection is closed.
- **Versions.** Only HTTP/1.0 and HTTP/1.1 are spoken. A request line's version is read as
  RFC 9110 §2.5 says: an unknown 1.x minor (`HTTP/1.2`) is HTTP/1.1, another major that has the
  form `HTTP/DIGIT.DIGIT` (`HTTP/2.0`, `HTTP/3.0`) answers 505, and anything else is not HTTP
  (400). The request line therefore reaches the parser only once complete (it is bounded by the
  target limit), with an unknown 1.x minor rewritten to 1.1: the parser refuses any version it
  does not know as not HTTP.

Every answer from this layer carries the SWR error body (none to HEAD), a request id and the
security headers (uvicorn would send plain text), and is reported to the app's
`TransportEvents` (an access line and metrics), as are the connections it closes.
Everything else is uvicorn's own behaviour, including its keep-alive timeout between requests
and how it queues pipelined requests (each queued request holds its parsed head; uvicorn stops
reading while one waits).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from swr_official_images.http.error_codes import ErrorCode, render_error
from swr_official_images.http.head import (
    HeadCounter,
    HeaderBlockTooLarge,
    RequestLineTooLong,
    request_line_method,
    spoken_request_line,
)
from swr_official_images.http.middleware import SECURITY_HEADERS
from swr_official_images.request_context import fresh_request_id
from swr_official_images.settings import Settings

log = logging.getLogger(__name__)

SPOKEN_VERSIONS = {"1.0", "1.1"}


class TransportRefusal(NamedTuple):
    """An answer the transport gives itself: its status, the error body's message, and the
    reason the access line and the metrics (swr_http_refusals_total) name."""

    status: HTTPStatus
    message: str
    reason: str


URI_TOO_LONG = TransportRefusal(
    HTTPStatus.REQUEST_URI_TOO_LONG, "The request URI is too long.", "uri_too_long"
)
HEADERS_TOO_LARGE = TransportRefusal(
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
    "The request headers are too large.",
    "headers_too_large",
)
NOT_HTTP = TransportRefusal(HTTPStatus.BAD_REQUEST, "The request is not valid HTTP.", "not_http")
HAS_BODY = TransportRefusal(
    HTTPStatus.BAD_REQUEST, "The operation takes no request body.", "has_body"
)
BAD_VERSION = TransportRefusal(
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "The HTTP version is not supported.", "bad_version"
)
REFUSALS = (URI_TOO_LONG, HEADERS_TOO_LARGE, NOT_HTTP, HAS_BODY, BAD_VERSION)
# Why a connection is closed without an answer (swr_connections_closed_total).
HEAD_TIMEOUT, IDLE = "head_timeout", "idle"
CLOSE_REASONS = (HEAD_TIMEOUT, IDLE)


# The key of the lifespan state (which uvicorn shares with every connection) under which the app
# puts what receives the transport's events.
EVENTS_STATE_KEY = "transport_events"


class TransportEvents(Protocol):
    """What the transport reports, to whatever the app provides: an answer it gave itself (one
    of REFUSALS, by its reason), and a connection it closed without one (one of CLOSE_REASONS).
    """

    def refused(
        self,
        *,
        status: int,
        reason: str,
        request_id: str,
        method: str | None,
        client: str | None,
        sent: int,
        seconds: float,
    ) -> None: ...

    def closed(self, reason: str) -> None: ...


@dataclass(frozen=True)
class RequestHeadLimits:
    max_url_bytes: int
    max_header_bytes: int
    head_timeout: float
    idle_timeout: float


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a request the transport answers itself."""


# A body larger than this leaves in a write of its own after its head: the copy that would join
# them grows with the body, while the system call it saves does not.
JOINED_BODY_MAX_BYTES = 64 * 1024


class ResponseWriter:
    """A connection's transport as its responses are written to it: each response's head (the
    first write after the previous response completed) is held, and leaves joined to the body's
    first write: a streamed response's head therefore waits for its first chunk (the API's
    responses are built whole; a Swagger UI file's first chunk is one read away). An
    informational response (`100 Continue`) goes out at once.

    One per connection, not per request: it refers to nothing of a request, so it makes no
    reference cycle with the request's objects. What it does not define is the transport's own.
    """

    __slots__ = ("_head_next", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._head_next = True

    def write(self, data: bytes) -> None:
        if self._head_next:
            if not data.startswith(b"HTTP/1.1 1"):
                self._head_next = False
                self._held = data
                return
        elif self._held is not None:
            held, self._held = self._held, None
            if len(data) <= JOINED_BODY_MAX_BYTES:
                data = held + data
            else:
                self._transport.write(held)
        self._transport.write(data)

    def response_complete(self) -> None:
        """The response is over: its head leaves if no body took it (HEAD, 304, no content),
        and the next write is the next response's head."""
        self._flush()
        self._head_next = True

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: RequestHeadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._head = HeadCounter(limits.max_url_bytes, limits.max_header_bytes)
        self._request_line = bytearray()  # held back from the parser until complete
        self._method: str | None = None  # once the parser has read it
        self._url_bytes = 0
        # Set once the transport has decided to answer an error: nothing more is parsed.
        self._refusal: TransportRefusal | None = None
        self._refusal_for_head = False
        self._refused_method: str | None = None
        self._refused_head_started_at = 0.0
        self._head_due: float | None = None  # when the head in progress must be complete
        self._head_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_progress = 0.0
        self._running_cycle: RequestResponseCycle | None = None
        self._writer: ResponseWriter  # from connection_made on

    # --- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn's flow control keeps the transport itself; every write goes through this.
        self._writer = ResponseWriter(transport)
        self.transport = cast(asyncio.Transport, self._writer)
        self._arm_head_deadline()
        self._last_progress = self.loop.time()
        self._idle_timer = self.loop.call_later(self._limits.idle_timeout, self._on_idle_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        # uvicorn tells only the newest request of a pipeline; the one being answered (and
        # those waiting) would go on writing to a closed transport.
        for cycle in (self._running_cycle, *(cycle for cycle, _ in self.pipeline)):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._running_cycle = cycle
        super()._start_asgi_task(cycle, app)

    def resume_writing(self) -> None:
        self._last_progress = self.loop.time()
        super().resume_writing()

    def data_received(self, data: bytes) -> None:
        now = self._last_progress = self.loop.time()
        self._unset_keepalive_if_required()
        if self._refusal is not None:
            return  # the answer is decided; what follows is discarded unparsed
        head = self._head
        if head.whole(data, now):
            self._feed(data)
            return
        position = 0
        while position < len(data):
            line_was_done = head.line_done
            try:
                size = head.piece(data, position, now)
            except RequestLineTooLong:
                self._refuse(URI_TOO_LONG)
                return
            except HeaderBlockTooLarge:
                self._refuse(HEADERS_TOO_LARGE)
                return
            piece: bytes | memoryview = (
                data if size == len(data) else memoryview(data)[position : position + size]
            )
            if not line_was_done and head.started:
                # A piece of the request line: the counter ends a piece where the line ends.
                self._request_line += piece
                if not head.line_done:
                    position += size
                    continue
                raw_line = bytes(self._request_line)
                self._request_line.clear()
                line = spoken_request_line(raw_line)
                if line is None:
                    self._method = request_line_method(raw_line)
                    self._refuse(BAD_VERSION)
                    return
                piece = line
            if not self._feed(piece):
                return
            position += size

    def _feed(self, piece: bytes | memoryview) -> bool:
        """Parse a piece; False once the request is refused."""
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserUpgrade:
            # No protocol upgrade is offered (uvicorn runs with ws="none"): the request is
            # answered as a plain one, and a piece ends with its head, so nothing is lost.
            pass
        except httptools.HttpParserError:
            self._refuse(self._refusal or NOT_HTTP)
            return False
        return True

    # --- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = 0
        self._method = None

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if self._method is None:
            # The parser has read the method by the time the target starts.
            self._method = self.parser.get_method().decode("ascii", "replace")
        self._url_bytes += len(url)
        if self._url_bytes > self._limits.max_url_bytes:
            self._stop(URI_TOO_LONG)

    def on_headers_complete(self) -> None:
        if self.parser.get_http_version() not in SPOKEN_VERSIONS:
            self._stop(BAD_VERSION)
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b" \t0")):
                self._stop(HAS_BODY)
        self._cancel_head_deadline()
        super().on_headers_complete()

    def _stop(self, refusal: TransportRefusal) -> None:
        self._refusal = refusal
        raise _HeadRefused

    # --- answers from the transport --------------------------------------------------------

    def _refuse(self, refusal: TransportRefusal) -> None:
        self._refusal = refusal
        self._refusal_for_head = self._head.is_head_method
        self._refused_method = self._method
        self._refused_head_started_at = self._head.started_at or self.loop.time()
        self._cancel_head_deadline()
        self.flow.pause_reading()
        if not self._responding():
            self._send_refusal()
        # Otherwise on_response_complete sends it once the responses before it are out.

    def _responding(self) -> bool:
        # Cycles complete in order, so the newest one being complete means all are.
        return self.cycle is not None and not self.cycle.response_complete

    def on_response_complete(self) -> None:
        self._writer.response_complete()
        self._last_progress = self.loop.time()
        super().on_response_complete()
        if self.transport.is_closing() or self._responding():
            return
        if self._refusal is not None:
            self._send_refusal()
        else:
            self._arm_head_deadline()

    def _send_refusal(self) -> None:
        assert self._refusal is not None
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        status, message, reason = self._refusal
        request_id = fresh_request_id()
        body = render_error(ErrorCode.INVALID_PARAMETER, message, request_id)
        head = [f"HTTP/1.1 {int(status)} {HTTPStatus(status).phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
            b"x-request-id: " + request_id.encode(),
        ]
        head += [f"{name.lower()}: {value}".encode() for name, value in SECURITY_HEADERS.items()]
        response = b"\r\n".join(head) + b"\r\n\r\n"
        sent = 0 if self._refusal_for_head else len(body)
        if sent:
            response += body
        self.transport.write(response)
        self.transport.close()
        recorder = self._events()
        if recorder is None:
            log.warning("refused a request: %s %s [request %s]", int(status), message, request_id)
            return
        client = self.client[0] if self.client else None
        recorder.refused(
            status=int(status),
            reason=reason,
            request_id=request_id,
            method=self._refused_method,
            client=client,
            sent=sent,
            seconds=self.loop.time() - self._refused_head_started_at,
        )

    def _events(self) -> TransportEvents | None:
        # The app's lifespan puts them in the state uvicorn shares with every connection; an app
        # without them (a test's bare ASGI app) gets a log line instead.
        events: TransportEvents | None = self.app_state.get(EVENTS_STATE_KEY)
        return events

    def _count_close(self, reason: str) -> None:
        recorder = self._events()
        if recorder is not None:
            recorder.closed(reason)

    # --- timers ----------------------------------------------------------------------------

    # The head deadline moves with every request on a keep-alive connection. Its timer is not
    # moved with it: a deadline only ever moves later, so the timer, when it fires, finds the
    # deadline moved on (or gone) and waits again. One timer per connection and head timeout,
    # instead of a timer made and cancelled per request.

    def _arm_head_deadline(self) -> None:
        self._head_due = self.loop.time() + self._limits.head_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_due, self._on_head_deadline)

    def _cancel_head_deadline(self) -> None:
        self._head_due = None

    def _stop_head_timer(self) -> None:
        self._cancel_head_deadline()
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _on_head_deadline(self) -> None:
        self._head_timer = None
        if self._head_due is None:
            return
        if self.loop.time() < self._head_due:
            self._head_timer = self.loop.call_at(self._head_due, self._on_head_deadline)
            return
        self._head_due = None
        if not self.transport.is_closing():
            log.info("closing a connection that sent no complete request head in time")
            self._count_close(HEAD_TIMEOUT)
            self.transport.close()

    def _on_idle_timer(self) -> None:
        # One timer per connection, moved on lazily: progress only records the time.
        now = self.loop.time()
        due = self._last_progress + self._limits.idle_timeout
        if self._responding() and not self.flow.write_paused:
            due = now + self._limits.idle_timeout  # the server is the one working
        if now < due:
            self._idle_timer = self.loop.call_later(due - now, self._on_idle_timer)
            return
        self._idle_timer = None
        log.info("closing a connection idle for %ss", self._limits.idle_timeout)
        self._count_close(IDLE)
        if self.transport.get_write_buffer_size():
            # A client that does not read would keep a graceful close waiting for ever.
            self.transport.abort()
        else:
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings every server of this service runs with (CLI and tests alike)."""
    limits = RequestHeadLimits(
        max_url_bytes=settings.max_url_bytes,
        max_header_bytes=settings.max_header_bytes,
        head_timeout=settings.request_head_timeout,
        idle_timeout=settings.idle_timeout,
    )
    return {
        # uvloop's loop, accepting a burst of connections at once (swr_official_images.http.accept).
        "loop": "swr_official_images.http.accept:new_event_loop",
        # A partial, not a subclass made on the fly, so that worker processes can pickle it.
        "http": functools.partial(GuardedHttpToolsProtocol, limits=limits),
        # The API has no WebSocket: an upgrade would leave this protocol and its limits.
        "ws": "none",
        # Forwarded headers are believed only from the proxies an operator names.
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": list(settings.forwarded_allow_ips),
        # "on", not "auto": a broken spec or handler then stops start-up instead of serving 500s.
        "lifespan": "on",
        "server_header": False,
        "timeout_worker_healthcheck": settings.worker_healthcheck_timeout,
    }
