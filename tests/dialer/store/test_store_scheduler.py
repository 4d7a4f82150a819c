"""The scheduled purge: runs every interval in injected time, survives an unavailable store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from store_helpers import NOW

from dialer.compliance import BUILTIN_PROFILES
from dialer.errors import StoreFault, StoreUnavailable
from dialer.store import Purger, PurgeReport, PurgeScheduler, Store


class Ticks:
    """An injected sleep: each call records its duration and waits for the test's `release`."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.waiting = asyncio.Event()
        self._go = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.waiting.set()
        await self._go.wait()
        self._go.clear()

    async def next(self) -> None:
        """Wait until the scheduler sleeps, then let it run one more tick."""
        async with asyncio.timeout(10):
            await self.waiting.wait()
        self.waiting.clear()
        self._go.set()


class FlakyPurger(Purger):
    """A purger whose second run meets an unavailable store."""

    calls: list[datetime]

    async def run(self, as_of: datetime | None = None, **kw: object) -> list[PurgeReport]:
        self.calls.append(as_of)  # type: ignore[arg-type]
        if len(self.calls) == 2:
            raise StoreUnavailable("database is locked", cause=StoreFault.LOCKED)
        return await super().run(as_of, **kw)  # type: ignore[arg-type]


async def test_purges_every_interval_and_rides_out_an_outage(store: Store) -> None:
    clock = [NOW]
    purger = FlakyPurger(store, BUILTIN_PROFILES)
    purger.calls = []
    ticks = Ticks()
    scheduler = PurgeScheduler(purger, every=timedelta(hours=6), clock=lambda: clock[0],
                               sleep=ticks.sleep)
    scheduler.start()
    try:
        for _ in range(3):
            await ticks.next()
            clock[0] += timedelta(hours=6)
        async with asyncio.timeout(10):
            await ticks.waiting.wait()
    finally:
        await scheduler.close()
    assert purger.calls == [NOW + timedelta(hours=6 * i) for i in range(4)]
    assert ticks.slept == [6 * 3600.0] * 4
    assert scheduler.runs == 3 and scheduler.last_error is None
    entries = await store.audit_log.entries(action="purge.run")
    assert [e.actor for e in entries] == ["scheduler"] * 3


async def test_a_failed_tick_is_reported(store: Store) -> None:
    purger = FlakyPurger(store, BUILTIN_PROFILES)
    purger.calls = [NOW]
    scheduler = PurgeScheduler(purger, clock=lambda: NOW)
    assert await scheduler.run_once() == []
    assert scheduler.last_error is not None and scheduler.last_error.cause is StoreFault.LOCKED
    [report] = await scheduler.run_once()
    assert report.as_of == NOW and scheduler.last_error is None


def test_interval_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError):
        PurgeScheduler(Purger(store, BUILTIN_PROFILES), every=timedelta(0))
