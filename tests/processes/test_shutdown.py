"""Graceful shutdown of `swr-official-images serve`, run as its own process: on SIGTERM or SIGINT
readiness turns 503, the listener closes, the requests in flight finish, the process exits 0;
and it does so when PostgreSQL stops answering, whose waits the server bounds itself."""

from __future__ import annotations

import contextlib
import os
import selectors
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
from sqlalchemy import make_url

from swr_official_images.settings import Settings
from swr_official_images.store.db import make_engine
from tests.conftest import listening_port, migrate, run_cli, serve
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


def wait_for(condition, what: str, server: ServeProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}\n{server.output()}"
        time.sleep(0.05)


@contextlib.contextmanager
def serve_process(database_url: str, log: Path, *args: str, **env: str) -> Iterator[ServeProcess]:
    environment = {**os.environ, "SWR_DATABASE_URL": database_url, "SWR_LOG_LEVEL": "INFO", **env}
    command = [
        sys.executable,
        "-m",
        "swr_official_images",
        "serve",
        "--port",
        "0",
        "--no-sample",
    ]
    with log.open("w") as out:
        process = subprocess.Popen([*command, *args], env=environment, stdout=out, stderr=out)
    server = ServeProcess(process, 0, log)

    def answers() -> bool:
        assert process.poll() is None, server.output()
        port = listening_port(server.output())
        if port is None:
            return False
        server.port = port
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
                SWR_DB_READ_TIMEOUT_MS="600001",
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


