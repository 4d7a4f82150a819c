"""DNC benchmark: index build and memory, lookups, scrubs, refusals, imports.

Measured, each against a baseline taken in the same run:

- index build (synthetic 64-bit hash prefixes) at each size, and its memory (RSS growth
  and peak, in a fresh child process per size); baseline: `ndarray.sort` of the same
  keys as one flat array, and 8 bytes a key;
- single lookup p50/p99 (`DncIndex.lookup`, half hits); baseline: `searchsorted` on the
  flat sorted array. Also the whole `DncChecker.check` (normalise + HMAC + lookup);
- scrub of 1 M prefixes (`DncIndex.lookup_many`, 10 % hits); baseline: `searchsorted`
  of the same queries in the flat array;
- `Dnc.refuse()` latency p50/p99 on SQLite (the store's WAL settings) and PostgreSQL;
  baseline: a one-row INSERT + COMMIT on the same engine;
- import throughput (lines/s) of a generated list, and the RSS growth during it;
  baseline: normalise + hash alone; then the same with worker processes; then loading
  a node's index from that store (entries/s).

Targets (issue #3): 100 M entries in <= 1 GB, lookup p99 <= 10 us, scrub of 1 M <= 0.5 s,
refuse() p99 <= 20 ms on SQLite.

Usage: python tests/bench/dnc_bench.py [--quick] [--sizes 10000000,100000000]
       [--refusals N] [--import-lines N] [--workers N] [--pg-dsn DSN]
The last line is `BENCH dnc key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text

from dialer.db import create_engine
from dnc import (
    GLOBAL,
    Dnc,
    DncChecker,
    DncIndex,
    DncRegistry,
    NumberFile,
    NumberHasher,
    PrefixSet,
    Source,
    create_schema,
    import_numbers,
    normalize,
    utc_now,
)

CHUNK = 1_000_000
LOOKUPS = 200_000
SCRUB = 1_000_000
KEY = b"dnc-bench-hash-key-0123456789abc"
PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def synthetic(n: int, seed: int) -> Iterator[np.ndarray]:
    """n uniform 64-bit keys (what hash prefixes look like), in chunks."""
    rng = np.random.default_rng(seed)
    left = n
    while left:
        k = min(left, CHUNK)
        left -= k
        yield rng.integers(0, 2**64 - 1, k, dtype=np.uint64, endpoint=True)


def percentiles_us(samples_ns: list[int]) -> tuple[float, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


# --- the index, measured in a fresh process per size ------------------------------------

def index_child(n: int) -> dict[str, Any]:
    """Build an n-entry index and measure it; runs alone in its own process."""
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t = time.perf_counter()
    pset = PrefixSet.build(synthetic(n, seed=1), expected=n)
    build_s = time.perf_counter() - t
    rss = proc.memory_info().rss - rss0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    index = DncIndex(1, {GLOBAL: pset})
    now = time.time()

    rng = np.random.default_rng(2)
    members = next(synthetic(min(n, CHUNK), seed=1))
    hits = rng.choice(members, LOOKUPS // 2)
    probes = np.concatenate([hits, rng.integers(0, 2**64 - 1, LOOKUPS // 2, dtype=np.uint64)])
    rng.shuffle(probes)
    keys = probes.tolist()
    scopes = (GLOBAL,)
    lat: list[int] = []
    found = 0
    for k in keys:
        t0 = time.perf_counter_ns()
        hit = index.lookup(k, scopes, now)
        lat.append(time.perf_counter_ns() - t0)
        found += hit is not None
    p50, p99 = percentiles_us(lat)

    hasher = NumberHasher(KEY)
    checker = DncChecker(index, hasher, region="CN", clock=utc_now)
    numbers = [f"+86138{i:08d}" for i in range(20_000)]
    check_lat = []
    for num in numbers:
        t0 = time.perf_counter_ns()
        checker.check(num)
        check_lat.append(time.perf_counter_ns() - t0)
    c50, c99 = percentiles_us(check_lat)

    scrub = np.concatenate([rng.choice(members, SCRUB // 10),
                            rng.integers(0, 2**64 - 1, SCRUB - SCRUB // 10, dtype=np.uint64)])
    rng.shuffle(scrub)
    t = time.perf_counter()
    blocked = index.lookup_many(scrub, scopes, now)
    scrub_s = time.perf_counter() - t

    # Baselines: one flat sorted array of the same keys.
    del index, pset
    flat = np.concatenate(list(synthetic(n, seed=1)))
    t = time.perf_counter()
    flat.sort()
    sort_s = time.perf_counter() - t
    base_lat: list[int] = []
    for k in keys:
        t0 = time.perf_counter_ns()
        x = np.uint64(k)
        i = flat.searchsorted(x)
        _ = i < flat.size and flat[i] == x
        base_lat.append(time.perf_counter_ns() - t0)
    b50, b99 = percentiles_us(base_lat)
    t = time.perf_counter()
    idx = np.minimum(flat.searchsorted(scrub), flat.size - 1)
    base_blocked = flat[idx] == scrub
    base_scrub_s = time.perf_counter() - t
    assert (base_blocked == blocked).all(), "scrub disagrees with the flat array"
    assert found >= LOOKUPS // 2
    return {"n": n, "build_s": build_s, "rss": rss, "peak": peak, "lookup_p50": p50,
            "lookup_p99": p99, "check_p50": c50, "check_p99": c99, "scrub_s": scrub_s,
            "sort_s": sort_s, "base_p50": b50, "base_p99": b99, "base_scrub_s": base_scrub_s}


def measure_index(n: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--index-child", str(n)],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- the store --------------------------------------------------------------------------

async def pg_admin(sql: str, dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def refuse_latency(url: str, count: int) -> dict[str, float]:
    engine = create_engine(url)
    try:
        await create_schema(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, "
                                    "b VARCHAR(64))"))
        base: list[int] = []
        for i in range(count):
            t0 = time.perf_counter_ns()
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO bench_baseline VALUES (:i, :b)"),
                                   {"i": i, "b": "x" * 64})
            base.append(time.perf_counter_ns() - t0)
        node = await Dnc.open(engine, NumberHasher(KEY), region="CN")
        lat: list[int] = []
        for i in range(count):
            t0 = time.perf_counter_ns()
            await node.refuse(f"+86139{i:08d}", Source.OPT_OUT_KEY, evidence=f"call-{i}")
            lat.append(time.perf_counter_ns() - t0)
        assert node.version == count
    finally:
        await engine.dispose()
    p50, p99 = percentiles_us(lat)
    b50, b99 = percentiles_us(base)
    return {"p50": p50 / 1000, "p99": p99 / 1000, "base_p50": b50 / 1000, "base_p99": b99 / 1000}


async def import_rate(url: str, lines: int, workdir: Path, workers: int) -> dict[str, float]:
    path = workdir / "list.txt"
    with path.open("w") as fh:
        for i in range(lines):
            fh.write(f"+86 150 {i // 10000:04d} {i % 10000:04d}\n" if i % 100 else "bad line\n")
    hasher = NumberHasher(KEY)
    sample = min(lines, 50_000)
    t = time.perf_counter()
    with NumberFile(path) as source:
        for n, row in enumerate(source):
            if n >= sample:
                break
            if isinstance(row, tuple):
                e164 = normalize(row[1], "CN").e164
                if e164 is not None:
                    hasher.digest(e164)
    base_rate = sample / (time.perf_counter() - t)
    engine = create_engine(url)
    try:
        await create_schema(engine)
        rss0 = psutil.Process().memory_info().rss
        t = time.perf_counter()
        with NumberFile(path) as source:
            report = await import_numbers(DncRegistry(engine), hasher, source, region="CN",
                                          key=GLOBAL, workers=workers)
        elapsed = time.perf_counter() - t
        rss = psutil.Process().memory_info().rss - rss0
        t = time.perf_counter()
        node = await Dnc.open(engine, hasher, region="CN")
        load_s = time.perf_counter() - t
        assert len(node.index.scopes()) == 1
    finally:
        await engine.dispose()
    assert report.lines == lines and report.rejected == lines // 100 + (lines % 100 > 0)
    return {"rate": lines / elapsed, "base_rate": base_rate, "rss": rss,
            "load_rate": report.added / load_s}


# --- report -----------------------------------------------------------------------------

def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, within 60 s")
    parser.add_argument("--sizes", help="index sizes, comma-separated")
    parser.add_argument("--refusals", type=int)
    parser.add_argument("--import-lines", type=int)
    parser.add_argument("--pg-dsn", default=PG_DSN)
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 2) - 1)),
                        help="worker processes for the parallel import measurement")
    parser.add_argument("--index-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.index_child:
        print(json.dumps(index_child(args.index_child)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [1_000_000, 10_000_000] if args.quick else [10_000_000, 100_000_000])
    refusals = args.refusals or (200 if args.quick else 1000)
    import_lines = args.import_lines or (30_000 if args.quick else 1_000_000)

    rows: list[tuple[str, str, str, str, str]] = []
    bench: dict[str, str] = {}

    def row(name: str, value: str, base: str, ratio: float | None, target: str = "") -> None:
        rows.append((name, value, base, "" if ratio is None else f"{ratio:.2f}", target))

    for n in sizes:
        r = measure_index(n)
        tag = f"{n // 1_000_000}M"
        gib_ok = "" if n < 100_000_000 else ("ok" if r["peak"] <= 2**30 else "MISSED")
        row(f"build {tag}", f"{r['build_s']:.2f} s", f"sort {r['sort_s']:.2f} s",
            r["build_s"] / r["sort_s"])
        row(f"RSS {tag} (after / peak)", f"{fmt_bytes(r['rss'])} / {fmt_bytes(r['peak'])}",
            fmt_bytes(8 * n), r["peak"] / (8 * n), f"<= 1 GiB at 100M {gib_ok}")
        row(f"lookup p50 {tag}", f"{r['lookup_p50']:.2f} us", f"{r['base_p50']:.2f} us",
            r["lookup_p50"] / r["base_p50"])
        row(f"lookup p99 {tag}", f"{r['lookup_p99']:.2f} us", f"{r['base_p99']:.2f} us",
            r["lookup_p99"] / r["base_p99"],
            "<= 10 us " + ("ok" if r["lookup_p99"] <= 10 else "MISSED"))
        row(f"check() p50/p99 {tag}", f"{r['check_p50']:.1f} / {r['check_p99']:.1f} us",
            f"lookup {r['lookup_p50']:.2f} us", r["check_p50"] / r["lookup_p50"])
        row(f"scrub 1M in {tag}", f"{r['scrub_s']:.3f} s", f"{r['base_scrub_s']:.3f} s",
            r["scrub_s"] / r["base_scrub_s"],
            "<= 0.5 s " + ("ok" if r["scrub_s"] <= 0.5 else "MISSED"))
        bench.update({f"build_s_{tag}": f"{r['build_s']:.2f}",
                      f"rss_mib_{tag}": f"{r['rss'] / 2**20:.0f}",
                      f"peak_mib_{tag}": f"{r['peak'] / 2**20:.0f}",
                      f"lookup_p50_us_{tag}": f"{r['lookup_p50']:.2f}",
                      f"lookup_p99_us_{tag}": f"{r['lookup_p99']:.2f}",
                      f"check_p99_us_{tag}": f"{r['check_p99']:.1f}",
                      f"scrub_1m_s_{tag}": f"{r['scrub_s']:.3f}"})

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sqlite = asyncio.run(refuse_latency(f"sqlite+aiosqlite:///{workdir / 'r.db'}", refusals))
        row("refuse() p50 SQLite", f"{sqlite['p50']:.2f} ms", f"{sqlite['base_p50']:.2f} ms",
            sqlite["p50"] / sqlite["base_p50"])
        row("refuse() p99 SQLite", f"{sqlite['p99']:.2f} ms", f"{sqlite['base_p99']:.2f} ms",
            sqlite["p99"] / sqlite["base_p99"],
            "<= 20 ms " + ("ok" if sqlite["p99"] <= 20 else "MISSED"))
        bench.update({"refuse_p50_ms_sqlite": f"{sqlite['p50']:.2f}",
                      "refuse_p99_ms_sqlite": f"{sqlite['p99']:.2f}"})
        name = f"dnc_bench_{uuid.uuid4().hex[:10]}"
        try:
            asyncio.run(pg_admin(f'CREATE DATABASE "{name}"', args.pg_dsn))
        except OSError as exc:
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        else:
            try:
                url = args.pg_dsn.rsplit("/", 1)[0].replace("postgresql://",
                                                            "postgresql+asyncpg://", 1)
                pg = asyncio.run(refuse_latency(f"{url}/{name}", refusals))
            finally:
                asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                                     args.pg_dsn))
            row("refuse() p50 PostgreSQL", f"{pg['p50']:.2f} ms", f"{pg['base_p50']:.2f} ms",
                pg["p50"] / pg["base_p50"])
            row("refuse() p99 PostgreSQL", f"{pg['p99']:.2f} ms", f"{pg['base_p99']:.2f} ms",
                pg["p99"] / pg["base_p99"])
            bench.update({"refuse_p50_ms_pg": f"{pg['p50']:.2f}",
                          "refuse_p99_ms_pg": f"{pg['p99']:.2f}"})

        imp = asyncio.run(import_rate(f"sqlite+aiosqlite:///{workdir / 'i.db'}", import_lines,
                                      workdir, workers=0))
        row(f"import {import_lines:,} lines (SQLite)", f"{imp['rate']:,.0f} lines/s",
            f"{imp['base_rate']:,.0f} lines/s", imp["rate"] / imp["base_rate"])
        par = asyncio.run(import_rate(f"sqlite+aiosqlite:///{workdir / 'j.db'}", import_lines,
                                      workdir, workers=args.workers))
        row(f"  same, {args.workers} worker processes", f"{par['rate']:,.0f} lines/s",
            f"{imp['rate']:,.0f} lines/s", par["rate"] / imp["rate"])
        bench["import_lines_per_s_workers"] = f"{par['rate']:.0f}"
        row("import RSS growth", fmt_bytes(imp["rss"]), "", None)
        row("index load from store (SQLite)", f"{imp['load_rate']:,.0f} entries/s", "", None)
        bench.update({"import_lines_per_s": f"{imp['rate']:.0f}",
                      "import_rss_mib": f"{imp['rss'] / 2**20:.0f}",
                      "load_entries_per_s": f"{imp['load_rate']:.0f}"})

    header = ("measure", "value", "baseline", "ratio", "target")
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(5)]
    for line in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    print("BENCH dnc " + " ".join(f"{k}={v}" for k, v in bench.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
