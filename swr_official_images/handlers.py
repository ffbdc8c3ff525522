"""Operation handlers, resolved from the spec's bare operationIds.

A handler turns HTTP into a repository call; parameters arrive already validated against the
spec, and domain errors are turned into responses by `swr_official_images.http.errors` (the
image's 404 is answered here, with its response from there).
"""

from __future__ import annotations

import logging

from connexion import NoContent, request
from connexion.context import scope
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from swr_official_images.domain import ImageNotFound, ImageRepository
from swr_official_images.http.conditional import conditional_json_response
from swr_official_images.http.errors import image_not_found
from swr_official_images.http.routing import AllowedMethods
from swr_official_images.ops.health import Readiness
from swr_official_images.ops.metrics import CONTENT_TYPE, Metrics
from swr_official_images.request_context import note_database_error
from swr_official_images.spec import load_spec
from swr_official_images.store.cached_stores import CachedImages

log = logging.getLogger(__name__)

# The methods openapi.yaml lists on each path: what OPTIONS answers in `Allow`, as a 405 does.
_ALLOWED = AllowedMethods(load_spec())


def _stored_name(path_name: str) -> str:
    # "$" stands for "/" in a nested image name: library$nginx is library/nginx.
    return path_name.replace("$", "/")


def _path_name(stored_name: str) -> str:
    return stored_name.replace("/", "$")


async def show_official_image(namespace: str, repository: str) -> Response:
    # Async, so that a cached image is served on the event loop without a thread pool hop.
    # The request's ASGI scope, not connexion.request, which makes a new request object (and a
    # Starlette one inside it) at each use.
    current = scope._get_current_object()
    images: CachedImages = current["state"]["image_cache"]
    try:
        image = await images.get(namespace, _stored_name(repository))
    except ImageNotFound:
        return image_not_found(current)
    return conditional_json_response(current, image.to_api(), image.changed_at)


def list_official_images(
    namespace: str, limit: int, marker: str | None = None, name: str | None = None
) -> Response:
    images: ImageRepository = request.state.images
    page = images.page(
        namespace,
        limit,
        after=None if marker is None else _stored_name(marker),
        prefix=None if name is None else _stored_name(name),
    )
    body: dict[str, object] = {"repos": [image.to_api() for image in page.images]}
    if page.more:
        body["nextMarker"] = _path_name(page.images[-1].name)
    return conditional_json_response(request.scope, body, page.changed_at)


def show_liveness() -> dict[str, str]:
    # Answering at all is the whole check: a store outage must not get processes restarted.
    return {"status": "ok"}


async def show_readiness() -> dict[str, str]:
    readiness: Readiness = request.state.readiness
    await readiness.check()  # raises NotReady, answered 503 by swr_official_images.http.errors
    return {"status": "ready"}


def get_metrics() -> Response:
    metrics: Metrics | None = request.state.metrics
    if metrics is None:
        # Switched off (SWR_METRICS=false): as if the path did not exist.
        raise HTTPException(404)
    images: ImageRepository = request.state.images
    try:
        metrics.refresh_catalog_size(images.count)
    except SQLAlchemyError as exc:
        # Metrics matter most when the database is failing: serve them with the last count.
        note_database_error(request.scope)
        log.warning("catalog size not refreshed: %s", exc.__class__.__name__)
    # A response of its own: Connexion would accept only the bare media type the spec names,
    # while Prometheus reads the format's version from the Content-Type parameters.
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)


def list_methods(**_path_parameters: str) -> tuple[object, int, dict[str, str]]:
    # Says what the path serves, not whether the process could serve it: no store is asked.
    return NoContent, 204, {"Allow": _ALLOWED.for_path(request.url.path) or ""}


# HEAD answers with GET's status and headers (Content-Length and validators included); the
# server drops the body. OPTIONS is the same on every path. The spec's operationIds still name
# each operation (the access line, the metrics).
check_official_image = show_official_image
check_official_images = list_official_images
check_liveness = show_liveness
check_readiness = show_readiness
check_metrics = get_metrics
list_official_image_methods = list_methods
list_official_images_methods = list_methods
list_liveness_methods = list_methods
list_readiness_methods = list_methods
list_metrics_methods = list_methods
