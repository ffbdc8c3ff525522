"""Images read on the event loop, straight through SQLite's driver."""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, bindparam, select

from swr_official_images.domain import Image, ImageNotFound, ReaderBusy
from swr_official_images.store.db import images


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
        query = select(images).where(
            images.c.namespace == bindparam("namespace"), images.c.name == bindparam("name")
        )
        compiled = query.compile(dialect=dialect)
        self._sql = str(compiled)
        self._order = list(compiled.positiontup or ())
        # SQLAlchemy's own conversions from what the driver returns (dates are text on SQLite).
        self._convert = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in images.c
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
        return Image.from_row(
            value if convert is None else convert(value)
            for convert, value in zip(self._convert, row, strict=True)
        )

    def close(self) -> None:
        self._pooled.close()
