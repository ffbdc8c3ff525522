"""Logs and metrics, seen as an operator sees them: the real `serve` process's stdout, and
/metrics scraped over a socket."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from swr_official_images.http.transport import CLOSE_REASONS, REFUSALS
from swr_official_images.settings import Settings
from swr_official_images.spec import service_version, spec_version
from swr_official_images.store.db import make_engine
from tests.conftest import (
    fresh_database,
    issue_tokens,
    migrate,
    run_cli,
    serve,
    serve_process,
)
from tests.http.test_hostile_input import request_bytes
from tests.http.test_transport import connect, read_responses, read_until_closed
from tests.support.contract import OPERATION_PATH, assert_request_id, list_path_for, path_for

GOOD = path_for("official", "nginx")


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value, from /metrics in the Prometheus text format."""
    response = httpx.get(base_url + "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples, operation: str, status: int) -> float:
    return value(samples, "swr_http_requests_total", operation=operation, status=str(status))


def access_lines(lines: list[str]) -> dict[str, dict]:
    """request id -> its access line."""
    records = [json.loads(line) for line in lines]
    return {r["request_id"]: r for r in records if r["logger"] == "access"}


# --- logs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_logs_json_lines_with_request_ids_and_never_a_token(store, tmp_path, catalog_file):
    """The log of `swr-official-images serve --dev-token --sample` (what `make serve` runs):
    everything the process writes, stdout and stderr, uvicorn's lines included."""
    with fresh_database(store, tmp_path) as url:
        migrate(url)
        assert run_cli(url, "import", str(catalog_file)).code == 0
        token = run_cli(url, "token", "create", "ops-test").out.strip()
        engine = make_engine(Settings(database_url=url))
        others = issue_tokens(url, engine)
        engine.dispose()
        sent: dict[str, tuple[str, int]] = {}
        with serve_process(url, tmp_path, "--dev-token", "--sample") as server:
            for path, headers, expected in [
                (GOOD, {"X-Auth-Token": token}, 200),
                (GOOD + f"?token={token}", {"X-Auth-Token": token}, 400),
                (GOOD + f"?X-Auth-Token={token}", {}, 401),
                (path_for("official", "nope"), {"X-Auth-Token": token + "x"}, 401),
                ("/no/such/path?q=secret-value", {}, 404),
            ]:
                request_id = uuid.uuid4().hex
                response = httpx.get(
                    server.base_url + path,
                    headers={
                        **headers,
                        "X-Request-Id": request_id,
                        "User-Agent": "ops/" + "x" * 500,
                    },
                )
                assert response.status_code == expected, (path, response.text)
                sent[request_id] = (path.split("?")[0], expected)
            # Tokens in every state and every place a client might put one.
            for headers in (
                {"X-Auth-Token": others.revoked},
                {"X-Auth-Token": others.expired},
                [("X-Auth-Token", token), ("X-Auth-Token", token)],
                {"Authorization": f"Bearer {token}"},
            ):
                for path in (GOOD, path_for("official", "nope"), path_for("BAD", "x")):
                    httpx.get(server.base_url + path, headers=headers)
            for query in (f"?{token}", f"?X-Auth-Token={others.revoked}"):
                httpx.get(server.base_url + "/no/such/path" + query)
        lines = server.log_lines()
        everything = server.stdout.read_text() + server.stderr.read_text()

    for secret in (token, others.valid, others.revoked, others.expired):
        assert secret not in everything
    assert "secret-value" not in everything
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "pid"} <= set(records[0])
    assert any("startup complete" in r.get("message", "") for r in records)
    # uvicorn's own access log ("GET /path HTTP/1.1" 200) is replaced, not repeated.
    assert not any(r["logger"] == "uvicorn.access" for r in records)
    assert "HTTP/1.1" not in "\n".join(lines)
    access = access_lines(lines)
    for request_id, (path, status) in sent.items():
        line = access[request_id]
        assert (line["method"], line["path"], line["status"]) == ("GET", path, status), line
        assert line["level"] == "INFO" and line["client"] == "127.0.0.1"
        assert line["bytes"] > 0 and line["duration_ms"] >= 0
        assert line["time"].endswith("Z") and len(line["time"]) == len("2026-11-30T12:00:00.000Z")
        assert line["user_agent"].startswith("ops/x") and len(line["user_agent"]) == 256
    by_status = {line["status"]: line for line in (access[r] for r in sent)}
    assert by_status[200]["token_name"] == "ops-test"
    assert by_status[200]["operation"] == "show_official_image"
    assert by_status[200]["route"] == OPERATION_PATH
    assert by_status[404]["operation"] == "none" and by_status[404]["route"] is None
    assert {access[r].get("auth_failure") for r in sent if sent[r][1] == 401} == {
        "missing",
        "unknown",
    }
    assert all("token_name" not in access[r] for r in sent if sent[r][1] == 401)


