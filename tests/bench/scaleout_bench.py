"""Scale-out benchmark (partial): how soon a refusal committed on node A is in node B's
DNC index, two nodes on one PostgreSQL, in real time.

Node B syncs its DNC the way the gate does before every admit (`Dnc.sync()` in a loop);
A refuses numbers one by one. Measured: commit on A -> B's index has it (p50/p99 ms; the
window in which B could still originate the number, target <= 250 ms). Baseline (same
run): one node, commit -> its own index (the subscriber call inside `refuse`).
Not yet measured here: MQTT events/s end to end with two nodes, dial decisions/s per node.

Usage: python tests/bench/scaleout_bench.py [--quick]. Last line `BENCH scaleout ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dialer.keys import new_keyring
from dialer.store import Store
from dnc import Dnc, Source

PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def measure(url: str, refusals: int) -> tuple[list[float], list[float]]:
    """(A commit -> B index, A commit -> A index) in seconds, per refusal."""
    keyring = new_keyring()
    a = await Store.open(url, keyring, node_id="a", linger_s=0.001)
    b = await Store.open(url, keyring, node_id="b", linger_s=0.001)
    try:
        dnc_a = await Dnc.open(a.db.engine, a.hasher)
        dnc_b = await Dnc.open(b.db.engine, b.hasher)
        seen: dict[int, float] = {}
        stop = asyncio.Event()

        async def follow() -> None:
            while not stop.is_set():
                await dnc_b.sync()
                seen.setdefault(dnc_b.version, time.perf_counter())
                await asyncio.sleep(0)

        follower = asyncio.create_task(follow())
        cross, local = [], []
        for i in range(refusals):
            started = time.perf_counter()
            result = await dnc_a.refuse(f"+86139{i:08d}", Source.MANUAL, reason="bench",
                                        actor="bench")
            committed = time.perf_counter()
            local.append(committed - started)
            while result.version not in seen and not any(v >= result.version for v in seen):
                await asyncio.sleep(0.001)
            first = min(t for v, t in seen.items() if v >= result.version)
            cross.append(max(first - committed, 0.0))
        stop.set()
        await follower
        return cross, local
    finally:
        await a.close()
        await b.close()


async def run(refusals: int) -> tuple[list[float], list[float]]:
    """Measure on a fresh PostgreSQL database, dropped afterwards."""
    name = f"dialer_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return await measure(f"{base}/{name}", refusals)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and the BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cross, local = asyncio.run(run(100 if args.quick else 1000))
    c50, c99 = (float(np.percentile(np.asarray(cross) * 1000, q)) for q in (50, 99))
    l50, l99 = (float(np.percentile(np.asarray(local) * 1000, q)) for q in (50, 99))
    print(f"{'measure (real time, ms)':40} {'A->B':>10} {'A alone':>10} {'ratio':>7}")
    print(f"{'refusal commit -> other index p50':40} {c50:10.2f} {l50:10.2f} "
          f"{c50 / max(l50, 1e-6):7.2f}")
    print(f"{'refusal commit -> other index p99':40} {c99:10.2f} {l99:10.2f} "
          f"{c99 / max(l99, 1e-6):7.2f}")
    print(f"BENCH scaleout refusal_cross_p50_ms={c50:.2f} refusal_cross_p99_ms={c99:.2f} "
          f"refusal_local_p99_ms={l99:.2f} target_p99_ms=250 refusals={len(cross)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
