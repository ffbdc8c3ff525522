"""The lookup as a plain Connexion 3 AsyncApp from the project's openapi.yaml, built the
straightforward way: default options, sync handlers, a sync `x-apikeyInfoFunc`, and error
handlers for SWR's error body. The spec's security function points at this module instead of
the service's.

    SWR_DATABASE_URL=sqlite:///catalog.db uvicorn bench.baselines.connexion_app:app
"""

from __future__ import annotations

import json

import yaml
from connexion import AsyncApp, NoContent, request
from connexion.exceptions import OAuthProblem, OAuthResponseProblem, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.resolver import RelativeResolver

from bench.baselines import store


def token_info(token: str, required_scopes: object) -> dict[str, str] | None:
    return {"sub": "bench"} if store.token_is_valid(token) else None


def show_official_image(namespace: str, repository: str):
    headers = store.response_headers(request.headers.get("x-request-id"))
    image = store.find_image(namespace, repository)
    if image is None:
        return store.error_body(store.IMAGE_NOT_FOUND, store.NOT_FOUND, headers), 404, headers
    return image, 200, headers


def check_official_image(namespace: str, repository: str):
    return show_official_image(namespace, repository)


def list_official_image_methods(namespace: str, repository: str):
    return NoContent, 204, {"Allow": "GET, HEAD, OPTIONS"}


def list_official_images(
    namespace: str, limit: int, marker: str | None = None, name: str | None = None
):
    headers = store.response_headers(request.headers.get("x-request-id"))
    return store.list_images(namespace, limit, marker, name), 200, headers


def check_official_images(
    namespace: str, limit: int, marker: str | None = None, name: str | None = None
):
    return list_official_images(namespace, limit, marker, name)


def list_official_images_methods(namespace: str):
    return NoContent, 204, {"Allow": "GET, HEAD, OPTIONS"}


# The spec's probes must resolve for the app to start; the benchmark does not call them.
def show_liveness():
    return {"status": "ok"}


def check_liveness():
    return show_liveness()


def show_readiness():
    return {"status": "ready"}


def check_readiness():
    return show_readiness()


def _error(req: ConnexionRequest, status: int, code: str, message: str) -> ConnexionResponse:
    headers = store.response_headers(req.headers.get("x-request-id"))
    return ConnexionResponse(
        status_code=status,
        content_type="application/json",
        body=json.dumps(store.error_body(code, message, headers)),
        headers=headers,
    )


async def on_problem(req: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    if isinstance(exc, OAuthResponseProblem):
        return _error(req, 401, store.AUTHENTICATION_FAILED, store.TOKEN_REFUSED)
    if isinstance(exc, OAuthProblem):
        return _error(req, 401, store.AUTHENTICATION_FAILED, store.TOKEN_MISSING)
    return _error(req, exc.status, store.INVALID_PARAMETER, "Bad request.")


spec = yaml.safe_load(store.SPEC_FILE.read_text(encoding="utf-8"))
spec["components"]["securitySchemes"]["AuthToken"]["x-apikeyInfoFunc"] = f"{__name__}.token_info"
# The API's paths only (/v2/...): the service's operational paths (/metrics) have no
# counterpart in the other baselines.
spec["paths"] = {path: item for path, item in spec["paths"].items() if path.startswith("/v2/")}
app = AsyncApp(__name__)
app.add_api(spec, resolver=RelativeResolver(__name__))
app.add_error_handler(ProblemException, on_problem)
