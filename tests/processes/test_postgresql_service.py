"""PostgreSQL as a service for many processes: several workers, a database that goes away and
comes back, and statements that would otherwise hang."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, make_url

from swr_official_images.settings import Settings
from swr_official_images.store.db import make_engine
from swr_official_images.store.images import SqlImageRepository
from tests.conftest import (
    NESTED_IMAGE,
    ServerProcess,
    issue_tokens,
    migrate,
    postgres_admin,
    run_cli,
    serve,
    serve_process,
)
from tests.support.contract import assert_request_id

PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"


def image_url(base_url: str, repository: str) -> str:
    return base_url + PATH.format(namespace="official", repository=repository)


# The caches' time-to-live for the server processes of these tests: the contract bounds it by a
# second; shorter here, so that waiting it out costs the suite little.
CACHE_TTL = 0.1


@contextlib.contextmanager
def serve_workers(database_url: str, workers: int, directory: Path) -> Iterator[ServerProcess]:
    """`swr-official-images serve --workers N` as its own process."""
    with serve_process(
        database_url,
        directory,
        "--workers",
        str(workers),
        "--no-sample",
        env={"SWR_CACHE_TTL": str(CACHE_TTL)},
    ) as server:
        yield server


def worker_pids_by_request(lines: list[str]) -> dict[str, int]:
    """request id -> pid of the process that wrote its access line."""
    found = {}
    for line in lines:
        record = json.loads(line)
        if record["logger"] == "access":
            found[record["request_id"]] = record["pid"]
    return found


@pytest.mark.slow
def test_two_workers_serve_newly_imported_data(empty_postgresql_url, catalog_file, tmp_path):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "workers").out.strip()
    with serve_workers(url, 2, tmp_path) as server:
        base_url = server.base_url

        def fetch(repository: str) -> tuple[str, int]:
            request_id = uuid.uuid4().hex
            # A connection per request, so that the kernel hands them to either worker.
            response = httpx.get(
                image_url(base_url, repository),
                headers={"X-Auth-Token": token, "X-Request-Id": request_id, "Connection": "close"},
            )
            return request_id, response.status_code

        def pids_answering(repository: str, status: int) -> set[int]:
            """Send requests in parallel bursts until two workers have answered (or give up);
            every answer must be `status`."""
            answered: dict[str, int] = {}
            with ThreadPoolExecutor(8) as pool:
                for _ in range(25):
                    for request_id, got in pool.map(fetch, [repository] * 8):
                        assert got == status, (repository, got)
                        answered[request_id] = got
                    time.sleep(0.05)  # the access lines are written after the response
                    by_request = worker_pids_by_request(server.log_lines())
                    pids = {by_request[r] for r in answered if r in by_request}
                    if len(pids) >= 2:
                        return pids
            return pids

        assert len(pids_answering("fresh-image", 404)) == 2

        fresh = tmp_path / "fresh.json"
        fresh.write_text(json.dumps([{**NESTED_IMAGE, "name": "fresh-image"}]), encoding="utf-8")
        imported = run_cli(url, "import", str(fresh))
        assert imported.code == 0, imported.err
        # The workers' caches may still hold the 404 for at most their time-to-live.
        time.sleep(CACHE_TTL)

        assert len(pids_answering("fresh-image", 200)) == 2


# A worker process that starts slowly, as on a busy host: the interpreters uvicorn spawns for
# its workers sleep before anything else, longer than uvicorn's own health-check timeout (5 s).
SLOW_WORKER_START = """
import sys, time
if "--multiprocessing-fork" in sys.orig_argv:
    time.sleep({seconds})
