"""The store's handle on its engine: transactions whose failures name their cause.

On SQLite, writers of one process also queue on an asyncio lock (first come, first
served) before taking the database's write lock: SQLite's own busy handler polls, so
a waiting writer (an attempt before its originate) could otherwise keep missing the
short gaps between a purge's batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.db import read_transaction, write_transaction
from dialer.errors import StoreFault, StoreUnavailable
from dialer.store.faults import describe_url, translate_errors


class Database:
    """An engine plus the name of its database; every transaction translates faults."""

    def __init__(self, engine: AsyncEngine, *, lock_timeout_s: float = 5.0) -> None:
        self.engine = engine
        self.where = describe_url(engine.url.render_as_string(hide_password=True))
        self.dialect = engine.dialect.name
        self._writers = asyncio.Lock() if self.is_sqlite else None
        self._lock_timeout_s = lock_timeout_s

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite (one writer at a time), False on PostgreSQL."""
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes; on SQLite it holds the write lock from the start."""
        if self._writers is None:
            with translate_errors(self.where):
                async with write_transaction(self.engine) as conn:
                    yield conn
            return
        try:
            async with asyncio.timeout(self._lock_timeout_s):
                await self._writers.acquire()
        except TimeoutError:
            raise StoreUnavailable("another writer of this process holds the database",
                                   cause=StoreFault.LOCKED, where=self.where) from None
        try:
            with translate_errors(self.where):
                async with write_transaction(self.engine) as conn:
                    yield conn
        finally:
            self._writers.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction."""
        with translate_errors(self.where):
            async with read_transaction(self.engine) as conn:
                yield conn

    async def ping(self) -> None:
        """Round-trip to the database; raises StoreUnavailable if it cannot be read."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    def insert(self, table: object) -> postgresql.Insert | sqlite.Insert:
        """An INSERT with this dialect's ON CONFLICT support."""
        if self.is_sqlite:
            return sqlite.insert(table)  # type: ignore[arg-type]
        return postgresql.insert(table)  # type: ignore[arg-type]

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
