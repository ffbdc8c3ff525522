"""An import: records merged into the catalog with set-based statements, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Index,
    Select,
    Table,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from swr_official_images.domain import DEFAULTS, ImageRecord, ImportConflict, ImportSummary
from swr_official_images.store.db import catalog_write_transaction, images
from swr_official_images.store.staging import RECORD_FIELDS, bulk_load, staging_table

# An image is known by its namespace and name; an import may change the rest.
_KEY_FIELDS = ("namespace", "name")
_VALUE_FIELDS = [f for f in RECORD_FIELDS if f not in _KEY_FIELDS]


def import_records(
    engine: Engine,
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
    staging = staging_table()
    with catalog_write_transaction(engine) as conn:
        staging.create(conn)
        total = bulk_load(conn, staging, records, progress)
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
    fields = ["id", *RECORD_FIELDS] if with_id else RECORD_FIELDS
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