class FreezableProxy:
    """A TCP proxy in front of PostgreSQL that the test can freeze: once frozen it still accepts
    connections and reads what either side sends, but forwards nothing (as a proxy that stops
    forwarding, a stopped backend or a dead network path does). It counts the connections its
    clients still hold open."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._frozen = False
        self.held_bytes = 0  # what clients sent while frozen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def open_connections(self) -> int:
        with self._lock:
            return len(self._clients)

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                else:
                    self._forward(sock)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(self._upstream)
        with self._lock:
            self._peers[client], self._peers[upstream] = upstream, client
            self._clients.add(client)
        self._selector.register(client, selectors.EVENT_READ)
        self._selector.register(upstream, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        if sock not in self._peers:  # closed with its peer, earlier in the same round
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        with self._lock:
            peer = self._peers[sock]
            if not data:
                for end in (sock, peer):
                    self._selector.unregister(end)
                    end.close()
                    self._clients.discard(end)
                    del self._peers[end]
                return
            if self._frozen:
                if sock in self._clients:
                    self.held_bytes += len(data)
                return
        peer.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=DEADLINE)
        for sock in [self._listener, *self._peers]:
            sock.close()
        self._selector.close()


@contextlib.contextmanager
def postgresql_behind_proxy(url: str) -> Iterator[tuple[str, FreezableProxy]]:
    """`url` rewritten to reach its database through a FreezableProxy."""
    target = make_url(url)
    proxy = FreezableProxy((target.host or "127.0.0.1", target.port or 5432))
    try:
        yield target.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.close()


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.slow
def test_sigterm_ends_the_process_while_a_request_hangs_on_a_silent_database(
    empty_postgresql_url, catalog_file, tmp_path
):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "frozen").out.strip()
    drain, grace = 0.5, 1.0
    held: dict[str, object] = {}
    with (
        postgresql_behind_proxy(url) as (proxied_url, proxy),
        serve_process(
            proxied_url,
            tmp_path / "serve.log",
            SWR_SHUTDOWN_DRAIN=str(drain),
            SWR_SHUTDOWN_GRACE=str(grace),
            # Caches off, so that the request reaches the database; and the database's own
            # statement timeout cannot help: the statement never reaches it.
            SWR_CACHE_TTL="0",
        ) as server,
    ):
        headers = {"X-Auth-Token": token}
        assert httpx.get(server.base_url + NGINX, headers=headers).status_code == 200
        proxy.freeze()

        def request() -> None:
            try:
                held["response"] = httpx.get(
                    server.base_url + NGINX, headers=headers, timeout=DEADLINE * 2
                )
            except httpx.TransportError as exc:
                held["response"] = exc

        in_flight = threading.Thread(target=request, daemon=True)
        in_flight.start()
        wait_for(lambda: proxy.held_bytes > 0, "the request to wait for the database", server)

        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # Exit on its own, in time, with 0; the slack covers start-up of nothing but the
        # interpreter's own exit on a loaded machine.
        try:
            status = server.process.wait(timeout=drain + grace + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {drain + grace + 5} s after SIGTERM\n{server.output()}")
        took = time.monotonic() - signalled
        assert status == 0, server.output()
        assert took < drain + grace + 5
        in_flight.join(timeout=DEADLINE)
        response = held["response"]
        assert not (isinstance(response, httpx.Response) and response.status_code == 200)


@pytest.mark.slow
def test_readiness_on_a_silent_database_answers_in_time_and_leaves_nothing_behind(
    empty_postgresql_url, tmp_path
):
    url = migrate(empty_postgresql_url)
    timeout = 0.5
    with (
        postgresql_behind_proxy(url) as (proxied_url, proxy),
        serve_process(
            proxied_url, tmp_path / "serve.log", SWR_READINESS_TIMEOUT_MS=str(int(timeout * 1000))
        ) as server,
    ):
        assert httpx.get(server.base_url + "/readyz").status_code == 200
        threads = thread_count(server.process.pid)
        assert proxy.open_connections() == 1  # the pooled connection the probe used
        proxy.freeze()

        for _ in range(3):
            started = time.monotonic()
            not_ready = httpx.get(server.base_url + "/readyz", timeout=DEADLINE)
            assert not_ready.status_code == 503
            assert time.monotonic() - started < timeout + 1.5
            # The probe's connection is dropped, not left waiting for an answer that never
            # comes; its thread is free again.
            wait_for(
                lambda: proxy.open_connections() == 0, "the probe's connection to close", server
            )
            wait_for(
                lambda: thread_count(server.process.pid) <= threads,
                "the probe's thread to be free",
                server,
            )
        assert server.process.poll() is None


@pytest.mark.slow  # waits out a read timeout on a frozen database
def test_a_request_on_a_silent_database_fails_after_the_read_timeout(
    spec, empty_postgresql_url, catalog_file
):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    token = run_cli(url, "token", "create", "silent").out.strip()
    read_timeout, connect_timeout = 1.5, 2
    with postgresql_behind_proxy(url) as (proxied_url, proxy):
        settings = Settings(
            database_url=proxied_url,
            # Room for the first request's queries on a loaded machine; below the read timeout,
            # as the settings require.
            db_statement_timeout_ms=1000,
            db_read_timeout_ms=int(read_timeout * 1000),
            db_connect_timeout=connect_timeout,
            cache_ttl=0,
        )
        with serve(settings) as base_url:
            headers = {"X-Auth-Token": token}
            assert httpx.get(base_url + NGINX, headers=headers).status_code == 200
            # The pool's connection, which checked the token, and the one the image was read
            # through on the event loop.
            opened = proxy.open_connections()
            proxy.freeze()

            started = time.monotonic()
            stuck = httpx.get(base_url + NGINX, headers=headers, timeout=DEADLINE)
            took = time.monotonic() - started

            assert stuck.status_code == 500
            assert stuck.json()["error_code"] == "SVCSTG.SWR.5000002"
            assert_request_id(spec, stuck.headers, stuck.json())
            # The check before use gives up, and so does the new connection the pool opens
            # in its place; the rest is for the error path on a loaded machine (the old code
            # waited for as long as the client did).
            assert took < read_timeout + connect_timeout + 10
            # The connection was dropped, not kept waiting for an answer that never comes. (The
            # token's check failed first: the image's connection, idle, stays open as an idle
            # pooled one would.)
            deadline = time.monotonic() + DEADLINE
            while proxy.open_connections() >= opened:
                assert time.monotonic() < deadline, "the connection stayed open"
                time.sleep(0.05)
