"""Time for the engine: the wall clock, or virtual time that jumps when the loop is idle.

The engine reads wall time only through a `Clock` and waits only with asyncio's own
timers (`asyncio.sleep`, `asyncio.timeout`, `loop.call_later`). Run it on a
`VirtualTimeLoop` and those timers fire in virtual time: whenever nothing is ready to
run and no real I/O is in flight, the loop's clock jumps to the next timer instead of
waiting. The same engine code then runs a day of calls in seconds, deterministically.

Real I/O (the SQL store's worker threads) is announced with `real_io()`, so virtual
time stands still while a query is running rather than jumping past it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Wall time as the engine sees it (aware, UTC)."""

    def now(self) -> datetime:
        """The current time."""
        ...


class WallClock:
    """The real time."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


class LoopClock:
    """Wall time derived from an event loop's clock: `epoch` at loop time `origin`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, epoch: datetime) -> None:
        if epoch.tzinfo is None:
            raise ValueError("epoch must be timezone-aware")
        self._loop = loop
        self._epoch = epoch
        self._origin = loop.time()

    def now(self) -> datetime:
        """The epoch plus the loop time elapsed since this clock was made."""
        return self._epoch + timedelta(seconds=self._loop.time() - self._origin)


class _VirtualSelector:
    """Wraps the real selector: never blocks while timers are pending and the loop is idle."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if self._loop.io_in_flight:
            # a worker thread will wake us through the self-pipe; time stands still
            return self._real.select(None)
        if timeout is None:
            return self._real.select(None)
        self._loop.advance(timeout)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose `time()` is virtual and jumps to the next timer when idle."""

    def __init__(self) -> None:
        super().__init__()
        self._vtime = 0.0
        self.io_in_flight = 0
        self._selector = _VirtualSelector(self._selector, self)  # type: ignore[has-type,arg-type]

    def time(self) -> float:
        """Virtual seconds since the loop was made."""
        return self._vtime

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (the loop does this itself when idle)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._vtime += seconds

    @contextmanager
    def real_io(self) -> Iterator[None]:
        """Mark real I/O in flight: virtual time does not advance until it ends."""
        self.io_in_flight += 1
        try:
            yield
        finally:
            self.io_in_flight -= 1


@contextmanager
def real_io() -> Iterator[None]:
    """Announce real I/O to the running loop if it is virtual; a no-op otherwise."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop):
        with loop.real_io():
            yield
    else:
        yield


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` to completion on a fresh `VirtualTimeLoop`; tasks still pending
    then are cancelled, as `asyncio.run` does."""
    loop = VirtualTimeLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        leftover = asyncio.all_tasks(loop)    # as asyncio.run does: cancel what is left
        for task in leftover:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        asyncio.set_event_loop(None)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
