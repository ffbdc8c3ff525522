"""Tables and engine. SQLAlchemy Core only: two tables need no ORM."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)

from server.settings import Settings

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

images = Table(
    "images",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    # 64 and 128 are SWR's limits; a nested name is stored with "/" (the URL's "$").
    Column("namespace", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("user", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("full_description", Text, nullable=False),
    Column("star_count", BigInteger, nullable=False),
    Column("pull_count", BigInteger, nullable=False),
    Column("collection_id", BigInteger, nullable=False),
    # Naive UTC, second precision: the API's "YYYY-MM-DD HH:MM:SS".
    Column("last_updated", DateTime, nullable=False),
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


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while an import writes; busy_timeout makes a second writer wait
    # instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(settings: Settings) -> Engine:
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.database_url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(settings.database_url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)
