"""Tables and engine. SQLAlchemy Core only: two tables need no ORM."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import sqlite3
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import psycopg
from psycopg import waiting
from psycopg.abc import PQGen, PQGenConn
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import ConnectionPoolEntry

from swr_official_images.settings import Settings
from swr_official_images.store.socket_watch import SocketWatch

# Explicit constraint names keep migrations identical on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY, so 64-bit ids use INTEGER there.
_id_type = BigInteger().with_variant(Integer(), "sqlite")

# Lists are ordered by name and paged by name, both from the (namespace, name) index. SQLite
# compares bytes; PostgreSQL would follow the database's locale (en_US puts "_" before "-"), so
# the column is declared "C": the same order on both stores, and an index that serves it.
_name_type = String(128).with_variant(String(128, collation="C"), "postgresql")

images = Table(
    "images",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    # 64 and 128 are SWR's limits; a nested name is stored with "/" (the URL's "$").
    Column("namespace", String(64), nullable=False),
    Column("name", _name_type, nullable=False),
    Column("user", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("full_description", Text, nullable=False),
    Column("star_count", BigInteger, nullable=False),
    Column("pull_count", BigInteger, nullable=False),
    Column("collection_id", BigInteger, nullable=False),
    # Naive UTC, second precision: the API's "YYYY-MM-DD HH:MM:SS".
    Column("last_updated", DateTime, nullable=False),
    # When this store last changed the record (naive UTC, whole seconds): the API's
    # Last-Modified. last_updated is Docker Hub's date, which an import that changes only
    # pull_count leaves alone.
    Column("changed_at", DateTime, nullable=False),
    UniqueConstraint("namespace", "name"),
    CheckConstraint("star_count >= 0", name="star_count_non_negative"),
    CheckConstraint("pull_count >= 0", name="pull_count_non_negative"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    # Hex SHA-256 of the token: the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    # The access key id (AK) is public: it names the key in every signed request.
    Column("access_key_id", String(32), nullable=False, unique=True),
    # The secret (SK) must be recoverable to check a signature, so it is kept encrypted under
    # the master key (AES-GCM, nonce first), never hashed and never in the clear.
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("disabled_at", DateTime, nullable=True),
)


# How long a SQLite writer waits for another's lock before failing.
_SQLITE_BUSY_TIMEOUT_MS = 5000

# The execution option that marks a connection's transaction as a writer's (see _write_transaction).
_WRITE_LOCK = "swr_write_lock"


def _sqlite_engine(settings: Settings) -> Engine:
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _tune(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # The driver's own implicit transactions would begin only at the first write, too late
        # to take the write lock up front: SQLAlchemy's "begin" event below starts them instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while an import writes; busy_timeout makes a second writer wait
        # instead of failing at once.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue up instead of one
        # failing when it tries to upgrade a read transaction.
        immediate = conn.get_execution_options().get(_WRITE_LOCK, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# Every wait on a PostgreSQL socket is bounded by the client as well. The statement timeout is
# enforced by the database, so it cannot fire when the statement never reaches it (a proxy that
# stops forwarding, a frozen backend); TCP keepalives and the user timeout end a connection
# whose peer is gone, but not one whose peer still acknowledges and never answers. So psycopg's
# wait loop, which wakes at least every tenth of a second, checks a deadline each time and, once
# past it, closes the connection: the pool then replaces it, the thread is free, and an
# interpreter exiting does not wait forever for a thread stuck on the database.

_RV = TypeVar("_RV")

# Absolute (time.monotonic) deadline for the database waits of the current context, when it has
# one of its own (a readiness probe); math.inf for batch jobs, which have no time limit.
_deadline: ContextVar[float | None] = ContextVar("swr_database_deadline", default=None)

# TCP keepalives on every connection: a peer that is gone shows within
# idle + interval * count seconds even on a connection that is idle in the pool.
# Each can be overridden in the database URL's query (e.g. ?keepalives_idle=60).
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class DatabaseWaitAborted(psycopg.OperationalError):
    """A wait on the database passed its deadline, or the process is stopping: the connection
    was closed (SQLAlchemy sees a disconnect and replaces it)."""


class _Waits:
    """How long one engine's connections wait for the database, and whether they may still."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.stopped = threading.Event()

    def deadline(self) -> float:
        given = _deadline.get()
        return time.monotonic() + self.read_timeout if given is None else given

    def why_not(self, deadline: float) -> str | None:
        if self.stopped.is_set():
            return "the server is stopping"
        if time.monotonic() >= deadline:
            return "the database did not answer in time"
        return None


# The engines' wait bounds, for stop_waiting(engine).
_engine_waits: weakref.WeakKeyDictionary[Engine, _Waits] = weakref.WeakKeyDictionary()


