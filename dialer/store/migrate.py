"""Bring a database's schema to the current revision (Alembic, run programmatically)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.db import read_transaction, write_transaction
from dialer.errors import StoreFault, StoreUnavailable
from dialer.store.faults import describe_url, translate_errors

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key serialising concurrent upgrades ("dialer" in ASCII).
_PG_LOCK_KEY = 0x6469616C6572
# How long a SQLite process waits for another one's schema upgrade to finish.
SCHEMA_LOCK_WAIT_S = 120.0


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the store's migrations, bound to `connection` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store has no migrations"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision a database is at (None: never migrated)."""
    where = describe_url(engine.url.render_as_string(hide_password=True))
    with translate_errors(where):
        async with read_transaction(engine) as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision())


def _upgrade(conn: Connection) -> None:
    current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current != head:
        log.info("store schema: upgrading from %s to %s", current or "nothing", head)
        command.upgrade(alembic_config(conn), "head")


async def ensure_schema(engine: AsyncEngine, *, locked_for: float = SCHEMA_LOCK_WAIT_S) -> None:
    """Upgrade the database to the head revision; safe to run from several nodes at once.

    On SQLite a process that finds another one upgrading waits for it (the upgrade may
    outlast the busy timeout on a loaded machine) and then finds the schema current."""
    deadline = time.monotonic() + locked_for
    while True:
        try:
            await _ensure_schema(engine)
            return
        except StoreUnavailable as exc:
            if exc.cause is not StoreFault.LOCKED or time.monotonic() >= deadline:
                raise
            log.info("store schema: another process is upgrading it; waiting")
            await asyncio.sleep(0.25)


async def _ensure_schema(engine: AsyncEngine) -> None:
    where = describe_url(engine.url.render_as_string(hide_password=True))
    with translate_errors(where):
        async with write_transaction(engine) as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _PG_LOCK_KEY})
            try:
                await conn.run_sync(_upgrade)
            except CommandError as exc:
                raise StoreUnavailable(f"schema cannot be upgraded: {exc}",
                                       cause=StoreFault.SCHEMA_MISMATCH, where=where) from exc
