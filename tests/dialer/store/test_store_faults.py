"""Faults: a corrupt or locked SQLite file, a refused or lost PostgreSQL connection, each a
StoreUnavailable naming its cause; and the store works again once the database is back."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import make_url
from store_helpers import NOW
from tcp_proxy import TcpProxy

from dialer.errors import StoreFault, StoreUnavailable
from dialer.keys import Keyring
from dialer.store import AttemptState, NewAttempt, Outcome, Store
from dialer.store.faults import classify, describe_url, translate_errors
from dialer.store.types import UTCDateTime

NUMBER = "+8613812345678"

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS held (x)")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_file_that_is_not_a_database(sqlite_url: str, keyring: Keyring) -> None:
    sqlite_path(sqlite_url).write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(StoreUnavailable) as info:
        await Store.open(sqlite_url, keyring)
    assert info.value.cause is StoreFault.CORRUPT
    assert str(sqlite_path(sqlite_url)) in str(info.value)


async def test_a_database_with_damaged_pages(sqlite_url: str, keyring: Keyring) -> None:
    store = await Store.open(sqlite_url, keyring)
    tenant = await store.tenants.create("acme", now=NOW)
    await store.campaigns.create(tenant.id, "c", "uk", now=NOW)
    await store.close()
    path = sqlite_path(sqlite_url)
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page, len(data), page):  # keep page 1 (the header), ruin the rest
        data[offset:offset + page] = b"\xa5" * page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreUnavailable) as info:
        reopened = await Store.open(sqlite_url, keyring)
        try:
            await reopened.campaigns.list_all()
        finally:
            await reopened.close()
    assert info.value.cause is StoreFault.CORRUPT


async def test_a_directory_that_does_not_exist(tmp_path: Path, keyring: Keyring) -> None:
    with pytest.raises(StoreUnavailable) as info:
        await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}", keyring)
    assert info.value.cause is StoreFault.CANNOT_OPEN


@pytest.fixture
async def locked_store(sqlite_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    store = await Store.open(sqlite_url, keyring, node_id="n1", sqlite_busy_timeout_ms=200,
                             linger_s=0.001, retry_s=0.05)
    try:
        yield store
    finally:
        await store.close()


async def test_a_file_locked_by_another_process(locked_store: Store, sqlite_url: str) -> None:
    store = locked_store
    tenant = await store.tenants.create("acme", now=NOW)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=NOW)
    first = await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, str(sqlite_path(sqlite_url)),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            assert (await holder.stdout.readline()).strip() == b"locked"  # type: ignore[union-attr]
        store.update_attempt(first, outcome=Outcome.BUSY, state=AttemptState.CLOSED)
        with pytest.raises(StoreUnavailable) as info:
            await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))
        assert info.value.cause is StoreFault.LOCKED
        with pytest.raises(StoreUnavailable):
            await store.flush()
        assert store.attempts.writer.pending_updates == 1  # kept, not lost
    finally:
        holder.stdin.write(b"release\n")  # type: ignore[union-attr]
        await holder.communicate()
    await store.flush()  # the store is back: the kept update is written
    assert (await store.attempts.get(first)).outcome is Outcome.BUSY
    assert await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))


def plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_a_connection_killed_mid_session(pg_url: str, keyring: Keyring) -> None:
    store = await Store.open(pg_url, keyring, node_id="n1")
    try:
        tenant = await store.tenants.create("acme", now=NOW)
        with pytest.raises(StoreUnavailable) as info:
            async with store.db.read() as conn:
                await conn.execute(text("SELECT 1"))
                admin = await asyncpg.connect(plain_dsn(pg_url))
                try:
                    killed = await admin.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                finally:
                    await admin.close()
                assert killed >= 1
                await conn.execute(text("SELECT 1"))
        assert info.value.cause is StoreFault.CONNECTION_LOST
        assert (await store.tenants.get(tenant.id)).name == "acme"  # recovered
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_server_that_goes_away_and_comes_back(pg_url: str, keyring: Keyring) -> None:
    target = make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    url = target.set(port=proxy.port).render_as_string(hide_password=False)
    store = await Store.open(url, keyring, node_id="n1", retry_s=0.05)
    try:
        tenant = await store.tenants.create("acme", now=NOW)
        campaign = await store.campaigns.create(tenant.id, "c", "uk", now=NOW)
        attempt = await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))
        await proxy.stop()
        store.update_attempt(attempt, outcome=Outcome.NO_ANSWER, state=AttemptState.CLOSED)
        with pytest.raises(StoreUnavailable) as info:
            await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))
        assert info.value.cause in (StoreFault.CONNECTION_LOST, StoreFault.CONNECTION_REFUSED)
        with pytest.raises(StoreUnavailable) as info:
            await store.ping()
        assert info.value.cause is StoreFault.CONNECTION_REFUSED
        assert str(proxy.port) in str(info.value) and "password" not in str(info.value)
        await proxy.start()
        await store.flush()
        assert (await store.attempts.get(attempt)).state is AttemptState.CLOSED
        [hour] = await store.stats.hourly(campaign.id)
        assert hour.outcomes[Outcome.NO_ANSWER] == 1
    finally:
        await store.close()
        await proxy.stop()


@pytest.mark.postgres
async def test_nothing_listening(keyring: Keyring) -> None:
    with pytest.raises(StoreUnavailable) as info:
        await Store.open(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none", keyring)
    assert info.value.cause is StoreFault.CONNECTION_REFUSED


@pytest.mark.parametrize(("exc", "fault"), [
    (sqlite3.OperationalError("database is locked"), StoreFault.LOCKED),
    (sqlite3.DatabaseError("database disk image is malformed"), StoreFault.CORRUPT),
    (sqlite3.OperationalError("database or disk is full"), StoreFault.DISK_FULL),
    (sqlite3.OperationalError("attempt to write a readonly database"), StoreFault.READ_ONLY),
    (ConnectionRefusedError(111, "Connection refused"), StoreFault.CONNECTION_REFUSED),
    (ConnectionResetError(104, "reset"), StoreFault.CONNECTION_LOST),
    (TimeoutError(), StoreFault.TIMEOUT),
    (sqlite3.IntegrityError("UNIQUE constraint failed"), None),
    (ValueError("a bug"), None),
])
def test_classify_failures(exc: Exception, fault: StoreFault | None) -> None:
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = exc
    assert classify(wrapped) is fault


def test_errors_name_the_database_without_secrets() -> None:
    where = describe_url("postgresql+asyncpg://dialer:s3cret@db.example:6432/calls")
    assert where == "postgresql db.example:6432/calls"
    sqlite_file = describe_url("sqlite+aiosqlite:////x.db")
    with pytest.raises(StoreUnavailable, match=r"\(locked\).*sqlite file /x.db") as info, \
            translate_errors(sqlite_file):
        raise sqlite3.OperationalError("database is locked")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(ValueError), translate_errors("x"):  # a bug passes through untouched
        raise ValueError("a bug")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), sqlite_dialect())
