"""Connexion's request object, made without its constructor's failed attribute lookup.

Connexion makes a `ConnexionRequest` of the scope in each layer that reads the request (security,
request validation, the handler's decorators). Its constructor asks `hasattr(self,
"_starlette_request")` first, and the class answers a missing attribute from `__getattr__`,
which looks that very attribute up again: on every request, two AttributeErrors raised and
caught per layer. `ScopeRequest` is the same object, made directly.
"""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionRequest
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Receive, Scope


class ScopeRequest(ConnexionRequest):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def __init__(
        self, scope: Scope, receive: Receive | None = None, *, uri_parser: Any = None
    ) -> None:
        # The state ConnexionRequest.__init__ leaves, its Starlette request first.
        self._starlette_request = Request(scope) if receive is None else Request(scope, receive)
        self.uri_parser = uri_parser
        self._context = None
        self._mimetype = None
        self._path_params = None
        self._query_params = None
        self._form = None
        self._files = None

    # The Starlette request's, read here rather than through `__getattr__`.

    @property
    def scope(self) -> Scope:
        return self._starlette_request.scope

    @property
    def headers(self) -> Headers:
        return self._starlette_request.headers
