"""Schema migrations (Alembic): the revisions in `versions/` build the tables of
`swr_official_images.store.db`.

`swr-official-images migrate` upgrades a database to the newest revision. The embedded SQLite
store migrates itself on start; a PostgreSQL database, shared by many processes, is migrated by
its operator, and a server refuses to start on a schema that is not current.
"""

from __future__ import annotations

import functools
import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from swr_official_images.store.db import schema_lock_transaction

log = logging.getLogger(__name__)

# The first revision: the schema that databases created before migrations existed already have.
INITIAL_REVISION = "0001"


class SchemaNotCurrent(RuntimeError):
    """The database's schema is missing or older (or newer) than this release's."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "swr_official_images.store:migrations")
    if connection is not None:
        # env.py runs the migrations on this connection instead of opening its own.
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """This release's newest revision (its scripts are read once per process)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it. Safe to run from several processes
    at once: they take turns."""
    with schema_lock_transaction(engine) as conn:
        config = alembic_config(conn)
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head_revision():
            # Already current, as at nearly every start of the embedded store: Alembic's
            # environment and scripts need not be loaded at all.
            return current
        if current is None and inspect(conn).has_table("images"):
            # Tables without a version: made by the release before migrations, whose schema
            # is the initial revision's.
            log.info("adopting an existing schema as revision %s", INITIAL_REVISION)
            command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, "head")
    return head_revision()


def require_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at this release's revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    state = "has no schema yet" if current is None else f"is at schema revision {current}"
    raise SchemaNotCurrent(
        f"the database {state}; this release needs revision {head}: "
        "run `swr-official-images migrate` first"
    )


def prepare_schema(engine: Engine) -> None:
    """What every process does before it uses the database: the embedded SQLite store migrates
    itself; a PostgreSQL database must already be current (raises SchemaNotCurrent)."""
    if engine.dialect.name == "sqlite":
        upgrade(engine)
    else:
        require_current(engine)