@pytest.mark.slow
def test_human_log_format(tmp_path):
    url = migrate(f"sqlite:///{tmp_path}/human.db")
    with serve_process(url, tmp_path, env={"SWR_LOG_FORMAT": "human"}) as server:
        request_id = uuid.uuid4().hex
        httpx.get(server.base_url + "/no/such/path", headers={"X-Request-Id": request_id})
        with connect(server.base_url) as sock:
            sock.sendall(TRANSPORT_REFUSALS["bad_version"][0])
            (refused,) = read_responses(sock)
    lines = server.log_lines()

    (line,) = [line for line in lines if request_id in line]
    assert f"access [{request_id}] GET /no/such/path 404 " in line
    (line,) = [line for line in lines if refused.headers["X-Request-Id"] in line]
    assert " GET - 505 " in line and line.endswith(" None refusal=bad_version")
    assert not line.startswith("{")
    assert any("Application startup complete." in line for line in lines)


@pytest.mark.slow
def test_a_5xx_is_logged_once_at_error_with_its_traceback_and_request_id(
    spec, tmp_path, catalog_file
):
    url = migrate(f"sqlite:///{tmp_path}/broken.db")
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "ops-test").out.strip()
    with serve_process(url, tmp_path) as server:
        # The table goes away under the running server: every lookup now fails in the database.
        with sqlite3.connect(f"{tmp_path}/broken.db") as db:
            db.execute("DROP TABLE images")
        response = httpx.get(server.base_url + GOOD, headers={"X-Auth-Token": token})
        # Metrics are served even now, with the catalog's last size; the failed count is a
        # database error too, seen by the next scrape.
        scrape(server.base_url)
        metrics = scrape(server.base_url)
    records = [json.loads(line) for line in server.log_lines()]

    assert response.status_code == 500
    request_id = assert_request_id(spec, response.headers, response.json())
    errors = [r for r in records if r["level"] == "ERROR"]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] == request_id
    assert "Traceback" in errors[0]["exception"] and "images" in errors[0]["exception"]
    assert access_lines(server.log_lines())[request_id]["status"] == 500
    assert value(metrics, "swr_database_errors_total") == 2
    assert requests_of(metrics, "show_official_image", 500) == 1


# --- metrics ---------------------------------------------------------------------------------


@pytest.fixture
def metrics_server(database_url, catalog_file, engine):
    """A server of the test's own, so that its metrics count only the test's requests."""
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    tokens = issue_tokens(database_url, engine)
    settings = Settings(database_url=database_url, validate_responses=True)
    with serve(settings) as base_url:
        yield base_url, tokens


