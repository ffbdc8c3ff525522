"""The stores as requests use them: on the event loop, through bounded caches.

A hit costs a dictionary lookup instead of a thread pool hop, a pooled connection, a transaction
and a query. Found and not-found answers live in separate caches, so a flood of unknown tokens
or images only ever churns the small not-found cache and never evicts the entries in use.
"""

from __future__ import annotations

from typing import cast

from server.store.cache import MISSING, SingleFlight, TtlLru
from server.store.images import (
    Image,
    ImageNotFound,
    ReaderBusy,
    SqlImageRepository,
    SqliteImageReader,
)
from server.store.tokens import (
    RejectReason,
    TokenInfo,
    TokenRejected,
    TokenStore,
    hash_token,
    utc_now,
)

# Not-found answers worth remembering: enough for a client retrying a few names, few enough
# that a flood costs little memory.
NEGATIVE_CACHE_SIZE = 1024


class CachedTokens:
    def __init__(self, store: TokenStore, size: int, ttl: float) -> None:
        self.store = store
        # Keyed by the token's hash, like the table: the cache holds no usable secret.
        self.known: TtlLru[TokenInfo] = TtlLru(size, ttl)
        self.refused: TtlLru[TokenRejected] = TtlLru(min(size, NEGATIVE_CACHE_SIZE), ttl)
        self.loads = SingleFlight()

    async def verify(self, token: str) -> TokenInfo:
        """The record of an active token; `TokenRejected` says why any other is refused."""
        key = hash_token(token)
        known = self.known.get(key)
        if known is not MISSING:
            info = cast(TokenInfo, known)
            # Expiry is exact, not up to the time-to-live late: the record says when.
            state = info.state(utc_now())
            if state != "active":
                raise TokenRejected(RejectReason(state), info.name)
            return info
        refused = self.refused.get(key)
        if refused is not MISSING:
            raise cast(TokenRejected, refused)
        try:
            # The store does blocking I/O: keep it off the event loop.
            loaded = await self.loads.run(key, self.store.verify, token)
        except TokenRejected as rejected:
            self.refused.put(key, rejected)
            raise
        self.known.put(key, loaded)
        return loaded


class CachedImages:
    def __init__(self, repository: SqlImageRepository, size: int, ttl: float) -> None:
        self.repository = repository
        # Entries are one image each (about a kilobyte): the size bounds the memory, whatever
        # the catalog's.
        self.found: TtlLru[Image] = TtlLru(size, ttl)
        self.missing: TtlLru[None] = TtlLru(min(size, NEGATIVE_CACHE_SIZE), ttl)
        self.loads = SingleFlight()
        # Opened at the first miss, in the process that serves (a worker, not its parent).
        self._loop_reader: SqliteImageReader | None = None
        self._loop_reader_checked = False

    def _read_on_loop(self, namespace: str, name: str) -> Image | None:
        if not self._loop_reader_checked:
            self._loop_reader = self.repository.loop_reader()
            self._loop_reader_checked = True
        if self._loop_reader is None:
            return None
        try:
            return self._loop_reader.get(namespace, name)
        except ReaderBusy:
            return None

    async def get(self, namespace: str, name: str) -> Image:
        key = (namespace, name)
        found = self.found.get(key)
        if found is not MISSING:
            return cast(Image, found)
        if self.missing.get(key) is not MISSING:
            raise ImageNotFound(namespace, name)
        try:
            image = self._read_on_loop(namespace, name)
            if image is None:
                image = await self.loads.run(key, self.repository.get, namespace, name)
        except ImageNotFound:
            self.missing.put(key, None)
            raise
        self.found.put(key, image)
        return image

    def close(self) -> None:
        if self._loop_reader is not None:
            self._loop_reader.close()
        self._loop_reader, self._loop_reader_checked = None, False
