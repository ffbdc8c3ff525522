"""Schema migrations: they build exactly swr_official_images/db.py's tables, and a server refuses a
PostgreSQL schema that is not current while SQLite migrates itself."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from swr_official_images.app import create_app
from swr_official_images.settings import Settings
from swr_official_images.store.db import images, make_engine, metadata
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.migrations import (
    INITIAL_REVISION,
    SchemaNotCurrent,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from tests.conftest import run_cli


def test_migrations_build_the_tables_of_the_code(database_url, engine):
    with engine.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert differences == []
    assert set(inspect(engine).get_table_names()) >= {"images", "api_tokens", "alembic_version"}


def test_migrations_give_columns_the_collations_of_the_code(engine):
    # Alembic's comparison above leaves collations out; the list's order depends on them.
    for table in metadata.sorted_tables:
        reflected = {c["name"]: c["type"] for c in inspect(engine).get_columns(table.name)}
        for column in table.c:
            declared = getattr(column.type.dialect_impl(engine.dialect), "collation", None)
            found = getattr(reflected[column.name], "collation", None)
            assert found == declared, (table.name, column.name)


def test_the_constraints_the_data_needs_are_enforced(engine):
    row = {
        "namespace": "official",
        "name": "nginx",
        "user": "official",
        "description": "",
        "full_description": "",
        "star_count": 0,
        "pull_count": 0,
        "collection_id": 0,
        "last_updated": datetime(2026, 1, 1),
        "changed_at": datetime(2026, 1, 1),
    }
    with engine.begin() as conn:
        conn.execute(insert(images).values(row))
    for bad, constraint in (
        (row, "uq_images_namespace_name"),
        ({**row, "name": "redis", "star_count": -1}, "star_count_non_negative"),
        ({**row, "name": "redis", "pull_count": -1}, "pull_count_non_negative"),
    ):
        with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
            conn.execute(insert(images).values(bad))
        # SQLite names a unique constraint by its columns, PostgreSQL by its name.
        message = str(caught.value)
        assert constraint in message or "UNIQUE constraint failed: images.namespace" in message


def test_migrate_reports_and_is_idempotent(empty_database_url):
    first = run_cli(empty_database_url, "migrate")
    second = run_cli(empty_database_url, "migrate")

    assert first.code == 0 and f"upgraded from nothing to {head_revision()}" in first.err
    assert second.code == 0 and f"already at revision {head_revision()}" in second.err


def test_concurrent_migrations_take_turns(empty_database_url):
    engine = make_engine(Settings(database_url=empty_database_url))
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_migrates_itself(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.db"

    assert run_cli(url, "token", "list").code == 0

    engine = make_engine(Settings(database_url=url))
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def upgrade_to(engine, revision: str) -> None:
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


# Rows as revisions 0001 to 0003 store them (no changed_at).
ROWS_0001 = [
    {
        "namespace": "official",
        "name": name,
        "user": "official",
        "description": f"kept {name}",
        "full_description": "",
        "star_count": 1,
        "pull_count": 2,
        "collection_id": 0,
        "last_updated": datetime(2017, 10, 16, 21, 33, 44),
    }
    for name in ("nginx", "library/redis")
]
IMAGES_0001 = sa.table(
    "images",
    *(sa.column(name, sa.DateTime() if name == "last_updated" else None) for name in ROWS_0001[0]),
)


def test_a_sqlite_file_from_before_migrations_is_adopted(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    engine = make_engine(Settings(database_url=url))
    # How the release before migrations made its schema: revision 0001's tables, no version.
    upgrade_to(engine, INITIAL_REVISION)
    with engine.begin() as conn:
        conn.execute(sa.insert(IMAGES_0001), ROWS_0001[:1])
        conn.exec_driver_sql("DROP TABLE alembic_version")
    try:
        result = run_cli(url, "migrate")

        assert result.code == 0, result.err
        assert current_revision(engine) == head_revision()
        assert run_cli(url, "export").out.count('"description": "kept nginx"') == 1
    finally:
        engine.dispose()


def test_0004_adds_changed_at_to_a_database_with_rows(empty_database_url):
    engine = make_engine(Settings(database_url=empty_database_url))
    upgrade_to(engine, "0003")
    with engine.begin() as conn:
        conn.execute(sa.insert(IMAGES_0001), ROWS_0001)
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        result = run_cli(empty_database_url, "migrate")

        assert result.code == 0, result.err
        assert "upgraded from 0003 to 0004" in result.err
        after = datetime.now(UTC).replace(tzinfo=None)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(images).order_by(images.c.id)).mappings().all()
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        # The data is kept, and every row says it changed when the migration ran.
        assert [{k: r[k] for k in ROWS_0001[0]} for r in rows] == ROWS_0001
        assert all(before <= r["changed_at"] <= after for r in rows), rows
        # The upgraded tables are exactly the code's, constraints included.
        assert differences == []
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(sa.update(images).values(pull_count=-1))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(sa.update(images).values(changed_at=None))
        # An image from before the migration is served with its Last-Modified.
        served = SqlImageRepository(engine).get("official", "library/redis")
        assert served.changed_at == rows[1]["changed_at"]
    finally:
        engine.dispose()


def test_0004_downgrades_and_upgrades_again(database_url, engine):
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert "changed_at" not in {c["name"] for c in inspect(engine).get_columns("images")}
    assert run_cli(database_url, "migrate").code == 0
    assert current_revision(engine) == head_revision()


def test_serve_refuses_an_unmigrated_postgresql_database(empty_postgresql_url):
    result = run_cli(empty_postgresql_url, "serve", "--port", "0")

    assert result.code == 1
    assert "has no schema yet" in result.err
    assert "swr-official-images migrate" in result.err


def test_serve_refuses_an_outdated_postgresql_database(empty_postgresql_url):
    assert run_cli(empty_postgresql_url, "migrate").code == 0
    engine = make_engine(Settings(database_url=empty_postgresql_url))
    with engine.begin() as conn:
        # A schema this release does not know: older (or newer) than its own.
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000_older'")
    try:
        result = run_cli(empty_postgresql_url, "serve", "--port", "0")
        assert result.code == 1
        assert "at schema revision 0000_older" in result.err

        # The app itself refuses at start-up too, whoever runs it.
        app = create_app(Settings(database_url=empty_postgresql_url))
        with pytest.raises(SchemaNotCurrent), TestClient(app):
            pass
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["token", "list"], ["import", "-"], ["export"]])
def test_other_commands_do_not_migrate_postgresql_behind_the_operators_back(
    empty_postgresql_url, command
):
    result = run_cli(empty_postgresql_url, *command)

    assert result.code == 1
    assert "run `swr-official-images migrate` first" in result.err