def _until(
    gen: Generator[Any, Any, _RV],
    waits: _Waits,
    deadline: float,
    abandon: Callable[[], None],
    what: str,
) -> Generator[Any, Any, _RV]:
    """Drives one of psycopg's wait generators, as psycopg's wait loop would, and ends it once
    `waits` says it may not go on: the generator closed, `abandon()` called, an error raised."""
    try:
        state = next(gen)
        while True:
            ready = yield state
            state = gen.send(ready)
            if reason := waits.why_not(deadline):
                gen.close()
                abandon()
                raise DatabaseWaitAborted(f"{reason}: connection {what}")
    except StopIteration as done:
        result: _RV = done.value
        return result


def _bounded_connect(cls: Any, connecting: PQGenConn[Any]) -> PQGenConn[Any]:
    # The connect timeout is kept here rather than by psycopg, whose own leaves the half-open
    # connection to the garbage collector; a shorter deadline of the context (a readiness
    # probe) or the process stopping ends the handshake early.
    waits: _Waits = cls.waits
    deadline = min(_deadline.get() or math.inf, time.monotonic() + waits.connect_timeout)
    # Closing the generator drops the half-open connection with it.
    bounded: PQGenConn[Any] = _until(connecting, waits, deadline, lambda: None, "abandoned")
    return bounded


class _BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait ends by a deadline (see above)."""

    waits: _Waits  # set by the engine's subclass

    def wait(self, gen: PQGen[_RV], interval: float = 0.1, timeout: float | None = None) -> _RV:
        return super().wait(self._bounded(gen), interval, timeout)

    def _bounded(self, gen: PQGen[_RV]) -> PQGen[_RV]:
        # Mid-exchange, the connection's state is unknown: it cannot be reused.
        return _until(gen, self.waits, self.waits.deadline(), self.pgconn.finish, "closed")

    @classmethod
    def _connect_gen(cls, conninfo: str = "") -> PQGenConn[Any]:
        return _bounded_connect(cls, super()._connect_gen(conninfo))


class BoundedAsyncConnection(psycopg.AsyncConnection[Any]):
    """The same bounds on the event loop: psycopg's async wait wakes at every interval too.

    Waits for an answer go through one `SocketWatch` for the connection's life rather than
    psycopg's registration at every wait; every other wait (sending more than the socket takes
    at once, a wait with a timeout) is psycopg's. Whatever ends the connection here (`finish`,
    `close`, a wait abandoned or cancelled) closes the watch with it.
    """

    waits: _Waits  # set by the engine's subclass
    _watch: SocketWatch | None = None
    _reused_cursor: psycopg.AsyncCursor[Any] | None = None

    async def wait(
        self, gen: PQGen[_RV], interval: float = 0.1, timeout: float | None = None
    ) -> _RV:
        bounded = _until(gen, self.waits, self.waits.deadline(), self.finish, "closed")
        try:
            if timeout is not None:
                return await waiting.wait_async(bounded, self.pgconn.socket, interval, timeout)
            return await self._wait_watched(bounded, interval)
        except asyncio.CancelledError:
            # psycopg's own wait would send a cancel request over a new connection and wait up
            # to five seconds twice, on a database that may not answer at all (a task is
            # cancelled when the loop ends): the connection is dropped instead.
            self.finish()
            raise

    async def _wait_watched(self, gen: PQGen[_RV], interval: float) -> _RV:
        try:
            state = next(gen)
            while state == waiting.WAIT_R:
                readable = await self._watch_on_this_loop().readable(interval)
                # Nothing ready (0) after an interval: the generator checks its deadline.
                state = gen.send(waiting.READY_R if readable else 0)
        except StopIteration as done:
            result: _RV = done.value
            return result
        except OSError as error:
            # As psycopg's wait: the socket is gone with the connection.
            raise psycopg.OperationalError("connection socket closed") from error
        return await waiting.wait_async(_resumed(state, gen), self.pgconn.socket, interval)

    def _watch_on_this_loop(self) -> SocketWatch:
        loop = asyncio.get_running_loop()
        if self._watch is None or self._watch.loop is not loop:
            # A connection used from another loop than before (asyncio.run after asyncio.run):
            # the first loop has ended, and its registration with it.
            if self._watch is not None:
                self._watch.close()
            self._watch = SocketWatch(loop, self.pgconn.socket)
        return self._watch

    def reused_cursor(self) -> psycopg.AsyncCursor[Any]:
        """One cursor for the connection's life: the connection's `execute` makes a new one
        at every call."""
        if self._reused_cursor is None:
            self._reused_cursor = self.cursor()
        return self._reused_cursor

    def finish(self) -> None:
        """Closes the connection without a wait: psycopg's `close` does nothing more for a
        connection outside a pool."""
        if self._watch is not None:
            self._watch.close()
        self.pgconn.finish()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        await super().close()

    @classmethod
    def _connect_gen(cls, conninfo: str = "") -> PQGenConn[Any]:
        return _bounded_connect(cls, super()._connect_gen(conninfo))


def _resumed(state: Any, gen: PQGen[_RV]) -> PQGen[_RV]:
    """`gen`, already at `state`, from there on: for psycopg's wait to take over mid-way."""
    while True:
        ready = yield state
        try:
            state = gen.send(ready)
        except StopIteration as done:
            result: _RV = done.value
            return result


