"""An engine on simulated telephony with a campaign, agents and leads (imported by name)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dialer.campaign import Campaign
from dialer.clock import LoopClock
from dialer.engine import Engine
from dialer.engine_sim import DEFAULT_EPOCH
from dialer.runner import CampaignRunner
from dialer.store import NewLead, Store
from dialer.telephony.sim import SimTelephony
from dnc import Dnc, time_zones

PIN = "1234"


async def seeded_engine(store: Store, phone: SimTelephony, campaign: Campaign, *,
                        clock: LoopClock, agents: Sequence[str], numbers: Sequence[str],
                        **options: Any) -> tuple[Engine, CampaignRunner]:
    """An engine dialling `campaign` (started) with these agents (PIN 1234) and leads."""
    dnc = await Dnc.open(store.db.engine, store.hasher, clock=clock.now)
    engine = Engine(store, dnc, phone, clock=clock, **options)
    runner = await engine.add_campaign(campaign, start=True)
    assert runner.tenant_id is not None
    for agent in agents:
        await store.agents.create(runner.tenant_id, agent, agent, PIN, now=DEFAULT_EPOCH)
    await store.leads.insert_batch(runner.id, [
        NewLead(n, "t", region="CN", time_zones=time_zones(n), consent=True)
        for n in numbers], now=DEFAULT_EPOCH)
    return engine, runner
