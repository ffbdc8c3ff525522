"""Request parameter validation with short messages that name the parameter.

Connexion's default message is jsonschema's multi-line text, which repeats the whole input
value and the schema. Ours names the parameter and the rule it broke, and echoes nothing, so a
hostile value never comes back in a response.

Connexion builds a new parameter validator for every request, so what is worth keeping is kept
at module level, per parameter definition: the jsonschema validator, and for the plain string
schemas of our path parameters a direct check (type, length, pattern) that passes valid values
without jsonschema; a value it does not pass goes through jsonschema for the message.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from connexion.exceptions import BadRequestProblem
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.uri_parsing import OpenAPIURIParser
from connexion.utils import is_nullable
from connexion.validators import ParameterValidator
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError, best_match
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from swr_official_images.http.requests import ScopeRequest
from swr_official_images.patterns import SpecValidator, ecma_regex

# The schema keywords `_direct_check` decides alone.
_DIRECT_KEYWORDS = {"type", "minLength", "maxLength", "pattern"}


def _rule_broken(error: ValidationError) -> str:
    # Keyed by object: an error made without a validator carries jsonschema's Unset instead.
    rules: dict[object, str] = {
        "pattern": "does not match the naming rules",
        "minLength": "must not be empty",
        "maxLength": f"is longer than {error.validator_value} characters",
        "type": f"must be of type {error.validator_value}",
        "enum": "is not one of the allowed values",
        "minimum": f"must be at least {error.validator_value}",
        "maximum": f"must be at most {error.validator_value}",
    }
    return rules.get(error.validator, f"violates '{error.validator}'")


# What a query string's integer may look like. Connexion converts with int(), which would also
# take " 5", "+5" and "5_0".
_INTEGER = re.compile(r"-?[0-9]+")


def _direct_check(schema: dict[str, Any]) -> Callable[[object], bool] | None:
    """A check equivalent to the schema's for a string schema of only the keywords above (the
    pattern with ECMA-262 semantics, lengths in code points as JSON Schema counts them)."""
    if schema.get("type") != "string" or not set(schema) <= _DIRECT_KEYWORDS:
        return None
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    regex = ecma_regex(schema["pattern"]) if "pattern" in schema else None

    def check(value: object) -> bool:
        return (
            isinstance(value, str)
            and len(value) >= shortest
            and (longest is None or len(value) <= longest)
            and (regex is None or regex.search(value) is not None)
        )

    return check


# id(parameter definition) -> (the definition, kept alive so that its id stays its own;
# its jsonschema validator; its direct check or None). An app has a few definitions; the bound
# only matters to a process that builds many apps (the tests).
_Checks = tuple[dict[str, Any], Draft4Validator, Callable[[object], bool] | None]
_checks: OrderedDict[int, _Checks] = OrderedDict()
_CHECKS_KEPT = 256


def _checks_for(param: dict[str, Any]) -> tuple[Draft4Validator, Callable[[object], bool] | None]:
    entry = _checks.get(id(param))
    if entry is None or entry[0] is not param:
        schema = param.get("schema", param)
        entry = (param, SpecValidator(schema), _direct_check(schema))
        _checks[id(param)] = entry
        if len(_checks) > _CHECKS_KEPT:
            _checks.popitem(last=False)
    return entry[1], entry[2]


class ShortMessageParameterValidator(ParameterValidator):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # For `validate`: each path parameter's key in the resolved path parameters, and each
        # header parameter's name as ASGI writes it (lower case bytes).
        self._path_keys = [(p, p["name"].replace("-", "_")) for p in self.parameters["path"]]
        self._header_names = [
            (p, p["name"].lower().encode("latin-1")) for p in self.parameters["header"]
        ]
        self._headers_read = {name for _, name in self._header_names}
        without_cookies = not self.parameters["cookie"]
        self._from_scope = isinstance(self.uri_parser, PlainPathURIParser) and without_cookies

    def validate(self, scope: Scope) -> None:
        """ParameterValidator.validate: `validate_request` on a request made of the scope. For a
        request without a query string (and an operation without cookie parameters), the same
        checks in the same order, with the values read straight from the scope: no query
        parameter is unknown, each is absent; the path parameters as the URI parser resolves
        them; each header the first field line of its name, as Starlette's `Headers.get`."""
        if not self._from_scope or scope["query_string"]:
            self.validate_request(ScopeRequest(scope, uri_parser=self.uri_parser))
            return
        for param in self.parameters["query"]:
            _refuse_if(self.validate_parameter("query", None, param))
        path_params = self.uri_parser.resolve_path(scope.get("path_params", {}))
        for param, key in self._path_keys:
            _refuse_if(self.validate_parameter("path", path_params.get(key), param))
        if not self._header_names:
            return
        sent: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in self._headers_read and name not in sent:
                sent[name] = value.decode("latin-1")
        for param, name in self._header_names:
            _refuse_if(self.validate_parameter("header", sent.get(name), param))

    def validate_parameter(
        self,
        parameter_type: str,
        value: object,
        param: dict[str, Any],
        param_name: str | None = None,
    ) -> str | None:
        if value is None:
            if param.get("required"):
                return f"Missing {parameter_type} parameter '{param['name']}'."
            return None
        validator, direct = _checks_for(param)
        if direct is not None and direct(value):
            return None
        error = best_match(validator.iter_errors(value))
        if error is None:
            return None
        return f"Invalid {parameter_type} parameter '{param['name']}': {_rule_broken(error)}."

    def validate_query_parameter_list(
        self, request: Request, security_params: list[str] | None = None
    ) -> set[str]:
        # No query string, no unknown parameter: nothing to parse.
        if not request.scope["query_string"]:
            return set()
        unknown: set[str] = super().validate_query_parameter_list(request, security_params)
        return unknown

    def validate_query_parameter(self, param: dict[str, Any], request: Request) -> str | None:
        # Connexion keeps the last of repeated values and has already converted the one it
        # kept: judge the query string as sent.
        sent = QueryParams(request.scope["query_string"]).getlist(param["name"])
        if len(sent) > 1:
            return f"Invalid query parameter '{param['name']}': must be given at most once."
        schema = param.get("schema", param)
        if sent and schema.get("type") == "integer" and not _INTEGER.fullmatch(sent[0]):
            return f"Invalid query parameter '{param['name']}': must be of type integer."
        converted: str | None = super().validate_query_parameter(param, request)
        return converted


