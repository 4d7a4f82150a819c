"""Dial gate and lead import benchmark, on SQLite and PostgreSQL.

    python tests/bench/gate_bench.py [--quick] [--db sqlite|postgres|both]

For each database (SQLite in a temporary file; PostgreSQL in a temporary database on
DIALER_TEST_PG_DSN, default postgres@127.0.0.1:5432):

- admit, one caller: `DialGate.admit` for N claimed leads one after another (DNC sync,
  every check, the guarded attempt write, durable); baseline: `Store.create_attempt`
  of the same rows without any check (the durable write alone, group-committed).
- admit, 32 callers: the same with 32 concurrent admits (two campaigns); baseline: 32
  concurrent `create_attempt`s.
- deny (DNC): admits of listed numbers (sync + checks, nothing written).
- import: `import_leads` of a CSV file of M rows (normalise, validate, DNC scrub,
  encrypt, insert, report); baseline: `Leads.add` of the same leads already normalised.

Latencies are per call (p50/p99 in ms); the ratio column is the rate against the
baseline measured in the same run. `--quick` (1,000 admits, 20k rows) finishes within
a minute. The last line is `BENCH gate key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dialer.campaign import Campaign, CampaignConfig, read_campaign_state, save_campaign
from dialer.compliance import BUILTIN_PROFILES, CallingHours, ComplianceProfile
from dialer.gate import DialGate
from dialer.keys import new_keyring
from dialer.leads import import_leads
from dialer.store import CampaignStatus, ClaimedLead, NewAttempt, NewLead, Store
from dnc import GLOBAL, Dnc, Source

PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2025, 3, 12, 2, 30, tzinfo=UTC)
CONCURRENCY = 32


@dataclass
class Row:
    """One line of the result table."""

    db: str
    what: str
    calls: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def bench_profile() -> ComplianceProfile:
    """`cn` with calls at any hour and caps that never bite (each number is dialled once)."""
    data = BUILTIN_PROFILES["cn"].model_dump(mode="json")
    data.update(name="cn-bench", base="cn",
                calling_hours=CallingHours.same_every_day("00:00-24:00").model_dump())
    return ComplianceProfile.model_validate(data)


def campaign(name: str) -> Campaign:
    config = CampaignConfig.model_validate({
        "id": name, "tenant": "bench", "profile": "cn-bench", "caller_id": "+861012345678",
        "trunk": {"endpoint": "PJSIP/{number}@t"}, "safe_harbour": {"message": "m"}})
    return Campaign.build(config, bench_profile())


def number(i: int) -> str:
    return f"+86138{i:08d}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def timed(calls: list[Callable[[], Awaitable[object]]],
                concurrency: int) -> tuple[float, list[float]]:
    """Run the calls with `concurrency` workers; (seconds, per-call latencies)."""
    queue = list(reversed(calls))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            call = queue.pop()
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def claimed(store: Store, campaign_id: int, first: int, n: int) -> list[ClaimedLead]:
    leads = [NewLead(number(first + i), "bench", time_zones=("Asia/Shanghai",), consent=True)
             for i in range(n)]
    await store.leads.add(campaign_id, leads, now=NOW)
    return await store.claim_leads(campaign_id, store.node_id, n, NOW)


async def bench_admits(store: Store, db: str, n: int) -> list[Row]:
    dnc = await Dnc.open(store.db.engine, store.hasher, region="CN", clock=lambda: NOW)
    gate = DialGate(store, dnc)
    states = []
    for name in ("bench-a", "bench-b"):
        info, _, _ = await save_campaign(store, campaign(name), now=NOW, actor="bench")
        await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=NOW, actor="b")
        states.append(await read_campaign_state(store, campaign(name), info.id))
    rows: list[Row] = []
    for concurrency, offset in ((1, 0), (CONCURRENCY, 10 * n)):
        leads = [await claimed(store, s.id, offset + k * n, n // 2) for k, s in enumerate(states)]
        pairs = [(lead, states[k]) for k in (0, 1) for lead in leads[k]]
        fresh = [NewAttempt(states[0].id, number(offset + 5 * n + i), NOW) for i in range(n)]
        base_calls = [lambda a=a: store.create_attempt(a) for a in fresh]
        seconds, lat = await timed(base_calls, concurrency)
        baseline = Row(db, f"create_attempt x{concurrency} (baseline)", n, seconds,
                       percentile(lat, 0.5), percentile(lat, 0.99), 1.0)
        admit_calls = [lambda p=p: gate.admit(p[0], p[1], NOW, lines_in_use=0) for p in pairs]
        seconds, lat = await timed(admit_calls, concurrency)
        admitted = Row(db, f"admit x{concurrency}", len(pairs), seconds, percentile(lat, 0.5),
                       percentile(lat, 0.99))
        admitted.ratio = admitted.rate / baseline.rate
        rows += [admitted, baseline]
    assert not gate.denials, gate.denials
    listed = await claimed(store, states[0].id, 30 * n, n // 2)
    await dnc.registry.add_many([store.hasher.digest(lead.number) for lead in listed],
                                key=GLOBAL, source=Source.IMPORT)
    calls = [lambda lead=lead: gate.admit(lead, states[0], NOW, lines_in_use=0)
             for lead in listed]
    seconds, lat = await timed(calls, 1)
    rows.append(Row(db, "deny (DNC) x1", len(calls), seconds, percentile(lat, 0.5),
                    percentile(lat, 0.99)))
    return rows


async def bench_import(store: Store, db: str, m: int, folder: Path) -> list[Row]:
    dnc = await Dnc.open(store.db.engine, store.hasher, region="CN", clock=lambda: NOW)
    target = campaign("bench-import")
    info, _, _ = await save_campaign(store, target, now=NOW, actor="bench")
    path = folder / f"leads-{db}.csv"
    names = ["张伟", "王芳", "李娜", "刘洋", "陈静"]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("手机号,姓名,同意,城市\n")
        for i in range(m):
            fh.write(f"139{i:08d},{names[i % 5]},是,北京\n")
    start = time.perf_counter()
    report = await import_leads(store, target, info.id, path, dnc=dnc, now=NOW, actor="bench")
    seconds = time.perf_counter() - start
    assert report.inserted == m, report
    imported = Row(db, "import CSV", m, seconds)
    other, _, _ = await save_campaign(store, campaign("bench-raw"), now=NOW, actor="bench")
    leads = [NewLead(f"+86139{i:08d}", "bench", region="CN", time_zones=("Asia/Shanghai",),
                     consent=True, custom={"name": names[i % 5], "城市": "北京"})
             for i in range(m)]
    start = time.perf_counter()
    await store.leads.add(other.id, leads, now=NOW)
    baseline = Row(db, "Leads.add, normalised (baseline)", m, time.perf_counter() - start,
                   ratio=1.0)
    imported.ratio = imported.rate / baseline.rate
    return [imported, baseline]


async def run_db(db: str, url: str, n: int, m: int, folder: Path) -> list[Row]:
    store = await Store.open(url, new_keyring(), node_id="bench")
    try:
        return await bench_admits(store, db, n) + await bench_import(store, db, m, folder)
    finally:
        await store.close()


async def with_pg_database(work: Callable[[str], Awaitable[list[Row]]]) -> list[Row]:
    """Run `work` on a temporary PostgreSQL database, dropped afterwards."""
    name = f"dialer_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await admin.close()
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        return await work(f"{base}/{name}")
    finally:
        admin = await asyncpg.connect(PG_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def fmt(value: float | None, width: int, decimals: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{decimals}f}"


def print_table(rows: list[Row]) -> None:
    print(f"gate bench: {os.cpu_count()} cpus")
    print(f"{'db':<9}{'what':<36}{'calls':>8}{'s':>8}{'calls/s':>10}{'ratio':>7}"
          f"{'p50 ms':>8}{'p99 ms':>8}")
    for r in rows:
        print(f"{r.db:<9}{r.what:<36}{r.calls:>8,}{r.seconds:>8.2f}{r.rate:>10,.0f}"
              f"{fmt(r.ratio, 7, 2)}{fmt(r.p50_ms, 8, 2)}{fmt(r.p99_ms, 8, 2)}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 admits, 20k rows")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    n = 1_000 if args.quick else 10_000
    m = 20_000 if args.quick else 200_000
    results: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.db in ("sqlite", "both"):
            results += await run_db("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", n, m,
                                    folder)
        if args.db in ("postgres", "both"):
            results += await with_pg_database(lambda url: run_db("postgres", url, n, m, folder))
    print_table(results)
    fields: dict[str, str] = {}
    for r in results:
        key = "pg" if r.db == "postgres" else r.db
        if r.what == "admit x1":
            fields[f"{key}_admit_p50_ms"] = f"{r.p50_ms:.2f}"
            fields[f"{key}_admit_p99_ms"] = f"{r.p99_ms:.2f}"
            fields[f"{key}_admit_vs_create"] = f"{r.ratio:.2f}"
        elif r.what == f"admit x{CONCURRENCY}":
            fields[f"{key}_admits_s_{CONCURRENCY}"] = f"{r.rate:.0f}"
            fields[f"{key}_admit_p99_ms_{CONCURRENCY}"] = f"{r.p99_ms:.2f}"
        elif r.what.startswith("deny"):
            fields[f"{key}_deny_p99_ms"] = f"{r.p99_ms:.2f}"
        elif r.what == "import CSV":
            fields[f"{key}_import_rows_s"] = f"{r.rate:.0f}"
            fields[f"{key}_import_vs_add"] = f"{r.ratio:.2f}"
    fields["admits"] = str(n)
    fields["import_rows"] = str(m)
    print("BENCH gate " + " ".join(f"{k}={v}" for k, v in fields.items()))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
