"""The caches in front of the stores: bounded, short-lived, and never evicting what is in use
for what is unknown. Through the real server on both stores, and across two server processes
sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sqlite3
import threading
import time
import traceback
import types
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, select
from sqlalchemy.exc import OperationalError

from swr_official_images import app as app_module
from swr_official_images.app import create_app
from swr_official_images.domain import Image, ImageNotFound, ReaderBusy
from swr_official_images.settings import Settings
from swr_official_images.store import tokens as token_store
from swr_official_images.store.cached_stores import NEGATIVE_CACHE_SIZE, CachedImages, CachedTokens
from swr_official_images.store.db import images, make_engine
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.loop_reader import BATCH_LIMIT
from swr_official_images.store.tokens import (
    TokenRefusal,
    TokenRefused,
    TokenStore,
    hash_token,
    utc_now,
)
from swr_official_images.store.ttl_cache import MISSING, SingleFlight, TtlLru
from tests.conftest import (
    NESTED_IMAGE,
    issue_tokens,
    migrate,
    run_cli,
    serve,
    shared_postgres_admin,
)
from tests.processes.test_postgresql_service import CACHE_TTL, serve_workers
from tests.store.test_socket_watch import CountingUvloop

PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"
HOT = ("nginx", "redis", "postgres")


def image_path(repository: str) -> str:
    return PATH.format(namespace="official", repository=repository)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_at_most_ttl_seconds():
    clock = FakeClock()
    cache: TtlLru[str] = TtlLru(size=4, ttl=0.5, clock=clock)
    cache.put("a", "A")
    clock.now += 0.4
    assert cache.get("a") == "A"
    clock.now += 0.1
    assert cache.get("a") is MISSING
    assert len(cache) == 0


def test_the_least_recently_used_entry_makes_room():
    cache: TtlLru[int] = TtlLru(size=2, ttl=1, clock=FakeClock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3)
    assert cache.stored_keys() == ["a", "c"]


def test_size_zero_caches_nothing():
    cache: TtlLru[int] = TtlLru(size=0, ttl=1)
    cache.put("a", 1)
    assert cache.get("a") is MISSING
    assert len(cache) == 0


def test_an_entry_past_half_its_ttl_is_served_and_due_for_a_reload():
    clock = FakeClock()
    cache: TtlLru[str] = TtlLru(size=4, ttl=0.5, clock=clock)
    cache.put("a", "A")
    clock.now += 0.2
    assert cache.lookup("a") == ("A", False)
    clock.now += 0.05
    assert cache.lookup("a") == ("A", True)
    clock.now += 0.25
    assert cache.lookup("a") == (MISSING, False)


def test_an_entry_ages_from_when_its_load_began():
    clock = FakeClock()
    cache: TtlLru[str] = TtlLru(size=4, ttl=0.5, clock=clock)
    began = clock.now
    clock.now += 0.4  # the load took this long
    cache.put("a", "A", loaded_at=began)
    clock.now += 0.1
    assert cache.get("a") is MISSING


def run_together(load, callers: int, *, cancel_one: bool = False) -> tuple[list, list]:
    """`callers` concurrent SingleFlight runs of `load` for one key, held until all have
    asked; returns the loads made and each caller's result (or exception)."""
    flight = SingleFlight()
    calls: list[int] = []
    release = threading.Event()

    def held_load(value: int) -> int:
        calls.append(value)
        release.wait(10)
        return load(value)

    async def main() -> list:
        tasks = [asyncio.create_task(flight.run("key", held_load, 21)) for _ in range(callers)]
        while not calls:
            await asyncio.sleep(0.01)
        if cancel_one:
            tasks[0].cancel()
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(flight) == 0
        return results

    return calls, asyncio.run(main())


def test_concurrent_misses_make_one_load():
    calls, results = run_together(lambda value: value * 2, 10)
    assert calls == [21]
    assert results == [42] * 10


def test_every_caller_of_a_failed_load_gets_its_error():
    def fail(_value: int) -> int:
        raise ImageNotFound("official", "gone")

    calls, results = run_together(fail, 5)
    assert calls == [21]
    assert all(isinstance(r, ImageNotFound) for r in results)


def test_a_caller_going_away_does_not_cancel_the_others():
    calls, results = run_together(lambda value: value * 2, 3, cancel_one=True)
    assert calls == [21]
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [42, 42]


