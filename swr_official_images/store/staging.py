"""The staging table an import is bulk-loaded into, at the driver's bulk speed."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.exc import DBAPIError

from swr_official_images.domain import DEFAULTS, ImageRecord
from swr_official_images.store.db import images

# The columns an imported record fills; the store keeps the others.
_RECORD_COLUMNS = [c for c in images.c if c.name not in ("id", "changed_at")]
RECORD_FIELDS = [c.name for c in _RECORD_COLUMNS]

# Rows per round trip while loading an import into its staging table.
LOAD_BATCH = 10_000


def staging_table() -> Table:
    """A temporary table with the catalog's columns plus the record's position in the file,
    so that new images get their ids in file order; `id` is the record's own, if any."""
    return Table(
        "import_staging",
        MetaData(),
        # INTEGER on SQLite makes the position the table's rowid, rather than a second B-tree
        # beside it that every staged row is also inserted into.
        Column(
            "position",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        # How the caller names the record (its line in a file), for errors found after loading.
        Column("source", Text, nullable=False),
        Column("id", BigInteger, nullable=True),
        # NULL: a field the record leaves out (ImageRecord).
        *(Column(c.name, c.type, nullable=c.name in DEFAULTS) for c in _RECORD_COLUMNS),
        prefixes=["TEMPORARY"],
    )


def bulk_load(
    conn: Connection,
    staging: Table,
    records: Iterable[ImageRecord] | Iterable[tuple[str, ImageRecord]],
    progress: Callable[[int], object] | None,
) -> int:
    """Load the records into the staging table at the driver's bulk speed: binary COPY on
    PostgreSQL, one prepared INSERT run with executemany elsewhere. Per-row statement handling
    would cost more than the database's own work. Returns how many records there were."""
    postgresql = conn.dialect.name == "postgresql"
    fields = ["id", *RECORD_FIELDS]
    # One C call reads a record's values in the staging table's column order (after position
    # and source): a million records make every per-value Python step count.
    values = operator.attrgetter(*fields)
    # The few values the driver cannot take as they are (dates, on SQLite), by row index.
    conversions = [
        (index, convert)
        for index, column in enumerate(staging.c)
        if (convert := _to_driver(column, conn.dialect)) is not None
    ]
    if postgresql:
        copy_sql, copy_types = _binary_copy(conn, staging)
    else:
        insert_sql = str(staging.insert().compile(dialect=conn.dialect))
    total = 0
    located = (
        item if isinstance(item, tuple) else (f"record {position}", item)
        for position, item in enumerate(records)
    )
    # A batch at a time: the records may be a file being read, never held whole.
    while batch := list(itertools.islice(located, LOAD_BATCH)):
        rows = [(total + offset, where, *values(r)) for offset, (where, r) in enumerate(batch)]
        if conversions:
            rows = [_converted(row, conversions) for row in rows]
        if postgresql:
            _copy_rows(conn, copy_sql, copy_types, rows)
        else:
            conn.exec_driver_sql(insert_sql, rows)
        total += len(batch)
        if progress is not None:
            progress(len(batch))
    return total


def _converted(
    row: tuple[Any, ...], conversions: list[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...]:
    values = list(row)
    for index, convert in conversions:
        values[index] = convert(values[index])
    return tuple(values)


def _copy_rows(conn: Connection, sql: str, types: list[int], rows: list[tuple[Any, ...]]) -> None:
    driver = conn.connection.driver_connection
    # The dialect says which driver this is; its copy API is psycopg's own.
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        # Past SQLAlchemy, so wrapped as it wraps the driver's errors of every other statement
        # (callers, the CLI among them, handle those).
        raise DBAPIError.instance(sql, None, exc, psycopg.Error, dialect=conn.dialect) from exc


def _binary_copy(conn: Connection, staging: Table) -> tuple[str, list[int]]:
    """The COPY statement that loads the staging table in PostgreSQL's binary format, and the
    column types it needs. Binary COPY costs the client and the server about a third of what
    text does (no escaping, no parsing of numbers and dates); the types are the table's own, as
    PostgreSQL reports them, so the binary values always match the columns. Text is checked as
    UTF-8 the same way: NUL is refused either way."""
    columns = [c.name for c in staging.c]
    types: dict[str, int] = {
        name: type_oid
        for name, type_oid in conn.exec_driver_sql(
            "SELECT attname, atttypid::int FROM pg_attribute "
            "WHERE attrelid = %(table)s::regclass AND attnum > 0 AND NOT attisdropped",
            {"table": staging.name},
        )
    }
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in columns)
    return (
        f"COPY {staging.name} ({quoted}) FROM STDIN (FORMAT BINARY)",
        [types[name] for name in columns],
    )


def _sqlite_datetime(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")


def _to_driver(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a column's values for the driver, if it has one. SQLite's
    DATETIME is SQLAlchemy's own text format, which its processor builds with %-formatting;
    `isoformat` writes the same text (tests/store/test_images_repository.py compares them) three
    times faster, once a record."""
    if dialect.name == "sqlite" and isinstance(column.type, DateTime):
        return _sqlite_datetime
    convert: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return convert
