"""Shared fixtures: a real server on a real socket, a catalog imported by the CLI, real tokens."""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
import uvicorn
from sqlalchemy import Engine

from server.app import create_app
from server.catalog import sample_catalog
from server.cli import main as cli_main
from server.db import create_schema, make_engine
from server.images import API_TIME_FORMAT, ImageRecord
from server.settings import Settings
from server.spec import load_spec
from server.tokens import TokenStore, utc_now
from server.transport import uvicorn_options

# Nested names ("/" in the store, "$" in the URL) are part of the test catalog.
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
        "last_updated": record.last_updated.strftime(API_TIME_FORMAT),
    }


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(database_url: str, *argv: str) -> CliResult:
    """Run the real CLI in-process against `database_url`, capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, {"SWR_DATABASE_URL": database_url}),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli_main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def spec() -> dict:
    return load_spec()


def write_test_catalog(path: Path) -> Path:
    """The test catalog: the bundled sample catalog plus a nested name."""
    records = [record_to_json(r) for r in sample_catalog()] + [NESTED_IMAGE]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def catalog_file(tmp_path_factory) -> Path:
    return write_test_catalog(tmp_path_factory.mktemp("catalog") / "catalog.json")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


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


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run the app under uvicorn on a free port in a thread; yield its base URL."""
    config = uvicorn.Config(
        create_app(settings),
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


def start_loaded_server(tmp_path: Path, catalog_file: Path) -> contextlib.AbstractContextManager:
    @contextlib.contextmanager
    def _run() -> Iterator[LiveServer]:
        database_url = sqlite_url(tmp_path / "images.db")
        result = run_cli(database_url, "import", str(catalog_file))
        assert result.code == 0, result.err
        settings = Settings(database_url=database_url, validate_responses=True)
        engine = make_engine(settings)
        create_schema(engine)
        tokens = issue_tokens(database_url, engine)
        try:
            with serve(settings) as base_url:
                yield LiveServer(base_url, settings, engine, tokens)
        finally:
            engine.dispose()

    return _run()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, catalog_file) -> Iterator[LiveServer]:
    with start_loaded_server(tmp_path_factory.mktemp("live"), catalog_file) as server:
        yield server


@pytest.fixture
def private_server(tmp_path, catalog_file) -> Iterator[LiveServer]:
    """A server of the test's own, for tests that break its database."""
    with start_loaded_server(tmp_path, catalog_file) as server:
        yield server
