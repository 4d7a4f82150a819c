"""Shared fixtures: databases (SQLite and a real PostgreSQL) and test isolation.

Every store-backed test takes `db_url`, which runs it twice: once on a fresh SQLite
file and once on a fresh PostgreSQL database (`postgres` marker). The PostgreSQL
server is `DIALER_TEST_PG_URL` (default: postgres@127.0.0.1:5432, trust auth).
The `asterisk`, `sipp_customers` and `sipp_agents` fixtures run the local Asterisk and
SIPp peers (tests/rig.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rig


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """Undo what a test's in-process `dialer` run did to the root logger: its stderr
    handler would outlive the test's captured stderr and fail on every later record."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


PG_ADMIN_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_URL = os.environ.get("DIALER_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _asyncpg_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    name = f"dialer_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield _asyncpg_url(PG_ADMIN_DSN, name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for this test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL: a fresh, empty database each time."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def mqtt_url() -> str:
    """The MQTT broker the `mqtt`-marked tests use."""
    return MQTT_URL


# -- the local Asterisk and SIPp (tests marked `asterisk`; helpers in tests/rig.py) --------


@pytest.fixture(scope="session")
def asterisk() -> Iterator[rig.AsteriskInstance]:
    """A test instance of the local Asterisk 22 on free ports, for the whole session.

    Built and started by asterisk-conf/local-asterisk.sh (instance `pytest-<pid>`); if it
    cannot start, the tests that need it fail with the script's output. Its trunk sends
    calls to `asterisk.trunk_port`, where the `sipp_customers` fixture listens.
    """
    instance = rig.start_test_instance()
    try:
        yield instance
    finally:
        instance.stop(remove=True)


@pytest.fixture(scope="session")
def sipp_customers(asterisk: rig.AsteriskInstance,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.SippProcess]:
    """SIPp customers behind the test instance's trunk (behaviour by the last digit of a
    +E.164 number, else by the first digit: tests/sipp/README.md)."""
    proc = rig.start_customers(asterisk.trunk_port, tmp_path_factory.mktemp("sipp-customers"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def sipp_agents(asterisk: rig.AsteriskInstance,
                tmp_path: Path) -> Iterator[Callable[..., rig.SippProcess]]:
    """Start agent phones: `sipp_agents("8001", "1234", dtmf=[(5.0, "*9")])`; stopped after."""
    started: list[rig.SippProcess] = []

    def start(agent_id: str, pin: str, **kwargs: Any) -> rig.SippProcess:
        proc = rig.start_agent(agent_id, pin, asterisk.sip_port, tmp_path / f"agent-{agent_id}",
                               **kwargs)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
