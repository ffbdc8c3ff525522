"""The image catalog's repository in front of SQL (its records: `swr_official_images.domain`)."""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from swr_official_images.domain import (
    DEFAULTS,
    ROW_FIELDS,
    Image,
    ImageNotFound,
    ImagePage,
    ImageRecord,
    ImportConflict,
    ImportSummary,
)
from swr_official_images.store.db import catalog_write_transaction, images

# Image.from_row and as_row take and give a row's values in ROW_FIELDS' order: the table's.
if tuple(c.name for c in images.c) != ROW_FIELDS:
    raise RuntimeError(f"the images table's columns are not in the order of {ROW_FIELDS}")


# The columns an imported record fills; the store keeps the others.
_RECORD_COLUMNS = [c for c in images.c if c.name not in ("id", "changed_at")]
_RECORD_FIELDS = [c.name for c in _RECORD_COLUMNS]
# An image is known by its namespace and name; an import may change the rest.
_KEY_FIELDS = ("namespace", "name")
_VALUE_FIELDS = [f for f in _RECORD_FIELDS if f not in _KEY_FIELDS]

# Rows per round trip while loading an import into its staging table.
_LOAD_BATCH = 10_000


def _staging_table() -> Table:
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


class SqlImageRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, namespace: str, name: str) -> Image:
        query = select(images).where(images.c.namespace == namespace, images.c.name == name)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise ImageNotFound(namespace, name)
        return Image.from_row(row)

    def loop_reader(self) -> SqliteImageReader | None:
        """A reader fit to run on the event loop, where the store allows one (SQLite)."""
        if self._engine.dialect.name != "sqlite":
            return None
        return SqliteImageReader(self._engine)

    def is_empty(self) -> bool:
        # One row or none: count(*) would read the whole table (a seq scan on PostgreSQL).
        with self._engine.connect() as conn:
            return conn.execute(select(images.c.id).limit(1)).first() is None

    def page(
        self, namespace: str, limit: int, after: str | None = None, prefix: str | None = None
    ) -> ImagePage:
        """Up to `limit` images of a namespace in name order, after the name `after`, whose
        names start with `prefix`."""
        with self._engine.connect() as conn:
            rows = conn.execute(page_query(namespace, limit, after, prefix)).all()
        # Rows as tuples: a RowMapping per row costs more than the query.
        read = [Image.from_row(row) for row in rows]
        # Over every row read, the one after the page included: its arrival is what makes a
        # nextMarker appear.
        changed_at = max((image.changed_at for image in read), default=None)
        return ImagePage(read[:limit], more=len(read) > limit, changed_at=changed_at)

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(images)).scalar_one()

    def iter_all(self, batch: int = 10_000) -> Iterator[Image]:
        """Every image in id order, streamed (a catalog may not fit in memory twice)."""
        query = select(images).order_by(images.c.id)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query)
            for row in result:
                yield Image.from_row(row)

    def all(self) -> list[Image]:
        return list(self.iter_all())

    def import_records(
        self,
        records: Iterable[ImageRecord] | Iterable[tuple[str, ImageRecord]],
        progress: Callable[[int], object] | None = None,
    ) -> ImportSummary:
        """Insert new images and update changed ones in place (keeping their ids), in one
        transaction: either every record lands or none does. Imports hold the catalog's write
        lock, so two at once run one after the other; readers are not blocked.

        A new image keeps the id its record carries; an existing one keeps its own whatever
        the record says (clients know it by that id). An image or an id given twice, or a new
        image's id that another image holds, refuses the whole import (ImportConflict).

        The records are bulk-loaded into a temporary table as they come (an iterator of
        records is never held whole) and merged with set-based statements, so a million
        records cost a few joins rather than a million round trips. One join with the catalog
        counts the existing images and the changed ones first; a step with nothing to do (no
        new image, no change) is skipped, so re-importing an unchanged catalog costs that join
        and no writes. A record may come with where it came from, `(where, record)`, which
        errors then name; otherwise "record N". An exception from the iterator (a bad record in
        a file) rolls everything back.
        """
        staging = _staging_table()
        with catalog_write_transaction(self._engine) as conn:
            staging.create(conn)
            total = _bulk_load(conn, staging, records, progress)
            if conn.dialect.name == "postgresql":
                # A temporary table has no statistics until asked: without them the planner
                # takes a million staged rows for a few and joins them row by row.
                conn.exec_driver_sql(f"ANALYZE {staging.name}")
            _refuse_repeats(conn, staging)
            same_image = and_(*(images.c[f] == staging.c[f] for f in _KEY_FIELDS))
            changes = or_(*(_changes(f, staging) for f in _VALUE_FIELDS))
            existing, changed = _count_existing(conn, staging, same_image, changes)
            any_new = existing < total
            # The new records: those without an image of their name (all, when none has one).
            new = [~exists().where(same_image)] if existing else []
            # Most files give no id: then no new image can take another's, nor needs one kept
            # (the partial index of given ids answers at once).
            ids_given = _any_row(conn, select(staging.c.id).where(staging.c.id.is_not(None)))
            if any_new and ids_given:
                _refuse_taken_ids(conn, staging, new)
            updated = inserted = 0
            # Only an import that writes needs a change stamp (finding one reads every image's).
            if changed or any_new:
                stamp = _change_stamp(conn)
                if changed:
                    updated = _update_changed(conn, staging, same_image, changes, stamp)
                if any_new:
                    inserted = _insert_new(conn, staging, new, stamp, ids_given=ids_given)
            if _discards_temporary_tables_on_close(conn):
                # SQLite keeps temporary tables in a file of their own, deleted whole when the
                # connection closes; DROP TABLE would walk a million rows to free their pages
                # (over a second). So this connection closes rather than going back to the
                # pool, and takes the staging table with it.
                conn.detach()
            else:
                staging.drop(conn)
        return ImportSummary(inserted, updated, total - inserted - updated)


