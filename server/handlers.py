"""Operation handlers, resolved from the spec's bare operationIds.

A handler turns HTTP into a repository call; parameters arrive already validated against the
spec, and domain errors are turned into responses by `server.http.errors`.
"""

from __future__ import annotations

from connexion import NoContent, request

from server.store.images import ImageRepository

# The methods openapi.yaml lists on the image path (its `Allow` header).
ALLOWED_METHODS = "GET, HEAD, OPTIONS"


def show_official_image(namespace: str, repository: str) -> dict[str, object]:
    images: ImageRepository = request.state.images
    # "$" stands for "/" in a nested image name: library$nginx is library/nginx.
    return images.get(namespace, repository.replace("$", "/")).to_api()


def check_official_image(namespace: str, repository: str) -> dict[str, object]:
    # HEAD answers with GET's status and headers (Content-Length included); the server drops
    # the body.
    return show_official_image(namespace, repository)


def list_official_image_methods(namespace: str, repository: str) -> tuple[object, int, dict]:
    return NoContent, 204, {"Allow": ALLOWED_METHODS}
