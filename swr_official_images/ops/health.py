"""Readiness: whether this process should be sent requests.

Checked afresh on every call (a cached answer would hide an outage): the store answers a cheap
query within a time limit and its schema is this release's, and the process is not stopping.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine, select, text

from swr_official_images.ops.shutdown import Drain
from swr_official_images.store.db import database_deadline, images

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """Why this process should not be sent requests (for the log, never for the client)."""


class Readiness:
    def __init__(self, engine: Engine, head_revision: str, timeout: float, drain: Drain) -> None:
        self._engine = engine
        self._head = head_revision
        self._timeout = timeout
        self._drain = drain

    async def check(self) -> None:
        if self._drain.draining:
            raise NotReady("the process is shutting down")
        try:
            # In a thread of the loop's own executor, not the request thread pool, so that
            # requests keep their threads. The thread's database waits end by the same
            # deadline: a store that hangs keeps neither the thread nor a connection.
            revision = await asyncio.wait_for(
                asyncio.to_thread(self._schema_revision), self._timeout
            )
        except TimeoutError:
            raise NotReady(f"the store did not answer within {self._timeout:g} s") from None
        except Exception as exc:
            raise NotReady(f"the store failed: {exc.__class__.__name__}: {exc}") from exc
        if revision != self._head:
            raise NotReady(f"the store's schema is at {revision}, this release needs {self._head}")

    def _schema_revision(self) -> str | None:
        with database_deadline(self._timeout), self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # The probe's own limit, shorter than the one for requests.
                conn.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {max(1, int(self._timeout * 1000))}"
                )
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            conn.execute(select(images.c.id).limit(1)).all()
            return revision
