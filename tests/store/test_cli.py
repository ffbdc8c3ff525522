"""The command line, run in-process against temporary databases."""

from __future__ import annotations

import argparse

import pytest
from sqlalchemy import inspect

from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.cli.tokens import parse_duration
from swr_official_images.settings import Settings
from swr_official_images.store.db import make_engine
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.migrations import current_revision, head_revision
from swr_official_images.store.tokens import TokenStore
from tests.conftest import free_port, run_cli


@pytest.fixture
def db_url(database_url) -> str:
    return database_url


@pytest.fixture
def repo(engine) -> SqlImageRepository:
    return SqlImageRepository(engine)


def test_token_create_prints_the_token_alone_on_stdout(db_url, engine):
    result = run_cli(db_url, "token", "create", "ci", "--expires-in", "30d")

    assert result.code == 0
    token = result.out.strip()
    assert result.out == token + "\n"
    info = TokenStore(engine).verify(token)
    assert info is not None and info.name == "ci"
    assert (info.expires_at - info.created_at).days == 30


def test_token_list_shows_names_and_states_never_values(db_url):
    token = run_cli(db_url, "token", "create", "ci").out.strip()
    run_cli(db_url, "token", "create", "old")
    run_cli(db_url, "token", "revoke", "old")

    listing = run_cli(db_url, "token", "list").out

    assert token not in listing
    lines = {line.split()[0]: line.split()[1] for line in listing.splitlines()[1:]}
    assert lines == {"ci": "active", "old": "revoked"}


def test_token_errors_exit_non_zero(db_url):
    run_cli(db_url, "token", "create", "ci")
    assert run_cli(db_url, "token", "create", "ci").code == 1
    assert run_cli(db_url, "token", "revoke", "nobody").code == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "revoke", "nobody"], "no token named 'nobody'"),
        (
            ["token", "create", "far", "--expires-in", "600000w"],
            "that lifetime ends after the year 9999",
        ),
        (["token", "create", "no spaces"], "token name must be 1-64 characters"),
        (["key", "disable", "nobody"], "no key named 'nobody'"),
        (["key", "delete", "nobody"], "no key named 'nobody'"),
    ],
)
def test_a_refused_command_says_why_in_one_error_line_and_exits_1(db_url, argv, message):
    result = run_cli(db_url, *argv)

    assert (result.code, result.out) == (1, ""), result.err
    assert result.err.startswith(f"error: {message}"), result.err
    assert result.err.count("\n") == 1, result.err


def test_a_postgresql_database_without_the_schema_is_refused_with_the_command_to_run(
    empty_database_url,
):
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("an embedded SQLite store migrates itself")

    result = run_cli(empty_database_url, "token", "list")

    assert (result.code, result.out) == (1, ""), result.err
    assert result.err.startswith("error: the database has no schema yet"), result.err
    assert result.err.endswith("run `swr-official-images migrate` first\n"), result.err


def test_a_database_that_cannot_be_reached_is_one_error_line():
    # Nothing listens there: the connection is refused at once.
    url = f"postgresql+psycopg://swr@127.0.0.1:{free_port()}/swr"

    result = run_cli(url, "token", "list")

    assert (result.code, result.out) == (1, ""), result.err
    assert result.err.startswith("error: database: OperationalError: "), result.err
    assert result.err.count("\n") == 1, result.err


@pytest.mark.parametrize("text", ["0d", "5", "1y", "-1h", "h"])
def test_bad_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="invalid duration"):
        parse_duration(text)


def test_init_db_creates_an_empty_schema(empty_database_url):
    # A database with no schema at all: init-db must build it, not find it there.
    result = run_cli(empty_database_url, "init-db")

    assert result.code == 0, result.err
    assert f"upgraded from nothing to {head_revision()}" in result.err
    engine = make_engine(Settings(database_url=empty_database_url))
    try:
        assert current_revision(engine) == head_revision()
        assert inspect(engine).has_table("images") and inspect(engine).has_table("api_tokens")
        assert SqlImageRepository(engine).count() == 0
    finally:
        engine.dispose()


def test_sample_catalog_is_what_serve_loads(repo):
    # serve loads exactly this into an empty database (see cmd_serve).
    summary = repo.import_records(sample_catalog())
    assert summary.inserted == len(sample_catalog()) >= 100


def test_a_command_on_a_database_that_does_not_exist_says_it_creates_one(tmp_path):
    missing = tmp_path / "elsewhere" / "official-images.db"

    result = run_cli(f"sqlite:///{missing}", "token", "list")

    assert result.code == 0, result.err
    assert f"note: no database at {missing}: creating a new, empty one" in result.err
    # An existing database is opened without a word.
    assert "note:" not in run_cli(f"sqlite:///{missing}", "token", "list").err
