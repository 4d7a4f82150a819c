"""The engine in virtual time on the simulated phone system, with the real store and DNC."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from dial_support import make_campaign, relaxed_profile
from engine_support import seeded_engine

from dialer.campaign import read_campaign_state
from dialer.clock import LoopClock, run_virtual
from dialer.engine import Engine
from dialer.engine_sim import DEFAULT_EPOCH, EngineSimResult, sample_numbers, simulate_engine
from dialer.gate import DenyReason, DialGate
from dialer.keys import Keyring, new_keyring
from dialer.metrics import Metrics
from dialer.simulation_config import SimulationSection
from dialer.status import EngineStatus
from dialer.store import AgentState, AttemptState, LeadStatus, Store
from dialer.telephony.sim import SimAgent, SimBehaviour, SimTelephony
from dnc import CheckStatus, Dnc, DncUnavailable, Scope, ScopeKey
from pacing import CustomerModel, HandleTimes

GLOBAL = ScopeKey.of(Scope.GLOBAL, None)
NEVER = {k: None for k in ("busy", "no_answer", "machine", "failed", "abandoned", "cancelled")}


def _run(tmp_path: Path, keyring: Keyring, leads: int, agents: int, *,
         behaviour: SimBehaviour | None = None, caps: dict[str, object] | None = None,
         **campaign: object) -> EngineSimResult:
    camp = make_campaign(relaxed_profile(all_day=True, **(caps or {})),
                         **{"wrap_up_seconds": 5, **campaign})
    section = SimulationSection.model_validate({"agents": {"count": agents}})
    url = f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}"
    return run_virtual(lambda: simulate_engine(camp, section, leads=leads, db_url=url,
                                               keyring=keyring, behaviour=behaviour))


@pytest.fixture
def keyring() -> Keyring:
    return new_keyring()


def test_a_10000_attempt_campaign_keeps_every_invariant(tmp_path: Path,
                                                         keyring: Keyring) -> None:
    result = _run(tmp_path, keyring, leads=10_000, agents=100, retries=NEVER)
    assert result.attempts == 10_000               # one attempt per lead, no retries
    assert result.open_attempts == 0               # every attempt closed
    assert result.dialled_channels == result.attempts
    assert result.dialled_without_attempt == 0    # every originate had its attempt row
    assert result.connected > 1500
    assert sum(result.outcomes.values()) == result.attempts
    assert result.live_answers > 1500
    # The pacer aims at the 2 % target; a run's rate is a sample: allow two standard
    # errors of a binomial at the target, and never the cn profile's 3 % limit.
    noise = 2 * math.sqrt(0.02 * 0.98 / result.live_answers)
    assert result.abandon_rate <= min(0.02 + noise, 0.03)


def test_opted_out_numbers_are_listed_and_never_dialled_again(tmp_path: Path,
                                                               keyring: Keyring) -> None:
    retry_soon = {"busy": "5m", "no_answer": "5m", "machine": "5m", "failed": "5m",
                  "abandoned": "5m", "cancelled": "5m", "connected": "5m", "declined": "5m"}
    behaviour = SimBehaviour(opt_out_share=0.3, refusal_code_share=0.2)
    result = _run(tmp_path, keyring, leads=300, agents=15, behaviour=behaviour,
                  retries=retry_soon, caps={"min_gap_hours": 0.05, "per_number_daily": 20,
                                            "gap_after_abandon_hours": 0.05})
    assert result.refusals > 10

    async def check() -> tuple[int, int]:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}", keyring,
                                 node_id="check")
        try:
            dnc = await Dnc.open(store.db.engine, store.hasher)
            campaign = (await store.campaigns.list_all())[0]
            attempts = await store.attempts.of_campaign(campaign.id, with_number=True)
            listed = {a.number for a in attempts
                      if a.number and dnc.check(a.number).status is CheckStatus.BLOCKED}
            after = 0
            for number in listed:
                mine = [a for a in attempts if a.number == number]
                assert mine[0].number_hash is not None
                entry = await dnc.registry.lookup(mine[0].number_hash, [GLOBAL])
                assert entry is not None
                after += sum(1 for a in mine if a.created_at > entry.created_at)
            statuses = await store.leads.count_by_status(campaign.id)
            return after, statuses.get(LeadStatus.DNC, 0), len(listed)
        finally:
            await store.close()

    after, dnc_leads, listed = asyncio.run(check())
    assert listed == result.refusals
    assert after == 0
    assert dnc_leads == listed


def test_a_restarted_engine_closes_what_a_killed_one_left_open(tmp_path: Path,
                                                                keyring: Keyring) -> None:
    camp = make_campaign(relaxed_profile(all_day=True), wrap_up_seconds=5, retries=NEVER)
    url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    customers = CustomerModel(live=0.5, machine=0.1, no_answer=0.3, busy=0.05, failed=0.05)
    numbers = sample_numbers("CN", 200)

    async def first_run() -> int:
        loop = asyncio.get_running_loop()
        clock = LoopClock(loop, DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        phone = SimTelephony(customers, seed=3, agents=[SimAgent("8001", "1234"),
                                                         SimAgent("8002", "1234")])
        engine, _ = await seeded_engine(store, phone, camp, clock=clock,
                                        agents=["8001", "8002"], numbers=numbers)
        await engine.run(duration=120.0)
        in_flight = len(engine.calls)
        await store.flush()
        await store.close()             # no engine.close(): the process "dies" here
        return in_flight

    async def second_run() -> tuple[int, int, int, int]:
        loop = asyncio.get_running_loop()
        clock = LoopClock(loop, DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        try:
            dnc = await Dnc.open(store.db.engine, store.hasher, clock=clock.now)
            phone = SimTelephony(customers, seed=4)     # the old calls are gone with it
            engine = Engine(store, dnc, phone, clock=clock)
            closed = await engine.reconcile()
            await store.flush()
            still_open = len(await store.attempts.open_attempts())
            campaign = (await store.campaigns.list_all())[0]
            leads = await store.leads.count_by_status(campaign.id)
            return (closed, still_open, leads.get(LeadStatus.IN_CALL, 0),
                    leads.get(LeadStatus.CLAIMED, 0))
        finally:
            await store.close()

    in_flight = run_virtual(first_run)
    assert in_flight > 0
    closed, still_open, in_call, claimed = run_virtual(second_run)
    assert closed == in_flight
    assert still_open == 0
    assert in_call == 0
    assert claimed == 0             # the dead process's hopper: handed back, not stuck


def test_status_shows_agents_calls_and_windows_and_a_wrong_pin_is_refused(
        tmp_path: Path, keyring: Keyring) -> None:
    camp = make_campaign(relaxed_profile(all_day=True), wrap_up_seconds=5, retries=NEVER)
    url = f"sqlite+aiosqlite:///{tmp_path / 'status.db'}"
    numbers = sample_numbers("CN", 300)
    metrics = Metrics()

    async def scenario() -> tuple[EngineStatus, int]:
        clock = LoopClock(asyncio.get_running_loop(), DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        try:
            phones = [SimAgent(str(8001 + i), "1234") for i in range(5)]
            phones.append(SimAgent("8009", "0000"))                  # a wrong PIN
            engine, _ = await seeded_engine(
                store, SimTelephony(CustomerModel(), seed=5, agents=phones), camp,
                clock=clock, agents=[p.agent_id for p in phones], numbers=numbers,
                metrics=metrics)
            await engine.run(duration=600.0)
            status = engine.status()
            await engine.close()
            return status, engine.agents.wrong_pins
        finally:
            await store.close()

    status, wrong_pins = run_virtual(scenario)
    assert wrong_pins == 1
    assert sorted(a.agent_id for a in status.agents) == [str(8001 + i) for i in range(5)]
    campaign = status.campaigns[0]
    assert campaign.dialled > 20 and campaign.answered > 0
    assert campaign.dialled >= campaign.answered >= campaign.human
    assert [w.name for w in campaign.windows] == ["24h", "30d"]
    assert all(w.limit == 0.03 for w in campaign.windows)
    assert 0.0 < status.occupancy <= 1.0
    assert status.healthy and status.dnc_version == 0
    ended = sum(metrics.sample("dialer_calls_total", {"campaign": str(campaign.campaign_id),
                                                      "outcome": outcome}) or 0.0
                for outcome in ("connected", "no_answer", "busy", "machine", "failed",
                                "abandoned", "declined"))
    assert ended == campaign.dialled - campaign.ringing - campaign.in_amd \
        - campaign.waiting_for_agent - campaign.connected
    assert metrics.sample("dialer_abandon_rate", {"campaign": str(campaign.campaign_id),
                                                  "window": "24h"}) is not None


def test_a_dead_nodes_claims_and_open_attempts_come_back_after_the_lease(
        tmp_path: Path, keyring: Keyring) -> None:
    camp = make_campaign(relaxed_profile(all_day=True), wrap_up_seconds=5, retries=NEVER)
    url = f"sqlite+aiosqlite:///{tmp_path / 'lease.db'}"
    numbers = sample_numbers("CN", 20)

    async def scenario() -> tuple[int, str | None, int, int, int, int]:
        clock = LoopClock(asyncio.get_running_loop(), DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        try:
            phone = SimTelephony(CustomerModel(), seed=2, agents=[SimAgent("8001", "1234")])
            engine, runner = await seeded_engine(store, phone, camp, clock=clock,
                                                 agents=["8001"], numbers=numbers,
                                                 claim_lease=60.0)
            # Node n9 claims every lead, starts a call on one of them, then dies.
            dead = await store.claim_leads(runner.id, "n9", 20, DEFAULT_EPOCH)
            n9 = await Store.open(url, keyring, node_id="n9")
            n9_dnc = await Dnc.open(n9.db.engine, n9.hasher, clock=clock.now)
            state = await read_campaign_state(n9, camp, runner.id)
            decision = await DialGate(n9, n9_dnc).admit(dead[0], state, DEFAULT_EPOCH,
                                                        lines_in_use=0)
            assert decision.ticket is not None
            await n9.nodes.heartbeat("n9", now=DEFAULT_EPOCH)
            await n9.close()
            await engine.run(duration=30.0)
            before = sum(r.counts["dialled"] for r in engine.runners.values())
            await engine.run(duration=1200.0)
            after = sum(r.counts["dialled"] for r in engine.runners.values())
            gap = engine.gate.denials[DenyReason.MIN_GAP]
            await engine.close()
            orphan = await store.attempts.get(decision.ticket.attempt_id)
            return (len(dead), None if orphan.outcome is None else str(orphan.outcome),
                    int(orphan.state is AttemptState.CLOSED), before, after, gap)
        finally:
            await store.close()

    dead, outcome, closed, before, after, gap = run_virtual(scenario)
    assert dead == 20
    assert before == 0            # n9's leads are not ours to dial while its lease lasts
    assert (closed, outcome) == (1, "cancelled")   # its open attempt closed by n1
    assert after == 19            # then n1 dials every lead n9 had only claimed,
    assert gap == 1               # and the one n9 was calling waits out the caps' gap


def test_pause_codes_and_a_drain_request(tmp_path: Path, keyring: Keyring) -> None:
    camp = make_campaign(relaxed_profile(all_day=True), wrap_up_seconds=5, retries=NEVER)
    url = f"sqlite+aiosqlite:///{tmp_path / 'pause.db'}"
    numbers = sample_numbers("CN", 400)

    async def scenario() -> dict[str, object]:
        clock = LoopClock(asyncio.get_running_loop(), DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        try:
            phone = SimTelephony(CustomerModel(), seed=7,
                                 agents=[SimAgent("8001", "1234"), SimAgent("8002", "1234")])
            engine, runner = await seeded_engine(store, phone, camp, clock=clock,
                                                 agents=["8001", "8002"], numbers=numbers)
            await engine.run(duration=5.0)
            seat = engine.agents.logged_in("8001")
            assert seat is not None
            await engine.run(until=lambda: seat.state is AgentState.READY, duration=600.0)
            phone.press(seat.channel_id, "*0")                  # the campaign's "break" code
            await engine.run(duration=60.0)
            paused = (str(seat.state), seat.pause_code, seat.calls)
            await engine.run(duration=60.0)
            still = seat.calls
            phone.press(seat.channel_id, "*0")                  # the same code resumes
            await engine.run(duration=1.0)
            resumed = str(seat.state)
            await store.nodes.request_drain("n1", now=clock.now(), actor="test")
            await engine.run(duration=3600.0)                   # returns once drained
            drained = await store.nodes.get("n1")
            dialled = runner.counts["dialled"]
            await engine.close()
            return {"paused": paused, "still": still, "resumed": resumed,
                    "drained": drained, "dialled": dialled, "calls": len(engine.calls)}
        finally:
            await store.close()

    out = run_virtual(scenario)
    state, code, calls = out["paused"]  # type: ignore[misc]
    assert (state, code) == ("paused", "break")
    assert out["still"] == calls                 # a paused agent gets no call
    assert out["resumed"] in ("ready", "talking")
    drained = out["drained"]
    assert drained is not None and drained.drained_at is not None   # type: ignore[attr-defined]
    assert out["calls"] == 0                     # live calls ended before run() returned
    assert 0 < out["dialled"] < 400              # the drain stopped dialling with leads left


def test_no_call_starts_while_the_dnc_cannot_be_read(tmp_path: Path, keyring: Keyring) -> None:
    camp = make_campaign(relaxed_profile(all_day=True), wrap_up_seconds=5, retries=NEVER)
    url = f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}"
    numbers = sample_numbers("CN", 200)

    async def scenario() -> tuple[int, int, bool, str | None, bool, int]:
        clock = LoopClock(asyncio.get_running_loop(), DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        try:
            phone = SimTelephony(CustomerModel(), seed=8, agents=[SimAgent("8001", "1234")])
            engine, _ = await seeded_engine(store, phone, camp, clock=clock, agents=["8001"],
                                            numbers=numbers)
            dnc = engine.dnc
            await engine.run(duration=120.0)
            before = phone.originated
            real_version = dnc.registry.current_version

            async def unreadable() -> int:
                raise DncUnavailable("the DNC store is unavailable: test")

            dnc.registry.current_version = unreadable  # type: ignore[method-assign]
            await engine.run(duration=300.0)
            during = phone.originated - before
            healthy, reason = engine.healthy, engine.unhealthy_reason
            dnc.registry.current_version = real_version  # type: ignore[method-assign]
            await engine.run(duration=300.0)
            await engine.close()
            return before, during, healthy, reason, engine.healthy, phone.originated
        finally:
            await store.close()

    before, during, healthy, reason, healthy_after, total = run_virtual(scenario)
    assert before > 0
    assert during == 0                    # fail closed: nothing dialled while unreadable
    assert not healthy and reason is not None and "dnc" in reason.lower()
    assert healthy_after and total > before   # dialling resumes once it is back


def test_the_pacer_hears_of_each_talk_as_it_ends_and_of_its_wrap_up_after(
        tmp_path: Path, keyring: Keyring) -> None:
    camp = make_campaign(relaxed_profile(all_day=True), wrap_up_seconds=5, retries=NEVER)
    url = f"sqlite+aiosqlite:///{tmp_path / 'handles.db'}"

    async def scenario() -> list[tuple[float, float, float, float]]:
        loop = asyncio.get_running_loop()
        clock = LoopClock(loop, DEFAULT_EPOCH)
        store = await Store.open(url, keyring, node_id="n1")
        try:
            phone = SimTelephony(CustomerModel(), seed=3,
                                 agents=[SimAgent("8001", "1234"), SimAgent("8002", "1234")])
            engine, runner = await seeded_engine(store, phone, camp, clock=clock,
                                                 agents=["8001", "8002"],
                                                 numbers=sample_numbers("CN", 200))
            rows: list[tuple[float, float, float, float]] = []
            observe = runner.pacer.observe_handles

            def record(handles: HandleTimes) -> None:
                rows.extend((loop.time(), t, w, s) for t, w, s in zip(
                    handles.talk_seconds, handles.wrapup_seconds, handles.talk_started,
                    strict=True))
                observe(handles)

            runner.pacer.observe_handles = record  # type: ignore[method-assign]
            await engine.run(duration=1800.0)
            await engine.close()
            return rows
        finally:
            await store.close()

    rows = run_virtual(scenario)
    talks = [r for r in rows if math.isfinite(r[1])]
    wraps = [r for r in rows if math.isfinite(r[2])]
    assert len(talks) >= 10 and len(wraps) >= len(talks) - 2
    assert all(math.isnan(r[2]) for r in talks) and all(math.isnan(r[1]) for r in wraps)
    for at, talk, _, started in talks:
        assert at == pytest.approx(started + talk, abs=0.01)   # told when the talk ended
    assert all(w == pytest.approx(5.0, abs=0.5) for _, _, w, _ in wraps)
