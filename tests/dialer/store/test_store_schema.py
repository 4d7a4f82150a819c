"""Migrations: upgrading to head yields exactly the models' schema, on both databases."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from dialer.db import create_engine
from dialer.errors import StoreFault, StoreUnavailable
from dialer.keys import Keyring
from dialer.store import SCHEMA_METADATA, Store, current_revision, ensure_schema, head_revision

EXPECTED_TABLES = {
    "agent_sessions", "agent_state_changes", "agents", "attempts", "audit_log",
    "campaign_hourly_stats", "campaigns", "leads", "nodes", "number_attempts",
    "purge_run_counts",
    "purge_runs", "recordings", "tenants",
    "dnc_changes", "dnc_entries", "dnc_state",
}


async def test_upgrade_to_head_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await current_revision(engine) is None
        await ensure_schema(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}),
                list(SCHEMA_METADATA)))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert diff == []
        assert tables - {"alembic_version"} == EXPECTED_TABLES
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_and_reruns_are_harmless(db_url: str) -> None:
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(ensure_schema(e) for e in engines))
        await ensure_schema(engines[0])
        assert await current_revision(engines[1]) == head_revision()
    finally:
        for engine in engines:
            await engine.dispose()


async def test_open_without_migrating_refuses_an_old_schema(db_url: str,
                                                            keyring: Keyring) -> None:
    with pytest.raises(StoreUnavailable) as info:
        await Store.open(db_url, keyring, migrate=False)
    assert info.value.cause is StoreFault.SCHEMA_MISMATCH
    store = await Store.open(db_url, keyring)
    await store.close()
    reopened = await Store.open(db_url, keyring, migrate=False)
    await reopened.close()


async def test_an_upgrade_waits_for_another_process_holding_the_sqlite_lock(
        sqlite_url: str) -> None:
    path = sqlite_url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")               # another process is writing
    engine = create_engine(sqlite_url, sqlite_busy_timeout_ms=50)
    try:
        asyncio.get_running_loop().call_later(1.0, holder.execute, "COMMIT")
        await ensure_schema(engine)                 # outlasts its busy timeout, then upgrades
        assert await current_revision(engine) == head_revision()
    finally:
        holder.close()
        await engine.dispose()
