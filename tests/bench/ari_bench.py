"""ARI client benchmark: originate + hang-up cycles on the local Asterisk.

One cycle: originate `Local/s@dialer-test-answer` into the application, wait for its
StasisStart, hang it up, wait for its StasisEnd. Measured for `AriClient` and, as the
baseline in the same run, for a bare aiohttp loop doing the same requests with no
client around them (one dict of futures keyed by channel id). Reported per run:
cycles/s, errors, client CPU per call (process time / calls) and event latency
(receipt time minus Asterisk's event timestamp, same host clock).

    python tests/bench/ari_bench.py [--quick] [--calls N]

Starts its own Asterisk instance (asterisk-conf/local-asterisk.sh, as root) and removes
it afterwards. Targets on a 2-core machine: >= 500 cycles/s, 0 errors at concurrency
100, <= 1.2 ms client CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

import rig

from ari_bridge import AriClient, AriError, StasisEnd, StasisStart

ENDPOINT = "Local/s@dialer-test-answer"
APP = "bench"


@dataclass
class Result:
    """One run: which client, how many calls at what concurrency, and what it took."""

    name: str
    calls: int
    concurrency: int
    seconds: float = 0.0
    cpu: float = 0.0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.calls

    def latency(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]


def _latency_ms(timestamp: str, received: float) -> float:
    sent = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    return 1000 * (received - sent)


async def _drive(result: Result, cycle: Callable[[], Awaitable[None]]) -> Result:
    remaining = result.calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                await asyncio.wait_for(cycle(), 20)
            except (TimeoutError, aiohttp.ClientError, AriError):   # counted in the table
                result.errors += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(result.concurrency)])
    result.seconds = time.perf_counter() - t0
    result.cpu = time.process_time() - cpu0
    return result


async def bench_client(instance: rig.AsteriskInstance, calls: int, concurrency: int) -> Result:
    """Cycles through AriClient: per-call subscription, typed events."""
    result = Result("AriClient", calls, concurrency)
    async with AriClient(instance.ari_url, instance.ari_user, instance.ari_password, APP,
                         pool_size=64) as ari:
        async def cycle() -> None:
            channel_id = str(uuid.uuid4())
            with ari.subscribe(channel_id) as call:
                await ari.originate(ENDPOINT, channel_id=channel_id, app=APP)
                start = await call.wait_for(StasisStart, timeout=10)
                result.latencies_ms.append(_latency_ms(start.timestamp, time.time()))
                await ari.hangup(channel_id)
                await call.wait_for(StasisEnd, timeout=10)

        return await _drive(result, cycle)


async def bench_baseline(instance: rig.AsteriskInstance, calls: int, concurrency: int) -> Result:
    """The same cycles with bare aiohttp: the floor any client's overhead sits on."""
    result = Result("bare aiohttp", calls, concurrency)
    token = base64.b64encode(f"{instance.ari_user}:{instance.ari_password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    api = instance.ari_url + "/ari"
    waiting: dict[tuple[str, str], asyncio.Future[dict[str, object]]] = {}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        ws = await session.ws_connect(api.replace("http", "ws", 1) + "/events",
                                      params={"app": APP})

        async def reader() -> None:
            async for message in ws:
                event = json.loads(message.data)
                channel = event.get("channel") or {}
                future = waiting.pop((event.get("type", ""), channel.get("id", "")), None)
                if future is not None and not future.done():
                    future.set_result(event)

        read_task = asyncio.create_task(reader())
        loop = asyncio.get_running_loop()

        async def cycle() -> None:
            channel_id = str(uuid.uuid4())
            started = waiting[("StasisStart", channel_id)] = loop.create_future()
            ended = waiting[("StasisEnd", channel_id)] = loop.create_future()
            try:
                async with session.post(api + "/channels", json={
                        "endpoint": ENDPOINT, "app": APP, "channelId": channel_id}) as resp:
                    await resp.read()
                    resp.raise_for_status()
                event = await asyncio.wait_for(started, 10)
                result.latencies_ms.append(_latency_ms(str(event["timestamp"]), time.time()))
                async with session.delete(f"{api}/channels/{channel_id}") as resp:
                    await resp.read()
                await asyncio.wait_for(ended, 10)
            finally:
                waiting.pop(("StasisStart", channel_id), None)
                waiting.pop(("StasisEnd", channel_id), None)

        try:
            return await _drive(result, cycle)
        finally:
            await ws.close()
            read_task.cancel()
            await asyncio.gather(read_task, return_exceptions=True)


async def run(calls: int, concurrencies: list[int]) -> list[Result]:
    """Every (implementation, concurrency) run on a fresh bench instance."""
    instance = await asyncio.to_thread(rig.start_test_instance, "bench")
    try:
        instance.cli("core set verbose 0")
        await bench_client(instance, 50, 10)          # warm-up: connections, caches
        results = []
        for concurrency in concurrencies:
            results.append(await bench_baseline(instance, calls, concurrency))
            results.append(await bench_client(instance, calls, concurrency))
        return results
    finally:
        await asyncio.to_thread(instance.stop, True)


def report(results: list[Result]) -> str:
    """The table, then the BENCH line."""
    header = (f"{'implementation':<14} {'conc':>4} {'calls':>6} {'errors':>6} {'cycles/s':>9} "
              f"{'vs bare':>8} {'cpu ms/call':>11} {'lat p50 ms':>10} {'lat p99 ms':>10}")
    lines = [header]
    baselines = {r.concurrency: r for r in results if r.name == "bare aiohttp"}
    for r in results:
        base = baselines[r.concurrency]
        lines.append(f"{r.name:<14} {r.concurrency:>4} {r.calls:>6} {r.errors:>6} {r.rate:>9.0f} "
                     f"{r.rate / base.rate:>8.2f} {r.cpu_ms:>11.3f} {r.latency(0.5):>10.1f} "
                     f"{r.latency(0.99):>10.1f}")
    ours = {r.concurrency: r for r in results if r.name == "AriClient"}
    fields = []
    for c, r in sorted(ours.items()):
        fields += [f"rate_c{c}={r.rate:.0f}", f"errors_c{c}={r.errors}",
                   f"cpu_ms_c{c}={r.cpu_ms:.3f}", f"lat_p50_ms_c{c}={r.latency(0.5):.1f}",
                   f"vs_bare_c{c}={r.rate / baselines[c].rate:.2f}"]
    lines.append("BENCH ari " + " ".join(fields))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 calls per run (< 60 s)")
    parser.add_argument("--calls", type=int, default=None)
    args = parser.parse_args()
    calls = args.calls or (300 if args.quick else 1000)
    results = asyncio.run(run(calls, [20, 100]))
    print(report(results))
    print(f"(median latency over all runs: "
          f"{statistics.median(x for r in results for x in r.latencies_ms):.1f} ms)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
