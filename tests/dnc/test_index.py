"""DncIndex: versions advance only over complete prefixes of the journal; scopes; expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from dnc import GLOBAL, Change, DncIndex, DncUnavailable, Op, Scope, ScopeKey, Source
from dnc.index import SMALL_BATCH, ChangeSource

TENANT = ScopeKey(Scope.TENANT, "t1")
CAMPAIGN = ScopeKey(Scope.CAMPAIGN, "c1")
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def digest(i: int) -> bytes:
    return (0x9E3779B97F4A7C15 * (i + 1) % 2**64).to_bytes(8, "big") + bytes(24)


def prefix(i: int) -> int:
    return int.from_bytes(digest(i)[:8], "big")


def add(version: int, i: int, key: ScopeKey = GLOBAL, expires: datetime | None = None) -> Change:
    return Change(version, Op.ADD, digest(i), key, Source.AGENT, expires)


def remove(version: int, i: int, key: ScopeKey = GLOBAL) -> Change:
    return Change(version, Op.REMOVE, digest(i), key)


def source_of(changes: Sequence[Change], chunk: int = 3) -> ChangeSource:
    async def source(after: int) -> AsyncIterator[list[Change]]:
        todo = [c for c in changes if c.version > after]
        for start in range(0, len(todo), chunk):
            yield todo[start:start + chunk]
    return source


NOW = T0.timestamp()


async def test_out_of_order_add_blocks_at_once_but_the_version_waits() -> None:
    index = DncIndex()
    assert await index.apply([add(2, 2)]) == 0          # version 1 not seen yet
    assert index.lookup(prefix(2), [GLOBAL], NOW) == GLOBAL  # blocking early is safe
    assert await index.apply([add(1, 1)]) == 2
    assert index.lookup(prefix(1), [GLOBAL], NOW) == GLOBAL


async def test_out_of_order_removal_waits_for_its_turn() -> None:
    index = DncIndex()
    await index.apply([add(1, 1)])
    await index.apply([remove(3, 1)])                   # version 2 missing: not applied
    assert index.version == 1 and index.lookup(prefix(1), [GLOBAL], NOW) == GLOBAL
    await index.apply([add(2, 1, TENANT)])
    assert index.version == 3 and index.lookup(prefix(1), [GLOBAL], NOW) is None
    assert index.lookup(prefix(1), [GLOBAL, TENANT], NOW) == TENANT


async def test_stale_deliveries_are_ignored() -> None:
    index = DncIndex()
    await index.apply([add(1, 1)])
    await index.apply([remove(2, 1)])
    await index.apply([add(1, 1)])                      # a late duplicate of version 1
    assert index.version == 2 and index.lookup(prefix(1), [GLOBAL], NOW) is None


async def test_catch_up_reads_from_its_version_in_chunks() -> None:
    journal = [add(1, 1), add(2, 2), add(2, 3), remove(3, 2), add(4, 4, TENANT), add(5, 5)]
    index = DncIndex()
    assert await index.catch_up(source_of(journal)) == 5
    assert [index.lookup(prefix(i), [GLOBAL], NOW) is not None for i in range(1, 6)] == [
        True, False, True, False, True]
    assert index.lookup(prefix(4), [GLOBAL, TENANT], NOW) == TENANT
    assert await index.catch_up(source_of(journal)) == 5      # nothing new: no change


async def test_catch_up_refuses_a_gap() -> None:
    index = DncIndex()
    with pytest.raises(DncUnavailable, match="gap"):
        await index.catch_up(source_of([add(1, 1), add(3, 3)]))
    assert index.version == 0 and index.lookup(prefix(1), [GLOBAL], NOW) is None


async def test_pending_refusals_merge_after_a_catch_up() -> None:
    index = DncIndex()
    await index.apply([add(3, 3)])                      # arrived before versions 1-2
    await index.catch_up(source_of([add(1, 1), add(2, 2)]))
    assert index.version == 3


async def test_bulk_and_single_paths_agree() -> None:
    n = SMALL_BATCH * 3
    journal = [add(1 + i // 100, i) for i in range(n)]
    v = journal[-1].version
    journal += [remove(v + 1 + k, i) for k, i in enumerate(range(0, n, 7))]
    journal += [add(journal[-1].version + 1, n + 5, expires=T0 + timedelta(hours=1))]
    bulk = DncIndex()
    await bulk.catch_up(source_of(journal, chunk=1000))
    single = DncIndex()
    for version in range(1, journal[-1].version + 1):       # whole versions, as delivered
        await single.apply([c for c in journal if c.version == version])
    assert bulk.version == single.version == journal[-1].version
    probe = np.array([prefix(i) for i in range(n + 10)], dtype=np.uint64)
    for now in (NOW, NOW + 7200):
        a = bulk.lookup_many(probe, [GLOBAL], now)
        b = single.lookup_many(probe, [GLOBAL], now)
        assert a.tolist() == b.tolist()
    assert bulk.lookup(prefix(n + 5), [GLOBAL], NOW) == GLOBAL
    assert bulk.lookup(prefix(n + 5), [GLOBAL], NOW + 7200) is None
    assert bulk.lookup(prefix(7), [GLOBAL], NOW) is None and bulk.lookup(prefix(8), [GLOBAL], NOW)


async def test_scopes_block_only_where_they_apply() -> None:
    index = DncIndex()
    await index.apply([add(1, 1), add(2, 2, TENANT), add(3, 3, CAMPAIGN)])
    assert index.lookup(prefix(2), [GLOBAL], NOW) is None
    assert index.lookup(prefix(2), [GLOBAL, ScopeKey(Scope.TENANT, "t2")], NOW) is None
    assert index.lookup(prefix(2), [GLOBAL, TENANT], NOW) == TENANT
    assert index.lookup(prefix(3), [GLOBAL, TENANT, CAMPAIGN], NOW) == CAMPAIGN
    assert index.lookup(prefix(1), [GLOBAL, TENANT, CAMPAIGN], NOW) == GLOBAL
    many = index.lookup_many([prefix(1), prefix(2), prefix(3)], [GLOBAL, TENANT], NOW)
    assert many.tolist() == [True, True, False]
    assert index.scopes() == {GLOBAL: 1, TENANT: 1, CAMPAIGN: 1}


async def test_expiry_stops_blocking_and_compaction_forgets() -> None:
    index = DncIndex()
    await index.apply([add(1, 1, expires=T0 + timedelta(days=1)), add(2, 2)])
    later = (T0 + timedelta(days=1, seconds=1)).timestamp()
    assert index.lookup(prefix(1), [GLOBAL], NOW) == GLOBAL
    assert index.lookup(prefix(1), [GLOBAL], later) is None
    await index.compact(later)
    assert index.scopes() == {GLOBAL: 1}
    await index.apply([add(3, 1, expires=T0 + timedelta(days=30))])   # listed again
    assert index.lookup(prefix(1), [GLOBAL], later) == GLOBAL


async def test_checks_during_a_bulk_catch_up_never_see_a_version_ahead() -> None:
    """While a bulk catch-up yields between buckets, the version stays at the old one."""
    n = SMALL_BATCH * 4
    journal = [add(1, i) for i in range(n)]
    index = DncIndex()
    seen: list[tuple[int, bool]] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append((index.version, all(
                index.lookup(prefix(i), [GLOBAL], NOW) for i in range(0, n, 97))))
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(watch())
        await index.catch_up(source_of(journal, chunk=n))
        done.set()
    assert any(v == 0 for v, _ in seen)
    assert all(complete for v, complete in seen if v >= 1)
