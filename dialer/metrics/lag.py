"""The event-loop lag probe: how late the loop wakes a task that asked for a timer.

A busy or blocked loop delays every call's events; the probe sleeps `interval`
seconds again and again and records how much longer than that each sleep took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dialer.metrics.registry import Metrics


async def measure_loop_lag(metrics: Metrics, interval: float = 0.5) -> None:
    """Record the loop's lag every `interval` seconds until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        metrics.loop_lag(max(0.0, loop.time() - started - interval))


@asynccontextmanager
async def loop_lag_probe(metrics: Metrics, interval: float = 0.5) -> AsyncIterator[None]:
    """Run the lag probe while the context is open (an owned task, cancelled on exit)."""
    task = asyncio.create_task(measure_loop_lag(metrics, interval), name="metrics.loop-lag")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