def lead_together(
    load: Any, callers: int, *, cancel: int | None = None
) -> tuple[list[int], list[Any], list[Any]]:
    """`callers` concurrent SingleFlight leads of an awaited `load` for one key, held until all
    have asked, caller `cancel` then cancelled; returns the loads made, each caller's result
    (or exception) and what `done` was given, in order."""
    flight = SingleFlight()
    calls: list[int] = []
    landed: list[Any] = []
    release = asyncio.Event()

    async def held_load(value: int) -> int:
        calls.append(value)
        await release.wait()
        return load(value)

    def done(future: asyncio.Future[int]) -> None:
        landed.append("cancelled" if future.cancelled() else future.exception() or future.result())

    async def main() -> list[Any]:
        tasks = [
            asyncio.create_task(flight.lead("key", held_load, 21, done=done))
            for _ in range(callers)
        ]
        while not calls:
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # every caller has asked
        if cancel is not None:
            tasks[cancel].cancel()
            for _ in range(5):  # every caller has seen it, and asked again
                await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(flight) == 0
        return results

    results = asyncio.run(main())
    return calls, results, landed


def test_concurrent_misses_led_by_the_first_make_one_load():
    calls, results, landed = lead_together(lambda value: value * 2, 10)
    assert calls == [21]
    assert results == [42] * 10
    assert landed == [42]


def test_every_caller_of_a_failed_led_load_gets_its_error():
    def fail(_value: int) -> int:
        raise ImageNotFound("official", "gone")

    calls, results, landed = lead_together(fail, 5)
    assert calls == [21]
    assert all(isinstance(r, ImageNotFound) for r in results)
    assert len(landed) == 1 and isinstance(landed[0], ImageNotFound)


def test_a_waiting_caller_going_away_does_not_cancel_the_led_load():
    calls, results, landed = lead_together(lambda value: value * 2, 3, cancel=1)
    assert calls == [21]
    assert isinstance(results[1], asyncio.CancelledError)
    assert [results[0], results[2]] == [42, 42]
    assert landed == [42]


def test_the_callers_waiting_for_a_cancelled_leader_load_again():
    calls, results, landed = lead_together(lambda value: value * 2, 4, cancel=0)
    assert isinstance(results[0], asyncio.CancelledError)
    # The leader's load went with it; the next caller led one more, the others joined it.
    assert calls == [21, 21]
    assert results[1:] == [42, 42, 42]
    assert landed == ["cancelled", 42]


def test_a_failed_led_load_leaves_nothing_for_the_cycle_collector_or_the_log():
    flight = SingleFlight()
    reported: list[Any] = []

    async def fail() -> int:
        raise ImageNotFound("official", "gone")

    async def garbage_of_failed_loads() -> list[object]:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: reported.append(context)
        )
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                with pytest.raises(ImageNotFound):
                    await flight.lead("key", fail)
            # What a load could leave in a cycle; other tests' threads may drop garbage of
            # their own meanwhile, which is not counted.
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            kinds = (asyncio.Future, ImageNotFound, types.TracebackType, types.FrameType)
            return [o for o in gc.garbage if isinstance(o, kinds)]
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
            gc.enable()

    assert asyncio.run(garbage_of_failed_loads()) == []
    assert reported == []


def test_a_cached_token_is_refused_as_soon_as_it_expires(engine, monkeypatch):
    token = TokenStore(engine).create("short", timedelta(hours=1))
    tokens = CachedTokens(TokenStore(engine), size=10, ttl=1)
    assert asyncio.run(tokens.verify(token)).name == "short"
    assert hash_token(token) in tokens.known.stored_keys()
    # The cached record still says when the token expires.
    monkeypatch.setattr(token_store, "utc_now", lambda: utc_now() + timedelta(hours=2))
    with pytest.raises(TokenRefused) as refused:
        asyncio.run(tokens.verify(token))
    assert refused.value.reason is TokenRefusal.EXPIRED


