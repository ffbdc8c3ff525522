"""Alembic's entry point: runs the revisions on the connection that
`swr_official_images.store.migrations` passes in, or, from the `alembic` command line, on the
database of `SWR_DATABASE_URL`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from swr_official_images.settings import Settings
from swr_official_images.store.db import make_engine, metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can alter a table only by copying it: Alembic's batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """`alembic upgrade head --sql`: print the DDL for a DBA instead of running it."""
    context.configure(url=Settings.from_env().database_url, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := context.config.attributes.get("connection")) is not None:
    run(connection)
else:
    engine = make_engine(Settings.from_env())
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
