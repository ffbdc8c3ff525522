"""Routing as the spec describes it: a path either names an operation or answers 404.

Starlette's routers redirect a path with a trailing slash to the path without (307). The generated
client does not follow redirects and the spec lists no 307, so a trailing slash is simply a path
that names nothing: 404 with the error body.
"""

from __future__ import annotations

import re
from typing import Any

from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.routing import BaseRoute, Mount, Router

from swr_official_images.http.security import ScopeRequestSecurityMiddleware
from swr_official_images.http.swagger_ui import RenderedSpecSwaggerUIMiddleware
from swr_official_images.http.validation import OnceRequestValidationMiddleware

_METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def _depth(route: BaseRoute) -> int:
    return getattr(route, "path", "").count("/")


class NoRedirectRoutingMiddleware(RoutingMiddleware):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's routing without the slash redirects, its routes tried deepest path first.

    Starlette tries an API's routes in the spec's order, one per operation, and the image's GET
    came fifth, after the list's three. A path parameter matches one segment (unless it has
    `format: path`, which Connexion lets match several), so paths of different depths never match
    the same request: trying the deeper paths first (the image's, then the list's, then the
    probes'), each path's operations in the spec's order, changes which routes are tried before
    the one that matches, never which one matches or which one a 405 is answered from. An API
    with a `format: path` parameter keeps the spec's order."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.router.redirect_slashes = False

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        for route in self.router.routes:
            if isinstance(route, Mount) and isinstance(route.app, Router):
                route.app.redirect_slashes = False
                if not any(":path}" in getattr(r, "path", "") for r in route.app.routes):
                    route.app.routes.sort(key=_depth, reverse=True)


def connexion_middlewares(validate_responses: bool) -> list[type]:
    """Connexion's default middleware stack with our routing, spec documents, security and
    request validation in place of its own. Without response validation, its middleware would
    only look the operation up on every request to pass it on untouched: it is left out."""
    ours = {
        RoutingMiddleware: NoRedirectRoutingMiddleware,
        SwaggerUIMiddleware: RenderedSpecSwaggerUIMiddleware,
        SecurityMiddleware: ScopeRequestSecurityMiddleware,
        RequestValidationMiddleware: OnceRequestValidationMiddleware,
    }
    return [
        ours.get(m, m)
        for m in ConnexionMiddleware.default_middlewares
        if validate_responses or m is not ResponseValidationMiddleware
    ]


class AllowedMethods:
    """The methods openapi.yaml lists for each path, for the `Allow` header of a 405.

    Connexion registers one route per method, and Starlette builds `Allow` from the first route
    that matches the path only, so its header would name a single operation's methods.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self._paths: list[tuple[re.Pattern[str], str]] = []
        for template, item in spec["paths"].items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in item if m.upper() in _METHOD_ORDER}
            allow = ", ".join(m for m in _METHOD_ORDER if m in methods)
            self._paths.append((re.compile(f"^{regex}$"), allow))

    def for_path(self, path: str) -> str | None:
        for regex, allow in self._paths:
            if regex.match(path):
                return allow
        return None
