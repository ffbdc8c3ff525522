"""The database a command works on."""

from __future__ import annotations

import sys

from sqlalchemy import Engine

from swr_official_images.domain import ImageCatalog
from swr_official_images.settings import Settings
from swr_official_images.store.access_keys import AccessKeyStore
from swr_official_images.store.db import make_engine
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.master_key import load_master_key
from swr_official_images.store.migrations import prepare_schema
from swr_official_images.store.tokens import TokenStore


class Stores:
    """The database a command works on: opened on first use, ready for use (SQLite migrates
    itself, PostgreSQL must have been migrated), and closed when the command ends."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            database = self._settings.sqlite_path()
            if database is not None and not database.exists():
                # A command run with another SWR_DATABASE_URL (or .env) than the server's would
                # otherwise work on an empty database of its own without a word.
                print(
                    f"note: no database at {database}: creating a new, empty one "
                    "(SWR_DATABASE_URL chooses another)",
                    file=sys.stderr,
                    flush=True,
                )
            engine = make_engine(self._settings)
            try:
                prepare_schema(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    @property
    def images(self) -> ImageCatalog:
        return SqlImageRepository(self.engine)

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.engine)

    def access_keys(self, *, master_key: bool = False) -> AccessKeyStore:
        """The access keys; with the master key (made on SQLite if need be) when `master_key`.
        Only issuing a key needs it: listing, disabling and deleting work without one, or
        with a key file that cannot be used."""
        if not master_key:
            return AccessKeyStore(self.engine, None)
        key = load_master_key(self._settings, create=True)
        return AccessKeyStore(self.engine, key)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
