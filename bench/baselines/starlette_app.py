"""The lookup and the list in Starlette, as its users write them: a route each, sync endpoints
(run in Starlette's thread pool) that check the token and the parameters, then read SQLAlchemy
Core; JSONResponse.

    SWR_DATABASE_URL=sqlite:///catalog.db uvicorn bench.baselines.starlette_app:app
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.baselines import store


def _rule(name: str) -> tuple[str, re.Pattern[str], int]:
    schema = store.parameter_schema(name)
    return name, re.compile(schema["pattern"]), schema["maxLength"]


_RULES = (_rule("namespace"), _rule("repository"))
_QUERY_RULES = (_rule("marker"), _rule("name"))
_LIMIT = store.parameter_schema("limit")


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(store.error_body(code, message, headers), status, headers=headers)


def _refused(request: Request, headers: dict[str, str]) -> JSONResponse | None:
    token = request.headers.get("x-auth-token")
    if not token:
        return _error(401, store.AUTHENTICATION_FAILED, store.TOKEN_MISSING, headers)
    if not store.token_is_valid(token):
        return _error(401, store.AUTHENTICATION_FAILED, store.TOKEN_REFUSED, headers)
    return None


def show_official_image(request: Request) -> JSONResponse:
    headers = store.response_headers(request.headers.get("x-request-id"))
    if (refusal := _refused(request, headers)) is not None:
        return refusal
    for name, pattern, max_length in _RULES:
        value = request.path_params[name]
        if len(value) > max_length or not pattern.fullmatch(value):
            return _error(400, store.INVALID_PARAMETER, store.invalid_parameter(name), headers)
    image = store.find_image(request.path_params["namespace"], request.path_params["repository"])
    if image is None:
        return _error(404, store.IMAGE_NOT_FOUND, store.NOT_FOUND, headers)
    return JSONResponse(image, headers=headers)


def list_official_images(request: Request) -> JSONResponse:
    headers = store.response_headers(request.headers.get("x-request-id"))
    if (refusal := _refused(request, headers)) is not None:
        return refusal
    namespace_rule = _RULES[0]
    checks = [(namespace_rule, request.path_params["namespace"])]
    checks += [(rule, request.query_params.get(rule[0])) for rule in _QUERY_RULES]
    for (name, pattern, max_length), value in checks:
        if value is not None and (len(value) > max_length or not pattern.fullmatch(value)):
            return _error(400, store.INVALID_PARAMETER, store.invalid_parameter(name), headers)
    try:
        limit = int(request.query_params.get("limit", _LIMIT["default"]))
    except ValueError:
        limit = 0
    if not _LIMIT["minimum"] <= limit <= _LIMIT["maximum"]:
        return _error(400, store.INVALID_PARAMETER, store.invalid_parameter("limit"), headers)
    page = store.list_images(
        request.path_params["namespace"],
        limit,
        request.query_params.get("marker"),
        request.query_params.get("name"),
    )
    return JSONResponse(page, headers=headers)


app = Starlette(
    routes=[
        Route(store.PATH, show_official_image, methods=["GET"]),
        Route(store.LIST_PATH, list_official_images, methods=["GET"]),
    ]
)
