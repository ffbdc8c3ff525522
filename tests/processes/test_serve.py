"""`serve` as an operator runs it: its own process, a real socket, then the database it leaves."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event

from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.tokens import TokenStore
from tests.conftest import NESTED_IMAGE, cli_command, listening_port, run_cli, serve_process

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serving(database_url: str, *flags: str, log: Path) -> Iterator[int]:
    """`swr-official-images serve` in a process of its own; yields its port once it answers."""
    env = {**os.environ, "SWR_DATABASE_URL": database_url, "SWR_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "swr_official_images", "serve", "--port", "0", *flags]
    with log.open("w") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            port = listening_port(log.read_text())
            with contextlib.suppress(httpx.TransportError):
                url = f"http://127.0.0.1:{port}/openapi.json"
                if port is not None and httpx.get(url).status_code == 200:
                    break
            assert time.monotonic() < deadline, "serve did not start:\n" + log.read_text()
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_serve_without_sample_leaves_an_empty_database_empty(database_url, engine, tmp_path):
    with serving(database_url, log=tmp_path / "serve.log") as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/v2/manage/dockerhub/namespaces/official/repos/nginx")
        response = connection.getresponse()
        response.read()
        connection.close()

    # No token, no image: what matters here is what the server says about itself.
    assert response.status == 401
    assert response.getheader("Server") is None, response.getheaders()
    assert response.getheader("Date")
    assert SqlImageRepository(engine).count() == 0


@pytest.mark.slow
def test_serve_with_sample_fills_an_empty_database(database_url, engine, tmp_path):
    repo = SqlImageRepository(engine)

    with serving(database_url, "--sample", log=tmp_path / "serve.log"):
        pass

    assert repo.count() == len(sample_catalog())


@pytest.mark.slow
def test_serve_with_sample_leaves_a_real_catalog_alone(database_url, engine, tmp_path):
    catalog = tmp_path / "one.json"
    catalog.write_text(json.dumps([NESTED_IMAGE]), encoding="utf-8")
    assert run_cli(database_url, "import", str(catalog)).code == 0

    with serving(database_url, "--sample", log=tmp_path / "serve.log"):
        pass

    assert [image.name for image in SqlImageRepository(engine).iter_all()] == [NESTED_IMAGE["name"]]


@pytest.mark.parametrize("filled", [False, True])
def test_the_emptiness_check_reads_at_most_one_row(engine, filled):
    repo = SqlImageRepository(engine)
    if filled:
        repo.import_records(sample_catalog()[:3])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    assert repo.is_empty() is not filled
    (query,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert "count(" not in query.lower()
    assert "LIMIT" in query.upper(), query


@pytest.mark.slow
def test_serve_says_at_start_which_database_it_serves(tmp_path):
    database = tmp_path / "new" / "official-images.db"

    with serving(f"sqlite:///{database}", log=tmp_path / "serve.log"):
        pass

    lines = (tmp_path / "serve.log").read_text().splitlines()
    messages = [json.loads(line).get("message") for line in lines if line.startswith("{")]
    assert f"database: {database}" in messages, lines
    assert any(line.startswith(f"note: no database at {database}: creating") for line in lines)


@pytest.mark.slow
def test_serve_on_a_busy_port_says_which_in_one_line_and_how_to_choose_another(
    database_url, engine
):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*cli_command(), "serve", "--port", str(port), "--dev-token", "--sample"],
            env={**os.environ, "SWR_DATABASE_URL": database_url, "SWR_LOG_LEVEL": "INFO"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert len(output.splitlines()) == 1, output
    assert f"port {port}" in output and "SWR_PORT=" in output and "make serve" in output
    # Found before anything else: no token printed for a server that never ran.
    assert not TokenStore(engine).any_active()


@pytest.mark.slow
def test_serve_with_a_dev_token_already_active_says_how_to_get_one(database_url, tmp_path):
    assert run_cli(database_url, "token", "create", "earlier").code == 0

    with serve_process(database_url, tmp_path, "--dev-token") as server:
        pass

    said = server.stderr.read_text(encoding="utf-8")
    assert ".venv/bin/swr-official-images token create NAME" in said, said
    assert not re.search(r"swr_[A-Za-z0-9_-]{43}", said)  # no new token