"""


@pytest.mark.slow
def test_workers_that_start_slowly_are_not_replaced_as_they_start(empty_postgresql_url, tmp_path):
    url = migrate(empty_postgresql_url)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_WORKER_START.format(seconds=7))
    with serve_process(
        url, tmp_path, "--workers", "2", "--no-sample", env={"PYTHONPATH": str(site)}
    ) as server:
        # serve_process returns once both workers have started: none was replaced meanwhile.
        messages = [json.loads(line).get("message", "") for line in server.log_lines()]
    assert not [m for m in messages if m.endswith(" died")], messages
    assert messages.count("Application startup complete.") == 2, messages


@pytest.mark.slow
def test_requests_fail_cleanly_while_the_database_is_gone_and_recover_without_restart(
    spec, empty_postgresql_url, catalog_file
):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    setup_engine = make_engine(Settings(database_url=url))
    tokens = issue_tokens(url, setup_engine)
    setup_engine.dispose()
    # The server logs in as a role of its own, so that the test can lock it out of the
    # database (as an outage does) without touching anyone else's connections.
    role = f"swr_outage_{uuid.uuid4().hex[:8]}"
    schema = make_url(url).query["options"].split("=", 1)[1]
    admin = postgres_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    server_url = make_url(url).set(username=role).render_as_string(hide_password=False)
    # Caches off: every request must reach the database, which is what this test is about.
    settings = Settings(database_url=server_url, validate_responses=True, cache_ttl=0)

    def get() -> httpx.Response:
        return httpx.get(
            image_url(base_url, "nginx"), headers={"X-Auth-Token": tokens.valid}, timeout=30
        )

    def cut_connections() -> int:
        with admin.connect() as conn:
            return len(
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    (role,),
                ).all()
            )

    try:
        with serve(settings) as base_url:
            assert get().status_code == 200

            # Connections dropped under the server are replaced before a request uses them.
            assert cut_connections() >= 1
            assert get().status_code == 200

            # The database goes away: no connection can be made.
            with admin.connect() as conn:
                conn.exec_driver_sql(f'ALTER ROLE "{role}" NOLOGIN')
            cut_connections()
            for _ in range(3):
                response = get()
                assert response.status_code == 500
                body = response.json()
                assert body["error_code"] == "SVCSTG.SWR.5000002"
                assert role not in body["error_msg"] and "psycopg" not in body["error_msg"]
                assert_request_id(spec, response.headers, body)
            # Not ready, though alive: a load balancer sends its requests elsewhere.
            not_ready = httpx.get(base_url + "/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["error_code"] == "SVCSTG.SWR.5030000"
            assert role not in not_ready.text and "psycopg" not in not_ready.text
            assert httpx.get(base_url + "/healthz").status_code == 200

            # It comes back: the same server process answers again.
            with admin.connect() as conn:
                conn.exec_driver_sql(f'ALTER ROLE "{role}" LOGIN')
            response = get()
            assert response.status_code == 200, response.text
            assert response.json()["name"] == "nginx"
            assert httpx.get(base_url + "/readyz").status_code == 200
    finally:
        cut_connections()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


@pytest.mark.slow
def test_a_statement_stuck_on_a_lock_times_out_with_a_500(spec, empty_postgresql_url, catalog_file):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    engine = make_engine(Settings(database_url=url))
    tokens = issue_tokens(url, engine)
    settings = Settings(database_url=url, validate_responses=True, db_statement_timeout_ms=300)
    try:
        with serve(settings) as base_url, engine.connect() as blocker:
            blocker.exec_driver_sql("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
            # Without a statement timeout this request would wait for the lock forever.
            stuck = httpx.get(
                image_url(base_url, "nginx"), headers={"X-Auth-Token": tokens.valid}, timeout=60
            )
            blocker.rollback()
            after = httpx.get(image_url(base_url, "nginx"), headers={"X-Auth-Token": tokens.valid})

        assert stuck.status_code == 500
        assert stuck.json()["error_code"] == "SVCSTG.SWR.5000002"
        assert_request_id(spec, stuck.headers, stuck.json())
        assert after.status_code == 200
    finally:
        engine.dispose()


@pytest.mark.slow
def test_concurrent_reads_share_the_pool_and_open_no_more_connections(
    empty_postgresql_url, catalog_file
):
    # Connections opened for a burst and closed after one query each cost a backend process
    # on the server: more readers than the pool holds wait for a pooled connection instead.
    migrate(empty_postgresql_url)
    assert run_cli(empty_postgresql_url, "import", str(catalog_file)).code == 0
    engine = make_engine(Settings(database_url=empty_postgresql_url, db_pool_size=2))
    opened = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    images = SqlImageRepository(engine)
    names = [record["name"] for record in json.loads(catalog_file.read_text())]
    try:
        with ThreadPoolExecutor(max_workers=16) as readers:
            for _ in range(5):
                found = list(readers.map(lambda name: images.get("official", name), names * 4))
                assert [image.name for image in found] == names * 4
    finally:
        engine.dispose()
    assert len(opened) <= 2