def test_metrics_count_requests_by_operation_and_status(metrics_server, catalog_file):
    base_url, tokens = metrics_server
    for _ in range(3):
        assert httpx.get(base_url + GOOD, headers={"X-Auth-Token": tokens.valid}).status_code == 200
    httpx.head(base_url + GOOD, headers={"X-Auth-Token": tokens.valid})
    httpx.get(base_url + path_for("official", "nope"), headers={"X-Auth-Token": tokens.valid})
    httpx.get(base_url + "/no/such/path")
    httpx.get(base_url + "/openapi.json")

    samples = scrape(base_url)

    assert requests_of(samples, "show_official_image", 200) == 3
    assert requests_of(samples, "check_official_image", 200) == 1
    assert requests_of(samples, "show_official_image", 404) == 1
    assert requests_of(samples, "none", 404) == 1
    assert requests_of(samples, "openapi_spec", 200) == 1
    latency = "swr_http_request_duration_seconds_count"
    assert value(samples, latency, operation="show_official_image") == 4
    assert value(samples, "swr_http_requests_in_flight") == 1  # the scrape itself
    catalog = json.loads(catalog_file.read_text())
    assert value(samples, "swr_catalog_images") == len(catalog)
    (build,) = [labels for name, labels in samples if name == "swr_build_info"]
    assert dict(build) == {"version": service_version(), "spec_version": spec_version()}
    # The previous scrape is counted by the next one.
    assert requests_of(scrape(base_url), "get_metrics", 200) == 1


def test_401s_are_counted_by_reason(metrics_server):
    base_url, tokens = metrics_server
    for headers in [
        {},
        {"X-Auth-Token": ""},
        {"X-Auth-Token": tokens.valid + "x"},
        {"X-Auth-Token": tokens.expired},
        {"X-Auth-Token": tokens.revoked},
        {"X-Auth-Token": tokens.revoked},
        [("X-Auth-Token", tokens.valid), ("X-Auth-Token", tokens.valid)],
    ]:
        assert httpx.get(base_url + GOOD, headers=headers).status_code == 401

    samples = scrape(base_url)

    counted = {
        reason: value(samples, "swr_auth_failures_total", reason=reason)
        for reason in ("missing", "duplicate", "unknown", "expired", "revoked")
    }
    assert counted == {"missing": 2, "duplicate": 1, "unknown": 1, "expired": 1, "revoked": 2}
    assert requests_of(samples, "show_official_image", 401) == 7


@pytest.mark.slow
def test_random_paths_add_no_series(metrics_server):
    base_url, _ = metrics_server
    with httpx.Client(base_url=base_url) as client:
        client.get(f"/{uuid.uuid4().hex}")
        before = set(scrape(base_url))
        for _ in range(1000):
            client.request(
                "GET" if _ % 2 else "DELETE",
                f"/{uuid.uuid4().hex}/{uuid.uuid4().hex}?{uuid.uuid4().hex}=1",
                headers={"X-Request-Id": uuid.uuid4().hex},
            )
        after = scrape(base_url)

    new = set(after) - before
    # Only the scrape's own series (get_metrics) may be new.
    assert {dict(labels).get("operation") for _, labels in new} <= {"get_metrics"}, new
    assert requests_of(after, "none", 404) + requests_of(after, "none", 405) == 1001


def test_metrics_can_be_switched_off(spec, database_url):
    with serve(Settings(database_url=database_url, metrics=False)) as base_url:
        response = httpx.get(base_url + "/metrics")
    assert response.status_code == 404
    assert response.json()["error_code"] == "SVCSTG.SWR.4040000"
    assert_request_id(spec, response.headers, response.json())


