"""The engine in virtual time: a campaign dialled on `SimTelephony` with a real store.

`dialer simulate --engine` and the engine tests use it. Everything but the phone system
is the production code: the store (SQLite: asyncpg keeps its own timeouts on the loop's
clock, so PostgreSQL wants real time), the DNC, the gate, hoppers,
retries, pacing and the engine. The loop's clock starts at the next moment the
campaign's calling hours are open for the generated numbers and jumps whenever the
engine waits, so hours of dialling take seconds.

    result = run_virtual(lambda: simulate_engine(campaign, section, leads=10_000,
                                                 db_url=url, keyring=keyring))
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import phonenumbers

from dialer.campaign import Campaign
from dialer.campaign.windows import next_opening, number_zones, open_everywhere
from dialer.clock import LoopClock, real_io
from dialer.engine import Engine
from dialer.keys import Keyring
from dialer.simulation_config import SimulationFile, SimulationSection, simulation_config
from dialer.store import AttemptState, NewLead, Store
from dialer.telephony.sim import SimAgent, SimBehaviour, SimTelephony
from dnc import Dnc, normalize, time_zones

DEFAULT_EPOCH = datetime(2025, 3, 12, 0, 0, tzinfo=UTC)   # a Wednesday
AGENT_PIN = "1234"


@dataclass(frozen=True)
class EngineSimResult:
    """What a simulated run did, read back from the store and the engine."""

    leads: int
    attempts: int
    open_attempts: int
    outcomes: dict[str, int]
    connected: int
    abandoned: int
    refusals: int
    denials: dict[str, int]
    virtual_seconds: float
    wall_seconds: float
    started_at: datetime
    dialled_channels: int
    dialled_without_attempt: int
    refusal_commit_s: list[float] = field(default_factory=list)
    refusal_cancel_s: list[float] = field(default_factory=list)

    @property
    def live_answers(self) -> int:
        """Live answers: connected or abandoned."""
        return self.connected + self.abandoned

    @property
    def abandon_rate(self) -> float:
        """Abandoned / live answers (0 with no live answer)."""
        return self.abandoned / self.live_answers if self.live_answers else 0.0


def sample_numbers(region: str, count: int, *, start: int = 0) -> list[str]:
    """`count` distinct valid mobile numbers of a region (from its example number)."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"no example mobile number for region {region}")
    national = str(example.national_number)
    width = min(6, len(national) - 2)
    out: list[str] = []
    i = start
    while len(out) < count:
        if i >= 10 ** width:
            raise ValueError(f"region {region}: not enough sample numbers")
        candidate = f"+{example.country_code}{national[:-width]}{i:0{width}d}"
        i += 1
        e164 = normalize(candidate, region).e164
        if e164 is not None:
            out.append(e164)
    return out


def opening_for(campaign: Campaign, number: str, after: datetime) -> datetime:
    """The first instant at or after `after` when the campaign may call `number`."""
    zones = number_zones(number, time_zones(number))
    if open_everywhere(campaign.calling_hours, zones, after):
        return after
    opening = next_opening(campaign.calling_hours, zones, after)
    if opening is None:
        raise ValueError("the campaign's calling hours never open for these numbers")
    return opening + timedelta(minutes=1)


async def simulate_engine(campaign: Campaign, section: SimulationSection, *, leads: int,
                          db_url: str, keyring: Keyring, seed: int = 1,
                          behaviour: SimBehaviour | None = None,
                          max_hours: float = 24.0, epoch: datetime = DEFAULT_EPOCH,
                          tick: float = 1.0) -> EngineSimResult:
    """Dial `leads` generated numbers with `section`'s customers and agents (call it on a
    `VirtualTimeLoop`); returns when every lead is finished or `max_hours` pass."""
    region = campaign.region
    numbers = sample_numbers(region, leads)
    start = opening_for(campaign, numbers[0], epoch)
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop, start)
    doc = SimulationFile(simulation=section)
    customers = replace(simulation_config(doc, max_hours).customers,
                        ring_timeout=campaign.ring_timeout_s)
    agents = [SimAgent(str(8001 + i), AGENT_PIN,
                       login_at=section.agents.login_over * i / section.agents.count)
              for i in range(section.agents.count)]
    telephony = SimTelephony(customers, seed=seed, agents=agents,
                             behaviour=behaviour or SimBehaviour())
    wall = time.perf_counter()
    with real_io():
        store = await Store.open(db_url, keyring, node_id="sim", linger_s=2.0)
    try:
        with real_io():
            dnc = await Dnc.open(store.db.engine, store.hasher, region=region,
                                 clock=clock.now)
        engine = Engine(store, dnc, telephony, clock=clock, tick=tick, state_every=30.0,
                        empty_retry=60.0, heartbeat=30.0, write_every=2.0)
        runner = await engine.add_campaign(campaign, start=True)
        with real_io():
            assert runner.tenant_id is not None
            for agent in agents:
                await store.agents.create(runner.tenant_id, agent.agent_id,
                                          f"Agent {agent.agent_id}", agent.pin, now=start)
            await store.leads.insert_batch(runner.id, [
                NewLead(n, "simulation", region=region, time_zones=time_zones(n), consent=True)
                for n in numbers], now=start)
        await runner.refresh(loop.time(), force=True)
        await engine.run(until=lambda: engine.idle, duration=max_hours * 3600.0)
        await engine.close()
        with real_io():
            attempts = await store.attempts.of_campaign(runner.id)
        outcomes = Counter(str(a.outcome) for a in attempts if a.outcome is not None)
        return EngineSimResult(
            leads=leads, attempts=len(attempts),
            open_attempts=sum(1 for a in attempts if a.state is AttemptState.OPEN),
            outcomes=dict(outcomes), connected=outcomes.get("connected", 0),
            abandoned=sum(1 for a in attempts if a.abandoned),
            refusals=runner.counts["refusals"],
            denials={str(k): v for k, v in engine.gate.denials.items()},
            virtual_seconds=(clock.now() - start).total_seconds(),
            wall_seconds=time.perf_counter() - wall, started_at=start,
            dialled_channels=telephony.originated,
            dialled_without_attempt=len(set(telephony.dialled) - {a.id for a in attempts}),
            refusal_commit_s=engine.refusal_commit_s, refusal_cancel_s=engine.refusal_cancel_s)
    finally:
        with real_io():
            await store.close()

