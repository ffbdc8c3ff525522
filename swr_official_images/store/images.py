"""The image catalog's repository in front of SQL (its records: `swr_official_images.domain`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Engine, Select, func, select

from swr_official_images.domain import (
    ROW_FIELDS,
    Image,
    ImageNotFound,
    ImagePage,
    ImageRecord,
    ImportSummary,
)
from swr_official_images.store.db import images
from swr_official_images.store.image_import import import_records
from swr_official_images.store.loop_reader import PostgresImageReader, SqliteImageReader

# Image.from_row and as_row take and give a row's values in ROW_FIELDS' order: the table's.
if tuple(c.name for c in images.c) != ROW_FIELDS:
    raise RuntimeError(f"the images table's columns are not in the order of {ROW_FIELDS}")


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

    def async_loop_reader(self) -> PostgresImageReader | None:
        """A reader to await on the event loop (PostgreSQL)."""
        if self._engine.dialect.name != "postgresql":
            return None
        return PostgresImageReader(self._engine)

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

    def import_records(
        self,
        records: Iterable[ImageRecord] | Iterable[tuple[str, ImageRecord]],
        progress: Callable[[int], object] | None = None,
    ) -> ImportSummary:
        """See `swr_official_images.store.image_import.import_records`."""
        return import_records(self._engine, records, progress)


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
