"""An image repository in memory: the SQL one's answers, for tests where a database adds nothing.

tests/store/test_memory_images.py checks that it answers as `SqlImageRepository` does, on
both stores, for the same images and the same questions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from swr_official_images.domain import Image, ImageNotFound, ImagePage, ReaderBusy


class MemoryLoopReader:
    """Reads the repository's images as they are now, like SQLite's loop reader; `busy` makes
    it answer as that one does when it would have to wait for a lock."""

    def __init__(self, images: dict[tuple[str, str], Image]) -> None:
        self._images = images
        self.busy = False
        self.closed = False

    def get(self, namespace: str, name: str) -> Image:
        if self.busy:
            raise ReaderBusy("database is locked")
        return _get(self._images, namespace, name)

    def close(self) -> None:
        self.closed = True


class MemoryAsyncLoopReader:
    """Reads the repository's images as they are when the answer comes, a turn of the loop
    later, like PostgreSQL's async reader; `broken` makes it answer as that one does when its
    connection broke."""

    def __init__(self, images: dict[tuple[str, str], Image]) -> None:
        self._images = images
        self.broken = False
        self.closed = False
        self.reads = 0

    async def get(self, namespace: str, name: str) -> Image:
        self.reads += 1
        await asyncio.sleep(0)
        if self.broken:
            raise ReaderBusy("server closed the connection unexpectedly")
        return _get(self._images, namespace, name)

    def close(self) -> None:
        self.closed = True


class MemoryImageRepository:
    """`on_loop`: offer a loop reader, as the SQL repository does on SQLite; `awaiting`: offer
    an async loop reader, as it does on PostgreSQL. `reads` counts the reads through `get`
    (those a cache sends to the thread pool)."""

    def __init__(
        self, images: Iterable[Image] = (), *, on_loop: bool = False, awaiting: bool = False
    ) -> None:
        self.images: dict[tuple[str, str], Image] = {}
        for image in images:
            self.put(image)
        self.on_loop = on_loop
        self.awaiting = awaiting
        self.reads = 0
        self.loop_readers: list[MemoryLoopReader] = []
        self.async_loop_readers: list[MemoryAsyncLoopReader] = []

    def put(self, image: Image) -> None:
        self.images[image.namespace, image.name] = image

    def remove(self, namespace: str, name: str) -> None:
        del self.images[namespace, name]

    def get(self, namespace: str, name: str) -> Image:
        self.reads += 1
        return _get(self.images, namespace, name)

    def page(
        self, namespace: str, limit: int, after: str | None = None, prefix: str | None = None
    ) -> ImagePage:
        # Code point order is the order of the names' UTF-8 bytes: the stores' order.
        names = sorted(
            name
            for space, name in self.images
            if space == namespace
            and (after is None or name > after)
            and (not prefix or name.startswith(prefix))
        )
        read = [self.images[namespace, name] for name in names[: limit + 1]]
        changed_at = max((image.changed_at for image in read), default=None)
        return ImagePage(read[:limit], more=len(read) > limit, changed_at=changed_at)

    def count(self) -> int:
        return len(self.images)

    def loop_reader(self) -> MemoryLoopReader | None:
        if not self.on_loop:
            return None
        reader = MemoryLoopReader(self.images)
        self.loop_readers.append(reader)
        return reader

    def async_loop_reader(self) -> MemoryAsyncLoopReader | None:
        if not self.awaiting:
            return None
        reader = MemoryAsyncLoopReader(self.images)
        self.async_loop_readers.append(reader)
        return reader


def _get(images: dict[tuple[str, str], Image], namespace: str, name: str) -> Image:
    try:
        return images[namespace, name]
    except KeyError:
        raise ImageNotFound(namespace, name) from None
