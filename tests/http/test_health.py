"""/healthz and /readyz over a real socket, through the generated client: no token, and readiness
that follows the store as it is now (nothing cached), within its time limit."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import text
from swr_official_images_client import Client
from swr_official_images_client.api.operations import (
    check_liveness,
    check_readiness,
    show_liveness,
    show_readiness,
)
from swr_official_images_client.models import Error, ProbeStatus
from swr_official_images_client.types import Response

from swr_official_images.store.migrations import head_revision
from tests.api.test_round_trip import shown
from tests.conftest import start_loaded_server
from tests.support.contract import assert_request_id, resolve


def readiness(base_url: str) -> Response:
    with Client(base_url=base_url) as client:
        return show_readiness.sync_detailed(client=client)


def assert_not_ready(spec: dict, response: Response) -> None:
    assert response.status_code == 503, shown(response)
    assert isinstance(response.parsed, Error), shown(response)
    example = resolve(spec, spec["paths"]["/readyz"]["get"]["responses"]["503"])
    expected = example["content"]["application/json"]["example"]
    assert response.parsed.error_code == expected["error_code"]
    assert response.parsed.error_msg == expected["error_msg"]  # no detail for the client
    assert response.headers["Cache-Control"] == "no-store"
    assert_request_id(spec, response.headers, json.loads(response.content))


def test_probes_answer_without_a_token(spec, live_server):
    with Client(base_url=live_server.base_url) as client:
        live = show_liveness.sync_detailed(client=client)
        ready = show_readiness.sync_detailed(client=client)
        live_head = check_liveness.sync_detailed(client=client)
        ready_head = check_readiness.sync_detailed(client=client)

    assert live.status_code == 200 and live.parsed == ProbeStatus.from_dict({"status": "ok"})
    assert ready.status_code == 200 and ready.parsed == ProbeStatus.from_dict({"status": "ready"})
    for response in (live, ready, live_head, ready_head):
        assert response.status_code == 200, shown(response)
        assert response.headers["Cache-Control"] == "no-store"
        assert_request_id(spec, response.headers)
    assert live_head.content == b"" and ready_head.content == b""


def allow_header(spec: dict, response: dict) -> str:
    """The one value the spec gives `Allow` in a response."""
    header = resolve(spec, resolve(spec, response)["headers"]["Allow"])
    (value,) = header["schema"]["enum"]
    return str(value)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_list_their_methods_without_a_token(spec, live_server, path):
    # As /metrics does: a probe's OPTIONS is a 204 with the same Allow its 405s send.
    response = httpx.options(live_server.base_url + path)

    assert response.status_code == 204, response.text
    allow = allow_header(spec, spec["paths"][path]["x-other-methods"]["response"])
    assert response.headers["Allow"] == allow == "GET, HEAD, OPTIONS"
    assert response.content == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert_request_id(spec, response.headers)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_refuse_other_methods(spec, live_server, path):
    allow = allow_header(spec, spec["paths"][path]["x-other-methods"]["response"])
    for method in spec["paths"][path]["x-other-methods"]["methods"]:
        response = httpx.request(method, live_server.base_url + path)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["Allow"] == allow
        assert response.json()["error_code"] == "SVCSTG.SWR.4050000"


def test_readiness_follows_the_schema_and_the_store(spec, private_server):
    base_url = private_server.base_url
    assert readiness(base_url).status_code == 200

    # A schema this release does not know.
    with private_server.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    assert_not_ready(spec, readiness(base_url))
    with private_server.engine.begin() as conn:
        conn.execute(
            text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
        )
    assert readiness(base_url).status_code == 200

    # The catalog table is gone: not ready, though the process is alive.
    with private_server.engine.begin() as conn:
        conn.execute(text("ALTER TABLE images RENAME TO images_gone"))
    assert_not_ready(spec, readiness(base_url))
    assert httpx.get(base_url + "/healthz").status_code == 200
    with private_server.engine.begin() as conn:
        conn.execute(text("ALTER TABLE images_gone RENAME TO images"))
    assert readiness(base_url).status_code == 200


def test_readiness_answers_503_in_time_when_the_store_hangs(
    spec, empty_postgresql_url, catalog_file
):
    # A store that does not answer: a lock the probe's query waits for. The probe's own limit
    # answers first (the request limit here is far longer).
    with (
        start_loaded_server(
            empty_postgresql_url,
            catalog_file,
            readiness_timeout_ms=200,
            db_statement_timeout_ms=600_000,
            db_read_timeout_ms=600_001,
        ) as server,
        server.engine.connect() as blocker,
    ):
        blocker.exec_driver_sql("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
        assert_not_ready(spec, readiness(server.base_url))
        blocker.rollback()
        assert readiness(server.base_url).status_code == 200