def test_each_refusal_from_the_cache_is_a_new_exception_with_its_own_traceback(engine):
    # Raising one cached exception object again and again chained every raise into its
    # traceback: each refused request's frames stayed alive until a full garbage collection,
    # and a flood of refused requests made those collections stop the server for 50-100 ms.
    tokens = CachedTokens(TokenStore(engine), size=10, ttl=60)
    unknown = "swr_" + "x" * 43

    async def refusals() -> list[TokenRefused]:
        raised = []
        for _ in range(4):
            with pytest.raises(TokenRefused) as refused:
                await tokens.verify(unknown)
            raised.append(refused.value)
        return raised

    raised = asyncio.run(refusals())
    assert hash_token(unknown) in tokens.refused.stored_keys()
    assert [error.reason for error in raised] == [TokenRefusal.UNKNOWN] * 4
    # The last three come from the cache: three objects, each with one call's frames.
    from_cache = raised[1:]
    assert len({id(error) for error in from_cache}) == 3
    depths = {len(traceback.extract_tb(error.__traceback__)) for error in from_cache}
    assert len(depths) == 1


class HeldTokenStore(TokenStore):
    """The real store, whose lookups wait until the test lets them go."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.release = threading.Event()
        self.calls = 0

    def verify(self, token: str):
        self.calls += 1
        assert self.release.wait(10)
        return super().verify(token)


def test_a_token_due_for_a_reload_is_answered_without_waiting_for_it(engine):
    token = TokenStore(engine).create("hot", timedelta(hours=1))
    store = HeldTokenStore(engine)
    tokens = CachedTokens(store, size=10, ttl=0.5)
    clock = FakeClock()
    tokens.known.clock = tokens.refused.clock = clock

    async def main() -> None:
        store.release.set()
        assert (await tokens.verify(token)).name == "hot"
        assert store.calls == 1
        store.release.clear()
        TokenStore(engine).revoke("hot")
        clock.now += 0.3  # due for a reload, not expired
        # Answered from the cache while the reload waits in the thread pool; the callers
        # after it join that one reload.
        for _ in range(3):
            assert (await tokens.verify(token)).name == "hot"
        assert hash_token(token) in tokens.loads
        await until(lambda: store.calls == 2)
        store.release.set()
        await until(lambda: hash_token(token) not in tokens.loads)
        # The reload saw the revocation: refused from now on, not a whole TTL later.
        with pytest.raises(TokenRefused) as refused:
            await tokens.verify(token)
        assert refused.value.reason is TokenRefusal.REVOKED
        assert store.calls == 2

    asyncio.run(main())


async def until(condition, timeout: float = 10) -> None:
    """Wait for `condition()` to hold, letting the loop run (a thread pool load finish)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def built_caches() -> Iterator[dict[str, object]]:
    """The caches the app factory builds inside the block, by name: images, tokens."""
    caches: dict[str, object] = {}

    def recorded(name: str, cache_class: type) -> object:
        def build(*args: object, **kwargs: object) -> object:
            caches[name] = cache_class(*args, **kwargs)
            return caches[name]

        return build

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app_module, "CachedImages", recorded("images", CachedImages))
        patch.setattr(app_module, "CachedTokens", recorded("tokens", CachedTokens))
        yield caches


@contextlib.contextmanager
def cached_server(database_url, catalog_file, **settings) -> Iterator[tuple[str, dict, str]]:
    """A loaded server with small caches; yields its URL, its caches and a valid token."""
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    server_settings = Settings(database_url=database_url, validate_responses=True, **settings)
    engine = make_engine(server_settings)
    try:
        token = issue_tokens(database_url, engine).valid
        with built_caches() as caches:
            app = create_app(server_settings)
        assert set(caches) == {"images", "tokens"}
        with serve(server_settings, app) as base_url:
            yield base_url, caches, token
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_flood_of_unknown_tokens_stays_bounded_and_keeps_the_token_in_use(
    database_url, catalog_file
):
    with (
        cached_server(database_url, catalog_file, token_cache_size=4) as (base_url, caches, token),
        httpx.Client(base_url=base_url) as client,
    ):
        assert client.get(image_path("nginx"), headers={"X-Auth-Token": token}).is_success
        for i in range(50):
            refused = client.get(image_path("nginx"), headers={"X-Auth-Token": f"swr_x{i}"})
            assert refused.status_code == 401
        tokens = caches["tokens"]
        assert len(tokens.refused.stored_keys()) == 4
        assert tokens.known.stored_keys() == [hash_token(token)]
        assert client.get(image_path("nginx"), headers={"X-Auth-Token": token}).is_success


