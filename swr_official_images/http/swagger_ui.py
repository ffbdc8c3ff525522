"""The spec documents (/openapi.json, /openapi.yaml) and Swagger UI's page, each rendered once,
not once per request.

Connexion's Swagger UI middleware answers each request for the spec by cloning the whole
specification (a deep copy, a validation against the OpenAPI schema, every `$ref` resolved) and
serialising it, on the event loop: any client, without a token, could keep every other request
waiting. A document depends only on the base path the API is served under, so each is rendered
on first use and kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

# Base paths come from where the server mounts the API, never from the client: a few at most.
_MAX_DOCUMENTS = 8

# Swagger UI autofocuses the field of every API-key scheme in its Authorize dialog, so the last
# one keeps the focus: AK/SK's, below its long signing description, which scrolls the dialog
# away from the token's field and takes a pasted token into `Authorization`. Once the dialog is
# on the page, the focus goes to its first field (the first scheme, the token) and the dialog
# shows from its top.
_FIRST_SCHEME_FIRST = b"""<script>
new MutationObserver(function () {
  var dialog = document.querySelector(".dialog-ux .modal-ux-content");
  if (dialog === null || dialog.dataset.firstSchemeFirst) return;
  dialog.dataset.firstSchemeFirst = "1";
  var field = dialog.querySelector("input");
  if (field !== null) field.focus({ preventScroll: true });
  dialog.scrollTop = 0;
}).observe(document.body, { childList: true, subtree: true });
</script>
"""


class RenderedSpecSwaggerUIAPI(SwaggerUIAPI):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[tuple[str, str], tuple[bytes, str]] = {}

    async def _get_openapi_json(self, request: Request) -> Response:
        return await self._rendered_once("json", request, super()._get_openapi_json)

    async def _get_openapi_yaml(self, request: Request) -> Response:
        return await self._rendered_once("yaml", request, super()._get_openapi_yaml)

    def _spec_for_prefix(self, request: Request) -> dict[str, Any]:
        spec: dict[str, Any] = super()._spec_for_prefix(request)
        # Connexion writes the base path as the only server, which is "" when the API is served
        # at the root: Swagger UI then shows an empty Servers box. "/" is the same place.
        for server in spec.get("servers", []):
            server["url"] = server["url"] or "/"
        return spec

    async def _get_swagger_ui_home(self, request: Request) -> Response:
        # The page, like the documents, depends only on the base path.
        return await self._rendered_once("ui", request, self._home_with_first_scheme_first)

    async def _home_with_first_scheme_first(self, request: Request) -> Response:
        response = await super()._get_swagger_ui_home(request)
        body = bytes(response.body).replace(b"</body>", _FIRST_SCHEME_FIRST + b"</body>", 1)
        return Response(body, response.status_code, media_type="text/html")

    async def _rendered_once(
        self, kind: str, request: Request, render: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        key = (kind, self._base_path_for_prefix(request))
        document = self._documents.get(key)
        if document is None:
            response = await render(request)
            document = (bytes(response.body), str(response.media_type))
            if len(self._documents) < _MAX_DOCUMENTS:
                self._documents[key] = document
        body, media_type = document
        return Response(body, 200, media_type=media_type)


class RenderedSpecSwaggerUIMiddleware(SwaggerUIMiddleware):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's Swagger UI middleware, with the spec documents rendered once, and in the way
    of its own paths only.

    Connexion's sends every request through its router (a copy of the scope, a mount that
    matches any path, every route tried) before handing the API's requests on. Only a path its
    router answers itself goes there now: a route's path, or one that differs from it by a
    trailing slash (the router redirects those), or a path under a mount (the UI's static
    files), whatever the method (a route answers other methods with 405)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._routes: set[str] = set()
        self._prefixes: tuple[str, ...] = ()

    def add_api(
        self, specification: Any, base_path: str | None = None, arguments: Any = None, **kwargs: Any
    ) -> None:
        api = RenderedSpecSwaggerUIAPI(
            specification,
            base_path=base_path,
            arguments=arguments,
            default=self.default_fn,
            **kwargs,
        )
        self.router.mount(api.base_path, app=api.router)
        for route in api.router.routes:
            if isinstance(route, Mount):
                self._prefixes += (api.base_path + route.path + "/",)
            else:
                self._routes.add(api.base_path + route.path)

    def _answers(self, path: str) -> bool:
        return (
            path in self._routes
            or path.rstrip("/") in self._routes
            or path + "/" in self._routes
            or path.startswith(self._prefixes)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._answers(get_route_path(scope)):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
