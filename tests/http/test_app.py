"""The app builds: the spec is valid, every operationId resolves, the error codes agree."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from unittest import mock

import httpx
import pytest
from connexion.exceptions import ResolverError
from connexion.spec import Specification
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from swr_official_images.app import create_app
from swr_official_images.http.error_codes import ErrorCode
from swr_official_images.http.routing import AllowedMethods
from swr_official_images.settings import Settings
from swr_official_images.spec import SPEC_PATH, load_spec
from tests.support.contract import LIST_PATH, documented_statuses, expected_error_code, resolve


def test_the_server_binds_the_spec_the_client_is_generated_from():
    # `make generate` reads the top-level openapi.yaml; a copy inside the package would let a
    # spec edit change the client but not the server.
    top_level = Path(__file__).resolve().parents[2] / "openapi.yaml"
    assert SPEC_PATH.resolve() == top_level


def test_spec_is_valid_openapi_3_0(spec):
    assert spec["openapi"].startswith("3.0.")
    validate(spec)


def test_every_operation_id_resolves_to_a_handler(spec):
    handlers = importlib.import_module("swr_official_images.handlers")
    operation_ids = [
        op["operationId"]
        for path in spec["paths"].values()
        for method, op in path.items()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert operation_ids
    for operation_id in operation_ids:
        assert "." not in operation_id, "keep operationIds bare: the client names modules by them"
        assert callable(getattr(handlers, operation_id, None)), operation_id


def test_app_starts_with_its_lifespan_and_serves_its_spec(spec, database_url):
    app = create_app(Settings(database_url=database_url))
    with TestClient(app) as client:  # runs start-up: spec, resolver, middleware, schema
        response = client.get("/openapi.json")
    assert response.status_code == 200
    served = response.json()
    # The document is openapi.yaml's: every path with the same operations and responses.
    assert served["info"] == spec["info"]
    assert served["paths"].keys() == spec["paths"].keys()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                got = served["paths"][path][method]
                assert got["operationId"] == operation["operationId"], (path, method)
                assert got["responses"].keys() == operation["responses"].keys(), (path, method)


def test_a_missing_handler_stops_start_up(database_url, monkeypatch):
    """With lifespan on (as `serve` runs it) a broken binding fails start-up, not requests."""
    monkeypatch.delattr(
        importlib.import_module("swr_official_images.handlers"), "show_official_image"
    )
    app = create_app(Settings(database_url=database_url))
    with pytest.raises(ResolverError), TestClient(app):
        pass


def test_error_codes_match_the_spec(spec):
    by_status = {
        400: ErrorCode.INVALID_PARAMETER,
        401: ErrorCode.AUTHENTICATION_FAILED,
        404: ErrorCode.IMAGE_NOT_FOUND,
        414: ErrorCode.INVALID_PARAMETER,
        431: ErrorCode.INVALID_PARAMETER,
        500: ErrorCode.IMAGE_QUERY_FAILED,
        505: ErrorCode.INVALID_PARAMETER,
    }
    assert documented_statuses(spec) == {200, 304, *by_status}
    for status, code in by_status.items():
        assert expected_error_code(spec, status) == code.value
    # A list has no image to miss: its only 404 is a path that names nothing.
    listing = {**by_status, 404: ErrorCode.NO_SUCH_RESOURCE}
    assert documented_statuses(spec, path=LIST_PATH) == {200, 304, *listing}
    for status, code in listing.items():
        assert expected_error_code(spec, status, path=LIST_PATH) == code.value
    not_ready = resolve(spec, spec["paths"]["/readyz"]["get"]["responses"]["503"])
    assert not_ready["content"]["application/json"]["example"]["error_code"] == (
        ErrorCode.NOT_READY.value
    )


@pytest.mark.parametrize("method", ["head", "get", "options"])
def test_the_list_answers_with_the_statuses_of_the_details(spec, method):
    # The same transport, security, validation and conditional requests stand in front of
    # both paths.
    assert documented_statuses(spec, method, LIST_PATH) == documented_statuses(spec, method)


@pytest.mark.parametrize("template", [*load_spec()["paths"]])
def test_the_allow_header_lists_the_spec_methods(spec, template):
    allowed = AllowedMethods(spec).for_path(re.sub(r"\{[^/]+\}", "x", template))
    path = spec["paths"][template]
    declared = {
        m.upper()
        for m in path
        if m in {"get", "head", "options", "put", "post", "delete", "patch", "trace"}
    }
    assert not declared & set(path["x-other-methods"]["methods"])
    assert allowed is not None
    assert set(allowed.split(", ")) == declared
    refused = resolve(spec, path["x-other-methods"]["response"])
    assert resolve(spec, refused["headers"]["Allow"])["schema"]["enum"] == [allowed]


def test_the_spec_documents_are_rendered_once(live_server):
    # Connexion re-validated and re-serialised the whole spec for every request of it, on the
    # event loop: a cost any client could impose without a token.
    first = {
        path: httpx.get(live_server.base_url + path) for path in ("/openapi.json", "/openapi.yaml")
    }
    with mock.patch.object(Specification, "clone", autospec=True) as clone:
        for _ in range(5):
            for path, response in first.items():
                again = httpx.get(live_server.base_url + path)
                assert again.status_code == 200
                assert again.content == response.content
                assert again.headers["Content-Type"] == response.headers["Content-Type"]
    clone.assert_not_called()
