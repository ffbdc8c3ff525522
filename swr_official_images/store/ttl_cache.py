"""Small bounded caches in front of the stores, for the lookups every request makes.

Each process keeps its own; nothing is shared between workers or hosts, so the contract across
them rests on the time-to-live alone: an entry is at most `ttl` seconds old when it is used
(at most one second, enforced by the settings), so a token revoked or an image imported through
another process is seen within that time. An entry's age counts from when its load began, not
when it ended: what it holds was read no earlier than that.

Entries in use are refreshed ahead of their expiry: past half their time-to-live, the first
request to use one starts a reload in the background and is still answered from the cache.
Without it, each hot entry expired under load every `ttl` seconds, and every request arriving
while its reload crossed the thread pool waited for it: about one request in a hundred, which
was the whole p99.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any, Generic, TypeVar, cast

from anyio import to_thread

V = TypeVar("V")

# What `get` answers for a key it does not hold (None is a value a cache may hold).
MISSING: object = object()


class TtlLru(Generic[V]):
    """At most `size` entries, each for at most `ttl` seconds; the least recently used goes
    first when a new one needs room. Not thread-safe: it is used on the event loop only."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        # Past this age an entry is still served, but due for a reload (see the module's doc).
        self.refresh_after = ttl / 2
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not MISSING

    def stored_keys(self) -> list[Hashable]:
        """Every key held, expired or not, least recently used first (for tests and probes:
        unlike `get`, it changes nothing)."""
        return list(self._entries)

    def get(self, key: Hashable) -> V | object:
        return self.lookup(key)[0]

    def lookup(self, key: Hashable) -> tuple[V | object, bool]:
        """The value held for `key` (MISSING when none, or expired), and whether it is due
        for a reload."""
        entry = self._entries.get(key)
        if entry is None:
            return MISSING, False
        loaded_at, value = entry
        age = self.clock() - loaded_at
        if age >= self.ttl:
            del self._entries[key]
            return MISSING, False
        self._entries.move_to_end(key)
        return value, age >= self.refresh_after

    def put(self, key: Hashable, value: V, loaded_at: float | None = None) -> None:
        """Hold `value`, read by a load that began at `loaded_at` (by this cache's clock;
        now when not given)."""
        if self.size <= 0:
            return
        self._entries[key] = (self.clock() if loaded_at is None else loaded_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        self._entries.pop(key, None)


class SingleFlight:
    """One load per key at a time: callers asking for a key being loaded wait for that load.

    When a hot entry expires, every request in flight misses it at once; without this, each
    would send the same query through the thread pool (a pile-up that showed as the p99)."""

    def __init__(self) -> None:
        # Any: each key's load has its own result type; run() gives each caller its own V back.
        self._loads: dict[Hashable, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._loads)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._loads

    def start(
        self,
        key: Hashable,
        load: Callable[..., V],
        *args: object,
        done: Callable[[asyncio.Future[V]], None] | None = None,
    ) -> asyncio.Future[V]:
        """The load of `key` in flight, or a new one of `load(*args)` in the thread pool; a
        new one calls `done` with itself when it ends, before any caller waiting for it
        resumes, and whether or not anyone still waits."""
        return self._start(key, partial(to_thread.run_sync, load, *args), done)

    def start_task(
        self,
        key: Hashable,
        load: Callable[..., Awaitable[V]],
        *args: object,
        done: Callable[[asyncio.Future[V]], None] | None = None,
    ) -> asyncio.Future[V]:
        """As `start`, for a load that awaits on the loop: `load(*args)` runs as a task."""
        return self._start(key, partial(load, *args), done)

    def _start(
        self,
        key: Hashable,
        make: Callable[[], Awaitable[V]],
        done: Callable[[asyncio.Future[V]], None] | None,
    ) -> asyncio.Future[V]:
        task: asyncio.Future[V] | None = self._loads.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._loads[key] = task
            task.add_done_callback(lambda _done: self._loads.pop(key, None))
            if done is not None:
                task.add_done_callback(done)
        return task

    async def run(
        self,
        key: Hashable,
        load: Callable[..., V],
        *args: object,
        done: Callable[[asyncio.Future[V]], None] | None = None,
    ) -> V:
        # Shielded: a caller that goes away (its client hung up) does not cancel the others'.
        return await asyncio.shield(self.start(key, load, *args, done=done))

    async def lead(
        self,
        key: Hashable,
        load: Callable[..., Awaitable[V]],
        *args: object,
        done: Callable[[asyncio.Future[V]], None] | None = None,
    ) -> V:
        """As `run`, for a load that awaits on the loop, run by the first caller itself rather
        than as a task of its own: the caller awaits it anyway, so a task, its callbacks, the
        shield around it and the turn of the loop the task's start waits for are work for
        nothing on every miss. Callers arriving meanwhile wait for it, shielded; if
        the first caller is cancelled, so is its load, and a caller that was waiting for it,
        and is not cancelled itself, makes the load again. `done` is called as `start` calls
        it."""
        while (flight := self._loads.get(key)) is not None:
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise
        flight = asyncio.get_running_loop().create_future()
        self._loads[key] = flight
        try:
            value = await load(*args)
        except BaseException as error:
            self._land(key, flight, done, error)
            # Only the future holds the error now: its traceback, which holds this frame,
            # would otherwise hold the future too, a cycle for the garbage collector.
            del flight
            raise
        self._land(key, flight, done, None, value)
        return value

    def _land(
        self,
        key: Hashable,
        flight: asyncio.Future[V],
        done: Callable[[asyncio.Future[V]], None] | None,
        error: BaseException | None,
        value: V | None = None,
    ) -> None:
        if self._loads.get(key) is flight:
            del self._loads[key]
        if isinstance(error, Exception):
            flight.set_exception(error)
            # Retrieved: with no caller waiting for it, the loop would log it as never seen.
            flight.exception()
        elif error is not None:
            # Cancelled, or the process is stopping: the callers waiting load again or stop.
            flight.cancel()
        else:
            flight.set_result(cast(V, value))
        if done is not None:
            done(flight)