# How each PostgreSQL engine connects on the event loop (see LoopConnections).
_loop_connects: weakref.WeakKeyDictionary[
    Engine, Callable[[], Awaitable[BoundedAsyncConnection]]
] = weakref.WeakKeyDictionary()


def _postgresql_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    # Server-side settings go in libpq's "options"; a URL may carry its own (a search_path).
    # A key given more than once in a URL's query comes as a tuple of its values.
    given = url.query.get("options") or ()
    options = " ".join(
        [
            *((given,) if isinstance(given, str) else given),
            f"-c statement_timeout={settings.db_statement_timeout_ms}",
        ]
    )
    # The kernel drops a connection whose sent data stays unacknowledged this long.
    tcp = {**_KEEPALIVES, "tcp_user_timeout": settings.db_read_timeout_ms}
    engine_waits = _Waits(settings.db_connect_timeout, settings.db_read_timeout_ms / 1000)

    class EngineConnection(_BoundedConnection):
        waits = engine_waits

    class EngineAsyncConnection(BoundedAsyncConnection):
        waits = engine_waits

    connect_args = {
        # No connect_timeout: EngineConnection keeps it (see _connect_gen).
        "options": options,
        "application_name": "swr-official-images",
        # The URL's own values win.
        **{key: value for key, value in tcp.items() if key not in url.query},
    }
    engine = create_engine(
        url.difference_update_query(["options"]),
        pool_size=settings.db_pool_size,
        # No overflow: an overflow connection is closed as soon as it is checked in while the
        # pool holds pool_size idle ones, so under steady concurrency above pool_size nearly
        # every checkout beyond it opened a new connection (a backend process forked by the
        # server) for one query. Waiting for a pooled one is cheaper.
        max_overflow=0,
        pool_timeout=10,
        # A connection the database dropped (restart, failover, pg_terminate_backend) is
        # replaced at checkout instead of failing a request.
        pool_pre_ping=True,
        connect_args=connect_args,
    )

    @event.listens_for(engine, "do_connect")
    def _connect(
        _dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: dict[str, Any]
    ) -> psycopg.Connection[Any]:
        deadline = _deadline.get()
        if reason := engine_waits.why_not(math.inf if deadline is None else deadline):
            raise DatabaseWaitAborted(f"{reason}: no new connection")
        return EngineConnection.connect(*cargs, **cparams)

    _engine_waits[engine] = engine_waits
    # What the engine's pool connects with, as SQLAlchemy puts it together.
    cargs, cparams = engine.dialect.create_connect_args(engine.url)

    async def connect_on_loop() -> BoundedAsyncConnection:
        if reason := engine_waits.why_not(math.inf):
            raise DatabaseWaitAborted(f"{reason}: no new connection")
        # Autocommit: a read alone needs no BEGIN and no ROLLBACK, two round trips of three.
        return await EngineAsyncConnection.connect(
            *cargs, **{**cparams, **connect_args}, autocommit=True
        )

    _loop_connects[engine] = connect_on_loop
    return engine


