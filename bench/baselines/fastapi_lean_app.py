"""The lookup and the list in FastAPI, as a user who cares about speed writes them: `async def`
endpoints (no thread pool hop), an APIKeyHeader security dependency, path and query parameters
with the spec's constraints, pydantic response models, and the rows read by the raw driver: on
SQLite the `sqlite3` module on a read-only connection per thread (a read is a few microseconds
in the process: awaiting it would cost more), on PostgreSQL psycopg's async connections, a
small pool of them, so that the event loop serves other requests while a query is out
(autocommit, statements prepared by psycopg after a few runs). Like the other baselines it
checks the token against the service's table on every request.

    SWR_DATABASE_URL=sqlite:///catalog.db uvicorn bench.baselines.fastapi_lean_app:app
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from sqlalchemy import make_url

# The shared answers only (codes, messages, headers, the spec's constraints): nothing of
# store.py's SQLAlchemy runs per request here.
from bench.baselines import store
from bench.baselines.fastapi_app import OfficialImage, OfficialImagePage, SwrError

_URL = make_url(os.environ["SWR_DATABASE_URL"])
_SQLITE = _URL.get_backend_name() == "sqlite"


def _sql(text: str) -> str:
    """`text`, written with sqlite3's `?` placeholders, in the store's driver's style."""
    return text if _SQLITE else text.replace("?", "%s")


# The body's fields, in the spec's order ("user" quoted: PostgreSQL reserves the word).
_IMAGE_COLUMNS = (
    'SELECT id, "user", name, namespace, description, full_description, star_count, '
    "pull_count, collection_id, last_updated FROM images WHERE namespace = ?"
)
assert store.IMAGE_FIELDS == (
    "id", "user", "name", "namespace", "description", "full_description", "star_count",
    "pull_count", "collection_id", "last_updated",
), "the spec's image fields changed: update _IMAGE_COLUMNS"  # fmt: skip
_IMAGE_SQL = _sql(_IMAGE_COLUMNS + " AND name = ?")
_TOKEN_SQL = _sql("SELECT expires_at, revoked_at FROM api_tokens WHERE token_hash = ?")


_local = threading.local()
# PostgreSQL: a few connections are enough to keep the one core of the server busy.
_POOL_SIZE = 4
_pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()


@contextlib.asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    if _SQLITE:
        yield
        return
    conninfo = _URL.set(drivername="postgresql").render_as_string(hide_password=False)
    connections = [
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) for _ in range(_POOL_SIZE)
    ]
    for connection in connections:
        _pool.put_nowait(connection)
    try:
        yield
    finally:
        for connection in connections:
            await connection.close()


async def _rows(sql: str, parameters: Sequence[object]) -> list[Any]:
    if _SQLITE:
        connection = getattr(_local, "connection", None)
        if connection is None:
            # Read-only: this app never writes, and SQLite then takes no write lock.
            connection = sqlite3.connect(f"file:{_URL.database}?mode=ro", uri=True)
            _local.connection = connection
        return connection.execute(sql, parameters).fetchall()
    connection = await _pool.get()
    try:
        cursor = await connection.execute(sql, parameters)
        return await cursor.fetchall()
    finally:
        _pool.put_nowait(connection)


def _time(value: object) -> datetime | None:
    # SQLite keeps SQLAlchemy's DateTime as text, PostgreSQL as a timestamp.
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _image(row: Sequence[Any]) -> dict[str, object]:
    image = dict(zip(store.IMAGE_FIELDS, row, strict=True))
    moment = image["last_updated"]
    image["last_updated"] = (
        moment.isoformat(" ", "seconds") if isinstance(moment, datetime) else str(moment)[:19]
    )
    return image


_LIMIT = store.parameter_schema("limit")

app = FastAPI(title="SWR official images (lean FastAPI baseline)", lifespan=_lifespan)
api_key = APIKeyHeader(name="X-Auth-Token", auto_error=False)


async def authenticated(token: Annotated[str | None, Security(api_key)]) -> None:
    if not token:
        raise SwrError(401, store.AUTHENTICATION_FAILED, store.TOKEN_MISSING)
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    rows = await _rows(_TOKEN_SQL, (digest,))
    if rows:
        expires_at, revoked_at = (_time(value) for value in rows[0])
        now = datetime.now(UTC).replace(tzinfo=None)
        if revoked_at is None and (expires_at is None or expires_at > now):
            return
    raise SwrError(401, store.AUTHENTICATION_FAILED, store.TOKEN_REFUSED)


def _error(request: Request, status: int, code: str, message: str) -> JSONResponse:
    headers = store.response_headers(request.headers.get("x-request-id"))
    return JSONResponse(store.error_body(code, message, headers), status, headers=headers)


@app.exception_handler(SwrError)
async def on_swr_error(request: Request, exc: SwrError) -> JSONResponse:
    return _error(request, exc.status, exc.code, exc.message)


@app.exception_handler(RequestValidationError)
async def on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    name = str(exc.errors()[0]["loc"][-1])
    return _error(request, 400, store.INVALID_PARAMETER, store.invalid_parameter(name))


@app.get(store.PATH, response_model=OfficialImage, dependencies=[Depends(authenticated)])
async def show_official_image(
    namespace: Annotated[str, Path(**store.fastapi_constraints("namespace"))],
    repository: Annotated[str, Path(**store.fastapi_constraints("repository"))],
    request: Request,
    response: Response,
) -> Any:
    rows = await _rows(_IMAGE_SQL, (namespace, repository.replace("$", "/")))
    if not rows:
        return _error(request, 404, store.IMAGE_NOT_FOUND, store.NOT_FOUND)
    response.headers.update(store.response_headers(request.headers.get("x-request-id")))
    return _image(rows[0])


# exclude_none: the last page has no nextMarker at all, as the service answers it.
@app.get(
    store.LIST_PATH,
    response_model=OfficialImagePage,
    response_model_exclude_none=True,
    dependencies=[Depends(authenticated)],
)
async def list_official_images(
    namespace: Annotated[str, Path(**store.fastapi_constraints("namespace"))],
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=_LIMIT["minimum"], le=_LIMIT["maximum"])] = _LIMIT["default"],
    marker: Annotated[str | None, Query(**store.fastapi_constraints("marker"))] = None,
    name: Annotated[str | None, Query(**store.fastapi_constraints("name"))] = None,
) -> dict[str, object]:
    # The service's keyset query: after the marker, a prefix as a range, one row more to know
    # whether another page follows.
    sql, parameters = _IMAGE_COLUMNS, [namespace]
    if marker is not None:
        sql += " AND name > ?"
        parameters.append(marker.replace("$", "/"))
    if name is not None:
        low = name.replace("$", "/")
        sql += " AND name >= ? AND name < ?"
        parameters += [low, low[:-1] + chr(ord(low[-1]) + 1)]
    rows = await _rows(_sql(sql + " ORDER BY name LIMIT ?"), [*parameters, limit + 1])
    repos = [_image(row) for row in rows[:limit]]
    page: dict[str, object] = {"repos": repos}
    if len(rows) > limit:
        page["nextMarker"] = str(repos[-1]["name"]).replace("/", "$")
    response.headers.update(store.response_headers(request.headers.get("x-request-id")))
    return page
