"""DNC fixtures: a hasher, a store engine with the DNC schema, nodes and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dnc_support import FakeClock, NodeFactory
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.db import create_engine
from dnc import Dnc, NumberHasher, create_schema

HASH_KEY = b"dnc-test-hash-key-0123456789abcd"
REGION = "CN"


@pytest.fixture
def hasher() -> NumberHasher:
    return NumberHasher(HASH_KEY)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database (SQLite, then PostgreSQL) with the DNC schema."""
    eng = create_engine(db_url)
    await create_schema(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def open_node(db_url: str, engine: AsyncEngine, hasher: NumberHasher,
                    clock: FakeClock) -> AsyncIterator[NodeFactory]:
    """Open a DNC node on the test database, each with its own engine (as separate nodes
    would have); all share the fake clock unless told otherwise."""
    engines: list[AsyncEngine] = []

    async def factory(**kwargs: object) -> Dnc:
        eng = create_engine(db_url)
        engines.append(eng)
        kwargs.setdefault("region", REGION)
        kwargs.setdefault("clock", clock)
        return await Dnc.open(eng, hasher, **kwargs)  # type: ignore[arg-type]

    try:
        yield factory
    finally:
        for eng in engines:
            await eng.dispose()