@pytest.mark.slow
def test_a_flood_of_unknown_images_stays_bounded_and_keeps_the_hot_images(
    database_url, catalog_file
):
    with (
        cached_server(database_url, catalog_file, image_cache_size=4) as (base_url, caches, token),
        httpx.Client(base_url=base_url, headers={"X-Auth-Token": token}) as client,
    ):
        for name in HOT:
            assert client.get(image_path(name)).is_success
        for i in range(50):
            assert client.get(image_path(f"no-such-image-{i}")).status_code == 404
        images = caches["images"]
        assert len(images.missing.stored_keys()) == 4
        assert sorted(images.found.stored_keys()) == sorted(("official", n) for n in HOT)
        # Found images are bounded too: the least recently used make room.
        for name in ("ubuntu", "alpine", "python"):
            assert client.get(image_path(name)).is_success
        assert len(images.found.stored_keys()) == 4


def test_the_negative_caches_are_small_whatever_the_size_setting(database_url, catalog_file):
    big = {"image_cache_size": 100_000, "token_cache_size": 100_000}
    with cached_server(database_url, catalog_file, **big) as (_base_url, caches, _token):
        assert caches["images"].missing.size == NEGATIVE_CACHE_SIZE
        assert caches["tokens"].refused.size == NEGATIVE_CACHE_SIZE


def test_zero_ttl_caches_nothing(database_url, catalog_file):
    with (
        cached_server(database_url, catalog_file, cache_ttl=0) as (base_url, caches, token),
        httpx.Client(base_url=base_url, headers={"X-Auth-Token": token}) as client,
    ):
        assert client.get(image_path("nginx")).is_success
        assert client.get(image_path("nginx")).is_success
        images = caches["images"]
        # Stored, but dead on arrival: every lookup goes to the store.
        assert images.found.get(("official", "nginx")) is MISSING


@pytest.mark.slow
def test_two_server_processes_see_a_revocation_and_an_import_once_the_ttl_has_passed(
    empty_postgresql_url, catalog_file, tmp_path
):
    url = migrate(empty_postgresql_url)
    assert run_cli(url, "import", str(catalog_file)).code == 0
    leaving = run_cli(url, "token", "create", "leaving").out.strip()
    staying = run_cli(url, "token", "create", "staying").out.strip()
    fresh = {**NESTED_IMAGE, "name": "fresh-image"}

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        serve_workers(url, 1, tmp_path / "a") as first,
        serve_workers(url, 1, tmp_path / "b") as second,
    ):
        servers = (first.base_url, second.base_url)

        def status(base_url: str, repository: str, token: str) -> int:
            response = httpx.get(base_url + image_path(repository), headers={"X-Auth-Token": token})
            return response.status_code

        # Both processes now hold the token, the image and the missing image in their caches.
        for base_url in servers:
            assert status(base_url, "nginx", leaving) == 200
            assert status(base_url, "fresh-image", staying) == 404

        assert run_cli(url, "token", "revoke", "leaving").code == 0
        fresh_file = tmp_path / "fresh.json"
        fresh_file.write_text(json.dumps([fresh]), encoding="utf-8")
        assert run_cli(url, "import", str(fresh_file)).code == 0
        # Once the caches' time-to-live has passed, every process answers with the change.
        time.sleep(CACHE_TTL)

        for base_url in servers:
            assert status(base_url, "nginx", leaving) == 401
            assert status(base_url, "fresh-image", staying) == 200


def test_the_ttl_cannot_exceed_one_second():
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Settings(cache_ttl=1.5)


def test_the_loop_reader_reads_what_sqlalchemy_reads(store, database_url, catalog_file):
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    engine = make_engine(Settings(database_url=database_url))
    try:
        repository = SqlImageRepository(engine)
        reader, awaited = repository.loop_reader(), repository.async_loop_reader()
        # One reader on the loop or the other: SQLite's in the process, PostgreSQL's awaited.
        assert (reader is None, awaited is None) == (store != "sqlite", store != "postgresql")
        names = ("nginx", NESTED_IMAGE["name"])
        if reader is not None:
            try:
                for name in names:
                    assert reader.get("official", name) == repository.get("official", name)
                with pytest.raises(ImageNotFound):
                    reader.get("official", "no-such-image")
            finally:
                reader.close()
        if awaited is not None:

            async def read_awaiting() -> None:
                # Past psycopg's threshold, the statement is read as a prepared one too.
                for name in names * 6:
                    image = await awaited.get("official", name)
                    assert image == repository.get("official", name)
                    assert vars(image) == vars(repository.get("official", name))
                with pytest.raises(ImageNotFound):
                    await awaited.get("official", "no-such-image")

            try:
                asyncio.run(read_awaiting())
            finally:
                awaited.close()
    finally:
        engine.dispose()


