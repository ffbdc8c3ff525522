"""The outermost layer: a request id for every request, on every response and log line, and the
headers every response carries."""

from __future__ import annotations

import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from swr_official_images.http.error_codes import INTERNAL_ERROR_MESSAGE, ErrorCode, render_error
from swr_official_images.request_context import (
    bind_request_id,
    current_request_id,
    fresh_request_id,
    note_response,
    notes_of,
    request_id_of,
)

log = logging.getLogger(__name__)

# A caller's id is echoed only when it is short and plain, so that it is safe in a header and
# in a log line; anything else is replaced by a fresh UUID, never reflected.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# Responses hold authenticated data: no cache may keep them, no browser may sniff them.
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


_NOSNIFF = (b"x-content-type-options", SECURITY_HEADERS["X-Content-Type-Options"].encode())
_NO_STORE = (b"cache-control", SECURITY_HEADERS["Cache-Control"].encode())
# Set here whatever the response set (ASGI header names are lower case).
_STAMPED = frozenset({b"x-request-id", _NOSNIFF[0]})


def stamp_headers(message: Message, request_id: str) -> None:
    """The request id and the security headers, in one pass over the response's headers."""
    error = message["status"] >= 400
    headers = []
    cache_control = False
    for name, value in message.get("headers", ()):
        if name in _STAMPED:
            continue
        if name == b"cache-control":
            # A successful response may relax the caching policy (an image a client may keep
            # and revalidate); an error never does.
            if error:
                continue
            cache_control = True
        headers.append((name, value))
    headers.append((b"x-request-id", request_id.encode("latin-1")))
    headers.append(_NOSNIFF)
    if not cache_control:
        headers.append(_NO_STORE)
    message["headers"] = headers


def _choose_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate) and "\n" not in candidate:
                return candidate
            break
    return fresh_request_id()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _choose_request_id(scope)
        reset = bind_request_id(scope, request_id)
        notes = notes_of(scope)
        started = False

        # The one wrapper of `send` on the way out: it stamps the headers and notes what the
        # access line reports, which therefore needs no wrapper of its own.
        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                stamp_headers(message, request_id)
            note_response(notes, message)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The error handlers answer every failure they see; this is the last resort for
            # one that escapes them, so that even then the client gets the documented body.
            log.exception("unhandled error outside the error handlers")
            if started:
                raise
            await _send_internal_error(send_with_headers, request_id)
        finally:
            current_request_id.reset(reset)


class ResponseHeadersMiddleware:
    """Stamps the standard headers inside Connexion's response validation, which checks that the
    headers the spec requires are there; `RequestContextMiddleware` stamps the responses built
    outside it (errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp_headers(message, request_id_of(scope))
            await send(message)

        await self.app(scope, receive, send_with_request_id)


async def _send_internal_error(send: Send, request_id: str) -> None:
    body = render_error(ErrorCode.IMAGE_QUERY_FAILED, INTERNAL_ERROR_MESSAGE, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],  # send_with_headers adds the request id and the security headers
        }
    )
    await send({"type": "http.response.body", "body": body})
