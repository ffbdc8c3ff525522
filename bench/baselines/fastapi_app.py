"""The lookup and the list in FastAPI, as its users write them: an APIKeyHeader dependency, path
and query parameters with the spec's constraints, pydantic response models, sync endpoints (run
in FastAPI's thread pool) on SQLAlchemy Core, and exception handlers that answer SWR's error
body.

    SWR_DATABASE_URL=sqlite:///catalog.db uvicorn bench.baselines.fastapi_app:app
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from bench.baselines import store


class OfficialImage(BaseModel):
    id: int
    user: str
    name: str
    namespace: str
    description: str
    full_description: str
    star_count: int
    pull_count: int
    collection_id: int
    last_updated: str


class OfficialImagePage(BaseModel):
    repos: list[OfficialImage]
    nextMarker: str | None = None


class SwrError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


app = FastAPI(title="SWR official images (FastAPI baseline)")
api_key = APIKeyHeader(name="X-Auth-Token", auto_error=False)


_LIMIT = store.parameter_schema("limit")


def authenticated(token: Annotated[str | None, Security(api_key)]) -> None:
    if not token:
        raise SwrError(401, store.AUTHENTICATION_FAILED, store.TOKEN_MISSING)
    if not store.token_is_valid(token):
        raise SwrError(401, store.AUTHENTICATION_FAILED, store.TOKEN_REFUSED)


@app.exception_handler(SwrError)
async def on_swr_error(request: Request, exc: SwrError) -> JSONResponse:
    headers = store.response_headers(request.headers.get("x-request-id"))
    body = store.error_body(exc.code, exc.message, headers)
    return JSONResponse(body, status_code=exc.status, headers=headers)


@app.exception_handler(RequestValidationError)
async def on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    name = str(exc.errors()[0]["loc"][-1])
    headers = store.response_headers(request.headers.get("x-request-id"))
    body = store.error_body(store.INVALID_PARAMETER, store.invalid_parameter(name), headers)
    return JSONResponse(body, status_code=400, headers=headers)


@app.get(store.PATH, response_model=OfficialImage, dependencies=[Depends(authenticated)])
def show_official_image(
    namespace: Annotated[str, Path(**store.fastapi_constraints("namespace"))],
    repository: Annotated[str, Path(**store.fastapi_constraints("repository"))],
    request: Request,
    response: Response,
) -> dict[str, object]:
    image = store.find_image(namespace, repository)
    if image is None:
        raise SwrError(404, store.IMAGE_NOT_FOUND, store.NOT_FOUND)
    response.headers.update(store.response_headers(request.headers.get("x-request-id")))
    return image


# exclude_none: the last page has no nextMarker at all, as the service answers it.
@app.get(
    store.LIST_PATH,
    response_model=OfficialImagePage,
    response_model_exclude_none=True,
    dependencies=[Depends(authenticated)],
)
def list_official_images(
    namespace: Annotated[str, Path(**store.fastapi_constraints("namespace"))],
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=_LIMIT["minimum"], le=_LIMIT["maximum"])] = _LIMIT["default"],
    marker: Annotated[str | None, Query(**store.fastapi_constraints("marker"))] = None,
    name: Annotated[str | None, Query(**store.fastapi_constraints("name"))] = None,
) -> dict[str, object]:
    response.headers.update(store.response_headers(request.headers.get("x-request-id")))
    return store.list_images(namespace, limit, marker, name)