def client_backends(database_url: str) -> int:
    """The connections open to the test's PostgreSQL database (its own name: a copy)."""
    database = make_url(database_url).database
    with shared_postgres_admin().connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).scalar_one()


def until_backends(database_url: str, count: int) -> None:
    """Wait for the database's backends to be `count` (one ends after its client has gone)."""
    deadline = time.monotonic() + 10
    while (now := client_backends(database_url)) != count:
        assert time.monotonic() < deadline, f"{now} connections, not {count}"
        time.sleep(0.02)


def test_the_async_loop_reader_opens_no_more_connections_than_the_pool(postgresql_catalog):
    engine = make_engine(Settings(database_url=postgresql_catalog, db_pool_size=2))
    reader = SqlImageRepository(engine).async_loop_reader()
    assert reader is not None

    async def burst() -> None:
        # Enough keys for four statements at once: two go out, the others wait.
        names = ["nginx", "redis", "postgres"] * 8
        names += [f"no-such-image-{index}" for index in range(4 * BATCH_LIMIT - len(names))]
        found = await asyncio.gather(
            *(reader.get("official", name) for name in names), return_exceptions=True
        )
        for name, image in zip(names, found, strict=True):
            if name.startswith("no-such-image"):
                assert isinstance(image, ImageNotFound), image
            else:
                assert isinstance(image, Image) and image.name == name, image
        assert client_backends(postgresql_catalog) == 2

    try:
        asyncio.run(burst())
        reader.close()
        # Idle, they are closed at once.
        until_backends(postgresql_catalog, 0)
    finally:
        reader.close()
        engine.dispose()


