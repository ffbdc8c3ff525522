"""PostgreSQL's image reader on the event loop: reads asked for in one turn of the loop, and
while they wait for a connection, go out together, in statements of at most BATCH_LIMIT keys,
each reader answered with its own row or its own error; a reader that goes away leaves the
others to read again.

Each test holds the reader to one connection (`db_pool_size=1`) and, where a statement must stay
out, locks the table from another connection until the readers it needs are waiting."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, OperationalError

from swr_official_images.domain import Image, ImageNotFound
from swr_official_images.settings import Settings
from swr_official_images.store.db import make_engine
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.loop_reader import BATCH_LIMIT, PostgresImageReader

NAMESPACE = "official"


@pytest.fixture
def statements(monkeypatch) -> list[list[str]]:
    """The names each of the reader's statements reads, in order; the statements still run."""
    sent: list[list[str]] = []
    read = PostgresImageReader._read

    async def recording(self: PostgresImageReader, connection: Any, keys: Any) -> Any:
        sent.append([name for _namespace, name in keys])
        return await read(self, connection, keys)

    monkeypatch.setattr(PostgresImageReader, "_read", recording)
    return sent


@contextlib.contextmanager
def one_connection_reader(database_url: str, **settings: Any) -> Iterator[PostgresImageReader]:
    engine = make_engine(Settings(database_url=database_url, db_pool_size=1, **settings))
    reader = SqlImageRepository(engine).async_loop_reader()
    assert isinstance(reader, PostgresImageReader)
    try:
        yield reader
    finally:
        reader.close()
        engine.dispose()


