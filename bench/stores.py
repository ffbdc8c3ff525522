"""The stores a benchmark runs against: each run gets a fresh, empty database, always removed.

SQLite is a file in a temporary folder; PostgreSQL is a new database on the configured server,
dropped afterwards even when the run fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import OperationalError

from bench import BenchError

STORES = ("sqlite", "postgresql")
# A maintenance database to connect to for creating and dropping the benchmark's own.
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Every database the benchmark creates starts with this, so a leftover is easy to recognise.
POSTGRES_DATABASE_PREFIX = "swr_bench_"


@contextlib.contextmanager
def fresh_database(store: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database of `store`, removed on exit."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sqlite-", dir=workdir) as folder:
            yield f"sqlite:///{Path(folder) / 'catalog.db'}"
    elif store == "postgresql":
        with temporary_postgres_database(postgres_url) as url:
            yield url
    else:
        raise ValueError(f"unknown store {store!r}")


@contextlib.contextmanager
def temporary_postgres_database(admin_url: str) -> Iterator[str]:
    name = f"{POSTGRES_DATABASE_PREFIX}{secrets.token_hex(6)}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            where = _without_password(admin_url)
            raise BenchError(
                f"cannot create a PostgreSQL database via {where}: {reason}\n"
                "Start PostgreSQL, pass --postgres-url, or leave it out with --stores sqlite."
            ) from None
        try:
            # The CLI gets the URL in its environment, so it keeps its password.
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            # FORCE ends the connections of a server that did not stop cleanly.
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _without_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