def test_the_async_loop_reader_keeps_the_statement_timeout(postgresql_catalog):
    settings = Settings(database_url=postgresql_catalog, db_statement_timeout_ms=200)
    engine = make_engine(settings)
    reader = SqlImageRepository(engine).async_loop_reader()
    assert reader is not None

    async def read(name: str) -> Image:
        return await reader.get("official", name)

    try:
        with engine.connect() as blocker:
            blocker.exec_driver_sql("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            # The error the thread pool's read raises: a 500, counted as a database error.
            with pytest.raises(OperationalError, match="statement timeout"):
                asyncio.run(read("nginx"))
            assert time.monotonic() - started < 5
            blocker.rollback()
        # The connection stays in use: the database ended only the statement.
        assert asyncio.run(read("nginx")).name == "nginx"
    finally:
        reader.close()
        engine.dispose()


def test_the_async_loop_reader_registers_its_connection_with_the_loop_once(postgresql_catalog):
    """psycopg alone registers the socket before every wait and removes it after."""
    engine = make_engine(Settings(database_url=postgresql_catalog, db_pool_size=1))
    reader = SqlImageRepository(engine).async_loop_reader()
    assert reader is not None
    loop = CountingUvloop()

    async def reads(names: list[str]) -> None:
        for name in names:
            try:
                assert (await reader.get("official", name)).name == name
            except ImageNotFound:
                assert name == "no-such-image"

    try:
        # The first opens the connection: psycopg's connect waits its own way.
        loop.run_until_complete(reads(["nginx"]))
        adds, removes = loop.adds, loop.removes
        loop.run_until_complete(reads(["nginx", "redis", "no-such-image"] * 7))
        assert (loop.adds, loop.removes) == (adds, removes)
        reader.close()
        assert loop.removes == removes + 1
    finally:
        reader.close()
        loop.close()
        engine.dispose()


def test_a_postgresql_miss_is_read_in_the_requests_own_task(postgresql_catalog):
    """The image cache's miss on PostgreSQL awaits its read itself: no task per miss. Found
    images and missing ones fill their caches as before."""
    engine = make_engine(Settings(database_url=postgresql_catalog, db_pool_size=1))
    images = CachedImages(SqlImageRepository(engine), size=100, ttl=60)
    loop = asyncio.new_event_loop()
    made: list[Any] = []

    def counting_factory(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def misses() -> None:
        assert (await images.get("official", "redis")).name == "redis"
        with pytest.raises(ImageNotFound):
            await images.get("official", "no-such-image")

    try:
        loop.run_until_complete(images.get("official", "nginx"))  # the connection opened
        loop.set_task_factory(counting_factory)
        loop.run_until_complete(misses())
        assert len(made) == 1  # run_until_complete's own
        assert images.found.get(("official", "redis")) is not MISSING
        assert images.missing.get(("official", "no-such-image")) is not MISSING
    finally:
        images.close()
        loop.close()
        engine.dispose()


def test_a_query_larger_than_the_socket_takes_is_sent_by_psycopgs_own_wait(postgresql_catalog):
    """The watch waits for answers only: a statement the socket cannot take at once (here a
    name of 2 MB) is flushed by psycopg's wait, which registers the socket for writing, and
    the read then ends as any other."""
    engine = make_engine(Settings(database_url=postgresql_catalog, db_pool_size=1))
    reader = SqlImageRepository(engine).async_loop_reader()
    assert reader is not None
    loop = CountingUvloop()

    async def reads() -> None:
        with pytest.raises(ImageNotFound):
            await reader.get("official", "x" * 2_000_000)
        assert (await reader.get("official", "nginx")).name == "nginx"

    try:
        loop.run_until_complete(reads())
        assert loop.writers > 0
    finally:
        reader.close()
        loop.close()
        engine.dispose()


def test_a_connection_cut_under_the_async_loop_reader_is_read_again_the_slow_way(
    postgresql_catalog,
):
    engine = make_engine(Settings(database_url=postgresql_catalog))
    reader = SqlImageRepository(engine).async_loop_reader()
    assert reader is not None
    database = make_url(postgresql_catalog).database

    async def main() -> None:
        assert (await reader.get("official", "nginx")).name == "nginx"
        with shared_postgres_admin().connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
        until_backends(postgresql_catalog, 0)
        # The cache reads it through the thread pool, whose pool checks its connection.
        with pytest.raises(ReaderBusy):
            await reader.get("official", "nginx")
        # The broken connection was dropped, and another one opened in its place.
        assert (await reader.get("official", "redis")).name == "redis"

    try:
        asyncio.run(main())
    finally:
        reader.close()
        engine.dispose()


def test_an_image_from_a_row_is_the_image_built_field_by_field(store, database_url, catalog_file):
    """Image.from_row skips the generated __init__: it must build the same value."""
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    engine = make_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(images)).all()
    finally:
        engine.dispose()
    assert len(rows) > 10
    for row in rows:
        built, fast = Image(**row._mapping), Image.from_row(row)
        assert fast == built
        assert hash(fast) == hash(built)
        assert fast.to_api() == built.to_api()
        assert vars(fast) == vars(built)


class LockedDriver:
    """Answers every statement as SQLite does when it would have to wait for a lock."""

    def execute(self, *_args: object) -> None:
        raise sqlite3.OperationalError("database is locked")


def test_a_loop_reader_that_would_wait_for_a_lock_says_so(tmp_path, catalog_file):
    """Rather than block the event loop; the cache then reads through the thread pool
    (tests/unit/test_cached_images.py)."""
    url = migrate(f"sqlite:///{tmp_path / 'busy.db'}")
    assert run_cli(url, "import", str(catalog_file)).code == 0
    engine = make_engine(Settings(database_url=url))
    reader = SqlImageRepository(engine).loop_reader()
    assert reader is not None
    try:
        assert reader.get("official", "redis").name == "redis"
        real_driver, reader._driver = reader._driver, LockedDriver()
        with pytest.raises(ReaderBusy):
            reader.get("official", "nginx")
        reader._driver = real_driver
    finally:
        reader.close()
        engine.dispose()


def test_a_stopped_server_leaves_no_connection_open(postgresql_catalog):
    engine = make_engine(Settings(database_url=postgresql_catalog))
    try:
        tokens = issue_tokens(postgresql_catalog, engine)
    finally:
        engine.dispose()
    until_backends(postgresql_catalog, 0)
    headers = {"X-Auth-Token": tokens.valid}
    with serve(Settings(database_url=postgresql_catalog)) as base_url:
        for name, status in (("nginx", 200), ("redis", 200), ("no-such-image", 404)):
            response = httpx.get(base_url + image_path(name), headers=headers)
            assert response.status_code == status, response.text
        # The pool's connection (the token) and the event loop's (the images).
        assert client_backends(postgresql_catalog) == 2
    until_backends(postgresql_catalog, 0)
