"""Operation handlers, resolved from the spec's bare operationIds.

A handler turns HTTP into a repository call; parameters arrive already validated against the
spec, and domain errors are turned into responses by `server.errors`.
"""

from __future__ import annotations

from connexion import request

from server.images import ImageRepository


def show_official_image(namespace: str, repository: str) -> dict[str, object]:
    images: ImageRepository = request.state.images
    # "$" stands for "/" in a nested image name: library$nginx is library/nginx.
    return images.get(namespace, repository.replace("$", "/")).to_api()
