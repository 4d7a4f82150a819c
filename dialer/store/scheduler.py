"""The scheduled purge inside the engine: one owned task that purges every N hours.

The clock and the sleep are injected, so tests and the simulator drive it in virtual
time. A purge that meets an unavailable store is logged and tried again at the next
tick (the unfinished run is resumed then); any other error ends the task and is
raised by `close`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from dialer.errors import StoreUnavailable
from dialer.store.purge import Purger, PurgeReport

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class PurgeScheduler:
    """Runs `purger` at start and then every `every`; `start` it, `close` it."""

    def __init__(self, purger: Purger, *, every: timedelta = timedelta(hours=6),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Sleep = asyncio.sleep) -> None:
        if every <= timedelta(0):
            raise ValueError("the purge interval must be positive")
        self._purger = purger
        self._every = every
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.last_reports: list[PurgeReport] = []
        self.last_error: StoreUnavailable | None = None

    def start(self) -> None:
        """Start the background task (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="store.purge-scheduler")

    async def close(self) -> None:
        """Stop the task; re-raise what ended it, if it was not the stop."""
        if self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def run_once(self) -> list[PurgeReport]:
        """One scheduled purge now (what each tick does)."""
        try:
            reports = await self._purger.run(self._clock(), trigger="scheduler",
                                              actor="scheduler")
        except StoreUnavailable as exc:
            self.last_error = exc
            log.warning("scheduled purge postponed: %s", exc)
            return []
        self.runs += 1
        self.last_error = None
        self.last_reports = reports
        for report in reports:
            log.info("purge run %d%s: %d rows", report.run_id,
                     " (resumed)" if report.resumed else "", report.total)
        return reports

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await self._sleep(self._every.total_seconds())