def _changes(field: str, staging: Table) -> ColumnElement[bool]:
    """Whether a staged record changes this field of its image: never, when it leaves the
    field out."""
    differs = images.c[field] != staging.c[field]
    return and_(staging.c[field].is_not(None), differs) if field in DEFAULTS else differs


def _staged(field: str, staging: Table, *, existing: bool) -> ColumnElement[Any]:
    """The staged value of a field; where the record leaves it out, the image's own value
    (`existing`) or the default a new image gets."""
    column = staging.c[field]
    if field not in DEFAULTS:
        return column
    target = images.c[field]
    return func.coalesce(column, target if existing else literal(DEFAULTS[field], target.type))


def _discards_temporary_tables_on_close(conn: Connection) -> bool:
    """A SQLite database in a file: a new connection to it costs next to nothing, and what it
    holds is all in the file (an in-memory database would go with its last connection)."""
    url = conn.engine.url
    return (
        conn.dialect.name == "sqlite"
        and url.database not in (None, "", ":memory:")
        and url.query.get("mode") != "memory"
    )


def _count_existing(
    conn: Connection,
    staging: Table,
    same_image: ColumnElement[bool],
    changes: ColumnElement[bool],
) -> tuple[int, int]:
    """How many records name an existing image, and how many of those change it: one join of
    the file with the catalog, which tells which later steps have anything to do."""
    if not _any_row(conn, select(images.c.id)):
        # A first import: SQLite would still look every record up in the empty catalog.
        return 0, 0
    existing, changed = conn.execute(
        select(func.count(), func.count().filter(changes)).select_from(
            staging.join(images, same_image)
        )
    ).one()
    return existing, changed


def _update_changed(
    conn: Connection,
    staging: Table,
    same_image: ColumnElement[bool],
    changes: ColumnElement[bool],
    stamp: datetime,
) -> int:
    """Existing images that their records change, in place: their ids stay."""
    return conn.execute(
        images.update()
        .where(same_image, changes)
        .values(
            {
                **{f: _staged(f, staging, existing=True) for f in _VALUE_FIELDS},
                "changed_at": stamp,
            }
        )
    ).rowcount


def _any_row(conn: Connection, query: Select[*tuple[Any, ...]]) -> bool:
    return conn.execute(query.limit(1)).first() is not None


