"""Engine benchmark: overhead per attempt, the gate's latency, and event-loop lag on Asterisk.

    python tests/bench/engine_bench.py [--quick] [--no-asterisk]

1. Virtual time, 200 agents: the whole engine (SQLite store, DNC, gate, hoppers,
   retries, pacing) on simulated telephony — attempts per second of wall time; baseline:
   the pacing simulator alone (no store, no engine) dialling the same customers with
   the same 200 agents — dials per second of wall time.
2. Gate: `DialGate.admit` latency (p50/p99) during that run — DNC sync, every check,
   the durable attempt write; baseline: `Store.create_attempt` alone (the durable write).
   Refusals (5 % of live customers press the opt-out key): signal -> DNC commit, and
   commit -> queued leads dropped and ringing calls hung up.
3. Real Asterisk (skipped with --no-asterisk or when it is not built): 100 concurrent
   calls (SIPp customers that ring until cancelled) driven by `dialer run`'s engine
   over ARI, in power mode with 1,000 live answers and no abandon on record; the event loop's lag p99 (a 10 ms probe's overshoot) while they are up;
   baseline: the same probe in the same process before any call.

`--quick` finishes within a minute. The last line is `BENCH engine key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pacing
from dialer.campaign import Campaign, CampaignConfig
from dialer.clock import run_virtual
from dialer.compliance import BUILTIN_PROFILES, CallingHours, ComplianceProfile
from dialer.engine_sim import simulate_engine
from dialer.gate import DialGate
from dialer.keys import new_keyring
from dialer.simulation_config import SimulationFile, SimulationSection, simulation_config
from dialer.store import NewAttempt, Store
from dialer.telephony.sim import SimBehaviour

NEVER = {k: None for k in ("busy", "no_answer", "machine", "failed", "abandoned", "cancelled")}


def all_day_profile() -> ComplianceProfile:
    """The `cn` profile with calls at any hour (a benchmark-only profile)."""
    base = BUILTIN_PROFILES["cn"].model_dump(mode="json")
    base.update(name="cn-bench", base="cn",
                calling_hours=CallingHours.same_every_day("00:00-24:00").model_dump())
    return ComplianceProfile.model_validate(base)


def campaign(**overrides: Any) -> Campaign:
    """The benchmark's campaign: predictive, no retries, all-day hours."""
    data = {"id": "bench", "caller_id": "+861012345678", "wrap_up_seconds": 5,
            "trunk": {"endpoint": "PJSIP/{number}@customers"}, "retries": NEVER,
            "safe_harbour": {"message": "please-try-call-later"}, **overrides}
    return Campaign.build(CampaignConfig.model_validate(data), all_day_profile())


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    arr = np.asarray(values) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def bench_virtual(leads: int, agents: int, tmp: Path) -> dict[str, float]:
    """Engine attempts/s of wall time, the gate's latencies, and the pacing-only baseline."""
    admits: list[float] = []
    real_admit = DialGate.admit

    async def timed_admit(self: DialGate, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await real_admit(self, *args, **kwargs)
        finally:
            admits.append(time.perf_counter() - started)

    section = SimulationSection.model_validate({"agents": {"count": agents}})
    DialGate.admit = timed_admit  # type: ignore[method-assign]
    try:
        result = run_virtual(lambda: simulate_engine(
            campaign(), section, leads=leads, db_url=f"sqlite+aiosqlite:///{tmp / 'v.db'}",
            keyring=new_keyring(), seed=1, behaviour=SimBehaviour(opt_out_share=0.05)))
    finally:
        DialGate.admit = real_admit  # type: ignore[method-assign]
    config = simulation_config(SimulationFile(simulation=section),
                               result.virtual_seconds / 3600.0)
    started = time.perf_counter()
    baseline = pacing.simulate(config, pacing.Pacer(campaign().pacing_settings()), 1)
    base_wall = time.perf_counter() - started
    p50, p99 = percentiles(admits)
    commit50, commit99 = percentiles(result.refusal_commit_s)
    cancel50, cancel99 = percentiles(result.refusal_cancel_s)
    return {"refusals": len(result.refusal_commit_s), "commit_p50": commit50,
            "commit_p99": commit99, "cancel_p50": cancel50, "cancel_p99": cancel99,"attempts": result.attempts, "wall": result.wall_seconds,
            "rate": result.attempts / result.wall_seconds,
            "base_rate": baseline.dials / base_wall, "base_dials": baseline.dials,
            "virtual_h": result.virtual_seconds / 3600.0, "abandon": result.abandon_rate,
            "admit_p50": p50, "admit_p99": p99, "admits": len(admits)}


async def bench_create_attempt(url: str, n: int) -> tuple[float, float]:
    """p50/p99 of the durable attempt write alone (one caller)."""
    async with await Store.open(url, new_keyring(), node_id="b", linger_s=0.001) as store:
        tenant = await store.tenants.get_or_create("t", now=_now())
        info, _ = await store.campaigns.upsert(tenant.id, "c", "cn", now=_now(),
                                               config=campaign().snapshot())
        times = []
        for i in range(n):
            started = time.perf_counter()
            await store.create_attempt(NewAttempt(info.id, f"+86138{i:08d}", _now()))
            times.append(time.perf_counter() - started)
    return percentiles(times)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def probe_lag(stop: asyncio.Event, out: list[float], period: float = 0.01) -> None:
    """Sleep `period` again and again; record how late each wake-up is."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(period)
        out.append(max(0.0, loop.time() - started - period))


async def bench_asterisk(calls: int, hold_s: float, tmp: Path) -> dict[str, float]:
    """Loop lag with `calls` concurrent ringing calls through the engine on ARI."""
    import rig

    from ari_bridge import AriClient
    from dialer.clock import WallClock
    from dialer.engine import Engine
    from dialer.store import NewLead
    from dialer.telephony import AriTelephony
    from dnc import Dnc, time_zones

    instance = rig.start_test_instance("bench-engine")
    customers = rig.start_customers(instance.trunk_port, tmp / "sipp")
    try:
        idle: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(probe_lag(stop, idle))
        await asyncio.sleep(3.0)
        stop.set()
        await probe
        keyring = new_keyring()
        async with await Store.open(f"sqlite+aiosqlite:///{tmp / 'a.db'}", keyring,
                                    node_id="bench") as store, \
                AriClient(instance.ari_url, instance.ari_user, instance.ari_password,
                          "dialer") as ari:
            await ari.wait_connected(10.0)
            dnc = await Dnc.open(store.db.engine, store.hasher)
            telephony = AriTelephony(ari)
            engine = Engine(store, dnc, telephony, clock=WallClock())
            camp = campaign(pacing={"mode": "power", "power_lines_per_agent": float(calls)},
                            lines={"lines_per_agent": float(calls), "max_lines": calls},
                            ring_timeout="60s", trunk={"endpoint": "PJSIP/{number}@customers",
                                                       "number_format": "e164"})
            runner = await engine.add_campaign(camp, start=True)
            assert runner.tenant_id is not None
            # A campaign with 1,000 live answers and no abandon on record in the last hour:
            # with an empty record power mode is held to progressive (no budget yet).
            runner.accounting.record_totals(np.array([time.time() - 3600.0]),
                                            np.array([1000.0]), np.array([0.0]))
            await store.agents.create(runner.tenant_id, "8001", "a", "1234", now=_now())
            numbers = [f"+86138{i:07d}2" for i in range(calls)]   # last digit 2: no answer
            await store.leads.insert_batch(runner.id, [
                NewLead(n, "bench", region="CN", time_zones=time_zones(n), consent=True)
                for n in numbers],
                now=_now())
            agent = rig.start_agent("8001", "1234", instance.sip_port, tmp / "agent",
                                    max_loops=4, relogin=True)
            busy: list[float] = []
            peak = 0

            async def watch() -> None:
                nonlocal peak
                stop2 = asyncio.Event()
                probing = asyncio.create_task(probe_lag(stop2, busy))
                while len(engine.calls) < calls * 0.9:
                    peak = max(peak, len(engine.calls))
                    await asyncio.sleep(0.2)
                await asyncio.sleep(hold_s)
                peak = max(peak, len(engine.calls))
                stop2.set()
                await probing
                engine.stop()

            watcher = asyncio.create_task(watch())
            try:
                await asyncio.wait_for(engine.run(), timeout=60 + hold_s)
            finally:
                watcher.cancel()
                for channel in list(engine.calls):
                    await telephony.hangup(channel)
                await asyncio.sleep(1.0)
                await engine.close()
                await telephony.close()
                agent.stop()
        _, i99 = percentiles(idle)
        b50, b99 = percentiles(busy)
        return {"calls": peak, "idle_p99": i99, "lag_p50": b50, "lag_p99": b99}
    finally:
        customers.stop()
        instance.stop(remove=True)


def table(rows: list[tuple[str, str, str, str]]) -> str:
    """A plain table."""
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                     for r in rows)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and the BENCH line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-asterisk", action="store_true")
    args = parser.parse_args(argv)
    leads = 2000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp_name:
        tmp = Path(tmp_name)
        v = bench_virtual(leads, 200, tmp)
        c50, c99 = asyncio.run(bench_create_attempt(f"sqlite+aiosqlite:///{tmp / 'c.db'}",
                                                    300 if args.quick else 2000))
        a: dict[str, float] | None = None
        if not args.no_asterisk and Path("/var/lib/dialer/asterisk-root").exists():
            a = asyncio.run(bench_asterisk(100, 8.0 if args.quick else 30.0, tmp))
    rows = [("measure", "engine", "baseline", "ratio"),
            (f"attempts/s of wall time, 200 agents ({v['attempts']:.0f} attempts, "
             + f"{v['virtual_h']:.2f} h virtual)", f"{v['rate']:.0f}",
             f"{v['base_rate']:.0f} (pacing sim alone)", f"{v['rate'] / v['base_rate']:.3f}"),
            ("gate admit p50 ms", f"{v['admit_p50']:.2f}", f"{c50:.2f} (attempt write alone)",
             f"{v['admit_p50'] / c50:.2f}"),
            ("gate admit p99 ms", f"{v['admit_p99']:.2f}", f"{c99:.2f} (attempt write alone)",
             f"{v['admit_p99'] / c99:.2f}"),
            (f"refusal signal -> DNC commit p50/p99 ms ({v['refusals']:.0f} opt-outs)",
             f"{v['commit_p50']:.2f}/{v['commit_p99']:.2f}", f"{c50:.2f}/{c99:.2f} (attempt "
             + "write alone)", f"{v['commit_p99'] / c99:.2f}"),
            ("refusal commit -> queued and ringing cancelled p50/p99 ms",
             f"{v['cancel_p50']:.3f}/{v['cancel_p99']:.3f}", "-", "-")]
    if a is not None:
        rows.append((f"event-loop lag p99 ms, {a['calls']:.0f} calls up on Asterisk",
                     f"{a['lag_p99']:.2f}", f"{a['idle_p99']:.2f} (idle process)",
                     f"{a['lag_p99'] / max(a['idle_p99'], 1e-3):.1f}"))
    print(table(rows))
    print(f"abandon rate in the virtual run: {v['abandon']:.2%}")
    fields = [f"attempts_per_s={v['rate']:.0f}", f"pacing_sim_dials_per_s={v['base_rate']:.0f}",
              f"admit_p50_ms={v['admit_p50']:.2f}", f"admit_p99_ms={v['admit_p99']:.2f}",
              f"attempt_write_p99_ms={c99:.2f}", f"abandon={v['abandon']:.4f}",
              f"refusal_commit_p99_ms={v['commit_p99']:.2f}",
              f"refusal_cancel_p99_ms={v['cancel_p99']:.3f}"]
    if a is not None:
        fields += [f"calls_up={a['calls']:.0f}", f"loop_lag_p99_ms={a['lag_p99']:.2f}",
                   f"idle_lag_p99_ms={a['idle_p99']:.2f}"]
    print("BENCH engine " + " ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
