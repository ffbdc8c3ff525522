"""The stores as requests use them: on the event loop, through bounded caches.

A hit costs a dictionary lookup instead of a thread pool hop, a pooled connection, a transaction
and a query. Found and not-found answers live in separate caches, so a flood of unknown tokens
or images only ever churns the small not-found cache and never evicts the entries in use.

Whoever starts a load, a request that missed or a refresh ahead of expiry
(swr_official_images.store.ttl_cache), the load itself fills the caches when it ends, stamped
with the time it began.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Hashable
from functools import partial
from typing import Any, cast

from anyio import to_thread

from swr_official_images.domain import (
    AsyncLoopReader,
    Image,
    ImageNotFound,
    ImageRepository,
    LoopReader,
    ReaderBusy,
)
from swr_official_images.store.tokens import (
    TokenInfo,
    TokenRefusal,
    TokenRefused,
    TokenStore,
    hash_token,
)
from swr_official_images.store.ttl_cache import MISSING, SingleFlight, TtlLru

# Not-found answers worth remembering: enough for a client retrying a few names, few enough
# that a flood costs little memory. They are not refreshed ahead: they just expire.
NEGATIVE_CACHE_SIZE = 1024

# Why a token was refused, and its name when it was found (expired, revoked).
RefusedToken = tuple[TokenRefusal, str | None]


class CachedTokens:
    def __init__(self, store: TokenStore, size: int, ttl: float) -> None:
        self.store = store
        # Keyed by the token's hash, like the table: the cache holds no usable secret.
        self.known: TtlLru[TokenInfo] = TtlLru(size, ttl)
        # The refusal's reason and name, not the exception: raising one exception object again
        # and again chains every raise into its traceback, so each request's frames stayed
        # alive until a full collection, which then stopped the loop for 50-100 ms under a
        # flood of refused requests.
        self.refused: TtlLru[RefusedToken] = TtlLru(min(size, NEGATIVE_CACHE_SIZE), ttl)
        self.loads = SingleFlight()

    async def verify(self, token: str) -> TokenInfo:
        """The record of an active token; `TokenRefused` says why any other is refused."""
        key = hash_token(token)
        known, due = self.known.lookup(key)
        if known is not MISSING:
            if due:
                self.loads.start(key, self.store.verify, token, done=self._filler(key))
            info = cast(TokenInfo, known)
            # Expiry is exact, not up to the time-to-live late: the record says when.
            state = info.state()
            if state != "active":
                raise TokenRefused(TokenRefusal(state), info.name)
            return info
        refused = self.refused.get(key)
        if refused is not MISSING:
            reason, name = cast(RefusedToken, refused)
            raise TokenRefused(reason, name)
        # The store does blocking I/O: keep it off the event loop.
        return await self.loads.run(key, self.store.verify, token, done=self._filler(key))

    def _filler(self, key: Hashable) -> partial[None]:
        return partial(self._fill, key, self.known.clock())

    def _fill(self, key: Hashable, loaded_at: float, load: asyncio.Future[TokenInfo]) -> None:
        if load.cancelled():
            return
        error = load.exception()
        if error is None:
            self.known.put(key, load.result(), loaded_at)
        elif isinstance(error, TokenRefused):
            self.known.discard(key)
            self.refused.put(key, (error.reason, error.name), loaded_at)
        # Any other failure (the database out of reach) fills nothing: it reaches whoever
        # waits, and an entry that was being refreshed expires as it would have without it.


# A cached image as the tuple of its column values (Image.as_row). A tuple of strings,
# numbers and datetimes is one the garbage collector stops tracking; an Image and its __dict__
# stay tracked, and every full collection visited each cached image's fields: 15-20 ms per
# pass at the default 10,000 entries, stopping every request in flight, and more with a larger
# SWR_IMAGE_CACHE_SIZE. Building the Image again on a hit costs about a microsecond.
ImageRow = tuple[Any, ...]


class CachedImages:
    def __init__(self, repository: ImageRepository, size: int, ttl: float) -> None:
        self.repository = repository
        # Entries are one image each (about a kilobyte): the size bounds the memory, whatever
        # the catalog's.
        self.found: TtlLru[ImageRow] = TtlLru(size, ttl)
        self.missing: TtlLru[None] = TtlLru(min(size, NEGATIVE_CACHE_SIZE), ttl)
        self.loads = SingleFlight()
        # Opened at the first miss, in the process that serves (a worker, not its parent), on
        # the loop that serves.
        self._loop_reader: LoopReader | None = None
        self._async_reader: AsyncLoopReader | None = None
        self._loop_reader_checked = False

    def _read_on_loop(self, namespace: str, name: str) -> Image | None:
        """The image read through the loop reader (SQLite's), or None when there is none or it
        would have to wait for a lock; `ImageNotFound` when the catalog has no such image."""
        if not self._loop_reader_checked:
            self._loop_reader = self.repository.loop_reader()
            if self._loop_reader is None:
                self._async_reader = self.repository.async_loop_reader()
            self._loop_reader_checked = True
        if self._loop_reader is None:
            return None
        try:
            return self._loop_reader.get(namespace, name)
        except ReaderBusy:
            return None

    async def get(self, namespace: str, name: str) -> Image:
        key = (namespace, name)
        found, due = self.found.lookup(key)
        if found is not MISSING:
            if due and key not in self.loads:
                # On SQLite the reload is done already: answer with what it read (a 404 if
                # the image is gone). Otherwise it goes on in the background.
                reloaded = self._load(key)
                if isinstance(reloaded, Image):
                    return reloaded
            return Image.from_row(cast(ImageRow, found))
        if self.missing.get(key) is not MISSING:
            raise ImageNotFound(namespace, name)
        load = self._load(key, awaited=True)
        if isinstance(load, Image):
            return load
        if isinstance(load, asyncio.Future):
            return await asyncio.shield(load)
        return await load

    def _load(
        self, key: tuple[str, str], *, awaited: bool = False
    ) -> Image | asyncio.Future[Image] | Coroutine[Any, Any, Image]:
        """Read `key` on the loop when that cannot block, else start (or join) its load: an
        awaited read on the loop (PostgreSQL), or one in the thread pool; either way the
        caches are filled with what was found. The read on the loop is a task of its own, or,
        when the caller awaits it (`awaited`), a coroutine that runs in the caller's task and is
        joined by any that ask meanwhile (`SingleFlight.lead`)."""
        loaded_at = self.found.clock()
        try:
            image = self._read_on_loop(*key)
        except ImageNotFound:
            self._fill_missing(key, loaded_at)
            raise
        if image is not None:
            self.found.put(key, image.as_row(), loaded_at)
            return image
        done = partial(self._fill, key, loaded_at)
        if self._async_reader is not None:
            reader = self._async_reader
            if awaited:
                return self.loads.lead(key, self._read_awaiting, reader, *key, done=done)
            return self.loads.start_task(key, self._read_awaiting, reader, *key, done=done)
        return self.loads.start(key, self.repository.get, *key, done=done)

    async def _read_awaiting(self, reader: AsyncLoopReader, namespace: str, name: str) -> Image:
        try:
            return await reader.get(namespace, name)
        except ReaderBusy:
            return await to_thread.run_sync(self.repository.get, namespace, name)

    def _fill(self, key: tuple[str, str], loaded_at: float, load: asyncio.Future[Image]) -> None:
        if load.cancelled():
            return
        error = load.exception()
        if error is None:
            self.found.put(key, load.result().as_row(), loaded_at)
        elif isinstance(error, ImageNotFound):
            self._fill_missing(key, loaded_at)
        # Any other failure fills nothing (see CachedTokens._fill).

    def _fill_missing(self, key: tuple[str, str], loaded_at: float) -> None:
        self.found.discard(key)
        self.missing.put(key, None, loaded_at)

    def close(self) -> None:
        for reader in (self._loop_reader, self._async_reader):
            if reader is not None:
                reader.close()
        self._loop_reader, self._async_reader, self._loop_reader_checked = None, None, False