def _insert_new(
    conn: Connection,
    staging: Table,
    new: list[ColumnElement[bool]],
    stamp: datetime,
    *,
    ids_given: bool,
) -> int:
    """New images, in file order: first those whose records give an id, which PostgreSQL's
    sequence then moves past, then the others, whose ids (assigned) follow the file."""
    with_id = 0
    if ids_given:
        with_id = _insert_images(
            conn, staging, [*new, staging.c.id.is_not(None)], stamp, with_id=True
        )
    if with_id and conn.dialect.name == "postgresql":
        _advance_id_sequence(conn)
    without_id = _insert_images(conn, staging, [*new, staging.c.id.is_(None)], stamp, with_id=False)
    return with_id + without_id


def _insert_images(
    conn: Connection,
    staging: Table,
    which: list[ColumnElement[bool]],
    stamp: datetime,
    *,
    with_id: bool,
) -> int:
    fields = ["id", *_RECORD_FIELDS] if with_id else _RECORD_FIELDS
    return conn.execute(
        images.insert()
        .from_select(
            [*fields, "changed_at"],
            select(
                *(_staged(f, staging, existing=False) for f in fields),
                literal(stamp, images.c.changed_at.type),
            )
            .where(*which)
            .order_by(staging.c.position),
        )
        # SQLAlchemy keeps an INSERT's row count only when asked to.
        .execution_options(preserve_rowcount=True)
    ).rowcount


def _refuse_repeats(conn: Connection, staging: Table) -> None:
    """An image, or an id, that the file gives twice. Unique indexes find them in one sort;
    only when one fails is the first repeat looked for."""
    for columns, what in ((_KEY_FIELDS, "image"), (("id",), "id")):
        name = f"import_staging_{'_'.join(columns)}"
        # Only the records that carry an id: most files have none, and an index of a million
        # NULLs costs a sort for nothing (NULLs never repeat in a unique index anyway).
        given = staging.c.id.is_not(None) if columns == ("id",) else None
        index = Index(
            name,
            *(staging.c[c] for c in columns),
            unique=True,
            sqlite_where=given,
            postgresql_where=given,
        )
        try:
            with conn.begin_nested():
                index.create(conn)
        except IntegrityError:
            Index(f"{name}_all", *(staging.c[c] for c in columns)).create(conn)
            earlier = staging.alias("earlier")
            same = and_(*(earlier.c[c] == staging.c[c] for c in columns))
            first = (
                select(func.min(earlier.c.position))
                .where(same, earlier.c.position < staging.c.position)
                .scalar_subquery()
            )
            later = (
                select(staging.c.position, first.label("first"))
                .where(first.is_not(None))
                .order_by(staging.c.position)
                .limit(1)
                .subquery()
            )
            repeat, original = staging.alias("repeat"), staging.alias("original")
            where, other, *values = conn.execute(
                select(repeat.c.source, original.c.source, *(repeat.c[c] for c in columns))
                .join(later, repeat.c.position == later.c.position)
                .join(original, original.c.position == later.c.first)
            ).one()
            shown = "/".join(str(v) for v in values)
            raise ImportConflict(where, f"{what} {shown} repeats", other) from None


def _refuse_taken_ids(conn: Connection, staging: Table, new: list[ColumnElement[bool]]) -> None:
    holder = images.alias("holder")
    taken = conn.execute(
        select(staging.c.source, staging.c.id, holder.c.namespace, holder.c.name)
        .join(holder, holder.c.id == staging.c.id)
        # Implied by the join, but said: it lets the planner use the partial index of given ids.
        .where(staging.c.id.is_not(None), *new)
        .order_by(staging.c.position)
        .limit(1)
    ).first()
    if taken is not None:
        where, id_, namespace, name = taken
        raise ImportConflict(where, f"id {id_} belongs to image {namespace}/{name}")


def _advance_id_sequence(conn: Connection) -> None:
    """PostgreSQL hands out ids from a sequence that explicit ids do not move: move it past
    them, never back."""
    sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence('images', 'id')").scalar_one()
    conn.exec_driver_sql(
        f"SELECT setval(%(sequence)s::regclass, GREATEST("  # noqa: S608 (a name PostgreSQL gave)
        f"(SELECT max(id) FROM images), (SELECT last_value FROM {sequence})))",
        {"sequence": sequence},
    )


