"""X-Request-Id on every response: a sane caller value echoed, anything else replaced."""

from __future__ import annotations

import httpx
import pytest

from tests.support.contract import assert_request_id, path_for


@pytest.mark.parametrize(
    ("path", "with_token"),
    [
        (path_for("official", "nginx"), True),
        (path_for("official", "nope"), True),
        (path_for("official", "nginx"), False),
        (path_for("BAD", "nginx"), True),
        ("/no/such/route", False),
        ("/openapi.json", False),
    ],
)
def test_a_sane_caller_id_is_echoed(spec, live_server, path, with_token):
    headers = {"X-Request-Id": "client-id.42:abc_DEF"}
    if with_token:
        headers["X-Auth-Token"] = live_server.tokens.valid
    response = httpx.get(live_server.base_url + path, headers=headers)
    assert response.headers["x-request-id"] == "client-id.42:abc_DEF"


@pytest.mark.parametrize("hostile", ["x" * 65, "has space", "semi;colon", "<script>", "é"])
def test_an_insane_caller_id_is_replaced(spec, live_server, hostile):
    response = httpx.get(
        live_server.base_url + path_for("official", "nope"),
        headers={"X-Request-Id": hostile.encode("utf-8"), "X-Auth-Token": live_server.tokens.valid},
    )
    request_id = assert_request_id(spec, response.headers, response.json())
    assert request_id != hostile
    assert len(request_id) == 36  # a fresh UUID


def test_every_request_gets_its_own_id(spec, live_server):
    ids = {
        httpx.get(live_server.base_url + path_for("official", "nginx")).headers["x-request-id"]
        for _ in range(5)
    }
    assert len(ids) == 5
