"""Shared fixtures: a real server on a real socket, a catalog imported by the CLI, real tokens.

Every test that touches a database runs once per store: SQLite always, PostgreSQL whenever one
is reachable at SWR_TEST_POSTGRES_URL (default: the local server). With
SWR_TEST_REQUIRE_POSTGRES=1 (as in CI) an unreachable PostgreSQL fails those tests instead of
skipping them. Each test gets a database of its own, copied from a template that each test
process builds once through the real CLI (migrated; or migrated, loaded with the test catalog
and given tokens): a copied SQLite file, or a PostgreSQL database created from the template.
Databases that a test needs empty are a new SQLite file or a PostgreSQL schema of their own.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from unittest import mock

import httpx
import httpx._transports.default as httpx_transports
import pytest
import uvicorn
from connexion.spec import Specification
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError

from swr_official_images.app import create_app
from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.cli import main as cli_main
from swr_official_images.domain import ImageRecord, api_time
from swr_official_images.http.transport import uvicorn_options
from swr_official_images.settings import Settings, setting_infos
from swr_official_images.spec import load_spec
from swr_official_images.store.db import make_engine
from swr_official_images.store.tokens import TokenStore, utc_now

# Nested names ("/" in the store, "$" in the URL) are part of the sample catalog, which is the
# test catalog: this is its `library/nginx`.
NESTED_IMAGE = {
    "user": "official",
    "name": "library/nginx",
    "namespace": "official",
    "description": "Official build of Nginx, under its Docker Hub path.",
    "full_description": "The nginx image as Docker Hub names it.",
    "star_count": 20931,
    "pull_count": 1000000000,
    "collection_id": 7,
    "last_updated": "2026-10-30 08:15:02",
}


def record_to_json(record: ImageRecord) -> dict[str, object]:
    return {
        "user": record.user,
        "name": record.name,
        "namespace": record.namespace,
        "description": record.description,
        "full_description": record.full_description,
        "star_count": record.star_count,
        "pull_count": record.pull_count,
        "collection_id": record.collection_id,
        "last_updated": api_time(record.last_updated),
    }


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class TerminalOutput(io.StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run_cli(database_url: str, *argv: str, tty: bool = False) -> CliResult:
    """Run the real CLI in-process against `database_url`, capturing its output."""
    out, err = io.StringIO(), (TerminalOutput() if tty else io.StringIO())
    with (
        mock.patch.dict(os.environ, {"SWR_DATABASE_URL": database_url}),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli_main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session", autouse=True)
def hermetic_settings(tmp_path_factory) -> Iterator[None]:
    """The suite's settings are the ones its code passes: none of the developer's SWR_*
    variables, and no .env (read from the working directory) unless a test writes one."""
    with pytest.MonkeyPatch.context() as patch:
        for info in setting_infos():
            patch.delenv(info.variable, raising=False)
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="session", autouse=True)
def one_tls_context() -> Iterator[None]:
    """Every httpx client (the tests' own and the generated client's) builds a TLS context and
    loads the whole CA bundle into it, though the suite speaks plain HTTP, and the suite makes
    thousands of clients. Contexts built with the same arguments are shared."""
    create = functools.cache(httpx_transports.create_ssl_context)
    with mock.patch.object(httpx_transports, "create_ssl_context", create):
        yield


@pytest.fixture(scope="session", autouse=True)
def each_spec_validated_once() -> Iterator[None]:
    """Connexion validates the whole spec against the OpenAPI schema for every app it builds;
    a server process builds one, the suite hundreds from the same spec. Each distinct spec is
    still validated, once per test process."""
    validate = Specification._validate_spec.__func__
    validated: set[bytes] = set()

    def once(cls: type, spec: dict) -> None:
        key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).digest()
        if key not in validated:
            validate(cls, spec)
            validated.add(key)

    with mock.patch.object(Specification, "_validate_spec", classmethod(once)):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with slow tests run first. pytest-xdist hands tests out in collection order, so a
    long test collected last (the browser's, say) would run alone at the end while the other
    workers wait; started first, the short tests fill in around it. Each module's tests stay
    together, so its module-scoped fixtures are still built once per worker."""
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow_modules)


@pytest.fixture(autouse=True)
def processes_only_in_slow_tests(request) -> Iterator[None]:
    """`make test-fast` is the inner loop: a test that starts a process (a server, the CLI, a
    virtualenv, Node, the browser, the generator) must be marked slow, or it fails here."""
    if request.node.get_closest_marker("slow"):
        yield
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.slow")

    with mock.patch.object(subprocess.Popen, "__init__", refuse):
        yield


@pytest.fixture(scope="session")
def spec() -> dict:
    return load_spec()


def write_test_catalog(path: Path) -> Path:
    """The test catalog: the bundled sample catalog, which `make serve` loads."""
    records = [record_to_json(r) for r in sample_catalog()]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def catalog_file(tmp_path_factory) -> Path:
    return write_test_catalog(tmp_path_factory.mktemp("catalog") / "catalog.json")


