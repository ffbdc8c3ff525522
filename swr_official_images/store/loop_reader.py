"""Images read on the event loop, straight through the driver: SQLite's in the process,
PostgreSQL's awaited."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import ARRAY, Engine, Text, bindparam, func, select
from sqlalchemy.exc import DBAPIError

from swr_official_images.domain import Image, ImageNotFound, ReaderBusy
from swr_official_images.store.db import (
    BoundedAsyncConnection,
    DatabaseWaitAborted,
    LoopConnections,
    images,
)

# One image by its key, its values in the order of the table's columns (Image.from_row's).
_BY_KEY = select(images).where(
    images.c.namespace == bindparam("namespace"), images.c.name == bindparam("name")
)
# Images by their keys: the keys as two arrays, each probing the table's unique index.
_KEYS = (
    func.unnest(bindparam("namespaces", type_=ARRAY(Text)), bindparam("names", type_=ARRAY(Text)))
    .table_valued("namespace", "name")
    .render_derived(name="keys")
)
_BY_KEYS = select(images).join(
    _KEYS, (images.c.namespace == _KEYS.c.namespace) & (images.c.name == _KEYS.c.name)
)
_NAMESPACE, _NAME = list(images.c).index(images.c.namespace), list(images.c).index(images.c.name)

# Keys one statement reads at most: past that, the next reader gathers another batch.
BATCH_LIMIT = 64

Key = tuple[str, str]
Row = tuple[Any, ...]


class SqliteImageReader:
    """One image by its key, straight through the driver on a connection of its own.

    On SQLite such a read is a B-tree probe in the process, a few microseconds; a thread pool
    hop, a pooled connection and SQLAlchemy's statement handling cost a hundred times that. In
    WAL mode a reader never waits for a writer, and the connection is told never to wait at all
    (busy_timeout 0): when it would have to (a checkpoint or recovery in progress), the read
    raises `ReaderBusy` instead of blocking the event loop.
    """

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        # Kept checked out for the life of the process: one per process.
        self._pooled = engine.raw_connection()
        driver = self._pooled.driver_connection
        # The dialect says which driver this is: SQLAlchemy's SQLite dialect uses the stdlib's.
        assert isinstance(driver, sqlite3.Connection)
        self._driver = driver
        self._driver.execute("PRAGMA busy_timeout=0")
        compiled = _BY_KEY.compile(dialect=dialect)
        self._sql = str(compiled)
        self._order = list(compiled.positiontup or ())
        # SQLAlchemy's own conversions from what the driver returns (dates are text on SQLite),
        # for the columns that have one.
        self._conversions = [
            (index, convert)
            for index, column in enumerate(images.c)
            if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None))
        ]

    def get(self, namespace: str, name: str) -> Image:
        params = {"namespace": namespace, "name": name}
        try:
            row = self._driver.execute(self._sql, [params[p] for p in self._order]).fetchone()
        except sqlite3.OperationalError as error:
            raise ReaderBusy(str(error)) from error
        if row is None:
            raise ImageNotFound(namespace, name)
        # Any: the driver's rows are untyped; the columns' types are the Image's.
        values = list(row)
        for index, convert in self._conversions:
            values[index] = convert(values[index])
        return Image.from_row(values)

    def close(self) -> None:
        self._pooled.close()


class PostgresImageReader:
    """One image by its key on the event loop, through psycopg's async API on connections of its
    own (`LoopConnections`): the loop serves other requests while the query is out.

    Through the thread pool and SQLAlchemy, a read cost several times the query: the hop to a
    thread and back, the pool's check-out with its ping, the transaction's BEGIN and ROLLBACK,
    the statement's handling. Here it is one round trip, in autocommit, of a statement prepared
    on the server at its first run.

    Reads go out together: the first gathers the keys asked for in the same turn of the event
    loop, and while it waits for a connection (every one is out), and reads them all in one
    statement (at most `BATCH_LIMIT`), each reader answered with its own row or its own error.
    Under load the database's round trips, and their system calls and the driver's work, are
    shared; alone, a read waits for one turn of the loop first. Readers that joined wait as
    long as the first one does, and read again if it goes away (cancelled) before its statement
    is answered.

    Its waits end as the engine's do (statement timeout, read timeout, the process stopping),
    and end the request with the error the thread pool's read would have raised. A connection
    found broken (a restart, a backend terminated) raises `ReaderBusy`: the caller reads the
    slow way, whose pool checks a connection before use.
    """

    def __init__(self, engine: Engine) -> None:
        self._connections = LoopConnections(engine)
        dialect = engine.dialect
        self._sql = str(_BY_KEY.compile(dialect=dialect))
        self._batch_sql = str(_BY_KEYS.compile(dialect=dialect))
        if any(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in images.c):
            raise RuntimeError("a column's values need SQLAlchemy's conversion: convert them")
        self._gathering: _Gathering | None = None

    async def get(self, namespace: str, name: str) -> Image:
        key = (namespace, name)
        row = await self._row(key)
        if row is None:
            raise ImageNotFound(namespace, name)
        # The driver's values are the columns' own types: SQLAlchemy converts none of them.
        return Image.from_row(row)

    async def _row(self, key: Key) -> Row | None:
        while (gathering := self._gathering) is not None and gathering.takes(key):
            row = await gathering.join(key)
            if row is not _READ_AGAIN:
                return row
        return await self._lead(key)

    async def _lead(self, key: Key) -> Row | None:
        gathering = _Gathering(key)
        if _batchable(key):
            self._gathering = gathering
        connection = None
        try:
            try:
                # One turn of the loop first: the requests it runs next may ask for theirs.
                await asyncio.sleep(0)
                connection = await self._connections.take()
            finally:
                if self._gathering is gathering:
                    self._gathering = None
            try:
                rows = await self._read(connection, gathering.keys())
            finally:
                self._connections.give_back(connection)
        except psycopg.Error as error:
            broken = connection is not None and connection.broken
            gathering.fail(partial(self._failure, error, broken))
            raise self._failure(error, broken, key) from error
        except BaseException:
            # Cancelled (the caller went away, the process is stopping), or a failure that is
            # not the database's: the others read again, each on its own account.
            gathering.read_again()
            raise
        gathering.answer(rows)
        return rows.get(key)

    async def _read(self, connection: BoundedAsyncConnection, keys: list[Key]) -> dict[Key, Row]:
        cursor = connection.reused_cursor()
        # Each statement prepared from its first run: the server plans it once.
        if len(keys) == 1:
            [(namespace, name)] = keys
            await cursor.execute(self._sql, {"namespace": namespace, "name": name}, prepare=True)
        else:
            namespaces, names = [k[0] for k in keys], [k[1] for k in keys]
            params = {"namespaces": namespaces, "names": names}
            await cursor.execute(self._batch_sql, params, prepare=True)
        return {(row[_NAMESPACE], row[_NAME]): row for row in await cursor.fetchall()}

    def _failure(self, error: psycopg.Error, broken: bool, key: Key) -> Exception:
        if broken and not isinstance(error, DatabaseWaitAborted):
            failure: Exception = ReaderBusy(str(error))
        else:
            # The error SQLAlchemy would have raised for the key's own read: the one the error
            # handling and the metrics know as a database's.
            params = {"namespace": key[0], "name": key[1]}
            failure = DBAPIError.instance(self._sql, params, error, psycopg.Error)
        failure.__cause__ = error
        return failure

    def close(self) -> None:
        self._connections.close()


# What a reader that joined is answered when the read it joined was cancelled: read again.
_READ_AGAIN: Any = object()


class _Gathering:
    """The keys of reads that go out together: the first reader's, read by itself, and those
    of readers that joined it (in its turn of the loop, or while it waited for a connection),
    each answered through a future of its own."""

    def __init__(self, first: Key) -> None:
        # Every key, in the order asked, with the futures of the readers that joined for it.
        self.joined: dict[Key, list[asyncio.Future[Row | None]]] = {first: []}

    def takes(self, key: Key) -> bool:
        return key in self.joined or (len(self.joined) < BATCH_LIMIT and _batchable(key))

    def join(self, key: Key) -> asyncio.Future[Row | None]:
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self.joined.setdefault(key, []).append(future)
        return future

    def keys(self) -> list[Key]:
        return list(self.joined)

    def _waiting(self) -> Iterator[tuple[Key, asyncio.Future[Row | None]]]:
        """Each reader still waiting, once: the gathering then holds none of their futures
        (an error set on one holds the reader's frames, which hold the gathering)."""
        joined, self.joined = self.joined, {}
        for key, futures in joined.items():
            for future in futures:
                # A reader cancelled while it waited has cancelled its future.
                if not future.done():
                    yield key, future

    def answer(self, rows: dict[Key, Row]) -> None:
        for key, future in self._waiting():
            future.set_result(rows.get(key))

    def fail(self, failure: Callable[[Key], Exception]) -> None:
        # Each future has its reader waiting on it (`_waiting` skips the others), whose wake-up
        # retrieves the error even when the reader is cancelled meanwhile.
        for key, future in self._waiting():
            future.set_exception(failure(key))

    def read_again(self) -> None:
        for _key, future in self._waiting():
            future.set_result(_READ_AGAIN)


def _batchable(key: Key) -> bool:
    """Whether the key may be read with others: the driver sends ASCII without NUL as text
    whatever it is, while a key it refuses (a NUL, a lone surrogate) must fail alone."""
    return all(part.isascii() and "\x00" not in part for part in key)
