"""The in-memory repository of the tests (tests/support/memory_images.py) answers as the SQL one
does, on each store, for the same images and the same questions."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest

from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.domain import ImageNotFound
from swr_official_images.store.images import SqlImageRepository
from tests.store.test_images_repository import record
from tests.support.memory_images import MemoryImageRepository

# Names whose order and prefixes a naive fake gets wrong: "-" < "." < "/" < "_" in bytes, and
# "_" is a LIKE wildcard; one image in another namespace with a name the others share.
NAMES = ("a", "a-b", "a.b", "a/b", "a_b", "ab", "a_", "b", "library/zz")


@pytest.fixture
def repositories(engine, store) -> tuple[SqlImageRepository, MemoryImageRepository]:
    sql = SqlImageRepository(engine)
    sql.import_records([*sample_catalog(), *(record(name) for name in NAMES)])
    sql.import_records([record("other", namespace="elsewhere"), record("a", namespace="x")])
    # A second import changes one image: its changed_at is later than the others'.
    sql.import_records([replace(record("a_b"), star_count=11)])
    memory = MemoryImageRepository(
        sql.iter_all(), on_loop=store == "sqlite", awaiting=store == "postgresql"
    )
    return sql, memory


def test_the_same_images_are_found_and_not_found(repositories):
    sql, memory = repositories
    assert memory.count() == sql.count() > len(NAMES)
    for namespace, name in [*memory.images, ("official", "no-such"), ("nowhere", "a")]:
        try:
            expected = sql.get(namespace, name)
        except ImageNotFound:
            with pytest.raises(ImageNotFound):
                memory.get(namespace, name)
        else:
            assert memory.get(namespace, name) == expected


@pytest.mark.parametrize("namespace", ["official", "x", "nowhere"])
def test_the_same_pages(repositories, namespace):
    sql, memory = repositories
    names = sorted({name for _, name in memory.images})
    afters = [None, "", "a", "a_", "library", "library/nginx", "zzz", *names[::20]]
    prefixes = [None, "", "a", "a_", "a.", "library/", "l", "zz", "%"]
    for limit, after, prefix in itertools.product((1, 2, 5, 100), afters, prefixes):
        expected = sql.page(namespace, limit, after, prefix)
        assert memory.page(namespace, limit, after, prefix) == expected, (limit, after, prefix)


def test_a_loop_reader_where_the_store_offers_one(repositories, store):
    sql, memory = repositories
    reader, fake = sql.loop_reader(), memory.loop_reader()
    assert (reader is None, fake is None) == (store != "sqlite",) * 2
    if reader is None or fake is None:
        return
    try:
        for namespace, name in list(memory.images)[:20]:
            assert fake.get(namespace, name) == reader.get(namespace, name)
        for failing in (reader, fake):
            with pytest.raises(ImageNotFound):
                failing.get("official", "no-such")
    finally:
        reader.close()


def test_an_async_loop_reader_where_the_store_offers_one(repositories, store):
    sql, memory = repositories
    reader, fake = sql.async_loop_reader(), memory.async_loop_reader()
    assert (reader is None, fake is None) == (store != "postgresql",) * 2
    if reader is None or fake is None:
        return

    async def main() -> None:
        for namespace, name in list(memory.images)[:20]:
            assert await fake.get(namespace, name) == await reader.get(namespace, name)
        for failing in (reader, fake):
            with pytest.raises(ImageNotFound):
                await failing.get("official", "no-such")

    try:
        asyncio.run(main())
    finally:
        reader.close()