POSTGRES_URL = os.environ.get(
    "SWR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("SWR_TEST_REQUIRE_POSTGRES") == "1"
STORES = ("sqlite", "postgresql")


@functools.cache
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        return f"PostgreSQL at {where} is unreachable: {str(exc.orig).splitlines()[0]}"
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=STORES)
def store(request) -> str:
    if request.param == "postgresql":
        require_postgres()
    return request.param


def require_postgres() -> None:
    """For tests that are about PostgreSQL itself (workers, outages)."""
    if reason := postgres_unreachable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason} (SWR_TEST_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def empty_postgresql_url(tmp_path) -> Iterator[str]:
    require_postgres()
    with fresh_database("postgresql", tmp_path) as url:
        yield url


def postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def fresh_database(store: str, directory: Path) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in `directory`, or a PostgreSQL schema
    of its own (reached through the connection's search_path), dropped afterwards."""
    if store == "sqlite":
        yield f"sqlite:///{directory}/{uuid.uuid4().hex[:8]}.db"
        return
    schema = unique_name("test")
    with shared_postgres_admin().connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with shared_postgres_admin().connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@dataclass
class Tokens:
    valid: str
    expired: str
    revoked: str


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    engine: Engine
    tokens: Tokens


def migrate(database_url: str) -> str:
    result = run_cli(database_url, "migrate")
    assert result.code == 0, result.err
    return database_url


def unique_name(prefix: str) -> str:
    """A name no other test process picks (pytest-xdist runs several at once)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@functools.cache
def shared_postgres_admin() -> Engine:
    """One administrative engine per test process for creating and dropping databases."""
    return postgres_admin()


# Dropping a database waits on PostgreSQL's disk work; the tests need not wait with it, and the
# drops left at the end go two at a time.
_drops = ThreadPoolExecutor(max_workers=2, thread_name_prefix="drop-database")
_dropping: list[Future[None]] = []


def _drop_database(name: str) -> None:
    with shared_postgres_admin().connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def databases_dropped() -> Iterator[None]:
    """Every database the tests created is gone when the session ends (a failed drop fails)."""
    yield
    _drops.shutdown(wait=True)
    for dropped in _dropping:
        dropped.result()
    if shared_postgres_admin.cache_info().currsize:
        shared_postgres_admin().dispose()


@contextlib.contextmanager
def postgres_database(template: str | None = None) -> Iterator[str]:
    """The URL of a new PostgreSQL database (a copy of `template`, when given), dropped
    afterwards, in the background, with whatever connections are still open to it."""
    name = unique_name("test")
    source = f' TEMPLATE "{make_url(template).database}"' if template else ""
    with shared_postgres_admin().connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{source}')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _dropping.append(_drops.submit(_drop_database, name))


@contextlib.contextmanager
def copy_database(store: str, template: str, directory: Path) -> Iterator[str]:
    """A database of the test's own with the template's content: the file copied on SQLite,
    `CREATE DATABASE ... TEMPLATE` on PostgreSQL (no connection to the template may be open)."""
    if store == "sqlite":
        path = directory / f"{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(make_url(template).database, path)
        yield f"sqlite:///{path}"
        return
    with postgres_database(template) as url:
        yield url


@contextlib.contextmanager
def template_database(store: str, directory: Path) -> Iterator[str]:
    if store == "sqlite":
        yield f"sqlite:///{directory}/template.db"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_template(store, tmp_path_factory) -> Iterator[str]:
    """A database migrated once per test process, which `database_url` copies."""
    with template_database(store, tmp_path_factory.mktemp("migrated")) as url:
        yield migrate(url)


@dataclass
class Template:
    url: str
    tokens: Tokens


@pytest.fixture(scope="session")
def loaded_template(store, tmp_path_factory, catalog_file) -> Iterator[Template]:
    """A database migrated, loaded with the test catalog and given tokens once per process."""
    with template_database(store, tmp_path_factory.mktemp("loaded")) as url:
        yield Template(url, load(url, catalog_file))


@pytest.fixture
def empty_database_url(store, tmp_path) -> Iterator[str]:
    """A database without a schema."""
    with fresh_database(store, tmp_path) as url:
        yield url


@pytest.fixture
def database_url(store, migrated_template, tmp_path) -> Iterator[str]:
    """A migrated, empty database."""
    with copy_database(store, migrated_template, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(Settings(database_url=database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def postgresql_catalog(store, database_url, catalog_file) -> str:
    """A PostgreSQL database holding the test catalog; the test is skipped on SQLite."""
    if store != "postgresql":
        pytest.skip("the async loop reader is PostgreSQL's")
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    return database_url


@contextlib.contextmanager
def serve(settings: Settings, app: object = None) -> Iterator[str]:
    """Run the app (or another ASGI app, behind the same transport) under uvicorn on a free
    port in a thread; yield its base URL."""
    config = uvicorn.Config(
        app or create_app(settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def issue_tokens(database_url: str, engine: Engine) -> Tokens:
    valid = run_cli(database_url, "token", "create", "tests").out.strip()
    revoked = run_cli(database_url, "token", "create", "revoked").out.strip()
    assert run_cli(database_url, "token", "revoke", "revoked").code == 0
    # An expired token: issued by a store whose clock reads two hours ago, for one hour.
    two_hours_ago = utc_now() - timedelta(hours=2)
    expired = TokenStore(engine, clock=lambda: two_hours_ago).create("expired", timedelta(hours=1))
    return Tokens(valid=valid, expired=expired, revoked=revoked)


def load(database_url: str, catalog_file: Path) -> Tokens:
    """Migrate, import the catalog through the CLI, and issue tokens."""
    migrate(database_url)
    result = run_cli(database_url, "import", str(catalog_file))
    assert result.code == 0, result.err
    engine = make_engine(Settings(database_url=database_url))
    try:
        return issue_tokens(database_url, engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def serve_loaded(database_url: str, tokens: Tokens, **settings: object) -> Iterator[LiveServer]:
    """Serve a loaded database, validating responses against the spec."""
    # Validating responses unless the test says otherwise.
    server_settings = Settings(
        **{"database_url": database_url, "validate_responses": True, **settings}  # type: ignore[arg-type]
    )
    engine = make_engine(server_settings)
    try:
        with serve(server_settings) as base_url:
            yield LiveServer(base_url, server_settings, engine, tokens)
    finally:
        engine.dispose()


@contextlib.contextmanager
def start_loaded_server(
    database_url: str, catalog_file: Path, **settings: object
) -> Iterator[LiveServer]:
    """Migrate, import the catalog through the CLI, issue tokens, and serve."""
    with serve_loaded(database_url, load(database_url, catalog_file), **settings) as server:
        yield server


@contextlib.contextmanager
def serve_copy(
    store: str, template: Template, directory: Path, **settings: object
) -> Iterator[LiveServer]:
    """Serve a copy of the loaded template."""
    with (
        copy_database(store, template.url, directory) as url,
        serve_loaded(url, template.tokens, **settings) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def live_server(store, tmp_path_factory, loaded_template) -> Iterator[LiveServer]:
    """One server per store and test process, for tests that change nothing it serves."""
    with serve_copy(store, loaded_template, tmp_path_factory.mktemp("live")) as server:
        yield server


@pytest.fixture
def private_server(store, loaded_template, tmp_path) -> Iterator[LiveServer]:
    """A server of the test's own, for tests that change its database."""
    with serve_copy(store, loaded_template, tmp_path) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    base_url: str
    process: subprocess.Popen
    stdout: Path
    stderr: Path

    def log_lines(self) -> list[str]:
        return self.stdout.read_text(encoding="utf-8").splitlines()


def cli_command() -> list[str]:
    """The installed `swr-official-images` command, as an operator runs it."""
    script = shutil.which("swr-official-images", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "swr_official_images"]


def _workers_started(log_lines: list[str]) -> int:
    """How many server processes have logged that their application started."""
    pids = set()
    for line in log_lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("message") == "Application startup complete.":
                pids.add(record.get("pid"))
    return len(pids)


# What uvicorn logs once it holds its socket, in either log format, on any host.
LISTENING = re.compile(r"Uvicorn running on http://\S+:(\d+) ")


def listening_port(log_text: str) -> int | None:
    """The port a server started on port 0 logged once bound, or None before it has.

    A port found free beforehand can be taken by another test's server before this one binds
    it, and that server would then answer the readiness probe; a port the server picked itself
    is its own from the moment it is logged."""
    match = LISTENING.search(log_text)
    return int(match.group(1)) if match else None


@contextlib.contextmanager
def serve_process(
    database_url: str, directory: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """`swr-official-images serve ARGS` as its own process on a port it picks, its stdout and
    stderr in files of `directory`; stopped (SIGTERM) and waited for on exit, so the files are
    then complete."""
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    environ = {**os.environ, "SWR_DATABASE_URL": database_url, "SWR_LOG_LEVEL": "INFO"}
    environ.update(env or {})
    command = [*cli_command(), "serve", "--port", "0", *args]
    stdout, stderr = directory / "serve.out", directory / "serve.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(command, env=environ, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while True:
            out_text = stdout.read_text()
            logs = f"{out_text}\n{stderr.read_text()}"
            assert process.poll() is None, logs
            port = listening_port(logs)
            # Every worker up, not only the first: on a busy machine the others can take
            # seconds longer, and the first would answer every request meanwhile.
            started = workers == 1 or _workers_started(out_text.splitlines()) >= workers
            if port is not None and started:
                server = ServerProcess(f"http://127.0.0.1:{port}", process, stdout, stderr)
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(server.base_url + "/openapi.json").status_code == 200:
                        break
            assert time.monotonic() < deadline, "the server did not start:\n" + logs
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
