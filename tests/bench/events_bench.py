"""Events benchmark: MqttBus throughput and latency on the real Mosquitto, the cost of
publish() to the engine, and the cost of recording a metric.

Measured, each against a baseline taken in the same run:

- delivered throughput (events/s from the first publish to the last event received by
  a subscriber) at QoS 0 and QoS 1, call-state payloads; baseline: a bare aiomqtt
  client publishing the same bytes (awaiting each) to a bare aiomqtt subscriber;
- delivery latency p50/p99 at a steady 600 events/s (100 calls/s with six state
  changes each); baseline: the bare aiomqtt pair at the same rate;
- what publish() costs the caller (µs per call: serialise + enqueue), on MqttBus and on
  InProcessBus; baseline: `json.dumps` of the same payload alone;
- `Metrics.call_ended`; baseline: prometheus_client's `Counter.labels(...).inc()`.

The engine needs a few hundred events/s with latency well under a tick (500 ms).

Usage: python tests/bench/events_bench.py [--quick] [--events N] [--url mqtt://host:port]
The last line is `BENCH events key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from prometheus_client import CollectorRegistry, Counter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dialer.events import InProcessBus, MqttBus, MqttConfig, call_state
from dialer.metrics import Metrics

RATE = 600.0       # events/s of the latency runs


@dataclass
class Result:
    """One measured run."""

    name: str
    events: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def latency(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _payload(i: int) -> dict[str, Any]:
    event = call_state("bench", uuid.UUID(int=i), at=datetime.now(UTC), campaign=1,
                       number="+8613812345678", state="ringing", previous="dialling")
    return {**event.payload, "seq": i, "sent": time.perf_counter()}


async def _paced(n: int, rate: float | None, send: Callable[[int], Awaitable[None]]) -> None:
    """Send n events, at `rate` per second (None: as fast as possible)."""
    started = time.perf_counter()
    for i in range(n):
        if rate is not None:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await send(i)


async def bench_bus(url: str, prefix: str, n: int, qos: int, rate: float | None) -> Result:
    """MqttBus to MqttBus."""
    pub = MqttBus(MqttConfig.from_url(url, topic_prefix=prefix, client_id=f"{prefix}-p",
                                      buffer=n + 10), node_id="bench")
    sub = MqttBus(MqttConfig.from_url(url, topic_prefix=prefix, client_id=f"{prefix}-s"),
                  node_id="watch")
    result = Result(f"MqttBus qos{qos}" + (" paced" if rate else ""), n, 0.0)
    async with pub, sub, sub.subscribe("dialer/bench/call/+/state") as messages:
        await pub.wait_connected(10)
        await sub.wait_connected(10)
        started = time.perf_counter()

        async def send(i: int) -> None:
            await pub.publish(f"dialer/bench/call/{uuid.UUID(int=i)}/state", _payload(i),
                              qos=qos)

        async def receive() -> None:
            for _ in range(n):
                message = await anext(messages)
                result.latencies_ms.append((time.perf_counter() - message.payload["sent"]) * 1e3)

        async with asyncio.timeout(120), asyncio.TaskGroup() as tg:
            tg.create_task(receive())
            await _paced(n, rate, send)
        result.seconds = time.perf_counter() - started
    return result


async def bench_bare(url: str, prefix: str, n: int, qos: int, rate: float | None) -> Result:
    """A bare aiomqtt client to a bare aiomqtt subscriber (the baseline)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    result = Result(f"bare aiomqtt qos{qos}" + (" paced" if rate else ""), n, 0.0)
    async with aiomqtt.Client(host, port, identifier=f"{prefix}-bp") as pub, \
            aiomqtt.Client(host, port, identifier=f"{prefix}-bs") as sub:
        await sub.subscribe(f"{prefix}/bare/#", qos=1)
        started = time.perf_counter()

        async def send(i: int) -> None:
            await pub.publish(f"{prefix}/bare/{i}", json.dumps(_payload(i)).encode(), qos=qos)

        async def receive() -> None:
            count = 0
            async for message in sub.messages:
                sent = json.loads(message.payload)["sent"]  # type: ignore[arg-type]
                result.latencies_ms.append((time.perf_counter() - sent) * 1e3)
                count += 1
                if count == n:
                    return

        async with asyncio.timeout(120), asyncio.TaskGroup() as tg:
            tg.create_task(receive())
            await _paced(n, rate, send)
        result.seconds = time.perf_counter() - started
    return result


async def bench_call_cost(url: str, prefix: str, n: int) -> dict[str, float]:
    """µs per publish() call (the engine's cost), and per json.dumps alone; then the
    publisher side alone: events/s to the broker and process CPU µs per event, for
    MqttBus (draining its buffer) and a bare aiomqtt client."""
    payloads = [_payload(i) for i in range(n)]
    out: dict[str, float] = {}
    started = time.perf_counter()
    for p in payloads:
        json.dumps(p, separators=(",", ":"))
    out["json.dumps"] = (time.perf_counter() - started) / n * 1e6
    bus = MqttBus(MqttConfig.from_url(url, topic_prefix=prefix, client_id=f"{prefix}-c",
                                      buffer=n + 10), node_id="cost")
    async with bus:
        await bus.wait_connected(10)
        cpu, started = time.process_time(), time.perf_counter()
        for i, p in enumerate(payloads):
            await bus.publish(f"dialer/cost/call/{i}/state", p)
        out["MqttBus.publish"] = (time.perf_counter() - started) / n * 1e6
        while bus.queued:                       # the buffer drains in the background
            await asyncio.sleep(0.005)
        out["drain MqttBus ev/s"] = n / (time.perf_counter() - started)
        out["drain MqttBus cpu_us"] = (time.process_time() - cpu) / n * 1e6
    parts = urlsplit(url)
    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                              identifier=f"{prefix}-bc") as bare:
        cpu, started = time.process_time(), time.perf_counter()
        for i, p in enumerate(payloads):
            await bare.publish(f"{prefix}/bare/cost/{i}", json.dumps(p).encode())
        out["drain bare ev/s"] = n / (time.perf_counter() - started)
        out["drain bare cpu_us"] = (time.process_time() - cpu) / n * 1e6
    local = InProcessBus()
    async with local.subscribe("dialer/#"):
        started = time.perf_counter()
        for i, p in enumerate(payloads[:900]):      # below the subscriber's queue bound
            await local.publish(f"dialer/cost/call/{i}/state", p)
        out["InProcessBus.publish"] = (time.perf_counter() - started) / 900 * 1e6
    return out