def _refuse_if(error: str | None) -> None:
    if error:
        raise BadRequestProblem(detail=error)


class PlainPathURIParser(OpenAPIURIParser):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's OpenAPI 3 URI parser, minus the work our parameters never need.

    Connexion parses each request's parameters several times, rebuilding its tables of
    definitions and schemas on every call. A path parameter whose schema is a plain string (all
    of ours) resolves to the string it is, and an empty query string to no parameters, so those
    are answered directly; anything else takes Connexion's way.
    """

    def __init__(self, param_defns: Any, body_defn: Any) -> None:
        super().__init__(param_defns, body_defn)
        self._plain_path = all(
            p.get("schema", {}).get("type") == "string"
            and p.get("style", "simple") == "simple"
            and not is_nullable(p.get("schema", {}))
            for p in self._param_defns.values()
            if p["in"] == "path"
        )

    def resolve_path(self, path_data: dict[str, Any]) -> dict[str, Any]:
        if self._plain_path:
            return dict(path_data)
        resolved: dict[str, Any] = super().resolve_path(path_data)
        return resolved

    def resolve_query(self, query_data: dict[str, Any]) -> dict[str, Any]:
        if not query_data:
            return {}
        resolved: dict[str, Any] = super().resolve_query(query_data)
        return resolved


def distinct_parameters(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An operation's parameters, each (name, location) once: the first, which is the
    operation's own when it overrides its path's (OpenAPI 3.0.3, Operation Object).

    Connexion lists an operation's parameters, then its path's, by extending the list the spec
    holds for the operation: every middleware that builds the operation adds the path's
    parameters to that list again."""
    seen: set[tuple[str, str]] = set()
    distinct = []
    for parameter in parameters:
        key = (parameter["name"], parameter["in"])
        if key not in seen:
            seen.add(key)
            distinct.append(parameter)
    return distinct


class _OnceRequestValidationOperation(RequestValidationOperation):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's request validation, with the operation's URI parser and parameter validator
    built once instead of on every request (they hold only the operation's definitions). An
    operation without a request body has nothing to learn from the Content-Type (no media type
    to accept, no body schema): its requests skip reading it."""

    def __init__(self, next_app: ASGIApp, **kwargs: Any) -> None:
        super().__init__(next_app, **kwargs)
        operation = self._operation
        parameters = distinct_parameters(operation.parameters)
        uri_parser = operation._uri_parser_class(parameters, operation.body_definition())
        self._parameter_validator = self._validator_map["parameter"](
            parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._without_body = not operation.request_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._without_body:
            await super().__call__(scope, receive, send)
            return
        self._parameter_validator.validate(scope)
        await self.next_app(scope, receive, send)


class _OnceRequestValidationAPI(RequestValidationAPI):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def make_operation(self, operation: Any) -> RequestValidationOperation:
        return _OnceRequestValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class OnceRequestValidationMiddleware(RequestValidationMiddleware):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's request validation middleware, its checks built once per operation."""

    api_cls = _OnceRequestValidationAPI
