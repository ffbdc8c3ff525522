"""The outermost middleware: one access line and the request metrics for every request.

Layers further in leave notes on the scope (the response's status and size, the token's name,
why a token was refused, a database error); Connexion's routing leaves the operationId there.
Requests the HTTP transport answers itself never reach the app: `TransportLog` gives them the
same line and metrics.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from swr_official_images.ops.logging import MAX_LOGGED_PATH, MAX_LOGGED_USER_AGENT, AccessLog
from swr_official_images.ops.metrics import (
    NO_OPERATION,
    REFUSED_OPERATION,
    SPEC_OPERATION,
    UI_OPERATION,
    Metrics,
)
from swr_official_images.request_context import open_notes, request_id_of, response_of

_SPEC_PATHS = frozenset({"/openapi.json", "/openapi.yaml"})


def operation_templates(spec: dict[str, Any]) -> dict[str, str]:
    """operationId -> the path template it is served on."""
    return {
        operation["operationId"]: template
        for template, item in spec["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


class AccessMiddleware:
    def __init__(self, app: ASGIApp, spec: dict[str, Any], log: AccessLog, metrics: Metrics):
        self.app = app
        self.log = log
        self.metrics = metrics
        self.templates = operation_templates(spec)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        notes = open_notes(scope)
        # Connexion's routing records the operationId in this dict, which copies share too.
        extensions = scope.setdefault("extensions", {})
        metrics = self.metrics
        metrics.in_flight.inc()
        try:
            # The status and the bytes sent are noted by the request context's middleware,
            # further in, which wraps `send` anyway (swr_official_images.http.middleware).
            await self.app(scope, receive, send)
        finally:
            metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            status, sent = response_of(notes)
            self._record(scope, extensions, notes, status, sent, seconds)

    def _record(
        self,
        scope: Scope,
        extensions: dict[str, Any],
        notes: dict[str, Any],
        status: int,
        sent: int,
        seconds: float,
    ) -> None:
        routing = extensions.get("connexion_routing")
        resolved = routing.get("operation_id") if routing else None
        # The resolver names the handler (swr_official_images.handlers.x); the spec's
        # operationId is x.
        operation = resolved.rpartition(".")[2] if resolved else None
        if operation not in self.templates:
            path = scope["path"]
            if path in _SPEC_PATHS:
                operation = SPEC_OPERATION
            elif path.startswith("/ui/"):
                operation = UI_OPERATION
            else:
                operation = NO_OPERATION
        metrics = self.metrics
        metrics.observe(operation, status, seconds)
        auth_failure = notes.get("auth_failure")
        if status == 401 and auth_failure is not None:
            metrics.count_auth_failure(auth_failure)
        if "token_name" in notes:
            metrics.count_authenticated("token")
        elif "key_name" in notes:
            metrics.count_authenticated("aksk")
        if notes.get("database_error"):
            metrics.database_errors.inc()
        if not self.log.enabled():
            return
        client = scope.get("client")
        fields: dict[str, Any] = {
            "request_id": request_id_of(scope),
            "method": scope["method"],
            # scope["path"] never holds the query string, which may carry anything, tokens too.
            "path": scope["path"][:MAX_LOGGED_PATH],
            "route": self.templates.get(operation),
            "operation": operation,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes": sent,
            "client": _address(client[0]) if client else None,
            "user_agent": _user_agent(scope),
        }
        if (name := notes.get("token_name")) is not None:
            fields["token_name"] = name
        # A field of its own: a token and an access key may bear the same name.
        if (name := notes.get("key_name")) is not None:
            fields["key_name"] = name
        if auth_failure is not None:
            fields["auth_failure"] = auth_failure
        self.log.write(fields)


class TransportLog:
    """Access lines and metrics for what the HTTP transport decides before the app sees a
    request: a refusal it answers itself (414, 431, 400, 505), and a connection it closes without
    an answer. The transport's `TransportEvents`: every server finds its app's one in the
    lifespan state, so that a flood of refused heads shows in the metrics like any other
    traffic."""

    def __init__(self, log: AccessLog, metrics: Metrics) -> None:
        self.log = log
        self.metrics = metrics

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
    ) -> None:
        self.metrics.observe(REFUSED_OPERATION, status, seconds)
        self.metrics.transport_refusals.labels(reason).inc()
        if not self.log.enabled():
            return
        # The head was refused unread or unparsed: no path, route or header value is known,
        # or worth keeping (a 414's target is what it is refused for).
        self.log.write(
            {
                "request_id": request_id,
                "method": method,
                "path": None,
                "route": None,
                "operation": REFUSED_OPERATION,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "bytes": sent,
                "client": client,
                "user_agent": None,
                "refusal": reason,
            }
        )

    def closed(self, reason: str) -> None:
        self.metrics.connections_closed.labels(reason).inc()


def _address(host: object) -> str | None:
    """The client's address, or None when it is not one: behind a trusted proxy it comes from
    X-Forwarded-For, which may hold anything."""
    # An IPv6 address with a zone is at most 45 + 1 + an interface name: nothing longer is one.
    if not isinstance(host, str) or len(host) > 64:
        return None
    return _checked_address(host)


# Clients come back (a connection's requests, a proxy's few addresses): each is parsed once
# while it is recent. Bounded in entries, each at most 64 characters.
@functools.lru_cache(maxsize=1024)
def _checked_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _user_agent(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"user-agent":
            agent: bytes = value[:MAX_LOGGED_USER_AGENT]
            return agent.decode("latin-1")
    return None
