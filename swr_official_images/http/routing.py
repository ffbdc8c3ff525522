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
from connexion.middleware.routing import RoutingAPI, RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from swr_official_images.http.security import ScopeRequestSecurityMiddleware
from swr_official_images.http.swagger_ui import RenderedSpecSwaggerUIMiddleware
from swr_official_images.http.validation import OnceRequestValidationMiddleware

_METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def _depth(route: BaseRoute) -> int:
    return getattr(route, "path", "").count("/")


class OperationRouter(Router):
    """Starlette's router over an API's routes, one per operation, that matches each path once.

    Connexion adds a route per operation, so a path with a GET and a HEAD operation has two
    routes of one pattern, and Starlette matched the GET's request against the HEAD's route
    first (a partial match: the path, not the method) before the GET's. Here the consecutive
    routes of one path are a group: for each group, in order, the first of its routes that takes
    the request's method (or, when none does, its first route) is matched, with Starlette's own
    `Route.matches`. Routes of one path match the same requests up to the method, so this finds
    the route Starlette's scan finds, and the same partial match for a 405. A router with any
    other kind of route (a mount, a route for any method) routes as Starlette's does."""

    def __init__(self, routes: list[BaseRoute], default: Any) -> None:
        super().__init__(routes, redirect_slashes=False, default=default)
        self._groups = self._grouped()

    def _grouped(self) -> list[tuple[Route, dict[str, Route]]] | None:
        """Each group's first route and, for each method, the group's first route that takes
        it; None when a route is not a route of an operation."""
        self._grouped_routes = len(self.routes)
        if not all(type(r) is Route and r.methods for r in self.routes):
            return None
        groups: list[tuple[Route, dict[str, Route]]] = []
        path = None
        for route in self.routes:
            assert isinstance(route, Route) and route.methods is not None
            if route.path != path:
                groups.append((route, {}))
                path = route.path
            for method in route.methods:
                groups[-1][1].setdefault(method, route)
        return groups

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if len(self.routes) != self._grouped_routes:
            # Routes added since (Connexion adds an API's routes before it serves).
            self._groups = self._grouped()
        if scope["type"] != "http" or self._groups is None:
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        method = scope["method"]
        partial: tuple[Route, Scope] | None = None
        for first, by_method in self._groups:
            route = by_method.get(method, first)
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        # As Starlette's router without slash redirects: a partial match answers (405), or the
        # default does.
        if partial is not None:
            route, child_scope = partial
            scope["route"] = route
            scope.update(child_scope)
            await route.handle(scope, receive, send)
            return
        await self.default(scope, receive, send)


class _OperationRoutingAPI(RoutingAPI):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's routing of one API, its routes tried deepest path first by an
    `OperationRouter`.

    Starlette tries an API's routes in the spec's order, one per operation, and the image's GET
    came fifth, after the list's three. A path parameter matches one segment (unless it has
    `format: path`, which Connexion lets match several), so paths of different depths never match
    the same request: trying the deeper paths first (the image's, then the list's, then the
    probes'), each path's operations in the spec's order, changes which routes are tried before
    the one that matches, never which one matches or which one a 405 is answered from. An API
    with a `format: path` parameter keeps the spec's order."""

    router: Router

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        routes = list(self.router.routes)
        if not any(":path}" in getattr(r, "path", "") for r in routes):
            routes.sort(key=_depth, reverse=True)
        self.router = OperationRouter(routes, default=self.router.default)


class _PastTheRootMount:
    """The routing of an API mounted at the root, that hands requests to the API's router
    without the mount in front of it.

    A mount at the root matches `^/(?P<path>.*)$` and leaves the scope's paths as they are, so
    the mount changes nothing for a path that starts with "/"; a path that does not (`OPTIONS *`)
    reaches the mounts' default, which hands it on as the API's router's default does. Except
    with a newline: `$` matches before a final one, and for such a path the mount sets a root
    path of its own, which takes the request past the API to a 404. A path with a newline goes
    the mounts' way."""

    def __init__(self, mounts: Router, api_router: Router) -> None:
        self.mounts = mounts
        self.api_router = api_router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self.mounts if "\n" in scope["path"] else self.api_router
        await router(scope, receive, send)


class NoRedirectRoutingMiddleware(RoutingMiddleware):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's routing without the slash redirects, each API's routes in an
    `OperationRouter`, and an API at the root (the spec's base path is empty) routed past its
    mount (`_PastTheRootMount`).

    Connexion mounts each API's router at the API's base path in a router of its own: the mounts
    stay in `mounts`, where a second API at the same base path is chained, as Connexion
    does."""

    router: Router | _PastTheRootMount

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        # Connexion's router of the mounts, with its default: what routes a request until an API
        # is added.
        mounts = self.router
        assert isinstance(mounts, Router)
        mounts.redirect_slashes = False
        self.mounts = mounts

    def add_api(
        self,
        specification: Any,
        base_path: str | None = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # As RoutingMiddleware.add_api, with our API class.
        api = _OperationRoutingAPI(
            specification, base_path=base_path, arguments=arguments, next_app=self.app, **kwargs
        )
        # An API at a base path already mounted is tried when the earlier ones match nothing.
        for route in self.mounts.routes:
            if isinstance(route, Mount) and route.path == api.base_path:
                route.app.default = api.router  # type: ignore[attr-defined]  # an API's router
        self.mounts.mount(api.base_path, app=api.router)
        # Connexion adds the APIs most specific base path first, so the first mount is at the
        # root only when every API is.
        first = self.mounts.routes[0]
        if isinstance(first, Mount) and first.path == "" and isinstance(first.app, Router):
            self.router = _PastTheRootMount(self.mounts, first.app)
        else:
            self.router = self.mounts


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
