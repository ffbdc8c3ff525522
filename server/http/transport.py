"""The HTTP transport: uvicorn's httptools protocol with the limits it lacks.

uvicorn's httptools protocol accepts request headers of any size and waits forever for a client
that connects and sends nothing, or half a request. This protocol adds:

- a limit on the request target (414) and on the header block (431), answered with the SWR error
  body before anything reaches the app, so an oversized request cannot cost unbounded memory;
- a deadline for the whole request head, after which the connection is closed, so idle or slow
  clients cannot hold connections open indefinitely;
- the SWR error body, a request id and the security headers on the 400 it sends for a request
  that is not valid HTTP (uvicorn sends plain text).

Everything past the request head is uvicorn's own behaviour.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.http.error_codes import ErrorCode, render_error
from server.http.middleware import SECURITY_HEADERS
from server.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestHeadLimits:
    max_url_bytes: int
    max_header_bytes: int
    head_timeout: float


class _HeadRejected(Exception):
    """Raised from a parser callback to stop parsing a request head that is too large."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: RequestHeadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._url_bytes = 0
        self._header_bytes = 0
        self._rejection: tuple[int, str] | None = None
        self._head_deadline: asyncio.TimerHandle | None = None

    # The deadline runs from the connection (or the end of the previous request) until the
    # request head is complete.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = 0
        self._header_bytes = 0
        self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._url_bytes += len(url)
        if self._url_bytes > self._limits.max_url_bytes:
            self._reject(HTTPStatus.REQUEST_URI_TOO_LONG, "The request URI is too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_bytes > self._limits.max_header_bytes:
            self._reject(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request headers are too large."
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_head_deadline()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this for any parser failure, ours included.
        status, message = self._rejection or (
            HTTPStatus.BAD_REQUEST,
            "The request is not valid HTTP.",
        )
        self._rejection = None
        self._send_error(status, message)

    def _reject(self, status: HTTPStatus, message: str) -> None:
        self._rejection = (status, message)
        raise _HeadRejected

    def _send_error(self, status: int, message: str) -> None:
        request_id = str(uuid.uuid4())
        log.warning("rejected request head: %s %s [request %s]", int(status), message, request_id)
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
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(
            self._limits.head_timeout, self._on_head_deadline
        )

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _on_head_deadline(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            log.info("closing a connection that sent no complete request head in time")
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings every server of this service runs with (CLI and tests alike)."""
    limits = RequestHeadLimits(
        max_url_bytes=settings.max_url_bytes,
        max_header_bytes=settings.max_header_bytes,
        head_timeout=settings.request_head_timeout,
    )
    return {
        # A partial, not a subclass made on the fly, so that worker processes can pickle it.
        "http": functools.partial(GuardedHttpToolsProtocol, limits=limits),
        # "on", not "auto": a broken spec or handler then stops start-up instead of serving 500s.
        "lifespan": "on",
        "server_header": False,
    }