@contextlib.contextmanager
def locked_images(database_url: str) -> Iterator[Connection]:
    """The images table locked from another connection: every read of it waits until the
    block calls `rollback()` on what it is given, or ends."""
    engine = make_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as blocker:
            blocker.exec_driver_sql("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
            yield blocker
            blocker.rollback()
    finally:
        engine.dispose()


async def read(reader: PostgresImageReader, name: str) -> str:
    """The name of the image read, or "missing"."""
    try:
        image = await reader.get(NAMESPACE, name)
    except ImageNotFound:
        return "missing"
    assert image.namespace == NAMESPACE
    return image.name


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the readers did not get there"
        await asyncio.sleep(0.005)


async def outcomes(*reads: asyncio.Task[str]) -> list[Any]:
    """What each read answered or raised; a reader left waiting fails the test."""
    return await asyncio.wait_for(asyncio.gather(*reads, return_exceptions=True), 10)


async def settle() -> None:
    """Every task ready to run has run up to its next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def behind_one_read(
    reader: PostgresImageReader, statements: list[list[str]], names: tuple[str, ...]
) -> tuple[asyncio.Task[str], list[asyncio.Task[str]]]:
    """A read of "nginx" out on the reader's one connection (the table is locked), then reads
    of `names`, each started and gone as far as it goes before the connection comes back."""
    holding = asyncio.create_task(read(reader, "nginx"))
    await until(lambda: statements == [["nginx"]])
    waiting = [asyncio.create_task(read(reader, name)) for name in names]
    await settle()
    return holding, waiting


Scenario = Callable[[PostgresImageReader, Connection], Coroutine[Any, Any, list[Any]]]


def run_on_locked_table(database_url: str, scenario: Scenario, **settings: Any) -> list[Any]:
    """`scenario(reader, blocker)`, a reader of one connection, the table locked by `blocker`."""
    with (
        one_connection_reader(database_url, **settings) as reader,
        locked_images(database_url) as blocker,
    ):
        return asyncio.run(scenario(reader, blocker))


def test_reads_asked_for_in_one_turn_go_out_together(postgresql_catalog, engine, statements):
    # The first read gathers the others up to the limit; past it, the next gathers its own.
    names = ["nginx", "redis"]
    names += [f"absent-{index}" for index in range(2 * BATCH_LIMIT - 2)]
    names += ["postgres", "nginx"]
    assert len(names) == BATCH_LIMIT + BATCH_LIMIT + 2

    async def burst(reader: PostgresImageReader) -> list[Image | BaseException]:
        # The connection opened first: the burst's first read finds it idle.
        await reader.get(NAMESPACE, "redis")
        reads = (reader.get(NAMESPACE, name) for name in names)
        return await asyncio.gather(*reads, return_exceptions=True)

    with one_connection_reader(postgresql_catalog) as reader:
        answers = asyncio.run(burst(reader))
        # Each as the repository's own read finds it (SQLAlchemy's, in a transaction), or not.
        repository = SqlImageRepository(engine)
        for name, answer in zip(names, answers, strict=True):
            if name.startswith("absent"):
                assert isinstance(answer, ImageNotFound) and answer.name == name
            else:
                assert isinstance(answer, Image)
                assert vars(answer) == vars(repository.get(NAMESPACE, name))
    assert statements == [
        ["redis"],
        names[:BATCH_LIMIT],
        names[BATCH_LIMIT : 2 * BATCH_LIMIT],
        names[2 * BATCH_LIMIT :],
    ]


def test_a_read_asked_for_while_others_wait_for_a_connection_joins_them(
    postgresql_catalog, statements
):
    async def scenario(reader: PostgresImageReader, blocker: Connection) -> list[Any]:
        holding, waiting = await behind_one_read(reader, statements, ("redis",))
        later = asyncio.create_task(read(reader, "postgres"))
        await settle()
        blocker.rollback()
        return await outcomes(holding, *waiting, later)

    answers = run_on_locked_table(postgresql_catalog, scenario)

    assert answers == ["nginx", "redis", "postgres"]
    assert statements == [["nginx"], ["redis", "postgres"]]


def test_the_readers_that_joined_a_read_cancelled_while_waiting_read_again(
    postgresql_catalog, statements
):
    async def scenario(reader: PostgresImageReader, blocker: Connection) -> list[Any]:
        holding, waiting = await behind_one_read(
            reader, statements, ("redis", "postgres", "absent")
        )
        waiting[0].cancel()
        await settle()
        blocker.rollback()
        return await outcomes(holding, *waiting)

    answers = run_on_locked_table(postgresql_catalog, scenario)

    assert answers[0] == "nginx"
    assert isinstance(answers[1], asyncio.CancelledError)
    assert answers[2:] == ["postgres", "missing"]
    # The cancelled read's batch never went out; the two left went in one of their own.
    assert statements == [["nginx"], ["postgres", "absent"]]


def test_the_readers_that_joined_a_read_cancelled_while_out_read_again(
    postgresql_catalog, statements
):
    async def scenario(reader: PostgresImageReader, blocker: Connection) -> list[Any]:
        holding, waiting = await behind_one_read(
            reader, statements, ("redis", "postgres", "absent")
        )
        # The read out is dropped with its connection: the gathered batch opens another.
        holding.cancel()
        await until(lambda: len(statements) == 2)
        waiting[0].cancel()
        await until(lambda: len(statements) == 3)
        await settle()
        blocker.rollback()
        return await outcomes(holding, *waiting)

    answers = run_on_locked_table(postgresql_catalog, scenario)

    assert [type(answer) for answer in answers[:2]] == [asyncio.CancelledError] * 2
    assert answers[2:] == ["postgres", "missing"]
    # The two left read again, together, on a connection opened in the dropped one's place.
    assert statements == [["nginx"], ["redis", "postgres", "absent"], ["postgres", "absent"]]


def test_each_reader_of_a_failed_batch_gets_an_error_of_its_own(postgresql_catalog, statements):
    reported: list[dict[str, Any]] = []

    async def scenario(reader: PostgresImageReader, _blocker: Connection) -> list[Any]:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, c: reported.append(c))
        holding, waiting = await behind_one_read(
            reader, statements, ("redis", "postgres", "absent")
        )
        # Gone before its batch fails: its error is nobody's to see.
        waiting[2].cancel()
        return await outcomes(holding, *waiting)

    # The lock stays: each statement ends at its timeout.
    answers = run_on_locked_table(postgresql_catalog, scenario, db_statement_timeout_ms=1000)

    assert statements == [["nginx"], ["redis", "postgres", "absent"]]
    errors = answers[:3]
    # The error the thread pool's read raises: a 500, counted as a database error.
    for name, error in zip(["nginx", "redis", "postgres"], errors, strict=True):
        assert isinstance(error, OperationalError), error
        assert "statement timeout" in str(error)
        assert error.params == {"namespace": NAMESPACE, "name": name}
    assert errors[1] is not errors[2]
    assert isinstance(answers[3], asyncio.CancelledError)
    assert reported == []


def test_a_key_the_driver_refuses_is_read_alone(postgresql_catalog, statements):
    refused = "bad\x00name"

    async def scenario(reader: PostgresImageReader, blocker: Connection) -> list[Any]:
        holding, waiting = await behind_one_read(reader, statements, ("redis", refused, "postgres"))
        blocker.rollback()
        return await outcomes(holding, *waiting)

    answers = run_on_locked_table(postgresql_catalog, scenario)

    assert statements == [["nginx"], ["redis", "postgres"], [refused]]
    assert answers[:2] == ["nginx", "redis"]
    assert isinstance(answers[2], DataError) and "NUL" in str(answers[2])
    assert answers[3] == "postgres"
