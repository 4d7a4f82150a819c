"""The store's handle on its engine: transactions whose failures name their cause."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.db import read_transaction, write_transaction
from dialer.store.faults import describe_url, translate_errors


class Database:
    """An engine plus the name of its database; every transaction translates faults."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.where = describe_url(engine.url.render_as_string(hide_password=True))
        self.dialect = engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite (one writer at a time), False on PostgreSQL."""
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes; on SQLite it holds the write lock from the start."""
        with translate_errors(self.where):
            async with write_transaction(self.engine) as conn:
                yield conn

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
