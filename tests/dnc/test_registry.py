"""The registry on SQLite and PostgreSQL: versions, idempotence, removal, the journal."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from dnc_support import FakeClock
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.db import create_engine
from dnc import (
    GLOBAL,
    DncRegistry,
    DncUnavailable,
    NotListed,
    NumberHasher,
    Op,
    Scope,
    ScopeKey,
    Source,
    create_schema,
    dnc_changes,
    dnc_entries,
    metadata,
)
from dnc import registry as registry_module

NUMBER = "+8613812345678"
TENANT = ScopeKey(Scope.TENANT, "t1")


async def rows(engine: AsyncEngine, table: Table) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(table))).all())


async def test_add_bumps_the_version_and_journals(engine: AsyncEngine, hasher: NumberHasher,
                                                  clock: FakeClock) -> None:
    reg = DncRegistry(engine, clock=clock)
    assert await reg.current_version() == 0
    outcome, changes = await reg.add(hasher.digest(NUMBER), key=GLOBAL, source=Source.AGENT,
                                     reason="said no", evidence="call-1", actor="agent 7")
    assert outcome.changed and outcome.version == 1 and await reg.current_version() == 1
    assert [(c.version, c.op, c.key) for c in changes] == [(1, Op.ADD, GLOBAL)]
    [entry] = await rows(engine, dnc_entries)
    assert entry.hash == hasher.digest(NUMBER) and entry.added_version == 1
    assert (entry.source, entry.evidence, entry.created_by) == ("agent", "call-1", "agent 7")
    assert entry.created_at == clock.now and entry.removed_at is None
    [change] = await rows(engine, dnc_changes)
    assert (change.version, change.op, change.actor, change.at) == (1, "add", "agent 7", clock.now)


async def test_a_repeated_refusal_changes_nothing(engine: AsyncEngine, hasher: NumberHasher) -> None:
    reg = DncRegistry(engine)
    first, _ = await reg.add(hasher.digest(NUMBER), key=GLOBAL, source=Source.AGENT)
    again, changes = await reg.add(hasher.digest(NUMBER), key=GLOBAL, source=Source.COMPLAINT)
    assert (again.version, again.changed, changes) == (first.version, False, [])
    assert await reg.current_version() == 1
    assert len(await rows(engine, dnc_entries)) == 1 and len(await rows(engine, dnc_changes)) == 1
    other, _ = await reg.add(hasher.digest(NUMBER), key=TENANT, source=Source.AGENT)
    assert other.changed and other.version == 2           # another scope is another entry


async def test_expiry_only_ever_extends(engine: AsyncEngine, hasher: NumberHasher,
                                        clock: FakeClock) -> None:
    reg = DncRegistry(engine, clock=clock)
    d = hasher.digest(NUMBER)
    soon, later = clock.now + timedelta(days=1), clock.now + timedelta(days=30)
    assert (await reg.add(d, key=GLOBAL, source=Source.SPEECH, expires_at=later))[0].version == 1
    assert not (await reg.add(d, key=GLOBAL, source=Source.SPEECH, expires_at=soon))[0].changed
    longer, changes = await reg.add(d, key=GLOBAL, source=Source.AGENT)
    assert longer.changed and longer.version == 2 and changes[0].expires_at is None
    [entry] = await rows(engine, dnc_entries)
    assert entry.expires_at is None and entry.added_version == 1


async def test_removal_needs_a_reason_and_is_journaled(engine: AsyncEngine, hasher: NumberHasher,
                                                       clock: FakeClock) -> None:
    reg = DncRegistry(engine, clock=clock)
    d = hasher.digest(NUMBER)
    await reg.add(d, key=GLOBAL, source=Source.MANUAL)
    with pytest.raises(ValueError, match="reason"):
        await reg.remove(d, key=GLOBAL, reason="  ")
    with pytest.raises(NotListed):
        await reg.remove(d, key=TENANT, reason="typo")
    assert await reg.current_version() == 1                # failed removals leave no trace
    change = await reg.remove(d, key=GLOBAL, reason="entered by mistake", actor="supervisor")
    assert (change.version, change.op) == (2, Op.REMOVE)
    [entry] = await rows(engine, dnc_entries)
    assert (entry.removed_version, entry.removal_reason, entry.removed_by) == (
        2, "entered by mistake", "supervisor")
    assert await reg.lookup(d, [GLOBAL]) is None
    journal = await rows(engine, dnc_changes)
    assert [(c.version, c.op, c.reason) for c in journal] == [
        (1, "add", None), (2, "remove", "entered by mistake")]
    relisted, _ = await reg.add(d, key=GLOBAL, source=Source.AGENT)
    assert relisted.changed and relisted.version == 3 and len(await rows(engine, dnc_entries)) == 2


async def test_lookup_is_exact_and_scoped(engine: AsyncEngine, hasher: NumberHasher,
                                          clock: FakeClock) -> None:
    reg = DncRegistry(engine, clock=clock)
    d = hasher.digest(NUMBER)
    await reg.add(d, key=TENANT, source=Source.COMPLAINT, expires_at=clock.now + timedelta(hours=1))
    assert await reg.lookup(d, [GLOBAL]) is None
    listing = await reg.lookup(d, [GLOBAL, TENANT])
    assert listing is not None and listing.key == TENANT and listing.source is Source.COMPLAINT
    assert listing.expires_at == clock.now + timedelta(hours=1)
    clock.advance(hours=2)
    assert await reg.lookup(d, [GLOBAL, TENANT]) is None
    assert await reg.lookup(hasher.digest("+8613812345679"), [GLOBAL, TENANT]) is None


async def test_add_many_counts_and_is_idempotent(engine: AsyncEngine, hasher: NumberHasher) -> None:
    reg = DncRegistry(engine)
    digests = [hasher.digest(f"+861381234{i:04d}") for i in range(50)]
    await reg.add(digests[0], key=GLOBAL, source=Source.AGENT)
    batch = await reg.add_many(digests + digests[:5], key=GLOBAL, source=Source.IMPORT)
    assert batch.version == 2 and len(batch.changes) == 49 and batch.already_listed == 6
    assert {c.version for c in batch.changes} == {2}
    again = await reg.add_many(digests, key=GLOBAL, source=Source.IMPORT)
    assert (again.version, again.changes, again.already_listed) == (None, [], 50)
    assert await reg.current_version() == 2
    assert await reg.count_active() == {GLOBAL: 50}


async def test_changes_since_ends_chunks_on_version_boundaries(
        engine: AsyncEngine, hasher: NumberHasher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "STREAM_CHUNK", 4)
    reg = DncRegistry(engine)
    for start in range(0, 30, 3):          # versions 1..10, three changes each
        await reg.add_many([hasher.digest(f"+86138123400{i:02d}") for i in range(start, start + 3)],
                           key=GLOBAL, source=Source.IMPORT)
    chunks = [chunk async for chunk in reg.changes_since(2)]
    versions = [c.version for chunk in chunks for c in chunk]
    assert versions == sorted(versions) and versions[0] == 3 and len(versions) == 24
    for before, after in itertools.pairwise(chunks):
        assert before[-1].version != after[0].version
    assert [c async for c in reg.changes_since(10)] == []


async def test_no_plaintext_number_is_stored(engine: AsyncEngine, hasher: NumberHasher) -> None:
    reg = DncRegistry(engine)
    numbers = [f"+86138{i:04d}5678" for i in range(20)]
    for n in numbers:
        await reg.add(hasher.digest(n), key=GLOBAL, source=Source.AGENT, evidence="call-x")
    await reg.remove(hasher.digest(numbers[0]), key=GLOBAL, reason="request")
    dump = ""
    for table in metadata.sorted_tables:
        for row in await rows(engine, table):
            dump += " ".join(v.hex() if isinstance(v, bytes) else str(v) for v in row)
    for n in numbers:
        assert n[1:] not in dump and n[3:] not in dump and n[-8:] not in dump


async def test_writers_get_contiguous_versions_in_commit_order(
        db_url: str, engine: AsyncEngine, hasher: NumberHasher) -> None:
    """Concurrent writers on separate engines (as separate nodes): every version is
    used once, and a reader never sees version v without every version below it."""
    writers = [create_engine(db_url) for _ in range(4)]
    stop = asyncio.Event()
    gaps: list[tuple[int, int]] = []
    reads = 0

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            async with engine.connect() as conn:
                top, count = (await conn.execute(
                    select(func.max(dnc_changes.c.version),
                           func.count(func.distinct(dnc_changes.c.version))))).one()
            reads += 1
            if top is not None and top != count:
                gaps.append((top, count))

    async def write(w: int, reg: DncRegistry) -> list[int]:
        out = []
        for i in range(15):
            outcome, _ = await reg.add(hasher.digest(f"+8613{w}{i:03d}345678"), key=GLOBAL,
                                       source=Source.AGENT)
            out.append(outcome.version)
        return out

    try:
        async with asyncio.TaskGroup() as tg:
            read_task = tg.create_task(reader())
            results = await asyncio.gather(*(write(w, DncRegistry(e))
                                             for w, e in enumerate(writers)))
            stop.set()
            await read_task
    finally:
        for e in writers:
            await e.dispose()
    versions = sorted(v for vs in results for v in vs)
    assert versions == list(range(1, 61))
    assert all(vs == sorted(vs) for vs in results)
    assert reads > 0 and gaps == []


async def test_store_errors_become_dnc_unavailable(hasher: NumberHasher) -> None:
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(DncUnavailable):
            await DncRegistry(dead).current_version()
    finally:
        await dead.dispose()


async def test_a_missing_schema_is_unavailable(sqlite_url: str, hasher: NumberHasher) -> None:
    bare = create_engine(sqlite_url)
    try:
        with pytest.raises(DncUnavailable):
            await DncRegistry(bare).current_version()
        await create_schema(bare)
        await create_schema(bare)                   # idempotent
        assert await DncRegistry(bare).current_version() == 0
    finally:
        await bare.dispose()
