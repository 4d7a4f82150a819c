"""Database engines for the store: SQLite (embedded default) or PostgreSQL.

SQLite connections are put in driver autocommit and every transaction is begun
explicitly: `BEGIN` for reads, `BEGIN IMMEDIATE` for writes (`write_transaction`), so
a writer takes the database's write lock before it reads and two writers, in one
process or several, never deadlock on a lock upgrade. `synchronous=FULL`: a commit
survives a power cut, which is what "the attempt row is durable before the originate"
means (the store's writer groups commits, so this costs one fsync per batch).
PostgreSQL connections get a connect timeout and a command timeout, so a dead server
cannot hang the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 5.0
PG_COMMAND_TIMEOUT_S = 60.0
# Execution option that makes a SQLite transaction begin with BEGIN IMMEDIATE (a plain
# name, so packages that cannot import this module — dnc — can ask for it too).
WRITE_OPTION = "begin_immediate"


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                  pg_command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
                  **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        connect_args = {"timeout": PG_CONNECT_TIMEOUT_S, "command_timeout": pg_command_timeout_s}
        connect_args.update(kwargs.pop("connect_args", {}))
        return create_async_engine(url, connect_args=connect_args, **kwargs)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: on SQLite it holds the write lock from its start."""
    async with engine.connect() as conn:
        await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that only reads (a consistent snapshot on both databases)."""
    async with engine.connect() as conn, conn.begin():
        yield conn
