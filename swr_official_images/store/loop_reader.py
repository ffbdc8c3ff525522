"""Images read on the event loop, straight through the driver: SQLite's in the process,
PostgreSQL's awaited."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import DBAPIError, StatementError

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
    the statement's handling. Here it is one round trip, in autocommit, of a statement psycopg
    prepares after a few runs.

    Its waits end as the engine's do (statement timeout, read timeout, the process stopping),
    and end the request with the error the thread pool's read would have raised. A connection
    found broken (a restart, a backend terminated) raises `ReaderBusy`: the caller reads the
    slow way, whose pool checks a connection before use.
    """

    def __init__(self, engine: Engine) -> None:
        self._connections = LoopConnections(engine)
        dialect = engine.dialect
        self._sql = str(_BY_KEY.compile(dialect=dialect))
        if any(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in images.c):
            raise RuntimeError("a column's values need SQLAlchemy's conversion: convert them")

    async def get(self, namespace: str, name: str) -> Image:
        params = {"namespace": namespace, "name": name}
        connection = await self._connection(params)
        try:
            cursor = connection.reused_cursor()
            # Prepared from the first run: the server plans the statement once.
            await cursor.execute(self._sql, params, prepare=True)
            row = await cursor.fetchone()
        except psycopg.Error as error:
            if connection.broken and not isinstance(error, DatabaseWaitAborted):
                raise ReaderBusy(str(error)) from error
            raise self._store_error(error, params) from error
        finally:
            self._connections.give_back(connection)
        if row is None:
            raise ImageNotFound(namespace, name)
        # The driver's values are the columns' own types: SQLAlchemy converts none of them.
        return Image.from_row(row)

    async def _connection(self, params: dict[str, str]) -> BoundedAsyncConnection:
        try:
            return await self._connections.take()
        except psycopg.Error as error:
            raise self._store_error(error, params) from error

    def _store_error(self, error: psycopg.Error, params: dict[str, str]) -> StatementError:
        # The error SQLAlchemy would have raised for it: the one the error handling and the
        # metrics know as a database's.
        return DBAPIError.instance(self._sql, params, error, psycopg.Error)

    def close(self) -> None:
        self._connections.close()