@pytest.mark.slow
def test_one_scrape_reports_every_worker(empty_postgresql_url, catalog_file, tmp_path):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "workers").out.strip()
    metrics_home = tmp_path / "tmp"
    metrics_home.mkdir()

    with serve_process(
        url, tmp_path, "--workers", "2", "--no-sample", env={"TMPDIR": str(metrics_home)}
    ) as server:
        (metrics_dir,) = metrics_home.iterdir()  # created fresh by serve
        pids_by_request: dict[str, int] = {}
        sent = 0
        # A connection per request, so that the kernel hands them to either worker; until both
        # have answered some.
        while len(set(pids_by_request.values())) < 2 and sent < 400:
            for _ in range(20):
                request_id = uuid.uuid4().hex
                response = httpx.get(
                    server.base_url + GOOD,
                    headers={
                        "X-Auth-Token": token,
                        "X-Request-Id": request_id,
                        "Connection": "close",
                    },
                )
                assert response.status_code == 200
                sent += 1
            pids_by_request = {
                r: line["pid"] for r, line in access_lines(server.log_lines()).items()
            }
        assert len(set(pids_by_request.values())) == 2, "one worker answered everything"
        # Whichever worker answers a scrape reports the requests of both.
        totals = defaultdict(set)
        for _ in range(6):
            samples = scrape(server.base_url)
            totals["ok"].add(requests_of(samples, "show_official_image", 200))
            totals["catalog"].add(value(samples, "swr_catalog_images"))
            totals["in flight"].add(value(samples, "swr_http_requests_in_flight"))
    assert totals["ok"] == {sent}
    assert totals["catalog"] == {len(json.loads(catalog_file.read_text()))}
    assert totals["in flight"] == {1}  # the scrape itself, whichever worker answers it
    assert not metrics_dir.exists(), "serve leaves its metrics directory behind"


def test_metrics_takes_no_query_parameters(spec, metrics_server):
    base_url, _ = metrics_server
    response = httpx.get(base_url + "/metrics?format=protobuf")
    assert response.status_code == 400
    assert response.json()["error_code"] == "SVCSTG.SWR.4000014"
    assert "protobuf" not in response.text
    assert_request_id(spec, response.headers, response.json())


def test_list_requests_are_counted_under_their_operation_ids(metrics_server):
    base_url, tokens = metrics_server
    listing = base_url + list_path_for("official")
    auth = {"X-Auth-Token": tokens.valid}
    first = httpx.get(listing, params={"limit": 2}, headers=auth)
    assert first.status_code == 200, first.text
    assert (
        httpx.get(listing, params={"limit": 2, "marker": "nginx"}, headers=auth).status_code == 200
    )
    assert httpx.head(listing, params={"limit": 2}, headers=auth).status_code == 200
    revalidated = {**auth, "If-None-Match": first.headers["ETag"]}
    assert httpx.get(listing, params={"limit": 2}, headers=revalidated).status_code == 304
    assert httpx.get(listing, params={"limit": 0}, headers=auth).status_code == 400
    assert httpx.get(listing).status_code == 401

    samples = scrape(base_url)

    assert requests_of(samples, "list_official_images", 200) == 2
    assert requests_of(samples, "list_official_images", 304) == 1
    assert requests_of(samples, "list_official_images", 400) == 1
    assert requests_of(samples, "list_official_images", 401) == 1
    assert requests_of(samples, "check_official_images", 200) == 1
    latency = "swr_http_request_duration_seconds_count"
    assert value(samples, latency, operation="list_official_images") == 5
    assert requests_of(samples, "none", 200) == 0


# --- what the HTTP transport decides before the app ---------------------------------------------

