"""The image catalog: domain records and the repository in front of SQL.

The data layer knows nothing of HTTP; `ImageNotFound` becomes a 404 in `server.http.errors`, the
one place that translates errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    exists,
    func,
    or_,
    select,
)

from server.store.db import catalog_write_transaction, images

API_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ImageNotFound(LookupError):
    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"no image {namespace}/{name}")
        self.namespace = namespace
        self.name = name


@dataclass(frozen=True, kw_only=True)
class ImageRecord:
    """One catalog entry as imported: everything but the id the store assigns."""

    user: str
    name: str
    namespace: str
    description: str
    full_description: str
    star_count: int
    pull_count: int
    collection_id: int
    last_updated: datetime  # naive UTC, whole seconds


@dataclass(frozen=True, kw_only=True)
class Image(ImageRecord):
    id: int

    def to_api(self) -> dict[str, object]:
        body: dict[str, object] = {"id": self.id}
        body.update(asdict(self))
        body["last_updated"] = self.last_updated.strftime(API_TIME_FORMAT)
        return body


@dataclass(frozen=True)
class ImportSummary:
    inserted: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}"


class ImageRepository(Protocol):
    def get(self, namespace: str, name: str) -> Image: ...


_RECORD_COLUMNS = [c for c in images.c if c.name != "id"]
_RECORD_FIELDS = [c.name for c in _RECORD_COLUMNS]
# An image is known by its namespace and name; an import may change the rest.
_KEY_FIELDS = ("namespace", "name")
_VALUE_FIELDS = [f for f in _RECORD_FIELDS if f not in _KEY_FIELDS]

# Rows per round trip while loading an import into its staging table.
_LOAD_BATCH = 10_000


def _staging_table() -> Table:
    """A temporary table with the catalog's columns plus the record's position in the file,
    so that new images get their ids in file order."""
    return Table(
        "import_staging",
        MetaData(),
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        *(Column(c.name, c.type, nullable=False) for c in _RECORD_COLUMNS),
        prefixes=["TEMPORARY"],
    )


class SqlImageRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, namespace: str, name: str) -> Image:
        query = select(images).where(images.c.namespace == namespace, images.c.name == name)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise ImageNotFound(namespace, name)
        return Image(**row)

    def is_empty(self) -> bool:
        # One row or none: count(*) would read the whole table (a seq scan on PostgreSQL).
        with self._engine.connect() as conn:
            return conn.execute(select(images.c.id).limit(1)).first() is None

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(images)).scalar_one()

    def iter_all(self, batch: int = 10_000) -> Iterator[Image]:
        """Every image in id order, streamed (a catalog may not fit in memory twice)."""
        query = select(images).order_by(images.c.id)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query).mappings()
            for row in result:
                yield Image(**row)

    def all(self) -> list[Image]:
        return list(self.iter_all())

    def import_records(
        self,
        records: Sequence[ImageRecord],
        progress: Callable[[int], None] | None = None,
    ) -> ImportSummary:
        """Insert new images and update changed ones in place (keeping their ids), in one
        transaction: either every record lands or none does. Imports hold the catalog's write
        lock, so two at once run one after the other; readers are not blocked.

        The records are bulk-loaded into a temporary table and merged with two set-based
        statements, so a million records cost two joins rather than a million round trips.
        """
        staging = _staging_table()
        with catalog_write_transaction(self._engine) as conn:
            staging.create(conn)
            _bulk_load(conn, staging, records, progress)
            same_image = and_(*(images.c[f] == staging.c[f] for f in _KEY_FIELDS))
            changed = or_(*(images.c[f] != staging.c[f] for f in _VALUE_FIELDS))
            updated = conn.execute(
                images.update()
                .where(same_image, changed)
                .values({f: staging.c[f] for f in _VALUE_FIELDS})
            ).rowcount
            inserted = conn.execute(
                images.insert()
                .from_select(
                    _RECORD_FIELDS,
                    select(*(staging.c[f] for f in _RECORD_FIELDS))
                    .where(~exists().where(same_image))
                    .order_by(staging.c.position),
                )
                # SQLAlchemy keeps an INSERT's row count only when asked to.
                .execution_options(preserve_rowcount=True)
            ).rowcount
            staging.drop(conn)
        return ImportSummary(inserted, updated, len(records) - inserted - updated)


def _bulk_load(
    conn: Connection,
    staging: Table,
    records: Sequence[ImageRecord],
    progress: Callable[[int], None] | None,
) -> None:
    """Load the records into the staging table at the driver's bulk speed: COPY on PostgreSQL,
    one prepared INSERT run with executemany elsewhere. SQLAlchemy renders the statement and
    converts the values its column types need; per-row statement handling would cost more than
    the database's own work."""
    to_driver = [c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in staging.c]
    postgresql = conn.dialect.name == "postgresql"
    insert_sql = str(staging.insert().compile(dialect=conn.dialect))
    columns = ", ".join(conn.dialect.identifier_preparer.quote(c.name) for c in staging.c)
    for start in range(0, len(records), _LOAD_BATCH):
        batch = records[start : start + _LOAD_BATCH]
        rows = [
            tuple(
                value if convert is None else convert(value)
                for convert, value in zip(
                    to_driver,
                    (start + offset, *(getattr(r, f) for f in _RECORD_FIELDS)),
                    strict=True,
                )
            )
            for offset, r in enumerate(batch)
        ]
        if postgresql:
            # COPY streams every row in one command.
            driver = conn.connection.driver_connection
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {staging.name} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            conn.exec_driver_sql(insert_sql, rows)
        if progress is not None:
            progress(len(batch))
