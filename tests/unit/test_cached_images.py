"""The image cache in front of a repository, with the in-memory one: reloads ahead of expiry,
the loop reader and its fallback, and entries the garbage collector does not walk. (The cache
over the real stores and server: tests/http/test_caches.py.)"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import replace
from datetime import datetime

import pytest

from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.domain import Image, ImageNotFound
from swr_official_images.store.cached_stores import CachedImages
from swr_official_images.store.ttl_cache import MISSING
from tests.support.memory_images import MemoryImageRepository

KEY = ("official", "nginx")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample_images() -> list[Image]:
    stamp = datetime(2026, 1, 2, 3, 4, 5)
    return [
        Image(**{**vars(record), "id": index, "changed_at": stamp})
        for index, record in enumerate(sample_catalog(), start=1)
    ]


def cached(repository: MemoryImageRepository, size: int = 10, ttl: float = 0.5) -> CachedImages:
    images = CachedImages(repository, size=size, ttl=ttl)
    images.found.clock = images.missing.clock = FakeClock()
    return images


def cached_image(images: CachedImages, key: tuple[str, str]) -> Image:
    """The image a cache entry holds (as its row of column values)."""
    value = images.found.get(key)
    assert value is not MISSING
    return Image.from_row(value)


async def until(condition, timeout: float = 10) -> None:
    """Wait for `condition()` to hold, letting the loop run (a thread pool load finish)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# How a cache reads what it misses: on the loop at once (SQLite), on the loop awaiting the
# answer (PostgreSQL), or in the thread pool (a store with neither reader).
READERS = {
    "loop reader": {"on_loop": True},
    "async loop reader": {"awaiting": True},
    "thread pool": {},
}


@pytest.mark.parametrize("reader", READERS)
def test_an_image_due_for_a_reload_is_answered_with_what_the_reload_read(reader):
    """With a loop reader (SQLite) the reload reads on the loop and answers at once; otherwise
    the request is answered from the cache and the reload fills it in the background."""
    repository = MemoryImageRepository(sample_images(), **READERS[reader])
    on_loop = reader == "loop reader"
    images = cached(repository)
    clock = images.found.clock

    async def main() -> None:
        first = await images.get(*KEY)
        repository.put(replace(first, star_count=first.star_count + 1))
        clock.now += 0.3  # due for a reload, not expired
        served = await images.get(*KEY)
        if on_loop:
            assert served.star_count == first.star_count + 1
        else:
            assert served == first
            await until(lambda: KEY not in images.loads)
        assert cached_image(images, KEY).star_count == first.star_count + 1
        assert images.found.lookup(KEY)[1] is False  # stamped afresh
        repository.remove(*KEY)
        clock.now += 0.3
        if on_loop:
            with pytest.raises(ImageNotFound):
                await images.get(*KEY)
        else:
            await images.get(*KEY)
            await until(lambda: KEY not in images.loads)
        assert images.found.get(KEY) is MISSING
        with pytest.raises(ImageNotFound):
            await images.get(*KEY)
        # Without a reader on the loop every read so far went through the thread pool; with
        # one, none.
        assert repository.reads == (3 if reader == "thread pool" else 0)

    asyncio.run(main())


def test_a_busy_loop_reader_falls_back_to_the_thread_pool():
    repository = MemoryImageRepository(sample_images(), on_loop=True)
    images = cached(repository)
    try:
        assert asyncio.run(images.get("official", "redis")).name == "redis"  # opens the reader
        [reader] = repository.loop_readers
        assert repository.reads == 0
        reader.busy = True
        assert asyncio.run(images.get(*KEY)).name == "nginx"
        with pytest.raises(ImageNotFound):
            asyncio.run(images.get("official", "no-such-image"))
        assert repository.reads == 2
        # The not-found answer is cached, whichever way it was read.
        with pytest.raises(ImageNotFound):
            asyncio.run(images.get("official", "no-such-image"))
        assert repository.reads == 2
    finally:
        images.close()
    assert reader.closed


def test_a_broken_async_loop_reader_falls_back_to_the_thread_pool():
    repository = MemoryImageRepository(sample_images(), awaiting=True)
    images = cached(repository)

    async def main() -> None:
        assert (await images.get("official", "redis")).name == "redis"  # opens the reader
        [reader] = repository.async_loop_readers
        assert (reader.reads, repository.reads) == (1, 0)
        reader.broken = True
        assert (await images.get(*KEY)).name == "nginx"
        with pytest.raises(ImageNotFound):
            await images.get("official", "no-such-image")
        assert (reader.reads, repository.reads) == (3, 2)
        # The not-found answer is cached, whichever way it was read.
        with pytest.raises(ImageNotFound):
            await images.get("official", "no-such-image")
        assert (reader.reads, repository.reads) == (3, 2)

    try:
        asyncio.run(main())
    finally:
        images.close()
    assert all(reader.closed for reader in repository.async_loop_readers)


def test_concurrent_misses_share_one_awaited_read():
    repository = MemoryImageRepository(sample_images(), awaiting=True)
    images = cached(repository)

    async def main() -> None:
        found = await asyncio.gather(*(images.get(*KEY) for _ in range(5)))
        assert {image.name for image in found} == {"nginx"}
        missing = await asyncio.gather(
            *(images.get("official", "no-such-image") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(error, ImageNotFound) for error in missing), missing
        [reader] = repository.async_loop_readers
        assert reader.reads == 2

    try:
        asyncio.run(main())
    finally:
        images.close()


@pytest.mark.parametrize("reader", READERS)
def test_cached_images_hold_nothing_the_garbage_collector_visits(reader):
    # Every full collection visits each tracked object and the objects it refers to: cached
    # Image objects made each pass cost 15-20 ms at 10,000 entries, all requests waiting.
    repository = MemoryImageRepository(sample_images(), **READERS[reader])
    images = cached(repository, size=1000, ttl=60)

    async def main() -> None:
        for key in repository.images:
            await images.get(*key)
        gc.collect()
        keys = images.found.stored_keys()
        assert len(keys) == len(repository.images)
        for key in keys:
            assert not gc.is_tracked(images.found.get(key)), key
            # What the cache serves is still the image as read.
            assert await images.get(*key) == repository.images[key]

    try:
        asyncio.run(main())
    finally:
        images.close()