TRANSPORT_REFUSALS = {
    # reason: (raw request, status)
    "uri_too_long": (request_bytes("GET", "/" + "a" * 9000, []), 414),
    "headers_too_large": (request_bytes("GET", GOOD, [("X-Big", "b" * 33_000)]), 431),
    "not_http": (b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    "has_body": (request_bytes("HEAD", GOOD, [("Content-Length", "5")]) + b"12345", 400),
    "bad_version": (b"GET /openapi.json HTTP/2.0\r\nHost: a\r\n\r\n", 505),
}


@pytest.mark.slow
def test_requests_the_transport_refuses_get_an_access_line_and_are_counted(tmp_path):
    # One request for every reason the transport has.
    assert set(TRANSPORT_REFUSALS) == {refusal.reason for refusal in REFUSALS}
    url = migrate(f"sqlite:///{tmp_path}/refused.db")
    with serve_process(url, tmp_path) as server:
        answers = {}
        for reason, (raw, status) in TRANSPORT_REFUSALS.items():
            with connect(server.base_url) as sock:
                sock.sendall(raw)
                (answer,) = read_responses(sock, raw.split(b" ", 1)[0].decode())
            assert answer.status == status, (reason, answer.status)
            answers[reason] = answer
        samples = scrape(server.base_url)
    access = access_lines(server.log_lines())

    for reason, answer in answers.items():
        line = access[answer.headers["X-Request-Id"]]
        assert line["refusal"] == reason
        assert line["operation"] == "http_refused"
        assert line["status"] == answer.status
        assert line["bytes"] == len(answer.body)
        assert line["client"] == "127.0.0.1"
        # Nothing of a refused head is logged but its method, once the parser had read it.
        assert line["path"] is None and line["route"] is None and line["user_agent"] is None
        assert value(samples, "swr_http_refusals_total", reason=reason) == 1
    assert access[answers["has_body"].headers["X-Request-Id"]]["method"] == "HEAD"
    assert access[answers["has_body"].headers["X-Request-Id"]]["bytes"] == 0
    assert access[answers["uri_too_long"].headers["X-Request-Id"]]["bytes"] > 0
    assert requests_of(samples, "http_refused", 400) == 2
    for status in (414, 431, 505):
        assert requests_of(samples, "http_refused", status) == 1
    latency = "swr_http_request_duration_seconds_count"
    assert value(samples, latency, operation="http_refused") == len(TRANSPORT_REFUSALS)


def test_connections_closed_without_an_answer_are_counted_by_reason(database_url):
    settings = Settings(database_url=database_url, request_head_timeout=0.3, idle_timeout=60)
    with serve(settings) as base_url:
        before = scrape(base_url)
        with connect(base_url) as sock:
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\n")  # and never the rest of the head
            assert read_until_closed(sock) == b""
        after = scrape(base_url)

    closed = "swr_connections_closed_total"
    # Every reason's series is there from the start, at zero.
    for reason in CLOSE_REASONS:
        assert before[(closed, frozenset({("reason", reason)}))] == 0
    assert value(after, closed, reason="head_timeout") == 1
    assert value(after, closed, reason="idle") == 0


# --- bounded lines ---------------------------------------------------------------------------


def test_an_access_line_stays_under_4_kib_whatever_it_escapes():
    import io

    from swr_official_images.ops.logging import MAX_LINE_BYTES, AccessLog

    for fmt in ("json", "human"):
        stream = io.StringIO()
        # Control characters take six bytes each in JSON: a path of 1,024 of them is 6 KiB.
        fields = {
            "request_id": "r",
            "method": "GET",
            "path": "/" + "\x01" * 1023,
            "route": None,
            "operation": "none",
            "status": 404,
            "duration_ms": 1.0,
            "bytes": 10,
            "client": "127.0.0.1",
            "user_agent": "\x02" * 256,
        }
        AccessLog(fmt, stream).write(fields)
        line = stream.getvalue()
        assert line.endswith("\n") and line.count("\n") == 1, fmt
        assert len(line.encode()) <= MAX_LINE_BYTES, fmt
        if fmt == "json":
            record = json.loads(line)
            assert record["path"].startswith("/\x01") and record["status"] == 404


@pytest.mark.parametrize("fmt", ["json", "human"])
def test_a_traceback_line_stays_under_4_kib(fmt):
    import logging

    from swr_official_images.ops.logging import MAX_LINE_BYTES, HumanFormatter, JsonFormatter

    formatter = JsonFormatter() if fmt == "json" else HumanFormatter()
    try:
        raise ValueError("a value of " + "v" * 20_000)
    except ValueError:
        record = logging.LogRecord(
            "server", logging.ERROR, __file__, 1, "failed: %s", ("m" * 10_000,), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)

    assert len(line.encode()) + 1 <= MAX_LINE_BYTES
    # What matters most survives: the start of the message, and the exception's type.
    assert "failed: mmm" in line
    assert "ValueError" in line
    if fmt == "json":
        assert json.loads(line)["level"] == "ERROR"
