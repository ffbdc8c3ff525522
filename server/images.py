"""The image catalog: domain records and the repository in front of SQL.

The data layer knows nothing of HTTP; the handler turns `ImageNotFound` into a 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, func, select, tuple_

from server.db import images

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


def _record_values(record: ImageRecord) -> dict[str, object]:
    return {c.name: getattr(record, c.name) for c in _RECORD_COLUMNS}


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

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(images)).scalar_one()

    def all(self) -> list[Image]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(images).order_by(images.c.id)).mappings().all()
        return [Image(**row) for row in rows]

    def import_records(self, records: Sequence[ImageRecord]) -> ImportSummary:
        """Insert new images and update changed ones in place (keeping their ids), all in one
        transaction: either every record lands or none does."""
        inserted = updated = unchanged = 0
        with self._engine.begin() as conn:
            existing = {
                (row.namespace, row.name): row
                for row in _select_existing(conn, [(r.namespace, r.name) for r in records])
            }
            new_rows: list[dict[str, object]] = []
            for record in records:
                values = _record_values(record)
                row = existing.get((record.namespace, record.name))
                if row is None:
                    new_rows.append(values)
                    inserted += 1
                elif {k: getattr(row, k) for k in values} == values:
                    unchanged += 1
                else:
                    conn.execute(images.update().where(images.c.id == row.id).values(values))
                    updated += 1
            if new_rows:
                conn.execute(images.insert(), new_rows)
        return ImportSummary(inserted, updated, unchanged)


def _select_existing(conn, keys: Iterable[tuple[str, str]]):
    keys = list(keys)
    # Chunked so that a large import stays under the databases' bound-parameter limits.
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        yield from conn.execute(
            select(images).where(tuple_(images.c.namespace, images.c.name).in_(chunk))
        )
