"""The image catalog's domain: its records, pages, summaries and errors, and the repository
that stores must offer. Nothing here knows SQL or HTTP: `ImageNotFound` becomes a 404 in
`swr_official_images.http.errors`, the one place that translates errors.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol, Self


def api_time(moment: datetime) -> str:
    """A naive UTC time as the API writes it: `YYYY-MM-DD HH:MM:SS`.

    isoformat, not strftime: glibc's `%Y` writes the years before 1000 without their leading
    zeros (`999-01-02 ...`), which the spec's pattern refuses; isoformat always writes four
    digits, and takes a third of strftime's time (it runs for every image served)."""
    return moment.isoformat(" ", "seconds")


class ImageNotFound(LookupError):
    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"no image {namespace}/{name}")
        self.namespace = namespace
        self.name = name


@dataclass(frozen=True, kw_only=True)
class ImageRecord:
    """One catalog entry as imported. A new image keeps the id it comes with (a restored
    export); without one, the store assigns the next.

    A field in `KEPT_WHEN_LEFT_OUT` may be None: the source does not carry it (Docker Hub's
    listing has no full description, and Docker Hub no collection id). An image already
    stored keeps its own value then, and a new one gets `DEFAULTS`' value: a source that lacks
    a field says nothing about it, so it must not erase what another source gave."""

    id: int | None = None
    user: str
    name: str
    namespace: str
    description: str | None
    full_description: str | None
    star_count: int
    pull_count: int
    collection_id: int | None
    last_updated: datetime  # naive UTC, whole seconds

    @classmethod
    def from_checked(cls, values: Mapping[str, Any]) -> Self:
        """A record from a mapping of exactly its fields (`id` may be left out), already
        checked, as a catalog file's validation hands over a million times. The frozen
        dataclass's __init__ sets each field through object.__setattr__, several times the
        cost of filling the instance's __dict__ at once, which is all it does (there is no
        __post_init__)."""
        record = object.__new__(cls)
        record.__dict__.update(values)
        record.__dict__.setdefault("id", None)
        for field in KEPT_WHEN_LEFT_OUT:
            record.__dict__.setdefault(field, None)
        return record


# The fields a record may leave out (None), and what a new image gets for them.
DEFAULTS: dict[str, object] = {"description": "", "full_description": "", "collection_id": 0}
KEPT_WHEN_LEFT_OUT = tuple(DEFAULTS)


@dataclass(frozen=True, kw_only=True)
class Image(ImageRecord):
    id: int
    # A stored image has every field.
    description: str
    full_description: str
    collection_id: int
    # When the store last changed this record (naive UTC, whole seconds); not part of the
    # API's body, it is the response's Last-Modified.
    changed_at: datetime

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> Image:
        """The image of a stored row: its values in `ROW_FIELDS`' order, as the store's types
        convert them.

        It fills the fields as the generated __init__ would, without its keyword parsing and
        one object.__setattr__ per field, which cost five times as much: a page builds a
        hundred images."""
        image = cls.__new__(cls)
        image.__dict__.update(zip(ROW_FIELDS, row, strict=True))
        return image

    def as_row(self) -> tuple[Any, ...]:
        """Its values in `ROW_FIELDS`' order: what `from_row` takes back."""
        return _row_values(self)

    def to_api(self) -> dict[str, object]:
        # Written out rather than dataclasses.asdict, which deep-copies every value, or a zip
        # over the field names: this runs on every 200. A test holds it to API_FIELDS.
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "namespace": self.namespace,
            "description": self.description,
            "full_description": self.full_description,
            "star_count": self.star_count,
            "pull_count": self.pull_count,
            "collection_id": self.collection_id,
            "last_updated": api_time(self.last_updated),
        }


# The body's fields: id first, as the spec lists them; changed_at is a header's, not the body's.
API_FIELDS = ("id", *(f.name for f in fields(Image) if f.name not in ("id", "changed_at")))
# A stored image's values in the order of the store's rows (the images table's columns, which
# the store checks at import): what `Image.from_row` takes and `Image.as_row` gives.
ROW_FIELDS = (
    "id",
    "namespace",
    "name",
    "user",
    "description",
    "full_description",
    "star_count",
    "pull_count",
    "collection_id",
    "last_updated",
    "changed_at",
)
if set(ROW_FIELDS) != {f.name for f in fields(Image)}:
    raise RuntimeError(f"the row's fields {ROW_FIELDS} are not Image's fields")
_row_values = operator.attrgetter(*ROW_FIELDS)


class ImportConflict(ValueError):
    """A record the catalog cannot take as it is, named as the caller named it (its line or
    index in a file)."""

    def __init__(self, where: str, problem: str, other: str | None = None) -> None:
        super().__init__(f"{where}: {problem}" + (f" {other}" if other is not None else ""))


@dataclass(frozen=True)
class ImportSummary:
    inserted: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def __str__(self) -> str:
        return f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}"


@dataclass(frozen=True)
class ImagePage:
    images: list[Image]
    # Whether images follow the last one: the next page starts after its name.
    more: bool
    # The latest changed_at among the rows read for the page; None when none was read.
    changed_at: datetime | None = None


class ReaderBusy(Exception):
    """A loop reader could not read (it would have to wait for a lock, or its connection
    broke); the caller reads the slow way."""


class LoopReader(Protocol):
    """Reads one image on the event loop: fast, and never waiting (`ReaderBusy` instead)."""

    def get(self, namespace: str, name: str) -> Image: ...

    def close(self) -> None: ...


class AsyncLoopReader(Protocol):
    """Reads one image on the event loop, awaiting the store's answer while the loop serves
    others; its waits are bounded as the repository's are, and fail with the same errors."""

    async def get(self, namespace: str, name: str) -> Image: ...

    def close(self) -> None:
        """Closes what is idle now, and the rest as reads in flight end."""
        ...


class ImageRepository(Protocol):
    """The catalog as serving reads it. `get` and `page` may block (a database's I/O): callers
    on the event loop run them in a thread, or use the loop reader where there is one."""

    def get(self, namespace: str, name: str) -> Image: ...

    def page(
        self, namespace: str, limit: int, after: str | None = None, prefix: str | None = None
    ) -> ImagePage:
        """Up to `limit` images of a namespace in name order (of their UTF-8 bytes), after the
        name `after`, whose names start with `prefix`; `changed_at` is the latest among them
        and the first image after the page, if any."""
        ...

    def count(self) -> int: ...

    def loop_reader(self) -> LoopReader | None:
        """A reader fit to run on the event loop, where the store allows one."""
        ...

    def async_loop_reader(self) -> AsyncLoopReader | None:
        """A reader to await on the event loop, where the store has no `loop_reader` but an
        async driver."""
        ...


class ImageCatalog(ImageRepository, Protocol):
    """The catalog as the command line writes and reads it whole: import and export."""

    def is_empty(self) -> bool: ...

    def iter_all(self, batch: int = 10_000) -> Iterator[Image]:
        """Every image in id order, streamed (a catalog may not fit in memory twice)."""
        ...

    def import_records(
        self,
        records: Iterable[ImageRecord] | Iterable[tuple[str, ImageRecord]],
        progress: Callable[[int], object] | None = None,
    ) -> ImportSummary:
        """Inserts new images and updates changed ones in one transaction: every record lands
        or none does (`ImportConflict`)."""
        ...
