"""Store benchmark: attempt write throughput, and purging expired attempts.

    python tests/bench/store_bench.py [--quick] [--rows N] [--db sqlite|postgres|both]

For each database (SQLite in a temporary file; PostgreSQL in a temporary database on
DIALER_TEST_PG_DSN, default postgres@127.0.0.1:5432):

- write: 200 concurrent callers each create an attempt (durable) and send it through
  four updates to closing; baseline: one caller creating attempts one after another.
- purge: N expired attempts (plus 5 % recent ones that must stay) purged by the
  batched, resumable `Purger`, while the event loop's lag and the wait of a
  `create_attempt` issued every 20 ms are measured; baseline: one DELETE statement.

Targets (issue #5): purge >= 100k rows/s, event-loop lag <= 50 ms. The "gc ms" column
is the longest garbage-collector pass during the purge: a full pass over the process's
heap stops the event loop whatever the purge does (an engine calls `gc.freeze()` after
start-up to keep such passes short). `--quick` uses 100k rows and finishes within a
minute; the default is 1M rows. The last line is `BENCH store key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import delete, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dialer.compliance import BUILTIN_PROFILES
from dialer.errors import StoreUnavailable
from dialer.keys import new_keyring
from dialer.store import AttemptState, NewAttempt, Outcome, Purger, Store
from dialer.store.schema import Attempt

PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_ROWS_S = 100_000
TARGET_LAG_MS = 50.0
NOW = datetime.now(UTC).replace(microsecond=0)
NUMBER = "+8613812345678"


@dataclass
class Row:
    """One line of the result table."""

    db: str
    what: str
    rows: int
    seconds: float
    lag_ms: float | None = None
    wait_ms: float | None = None
    failed: int = 0
    longest_ms: float | None = None
    gc_ms: float | None = None
    ratio: float | None = field(default=None)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class LoopWatch:
    """Measures the event loop's worst lag, the worst wait of a periodic create, and the
    longest garbage-collector pass meanwhile (a full pass stops the loop too)."""

    def __init__(self, store: Store, campaign_id: int) -> None:
        self._store = store
        self._campaign = campaign_id
        self.lag = 0.0
        self.wait = 0.0
        self.gc_pause = 0.0
        self.failed = 0
        self._stop = asyncio.Event()
        self._gc_start = 0.0

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pause = max(self.gc_pause, time.perf_counter() - self._gc_start)

    async def _ticker(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            self.lag = max(self.lag, time.perf_counter() - start - 0.005)

    async def _prober(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                await self._store.create_attempt(NewAttempt(self._campaign, NUMBER, NOW))
            except StoreUnavailable:
                self.failed += 1
            self.wait = max(self.wait, time.perf_counter() - start)
            await asyncio.sleep(0.02)

    async def during(self, work: Callable[[], Awaitable[None]]) -> float:
        """Run `work` while watching; returns its duration in seconds."""
        tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._prober())]
        gc.callbacks.append(self._on_gc)
        start = time.perf_counter()
        try:
            await work()
        finally:
            elapsed = time.perf_counter() - start
            gc.callbacks.remove(self._on_gc)
            self._stop.set()
            await asyncio.gather(*tasks)
        return elapsed


async def seed(store: Store, tenant_id: int, campaign_id: int, n: int) -> None:
    """`n` expired attempts (40+ days old) and 5 % recent ones, in time order, by SQL."""
    recent = n // 20
    oldest = NOW - timedelta(days=40) - timedelta(seconds=n)
    params = {"t": tenant_id, "c": campaign_id, "n": n, "r": recent,
              "old": oldest, "new": NOW - timedelta(days=1)}
    async with store.db.write() as conn:
        if store.db.is_sqlite:
            for count, start in (("n", "old"), ("r", "new")):
                await conn.execute(text(f"""
                    WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq
                                              WHERE i < :{count})
                    INSERT INTO attempts (id, tenant_id, campaign_id, node_id, number_enc,
                        number_hash, key_id, state, created_at, ended_at, outcome, abandoned)
                    SELECT printf('%012x', CAST((julianday(:{start}) - 2440587.5) * 86400000
                                               AS INTEGER) + i * 1000)
                           || '7' || substr(lower(hex(randomblob(10))), 2),
                           :t, :c, 'bench', randomblob(60), randomblob(32), 'k1', 'closed',
                           strftime('%Y-%m-%d %H:%M:%S', :{start}, '+' || i || ' seconds')
                           || '.000000', NULL, 'no_answer', 0
                    FROM seq"""), {**params, "old": oldest.replace(tzinfo=None).isoformat(" "),
                                   "new": params["new"].replace(tzinfo=None).isoformat(" ")})
        else:
            for count, start in (("n", "old"), ("r", "new")):
                await conn.execute(text(f"""
                    INSERT INTO attempts (id, tenant_id, campaign_id, node_id, number_enc,
                        number_hash, key_id, state, created_at, outcome, abandoned)
                    SELECT CAST(lpad(to_hex((extract(epoch FROM CAST(:{start} AS timestamptz))
                                            * 1000)::bigint + i * 1000), 12, '0')
                                || '7' || substr(md5(random()::text), 2, 19) AS uuid),
                           :t, :c, 'bench', decode(repeat(md5(i::text), 2), 'hex'),
                           decode(md5(i::text) || md5((-i)::text), 'hex'), 'k1', 'closed',
                           CAST(:{start} AS timestamptz) + i * interval '1 second',
                           'no_answer', false
                    FROM generate_series(1, :{count}) AS i"""), params)
    if not store.db.is_sqlite:  # what autovacuum would do before a real purge
        async with store.db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE attempts"))


async def bench_writes(store: Store, db: str, campaign_id: int, n: int) -> list[Row]:
    """Concurrent callers through create + 4 updates, against one caller creating alone."""
    callers = 200

    async def call(i: int) -> None:
        at = NOW + timedelta(milliseconds=i)
        attempt = await store.create_attempt(NewAttempt(campaign_id, NUMBER, at))
        store.update_attempt(attempt, originated_at=at, channel_id=str(uuid.uuid4()))
        store.update_attempt(attempt, ringing_at=at)
        store.update_attempt(attempt, answered_at=at, outcome=Outcome.CONNECTED)
        store.update_attempt(attempt, ended_at=at, state=AttemptState.CLOSED)

    async def caller(offset: int) -> None:
        for i in range(offset, n, callers):
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(callers)))
    await store.flush()
    concurrent = Row(db, f"create + 4 updates, {callers} callers", n,
                     time.perf_counter() - start)
    alone = max(200, n // 20)
    start = time.perf_counter()
    for i in range(alone):
        await store.create_attempt(NewAttempt(campaign_id, NUMBER, NOW))
    baseline = Row(db, "create, 1 caller (baseline)", alone, time.perf_counter() - start)
    concurrent.ratio = concurrent.rate / baseline.rate
    baseline.ratio = 1.0
    return [concurrent, baseline]


async def bench_purge(store: Store, db: str, tenant_id: int, campaign_id: int,
                      n: int) -> list[Row]:
    """The batched purge against one DELETE, each on `n` freshly seeded expired rows."""
    await seed(store, tenant_id, campaign_id, n)
    batch_times: list[float] = []
    last = [time.perf_counter()]

    def on_batch(_class: str, _action: str, _n: int) -> None:
        now = time.perf_counter()
        batch_times.append(now - last[0])
        last[0] = now

    purger = Purger(store, BUILTIN_PROFILES, on_batch=on_batch)
    watch = LoopWatch(store, campaign_id)
    reports: list[object] = []

    async def purge() -> None:
        last[0] = time.perf_counter()
        reports.extend(await purger.run(NOW))

    seconds = await watch.during(purge)
    purged = sum(r.counts.get(("call_records", "delete"), 0) for r in reports)  # type: ignore[attr-defined]
    assert purged == n, f"purged {purged} of {n}"
    batched = Row(db, "purge, batched (Purger)", n, seconds, watch.lag * 1000,
                  watch.wait * 1000, watch.failed, max(batch_times) * 1000,
                  watch.gc_pause * 1000)

    await seed(store, tenant_id, campaign_id, n)
    watch = LoopWatch(store, campaign_id)
    cutoff = NOW - timedelta(days=30)

    async def one_delete() -> None:
        async with store.db.write() as conn:
            await conn.execute(delete(Attempt).where(Attempt.campaign_id == campaign_id,
                                                     Attempt.created_at < cutoff))

    seconds = await watch.during(one_delete)
    baseline = Row(db, "purge, one DELETE (baseline)", n, seconds, watch.lag * 1000,
                   watch.wait * 1000, watch.failed, seconds * 1000, watch.gc_pause * 1000,
                   ratio=1.0)
    batched.ratio = batched.rate / baseline.rate
    return [batched, baseline]


async def run_db(db: str, url: str, rows: int, writes: int) -> list[Row]:
    """Both benchmarks on one database."""
    store = await Store.open(url, new_keyring(), node_id="bench")
    try:
        tenant = await store.tenants.create("bench", now=NOW - timedelta(days=400))
        campaign = await store.campaigns.create(tenant.id, "bench", "uk",
                                                now=NOW - timedelta(days=400))
        result = await bench_writes(store, db, campaign.id, writes)
        async with store.db.write() as conn:
            await conn.execute(delete(Attempt))
        return result + await bench_purge(store, db, tenant.id, campaign.id, rows)
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


def print_table(rows: list[Row], n: int) -> None:
    print(f"store bench: {n:,} expired attempts per purge, {os.cpu_count()} cpus")
    print(f"{'db':<9}{'what':<34}{'rows':>10}{'s':>8}{'rows/s':>10}{'ratio':>7}"
          f"{'lag ms':>8}{'create wait ms':>16}{'failed':>7}{'longest txn ms':>16}"
          f"{'gc ms':>7}")
    for r in rows:
        print(f"{r.db:<9}{r.what:<34}{r.rows:>10,}{r.seconds:>8.2f}{r.rate:>10,.0f}"
              f"{fmt(r.ratio, 7, 2)}{fmt(r.lag_ms, 8, 1)}{fmt(r.wait_ms, 16, 1)}"
              f"{r.failed:>7}{fmt(r.longest_ms, 16, 1)}{fmt(r.gc_ms, 7, 1)}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, under a minute")
    parser.add_argument("--rows", type=int, help="expired attempts per purge")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    writes = 2_000 if args.quick else 10_000
    results: list[Row] = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results += await run_db("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", rows,
                                    writes)
    if args.db in ("postgres", "both"):
        results += await with_pg_database(lambda url: run_db("postgres", url, rows, writes))
    print_table(results, rows)
    fields = {}
    for r in results:
        key = "pg" if r.db == "postgres" else r.db
        if r.what.startswith("purge, batched"):
            fields[f"{key}_purge_rows_s"] = f"{r.rate:.0f}"
            fields[f"{key}_purge_lag_ms"] = f"{r.lag_ms:.1f}"
            fields[f"{key}_purge_gc_ms"] = f"{r.gc_ms:.1f}"
            fields[f"{key}_purge_create_wait_ms"] = f"{r.wait_ms:.1f}"
            fields[f"{key}_purge_vs_one_delete"] = f"{r.ratio:.2f}"
        elif r.what.startswith("create + 4"):
            fields[f"{key}_attempts_s"] = f"{r.rate:.0f}"
            fields[f"{key}_updates_s"] = f"{4 * r.rate:.0f}"
            fields[f"{key}_group_commit_gain"] = f"{r.ratio:.2f}"
    met = all(float(v) >= TARGET_ROWS_S for k, v in fields.items() if k.endswith("_rows_s")) \
        and all(float(v) <= TARGET_LAG_MS for k, v in fields.items() if k.endswith("_lag_ms"))
    fields["rows"] = str(rows)
    fields["targets_met"] = "yes" if met else "no"
    print("BENCH store " + " ".join(f"{k}={v}" for k, v in fields.items()))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
