"""Round trips through the generated client, sync and async, against the real server."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text
from swr_official_images_client import AuthenticatedClient, Client
from swr_official_images_client.api.official_images import (
    list_official_images,
    show_official_image,
)
from swr_official_images_client.models import Error, OfficialImage
from swr_official_images_client.types import Response

from swr_official_images.store.images import SqlImageRepository
from tests.support.contract import LIST_PATH, OPERATION_PATH, assert_request_id, expected_error_code


def client_for(base_url: str, token: str) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=base_url, token=token, auth_header_name="X-Auth-Token", prefix=""
    )


def call(base_url: str, token: str | None, namespace: str, repository: str, mode: str) -> Response:
    client = Client(base_url=base_url) if token is None else client_for(base_url, token)
    if mode == "sync":
        with client:
            return show_official_image.sync_detailed(namespace, repository, client=client)

    async def run() -> Response:
        async with client:
            return await show_official_image.asyncio_detailed(namespace, repository, client=client)

    return asyncio.run(run())


def get_page(base_url: str, token: str, namespace: str, mode: str = "sync", **query) -> Response:
    client = client_for(base_url, token)
    if mode == "sync":
        with client:
            return list_official_images.sync_detailed(namespace, client=client, **query)

    async def run() -> Response:
        async with client:
            return await list_official_images.asyncio_detailed(namespace, client=client, **query)

    return asyncio.run(run())


def shown(response: Response) -> str:
    return f"{response.status_code}: {response.content[:300]!r}"


def assert_error(spec: dict, response: Response, status: int, path: str = OPERATION_PATH) -> Error:
    assert response.status_code == status, shown(response)
    assert isinstance(response.parsed, Error), shown(response)
    assert response.parsed.error_code == expected_error_code(spec, status, path), shown(response)
    assert_request_id(spec, response.headers, json.loads(response.content))
    return response.parsed


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("namespace", "repository", "stored_name"),
    [
        ("official", "nginx", "nginx"),
        ("official", "redis", "redis"),
        ("official", "library$nginx", "library/nginx"),
    ],
)
def test_200_returns_the_stored_record(spec, live_server, mode, namespace, repository, stored_name):
    response = call(live_server.base_url, live_server.tokens.valid, namespace, repository, mode)

    assert response.status_code == 200, shown(response)
    assert isinstance(response.parsed, OfficialImage), shown(response)
    stored = SqlImageRepository(live_server.engine).get(namespace, stored_name)
    assert response.parsed.to_dict() == stored.to_api()
    assert_request_id(spec, response.headers)


def test_200_matches_the_spec_example(spec, live_server):
    """The bundled catalog serves the original page's example exactly (with its id)."""
    op = spec["paths"]["/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"]["get"]
    example = op["responses"]["200"]["content"]["application/json"]["example"]
    response = call(live_server.base_url, live_server.tokens.valid, "official", "nginx", "sync")
    body = response.parsed.to_dict()
    assert {k: v for k, v in body.items() if k != "id"} == {
        k: v for k, v in example.items() if k != "id"
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("namespace", "repository", "parameter"),
    [
        ("Official", "nginx", "namespace"),
        ("official", "NGINX", "repository"),
        ("official", "ngi___nx", "repository"),
        ("official", "$nginx", "repository"),
        ("official", "nginx$", "repository"),
        ("official", "library$$nginx", "repository"),
        ("_official", "nginx", "namespace"),
        ("official-", "nginx", "namespace"),
        ("o" * 65, "nginx", "namespace"),
        ("official", "n" * 129, "repository"),
        ("official", "ngïnx", "repository"),
    ],
)
def test_400_names_the_parameter(spec, live_server, mode, namespace, repository, parameter):
    response = call(live_server.base_url, live_server.tokens.valid, namespace, repository, mode)

    error = assert_error(spec, response, 400)
    assert f"'{parameter}'" in error.error_msg
    # The message names the parameter and never repeats the input.
    assert namespace not in error.error_msg
    assert repository not in error.error_msg


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("which", ["missing", "unknown", "expired", "revoked", "empty"])
def test_401_refuses_bad_tokens(spec, live_server, mode, which):
    token = {
        "missing": None,
        "unknown": "swr_this-token-was-never-issued",
        "expired": live_server.tokens.expired,
        "revoked": live_server.tokens.revoked,
        "empty": "",
    }[which]

    response = call(live_server.base_url, token, "official", "nginx", mode)

    error = assert_error(spec, response, 401)
    if token:
        assert token not in error.error_msg


@pytest.mark.parametrize("mode", MODES)
def test_404_for_an_unknown_image(spec, live_server, mode):
    response = call(
        live_server.base_url, live_server.tokens.valid, "official", "no-such-image", mode
    )
    assert_error(spec, response, 404)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", ["image", "page"])
def test_500_when_the_data_layer_fails(spec, private_server, operation, mode):
    at = (private_server.base_url, private_server.tokens.valid)

    def request() -> Response:
        if operation == "image":
            return call(*at, "official", "nginx", mode)
        return get_page(*at, "official", mode)

    # A real fault in the store: the images table disappears under the running server.
    with private_server.engine.begin() as conn:
        conn.execute(text("ALTER TABLE images RENAME TO images_gone"))

    response = request()

    error = assert_error(spec, response, 500, OPERATION_PATH if operation == "image" else LIST_PATH)
    for leak in ("images", "sqlite", "psycopg", "Traceback", "SELECT", ".py"):
        assert leak not in error.error_msg
    # The server survives the fault and recovers once the store is back.
    with private_server.engine.begin() as conn:
        conn.execute(text("ALTER TABLE images_gone RENAME TO images"))
    again = request()
    assert again.status_code == 200, shown(again)
