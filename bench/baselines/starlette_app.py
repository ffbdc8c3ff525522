"""The lookup in Starlette, as its users write it: one route, a sync endpoint (run in Starlette's
thread pool) that checks the token and the names, then reads SQLAlchemy Core; JSONResponse.

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


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(store.error_body(code, message, headers), status, headers=headers)


def show_official_image(request: Request) -> JSONResponse:
    headers = store.response_headers(request.headers.get("x-request-id"))
    token = request.headers.get("x-auth-token")
    if not token:
        return _error(401, store.AUTHENTICATION_FAILED, store.TOKEN_MISSING, headers)
    if not store.token_is_valid(token):
        return _error(401, store.AUTHENTICATION_FAILED, store.TOKEN_REFUSED, headers)
    for name, pattern, max_length in _RULES:
        value = request.path_params[name]
        if len(value) > max_length or not pattern.fullmatch(value):
            return _error(400, store.INVALID_PARAMETER, store.invalid_parameter(name), headers)
    image = store.find_image(request.path_params["namespace"], request.path_params["repository"])
    if image is None:
        return _error(404, store.IMAGE_NOT_FOUND, store.NOT_FOUND, headers)
    return JSONResponse(image, headers=headers)


app = Starlette(routes=[Route(store.PATH, show_official_image, methods=["GET"])])
