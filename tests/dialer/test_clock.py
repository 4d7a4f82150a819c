"""Virtual time: timers fire in order without waiting, real I/O freezes the clock."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

from dialer.clock import LoopClock, VirtualTimeLoop, WallClock, real_io, run_virtual

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_virtual_day_passes_in_no_real_time() -> None:
    log: list[tuple[float, str]] = []

    async def worker(name: str, period: float, n: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(n):
            await asyncio.sleep(period)
            log.append((loop.time(), name))

    async def main() -> datetime:
        clock = LoopClock(asyncio.get_running_loop(), EPOCH)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(worker("a", 3600.0, 24))
            tg.create_task(worker("b", 5400.0, 16))
        return clock.now()

    started = time.monotonic()
    end = run_virtual(main)
    assert time.monotonic() - started < 2.0
    assert end == EPOCH + timedelta(hours=24)
    assert [t for t, _ in log] == sorted(t for t, _ in log)
    assert log[0] == (3600.0, "a") and log[-1][0] == 86400.0


def test_timeouts_fire_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(30):
                await asyncio.Event().wait()
        except TimeoutError:
            return loop.time()
        raise AssertionError("the timeout did not fire")

    assert run_virtual(main) == 30.0


def test_real_io_holds_virtual_time() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        sleeper = asyncio.ensure_future(asyncio.sleep(100))

        def slow_thread() -> None:
            time.sleep(0.05)
            loop.call_soon_threadsafe(fut.set_result, "done")

        with real_io():
            threading.Thread(target=slow_thread).start()
            await fut
            during = loop.time()
        await sleeper
        return during, loop.time()

    during, after = run_virtual(main)
    assert during == 0.0
    assert after == 100.0


def test_loop_is_deterministic() -> None:
    def once() -> list[str]:
        out: list[str] = []

        async def main() -> None:
            async def w(name: str, delays: list[float]) -> None:
                for d in delays:
                    await asyncio.sleep(d)
                    out.append(f"{name}@{asyncio.get_running_loop().time():g}")

            await asyncio.gather(w("x", [1, 2, 3]), w("y", [1.5, 1.5, 0.5]))

        run_virtual(main)
        return out

    assert once() == once() == ["x@1", "y@1.5", "x@3", "y@3", "y@3.5", "x@6"]


def test_wall_clock_is_aware_utc() -> None:
    assert WallClock().now().tzinfo is UTC
    loop = VirtualTimeLoop()
    try:
        assert loop.time() == 0.0
    finally:
        loop.close()
