"""The SQL image repository against a real database (each store)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DataError, IntegrityError

from swr_official_images.domain import ImageNotFound, ImageRecord, ImportConflict
from swr_official_images.settings import Settings
from swr_official_images.store.db import images, make_engine
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.staging import _to_driver, staging_table
from tests.conftest import migrate


def record(name: str, **changes) -> ImageRecord:
    base = ImageRecord(
        user="official",
        name=name,
        namespace="official",
        description=f"{name} image",
        full_description=f"The {name} image.",
        star_count=10,
        pull_count=1000,
        collection_id=0,
        last_updated=datetime(2026, 1, 2, 3, 4, 5),
    )
    return replace(base, **changes)


@pytest.fixture
def repo(engine) -> SqlImageRepository:
    return SqlImageRepository(engine)


def test_get_returns_what_was_imported(repo):
    repo.import_records([record("nginx"), record("library/redis")])

    image = repo.get("official", "library/redis")

    assert image.name == "library/redis"
    assert image.to_api()["last_updated"] == "2026-01-02 03:04:05"
    assert isinstance(image.id, int)


def test_get_unknown_raises_image_not_found(repo):
    repo.import_records([record("nginx")])
    with pytest.raises(ImageNotFound):
        repo.get("official", "redis")
    with pytest.raises(ImageNotFound):
        repo.get("other", "nginx")


def test_one_import_that_inserts_updates_and_leaves_alone(repo):
    # Every kind of record at once, so that each step sees the others' records: an existing
    # image whose record carries another image's id (ignored: it keeps its own), a changed
    # one, an unchanged one, and new images with and without an id, which get theirs in file
    # order.
    repo.import_records([record("a", id=1), record("b", id=2), record("c", id=3)])

    summary = repo.import_records(
        [
            record("new-1"),
            record("a", id=2, star_count=99),
            record("b", id=3),
            record("new-2", id=10),
            record("new-3"),
        ]
    )

    assert (summary.inserted, summary.updated, summary.unchanged) == (3, 1, 1)
    assert {image.name: (image.id, image.star_count) for image in repo.iter_all()} == {
        "a": (1, 99),
        "b": (2, 10),
        "c": (3, 10),
        "new-1": (11, 10),
        "new-2": (10, 10),
        "new-3": (12, 10),
    }


def test_a_new_image_with_a_taken_id_is_refused_beside_existing_ones(repo):
    repo.import_records([record("a", id=1), record("b", id=2)])
    before = list(repo.iter_all())

    with pytest.raises(ImportConflict, match="record 2: id 1 belongs to image official/a"):
        repo.import_records([record("a", star_count=5), record("new-1"), record("new-2", id=1)])

    assert list(repo.iter_all()) == before


def test_a_field_a_record_leaves_out_keeps_the_stored_value(repo):
    # None is a field the source does not carry (Docker Hub's listing has no full
    # description, and no collection id anywhere): an existing image keeps what it has, a new
    # one gets the documented default, and a record that changes nothing else is unchanged.
    repo.import_records([record("a", collection_id=7), record("b", collection_id=7)])
    left_out = {"description": None, "full_description": None, "collection_id": None}

    summary = repo.import_records(
        [
            record("a", star_count=99, **left_out),
            record("b", **left_out),
            record("new", **left_out),
        ]
    )

    assert (summary.inserted, summary.updated, summary.unchanged) == (1, 1, 1)
    fields = ("star_count", "description", "full_description", "collection_id")
    found = {image.name: tuple(getattr(image, f) for f in fields) for image in repo.iter_all()}
    assert found == {
        "a": (99, "a image", "The a image.", 7),
        "b": (10, "b image", "The b image.", 7),
        "new": (10, "", "", 0),
    }


def test_a_failing_import_writes_nothing(repo):
    repo.import_records([record("nginx")])
    before = list(repo.iter_all())

    # The database's own check refuses a negative count half-way through the batch.
    with pytest.raises(IntegrityError, match="pull_count_non_negative"):
        repo.import_records([record("nginx", star_count=5), record("redis", pull_count=-1)])

    assert list(repo.iter_all()) == before
    with repo._engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(images)).scalar_one() == 1


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5),
        datetime(1, 1, 1),
        datetime(999, 12, 31, 23, 59, 59),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 6, 7, 8, 9, 10, 11),
    ],
)
def test_sqlite_stages_dates_as_sqlalchemy_stores_them(moment):
    # The import's shortcut for SQLite dates must write SQLAlchemy's own text, or the change
    # check would compare unequal texts and an unchanged image would count as updated.
    dialect = sqlite.dialect()
    column = staging_table().c.last_updated
    sqlalchemy_text = column.type.dialect_impl(dialect).bind_processor(dialect)(moment)

    assert _to_driver(column, dialect)(moment) == sqlalchemy_text


@pytest.fixture
def postgresql_engine(empty_postgresql_url) -> Iterator[Engine]:
    engine = make_engine(Settings(database_url=migrate(empty_postgresql_url)))
    yield engine
    engine.dispose()


def test_postgresql_refuses_nul_in_the_bulk_load_and_writes_nothing(postgresql_engine):
    # Files are checked for NUL before they reach the store; records handed to the repository
    # directly meet the binary COPY, which must refuse it too (SQLite can hold NUL), as the
    # database error every other statement raises.
    repo = SqlImageRepository(postgresql_engine)
    repo.import_records([record("nginx", id=7)])
    before = list(repo.iter_all())

    with pytest.raises(DataError, match="0x00"):
        repo.import_records([record("redis", id=8), record("bad", description="a\x00b")])

    assert list(repo.iter_all()) == before
    repo.import_records([record("redis", id=8)])  # the connection is fine afterwards
    assert {image.name: image.id for image in repo.iter_all()} == {"nginx": 7, "redis": 8}


@pytest.mark.parametrize("given_id", [None, 7, "absent"])
def test_a_record_from_checked_fields_equals_one_built_field_by_field(given_id):
    # The import's shortcut past the dataclass's __init__ must build the very same record.
    fields = {
        "user": "official",
        "name": "nginx",
        "namespace": "official",
        "description": "d",
        "full_description": "f",
        "star_count": 1,
        "pull_count": 2,
        "collection_id": 0,
        "last_updated": datetime(2026, 1, 2, 3, 4, 5),
    }
    if given_id != "absent":
        fields["id"] = given_id

    shortcut = ImageRecord.from_checked(fields)

    assert shortcut == ImageRecord(**fields)
    assert hash(shortcut) == hash(ImageRecord(**fields))
    assert vars(shortcut) == vars(ImageRecord(**fields))
    with pytest.raises(AttributeError):
        shortcut.name = "changed"  # type: ignore[misc]
