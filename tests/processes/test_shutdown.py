"""Graceful shutdown of `swr-official-images serve`, run as its own process: on SIGTERM or SIGINT
readiness turns 503, the listener closes, the requests in flight finish, the process exits 0."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from server.store.db import make_engine
from tests.conftest import migrate, run_cli
from tests.support.contract import assert_request_id, path_for

NGINX = path_for("official", "nginx")
# Generous upper bounds for a loaded machine; the tests never wait for them unless broken.
DEADLINE = 60


@dataclass
class ServeProcess:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what: str, server: ServeProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}\n{server.output()}"
        time.sleep(0.05)


@contextlib.contextmanager
def serve_process(database_url: str, log: Path, *args: str, **env: str) -> Iterator[ServeProcess]:
    port = free_port()
    environment = {**os.environ, "SWR_DATABASE_URL": database_url, **env}
    command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--no-sample"]
    with log.open("w") as out:
        process = subprocess.Popen([*command, *args], env=environment, stdout=out, stderr=out)
    server = ServeProcess(process, port, log)

    def answers() -> bool:
        assert process.poll() is None, server.output()
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(server.base_url + "/healthz").status_code == 200
        return False

    try:
        wait_for(answers, "the server to start", server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def connection_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize(
    ("stop", "workers"),
    [(signal.SIGTERM, "1"), (signal.SIGINT, "1"), (signal.SIGTERM, "2")],
    ids=["SIGTERM", "SIGINT", "SIGTERM-2-workers"],
)
@pytest.mark.slow
def test_a_request_in_flight_completes_while_new_connections_are_refused(
    spec, empty_postgresql_url, catalog_file, tmp_path, stop, workers
):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "shutdown").out.strip()
    engine = make_engine(Settings(database_url=url))
    held: dict[str, httpx.Response] = {}
    try:
        with (
            serve_process(
                url,
                tmp_path / "serve.log",
                "--workers",
                workers,
                SWR_SHUTDOWN_GRACE="600",
                SWR_DB_STATEMENT_TIMEOUT_MS="600000",
            ) as server,
            engine.connect() as blocker,
        ):
            # The request is held in flight by a lock its SELECT waits for.
            blocker.exec_driver_sql("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
            blocker_pid = blocker.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()

            def request() -> None:
                held["response"] = httpx.get(
                    server.base_url + NGINX,
                    headers={"X-Auth-Token": token},
                    timeout=DEADLINE * 2,
                )

            in_flight = threading.Thread(target=request)
            in_flight.start()

            def request_waits_for_the_lock() -> bool:
                # A transaction of its own each time: PostgreSQL keeps a transaction's first
                # view of pg_stat_activity, which may predate the request's connection.
                with engine.connect() as observer:
                    return bool(
                        observer.exec_driver_sql(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE %s = ANY(pg_blocking_pids(pid))",
                            (blocker_pid,),
                        ).scalar_one()
                    )

            wait_for(request_waits_for_the_lock, "the request to wait for the lock", server)

            server.process.send_signal(stop)

            wait_for(lambda: connection_refused(server.port), "the listener to close", server)
            assert server.process.poll() is None, "exited before the request in flight finished"
            assert "response" not in held

            blocker.rollback()  # releases the lock: the held request goes on
            in_flight.join(timeout=DEADLINE)

            assert server.process.wait(timeout=DEADLINE) == 0, server.output()
        response = held["response"]
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "nginx"
        assert_request_id(spec, response.headers)
        assert connection_refused(server.port)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_readiness_turns_503_while_requests_are_still_served(spec, tmp_path, catalog_file):
    url = migrate(f"sqlite:///{tmp_path}/drain.db")
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "drain").out.strip()

    # A drain long enough never to end by itself here: the second signal ends it.
    with serve_process(url, tmp_path / "serve.log", SWR_SHUTDOWN_DRAIN="3600") as server:
        ready = httpx.get(server.base_url + "/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}

        server.process.send_signal(signal.SIGTERM)

        wait_for(
            lambda: httpx.get(server.base_url + "/readyz").status_code == 503,
            "readiness to turn 503",
            server,
        )
        not_ready = httpx.get(server.base_url + "/readyz")
        body = not_ready.json()
        assert body["error_code"] == "SVCSTG.SWR.5030000"
        assert not_ready.headers["Cache-Control"] == "no-store"
        assert_request_id(spec, not_ready.headers, body)
        assert httpx.head(server.base_url + "/readyz").status_code == 503
        # Still alive and serving, on new connections too.
        assert httpx.get(server.base_url + "/healthz").status_code == 200
        image = httpx.get(server.base_url + NGINX, headers={"X-Auth-Token": token})
        assert image.status_code == 200 and image.json()["name"] == "nginx"
        assert server.process.poll() is None

        server.process.send_signal(signal.SIGTERM)

        assert server.process.wait(timeout=DEADLINE) == 0, server.output()
        assert connection_refused(server.port)
