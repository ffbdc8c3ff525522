"""Connexion's AsyncApp with the handler's decorators built once per operation.

Connexion wraps the handler in a new decorator object on every request, and each one inspects
the handler's signature again; what it builds depends only on the operation, so ours builds it on
the first request and keeps it. For an operation whose only parameters are plain strings in the
path, besides headers, and that takes no body (the image's operations), the handler's arguments
are the path parameters as they are: ours passes them on directly instead of Connexion's
general argument assembly (query defaults, body, files, type coercion), which would give the
same. Connexion never passes a header parameter to a handler (the conditional headers are read
from the request): headers are validated from the spec before, and do not count here.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from connexion import AsyncApp
from connexion.apps.abstract import AbstractApp
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import operation, receive, scope
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator
from connexion.utils import is_nullable

from swr_official_images.http.requests import ScopeRequest


def _plain_string(parameter: dict[str, Any]) -> bool:
    schema = parameter.get("schema", {})
    return (
        parameter["in"] == "path"
        and schema.get("type") == "string"
        and "format" not in schema
        and not is_nullable(schema)
    )


def _passed_as_is(parameter: dict[str, Any]) -> bool:
    """A plain string path parameter, or a header, which no handler is passed."""
    return parameter["in"] == "header" or _plain_string(parameter)


class _PathParameterDecorator(AsyncParameterDecorator):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def __call__(self, function: Any) -> Any:
        # Decorated on the operation's first request: `operation` is this operation.
        if operation.request_body or not all(_passed_as_is(p) for p in operation.parameters):
            return super().__call__(function)
        names = {
            p["name"]: self.sanitize_fn(p["name"])
            for p in operation.parameters
            if p["in"] == "path"
        }

        @functools.wraps(function)
        async def wrapper(request: Any) -> Any:
            # Connexion passes every path parameter, named as `sanitize` names it.
            return await function(
                **{names.get(k) or self.sanitize_fn(k): v for k, v in request.path_params.items()}
            )

        return wrapper


class _OnceStarletteDecorator(StarletteDecorator):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return _PathParameterDecorator

    @property
    def _sync_async_decorator(self) -> Any:
        general = super()._sync_async_decorator

        def decorator(function: Any) -> Any:
            # Connexion's wrapper asks on every call whether the handler is a coroutine
            # function: asked once here, an async handler is awaited as it is.
            if asyncio.iscoroutinefunction(function):
                return function
            return general(function)

        return decorator

    def __call__(self, function: Any) -> Any:
        built: tuple[Any, Any] | None = None

        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal built
            if built is None:
                # The URI parser and the decorators read the operation, which is this one's on
                # every request that reaches it.
                built = (self.uri_parser, self.decorate(function))
            uri_parser, decorated = built
            # The scope and receive themselves, not Connexion's proxies of them: the request
            # would otherwise go through a proxy's lookup at every read of its scope. The
            # request Starlette's `get_request` makes, made directly.
            request = ScopeRequest(
                scope._get_current_object(),
                receive._get_current_object(),
                uri_parser=uri_parser,
            )
            return await decorated(request)

        return wrapper


class _OnceAsyncOperation(AsyncOperation):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    @functools.cached_property
    def fn(self) -> Any:
        return _OnceStarletteDecorator(
            pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )(self._fn)


class _OnceAsyncApi(AsyncApi):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def make_operation(self, operation: Any) -> AsyncOperation:
        return _OnceAsyncOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


class _OnceAsyncASGIApp(AsyncASGIApp):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    api_cls = _OnceAsyncApi


class SwrAsyncApp(AsyncApp):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """AsyncApp, with `_OnceAsyncOperation` for every operation."""

    def __init__(self, import_name: str, **kwargs: Any) -> None:
        # AsyncApp.__init__ only creates its inner app and hands everything else on.
        self._middleware_app = _OnceAsyncASGIApp()
        AbstractApp.__init__(self, import_name, **kwargs)
