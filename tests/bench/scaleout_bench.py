"""Scale-out benchmark: cross-node refusal delay and dial throughput, on one PostgreSQL.

1. Refusal, real time: node B syncs its DNC the way the gate does before every admit
   (`Dnc.sync()` in a loop); A refuses numbers one by one. Measured: commit on A -> B's
   index has it (p50/p99 ms): the window in which B could still admit the number
   (target <= 250 ms). Baseline (same run): commit -> A's own index.
2. Dial decisions: one and then two nodes (each its own store connection pool, DNC and
   dial gate) claim the leads of one shared campaign on one PostgreSQL database and put
   them through their gates, 32 at a time each; measured: admitted calls per second
   (every check, the durable attempt row), all nodes together; baseline: one node.
MQTT events/s end to end are measured by tests/bench/events_bench.py.

Usage: python tests/bench/scaleout_bench.py [--quick]. Last line `BENCH scaleout ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine_bench import campaign as bench_campaign

from dialer.campaign import read_campaign_state, save_campaign
from dialer.engine_sim import sample_numbers
from dialer.gate import DialGate
from dialer.keys import new_keyring
from dialer.store import CampaignStatus, NewLead, Store
from dnc import Dnc, Source, time_zones

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


async def dial(url: str, nodes: int, leads: int, concurrency: int = 32) -> tuple[int, float]:
    """(admits, wall seconds): `nodes` nodes, each claiming leads of one shared campaign and
    putting them through its own dial gate, `concurrency` at a time, until none is left."""
    campaign = bench_campaign(id="scale")
    now = datetime.now(UTC)
    keyring = new_keyring()
    stores = [await Store.open(url, keyring, node_id=f"n{n + 1}") for n in range(nodes)]
    try:
        info, _, _ = await save_campaign(stores[0], campaign, now=now, actor="bench")
        await stores[0].campaigns.set_status(info.id, CampaignStatus.RUNNING, now=now,
                                             actor="bench")
        await stores[0].leads.insert_batch(info.id, [
            NewLead(x, "bench", region="CN", time_zones=time_zones(x), consent=True)
            for x in sample_numbers("CN", leads)], now=now)
        admitted = 0

        async def node(store: Store) -> None:
            nonlocal admitted
            dnc = await Dnc.open(store.db.engine, store.hasher)
            gate = DialGate(store, dnc)
            state = await read_campaign_state(store, campaign, info.id)
            while claimed := await store.claim_leads(info.id, store.node_id, concurrency,
                                                     datetime.now(UTC)):
                decisions = await asyncio.gather(*(
                    gate.admit(lead, state, datetime.now(UTC), lines_in_use=0)
                    for lead in claimed))
                admitted += sum(1 for d in decisions if d.allowed)

        started = time.perf_counter()
        await asyncio.gather(*(node(store) for store in stores))
        return admitted, time.perf_counter() - started
    finally:
        for store in stores:
            await store.close()


async def fresh_database(work):  # type: ignore[no-untyped-def]
    """Run `work(url)` on a fresh PostgreSQL database, dropped afterwards."""
    name = f"dialer_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return await work(f"{base}/{name}")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def dial_rate(nodes: int, leads: int) -> tuple[int, float]:
    """`dial` on a fresh database."""
    result: tuple[int, float] = asyncio.run(fresh_database(lambda url: dial(url, nodes, leads)))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and the BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cross, local = asyncio.run(run(100 if args.quick else 1000))
    leads = 2000 if args.quick else 20_000
    one_attempts, one_wall = dial_rate(1, leads)
    two_attempts, two_wall = dial_rate(2, leads)
    one_rate, two_rate = one_attempts / one_wall, two_attempts / two_wall
    c50, c99 = (float(np.percentile(np.asarray(cross) * 1000, q)) for q in (50, 99))
    l50, l99 = (float(np.percentile(np.asarray(local) * 1000, q)) for q in (50, 99))
    print(f"{'measure':40} {'A->B / 2':>10} {'A / 1':>10} {'ratio':>7}")
    print(f"{'refusal commit -> other index p50':40} {c50:10.2f} {l50:10.2f} "
          f"{c50 / max(l50, 1e-6):7.2f}")
    print(f"{'refusal commit -> other index p99':40} {c99:10.2f} {l99:10.2f} "
          f"{c99 / max(l99, 1e-6):7.2f}")
    print(f"{'dial decisions (admits)/s, real time':40} {two_rate:10.1f} {one_rate:10.1f} "
          f"{two_rate / max(one_rate, 1e-9):7.2f}   (two nodes vs one, {leads} leads)")
    print(f"BENCH scaleout refusal_cross_p50_ms={c50:.2f} refusal_cross_p99_ms={c99:.2f} "
          f"refusal_local_p99_ms={l99:.2f} target_p99_ms=250 refusals={len(cross)} "
          f"admits_per_s_two_nodes={two_rate:.1f} admits_per_s_one_node={one_rate:.1f} "
          f"admits_two_nodes={two_attempts} admits_one_node={one_attempts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