def bench_metrics(n: int) -> dict[str, float]:
    """µs per Metrics.call_ended, and per bare Counter.labels().inc()."""
    bare = Counter("bare_calls", "x", ["campaign", "outcome"], registry=CollectorRegistry())
    started = time.perf_counter()
    for i in range(n):
        bare.labels(str(i % 10), "connected").inc()
    out = {"Counter.labels.inc": (time.perf_counter() - started) / n * 1e6}
    metrics = Metrics()
    started = time.perf_counter()
    for i in range(n):
        metrics.call_ended(i % 10, "connected")
    out["Metrics.call_ended"] = (time.perf_counter() - started) / n * 1e6
    return out


async def clear_retained(url: str, prefix: str) -> None:
    """Leave no retained health of the bench's buses on the broker."""
    parts = urlsplit(url)
    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883) as client:
        for node in ("bench", "watch", "cost"):
            await client.publish(f"{prefix}/dialer/{node}/health", b"", qos=1, retain=True)


async def run(url: str, n: int) -> tuple[list[Result], dict[str, float]]:
    """Every run, baseline first."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        results = []
        for qos in (0, 1):
            results.append(await bench_bare(url, prefix, n, qos, None))
            results.append(await bench_bus(url, prefix, n, qos, None))
        paced = min(n, int(RATE * 5))
        results.append(await bench_bare(url, prefix, paced, 1, RATE))
        results.append(await bench_bus(url, prefix, paced, 1, RATE))
        costs = await bench_call_cost(url, prefix, n)
        costs.update(bench_metrics(n * 10))
        return results, costs
    finally:
        await clear_retained(url, prefix)


def report(results: list[Result], costs: dict[str, float]) -> str:
    """The tables, then the BENCH line."""
    header = (f"{'run':<22} {'events':>7} {'events/s':>9} {'vs bare':>8} {'p50 ms':>7} "
              f"{'p99 ms':>7}")
    lines = [header]
    by_name = {r.name: r for r in results}
    for r in results:
        base = by_name[r.name.replace("MqttBus", "bare aiomqtt")]
        lines.append(f"{r.name:<22} {r.events:>7} {r.rate:>9.0f} {r.rate / base.rate:>8.2f} "
                     f"{r.latency(0.5):>7.2f} {r.latency(0.99):>7.2f}")
    lines.append("(unpaced runs publish a burst: their latency is time spent queued)")
    lines.append("")
    lines.append(f"{'publisher alone':<22} {'events/s':>9} {'vs bare':>8} {'cpu us/ev':>10}")
    for name in ("bare", "MqttBus"):
        lines.append(f"{name:<22} {costs[f'drain {name} ev/s']:>9.0f} "
                     f"{costs[f'drain {name} ev/s'] / costs['drain bare ev/s']:>8.2f} "
                     f"{costs[f'drain {name} cpu_us']:>10.1f}")
    lines.append("")
    lines.append(f"{'call':<22} {'us/call':>9} {'vs baseline':>12}")
    for name, base in (("MqttBus.publish", "json.dumps"), ("InProcessBus.publish", "json.dumps"),
                       ("json.dumps", "json.dumps"),
                       ("Metrics.call_ended", "Counter.labels.inc"),
                       ("Counter.labels.inc", "Counter.labels.inc")):
        lines.append(f"{name:<22} {costs[name]:>9.2f} {costs[name] / costs[base]:>12.2f}")
    q0, q1, paced = by_name["MqttBus qos0"], by_name["MqttBus qos1"], by_name["MqttBus qos1 paced"]
    fields = [f"qos0_rate={q0.rate:.0f}",
              f"qos0_vs_bare={q0.rate / by_name['bare aiomqtt qos0'].rate:.2f}",
              f"qos1_rate={q1.rate:.0f}",
              f"qos1_vs_bare={q1.rate / by_name['bare aiomqtt qos1'].rate:.2f}",
              f"paced_p50_ms={paced.latency(0.5):.2f}", f"paced_p99_ms={paced.latency(0.99):.2f}",
              f"drain_rate={costs['drain MqttBus ev/s']:.0f}",
              f"drain_cpu_us={costs['drain MqttBus cpu_us']:.1f}",
              f"publish_us={costs['MqttBus.publish']:.2f}",
              f"metric_us={costs['Metrics.call_ended']:.2f}"]
    lines.append("BENCH events " + " ".join(fields))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5000 events per run (< 60 s)")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    args = parser.parse_args()
    n = args.events or (5000 if args.quick else 20000)
    results, costs = asyncio.run(run(args.url, n))
    print(report(results, costs))
    paced = [x for r in results if "paced" in r.name for x in r.latencies_ms]
    print(f"(median latency over the paced runs: {statistics.median(paced):.2f} ms)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
