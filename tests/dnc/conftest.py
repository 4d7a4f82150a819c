"""DNC fixtures: a hasher, a store engine with the DNC schema, nodes and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.db import create_engine
from dnc import Dnc, NumberHasher, create_schema

HASH_KEY = b"dnc-test-hash-key-0123456789abcd"
REGION = "CN"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


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


NodeFactory = Callable[..., Awaitable[Dnc]]


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