def page_query(
    namespace: str, limit: int, after: str | None, prefix: str | None
) -> Select[*tuple[Any, ...]]:
    """Keyset paging: every condition is a range on the (namespace, name) unique index, so a
    page reads only its own rows wherever it starts, and a walk resumed after a name neither
    repeats nor skips an image when others are inserted meanwhile. The prefix is a range too,
    not LIKE, whose `_` and `%` are wildcards (and case-blind on SQLite). One row more than
    asked says whether another page follows, without a count."""
    query = select(images).where(images.c.namespace == namespace)
    if after is not None:
        query = query.where(images.c.name > after)
    if prefix:
        query = query.where(images.c.name >= prefix, images.c.name < _successor(prefix))
    return query.order_by(images.c.name).limit(limit + 1)


def _successor(prefix: str) -> str:
    """The first string, in byte order, after all those that start with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _change_stamp(conn: Connection) -> datetime:
    """The `changed_at` of the records an import changes: now, in whole seconds (HTTP dates
    have no finer precision), but always later than every stamp already stored, so that a
    record changed twice within one second still gets a new Last-Modified. Runs under the
    catalog's write lock, so imports cannot interleave."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    latest: datetime | None = conn.execute(select(func.max(images.c.changed_at))).scalar_one()
    if latest is not None and latest >= now:
        return latest + timedelta(seconds=1)
    return now


def _bulk_load(
    conn: Connection,
    staging: Table,
    records: Iterable[ImageRecord] | Iterable[tuple[str, ImageRecord]],
    progress: Callable[[int], object] | None,
) -> int:
    """Load the records into the staging table at the driver's bulk speed: binary COPY on
    PostgreSQL, one prepared INSERT run with executemany elsewhere. Per-row statement handling
    would cost more than the database's own work. Returns how many records there were."""
    postgresql = conn.dialect.name == "postgresql"
    fields = ["id", *_RECORD_FIELDS]
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
    while batch := list(itertools.islice(located, _LOAD_BATCH)):
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


class ReaderBusy(Exception):
    """The loop reader could not read without waiting; the caller reads the slow way."""


class SqliteImageReader:
    """One image by its key, straight through the driver on a connection of its own.

    On SQLite such a read is a B-tree probe in the process, a few microseconds; a thread pool
    hop, a pooled connection and SQLAlchemy's statement handling cost a hundred times that. In
    WAL mode a reader never waits for a writer, and the connection is told never to wait at all
    (busy_timeout 0): when it would have to (a checkpoint or recovery in progress), the read
    raises `ReaderBusy` instead of blocking the event loop.
    """

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        # Kept checked out for the life of the process: one per process.
        self._pooled = engine.raw_connection()
        driver = self._pooled.driver_connection
        # The dialect says which driver this is: SQLAlchemy's SQLite dialect uses the stdlib's.
        assert isinstance(driver, sqlite3.Connection)
        self._driver = driver
        self._driver.execute("PRAGMA busy_timeout=0")
        query = select(images).where(
            images.c.namespace == bindparam("namespace"), images.c.name == bindparam("name")
        )
        compiled = query.compile(dialect=dialect)
        self._sql = str(compiled)
        self._order = list(compiled.positiontup or ())
        # SQLAlchemy's own conversions from what the driver returns (dates are text on SQLite).
        self._convert = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in images.c
        ]

    def get(self, namespace: str, name: str) -> Image:
        params = {"namespace": namespace, "name": name}
        try:
            row = self._driver.execute(self._sql, [params[p] for p in self._order]).fetchone()
        except sqlite3.OperationalError as error:
            raise ReaderBusy(str(error)) from error
        if row is None:
            raise ImageNotFound(namespace, name)
        # Any: the driver's rows are untyped; the columns' types are the Image's.
        return Image.from_row(
            value if convert is None else convert(value)
            for convert, value in zip(self._convert, row, strict=True)
        )

    def close(self) -> None:
        self._pooled.close()