@contextlib.contextmanager
def database_deadline(seconds: float) -> Iterator[None]:
    """Every wait on a PostgreSQL database in this context (and in the threads it starts with
    a copy of it) ends within `seconds` from now, whatever the engine's read timeout."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def stop_waiting(engine: Engine) -> None:
    """Ends the waits on the database of every thread using `engine`, now and from now on (the
    process is stopping); for a SQLite engine, nothing."""
    waits = _engine_waits.get(engine)
    if waits is not None:
        waits.stopped.set()


class LoopConnections:
    """A few PostgreSQL connections for the event loop, opened as the engine opens its own (the
    same database, options, statement timeout, keepalives and bounded waits) and in autocommit.

    At most as many as the engine's pool holds, opened when first needed: a request takes an
    idle one, or opens one while fewer are open, or waits for one to come back, within the
    engine's read timeout. Waiting requests are served in their order of arrival: one given
    back goes to the first of them, never to a request that came later. A connection given
    back broken, or not idle, is dropped, and its place goes to the next request to open one.
    """

    def __init__(self, engine: Engine) -> None:
        self._connect = _loop_connects[engine]
        self._waits = _engine_waits[engine]
        # Last in, first out: the connection just given back is taken again, and others are
        # opened only for requests that overlap.
        self._idle: list[BoundedAsyncConnection] = []
        # Connections that may still be opened.
        self._places: int = engine.pool.size()  # type: ignore[attr-defined]  # a QueuePool's
        # What each waiting request is handed: a connection, or None for a place to open one.
        self._waiters: collections.deque[asyncio.Future[BoundedAsyncConnection | None]] = (
            collections.deque()
        )
        self._open: set[BoundedAsyncConnection] = set()
        self._closed = False

    async def take(self) -> BoundedAsyncConnection:
        """An idle connection, for `give_back` once its answer is read."""
        if self._idle:
            return self._idle.pop()
        if self._places:
            self._places -= 1
            return await self._open_one()
        given = await self._wait_for_one()
        return given if given is not None else await self._open_one()

    async def _open_one(self) -> BoundedAsyncConnection:
        try:
            if self._closed:
                raise DatabaseWaitAborted("the server is stopping: no new connection")
            connection = await self._connect()
        except BaseException:
            self._hand_over(None)
            raise
        self._open.add(connection)
        return connection

    async def _wait_for_one(self) -> BoundedAsyncConnection | None:
        waiter: asyncio.Future[BoundedAsyncConnection | None]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._waits.deadline() - time.monotonic()):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                # Handed one just as it gave up: the next in line gets it.
                self._hand_over(waiter.result())
            else:
                waiter.cancel()
            if isinstance(error, TimeoutError):
                raise DatabaseWaitAborted(
                    "the database did not answer in time: no connection came free"
                ) from None
            raise

    def _hand_over(self, connection: BoundedAsyncConnection | None) -> None:
        """A connection (or None: a place to open one) to the first request waiting, else
        kept for the next."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if connection is None:
            self._places += 1
        else:
            self._idle.append(connection)

    def give_back(self, connection: BoundedAsyncConnection) -> None:
        if self._closed or connection.pgconn.transaction_status != _IDLE:
            # Broken (BAD shows as UNKNOWN), or left inside a transaction or a query.
            self._drop(connection)
            self._hand_over(None)
        else:
            self._hand_over(connection)

    def _drop(self, connection: BoundedAsyncConnection) -> None:
        self._open.discard(connection)
        connection.finish()

    def close(self) -> None:
        """Closes the idle connections now, and the others as they come back (the process is
        stopping: stop_waiting ends their waits); requests still waiting are refused."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._drop(connection)
            self._hand_over(None)
        while self._waiters:
            self._hand_over(None)


_IDLE = psycopg.pq.TransactionStatus.IDLE


def make_engine(settings: Settings) -> Engine:
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        return _sqlite_engine(settings)
    return _postgresql_engine(settings)


# How long a batch job waits for another one's write lock on SQLite (PostgreSQL waits as long
# as it takes): a million-record import holds it for tens of seconds.
_SQLITE_BATCH_BUSY_TIMEOUT_MS = 10 * 60 * 1000


def _sqlite_driver(conn: Connection) -> sqlite3.Connection:
    driver = conn.connection.driver_connection
    # The dialect says which driver this is: SQLAlchemy's SQLite dialect uses the stdlib's.
    assert isinstance(driver, sqlite3.Connection)
    return driver


@contextlib.contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_LOCK: True})
        if conn.dialect.name == "sqlite":
            # Through the driver: a statement through SQLAlchemy would begin the transaction.
            driver = _sqlite_driver(conn)
            driver.execute(f"PRAGMA busy_timeout={_SQLITE_BATCH_BUSY_TIMEOUT_MS}")
        # Imports and migrations are an operator's batch jobs: the time limits meant for
        # requests do not apply.
        unbounded = _deadline.set(math.inf)
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                yield conn
        finally:
            _deadline.reset(unbounded)
            if conn.dialect.name == "sqlite" and not conn.invalidated:
                # The connection goes back to the pool, where requests must not wait minutes.
                driver.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")


@contextlib.contextmanager
def catalog_write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the catalog's write lock: concurrent imports run one after the
    other, each seeing the previous one's result, while readers go on undisturbed."""
    with _write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            # SHARE ROW EXCLUSIVE conflicts with itself and with writers, not with readers.
            conn.exec_driver_sql("LOCK TABLE images IN SHARE ROW EXCLUSIVE MODE")
        yield conn


@contextlib.contextmanager
def schema_lock_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction in which one process at a time changes the schema (before the tables
    exist, there is no table to lock)."""
    with _write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(hashtext('swr-official-images schema'))"
            )
        yield conn
