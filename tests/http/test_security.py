"""Security basics: token handling, security headers, CORS off by default, UI switchable."""

from __future__ import annotations

import httpx
import pytest

from swr_official_images.settings import Settings
from tests.conftest import serve
from tests.support.contract import assert_request_id, expected_cache_control, path_for

GOOD = path_for("official", "nginx")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", GOOD, 200),
        ("GET", path_for("official", "nope"), 404),
        ("GET", path_for("BAD", "x"), 400),
        ("DELETE", GOOD, 405),
        ("OPTIONS", GOOD, 204),
        ("GET", "/no/such/path", 404),
        ("GET", "/openapi.json", 200),
        ("GET", "/ui/", 200),
    ],
)
def test_security_headers_on_every_response(spec, live_server, method, path, status):
    response = httpx.request(
        method, live_server.base_url + path, headers={"X-Auth-Token": live_server.tokens.valid}
    )
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    expected = expected_cache_control(spec, status, method) if path == GOOD else "no-store"
    assert response.headers["Cache-Control"] == expected
    assert_request_id(spec, response.headers)


def test_no_cors_unless_configured(live_server):
    preflight = httpx.options(
        live_server.base_url + GOOD,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    simple = httpx.get(
        live_server.base_url + GOOD,
        headers={"Origin": "https://evil.example", "X-Auth-Token": live_server.tokens.valid},
    )
    for response in (preflight, simple):
        assert not any(h.lower().startswith("access-control-") for h in response.headers)


@pytest.fixture
def cors_server(database_url):
    settings = Settings(
        database_url=database_url,
        cors_allow_origins=("https://ui.example",),
        validate_responses=True,
    )
    with serve(settings) as base_url:
        yield base_url


def test_cors_when_configured(spec, cors_server):
    allowed = httpx.options(
        cors_server + GOOD,
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Auth-Token",
        },
    )
    refused = httpx.options(
        cors_server + GOOD,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "x-auth-token" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert_request_id(spec, allowed.headers)
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "SVCSTG.SWR.4000014"
    assert_request_id(spec, refused.headers, refused.json())


def test_cors_lets_a_browser_revalidate(cors_server):
    preflight = httpx.options(
        cors_server + GOOD,
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-auth-token, if-none-match, if-modified-since",
        },
    )
    response = httpx.get(
        cors_server + GOOD, headers={"Origin": "https://ui.example", "X-Auth-Token": "t"}
    )

    assert preflight.status_code == 200, preflight.text
    allowed = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"if-none-match", "if-modified-since"} <= allowed
    exposed = {
        h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"etag", "last-modified", "x-request-id"} <= exposed


def test_swagger_ui_and_spec_can_be_switched_off(spec, database_url):
    settings = Settings(database_url=database_url, swagger_ui=False)
    with serve(settings) as base_url:
        for path in ("/ui/", "/openapi.json", "/openapi.yaml"):
            response = httpx.get(base_url + path)
            assert response.status_code == 404, path
            assert response.json()["error_code"] == "SVCSTG.SWR.4040000"
            assert_request_id(spec, response.headers, response.json())
