"""One campaign on one node: its state, hopper, pacer, abandon accounting and counters.

The engine calls `plan(...)` every tick: it re-reads the campaign's stored state now
and then (a pause, a freeze or its expiry takes effect within `state_every`), builds
the pacing snapshot from the node's agents and this campaign's calls, asks the pacer how
many calls to start and takes that many leads from the hopper. The engine then puts
each lead through the dial gate.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

import numpy as np

import pacing
from dialer.agents import AgentPool
from dialer.calls import Call, Stage
from dialer.campaign import Campaign, CampaignState, read_campaign_state
from dialer.clock import real_io
from dialer.hopper import DEFAULT_EMPTY_RETRY, Hopper
from dialer.retry import RetryPolicy
from dialer.store import AgentState, ClaimedLead, LeadStatus, Store

log = logging.getLogger(__name__)

STATE_EVERY_S = 2.0
_DIALLABLE = (LeadStatus.NEW, LeadStatus.READY, LeadStatus.CLAIMED)


class CampaignRunner:
    """A campaign's dialling state on this node."""

    def __init__(self, store: Store, campaign: Campaign, campaign_id: int, *,
                 hopper_size: int = 50, state_every: float = STATE_EVERY_S,
                 empty_retry: timedelta = DEFAULT_EMPTY_RETRY) -> None:
        self.store = store
        self.campaign = campaign
        self.id = campaign_id
        self.hopper = Hopper(store, campaign_id, size=hopper_size,
                             low_water=max(1, hopper_size // 5), empty_retry=empty_retry)
        self.pacer = pacing.Pacer(campaign.pacing_settings())
        self.accounting = campaign.abandon_accounting()
        self.policy = RetryPolicy.for_campaign(campaign)
        self.state: CampaignState | None = None
        self.state_every = state_every
        self._state_read_at = float("-inf")
        self.calls: dict[str, Call] = {}
        self.counts: Counter[str] = Counter()      # dialled, answered, human, ... refusals
        self.outcomes: Counter[str] = Counter()    # attempts ended, by outcome
        self.denials: Counter[str] = Counter()     # gate denials, by reason
        self.leads_left = -1
        self.last_decision: pacing.Decision | None = None

    @property
    def tenant_id(self) -> int | None:
        """The campaign's tenant (known after the first state read)."""
        return None if self.state is None else self.state.tenant_id

    async def refresh(self, loop_now: float, *, force: bool = False) -> CampaignState:
        """Re-read the stored state if `state_every` has passed (or `force`)."""
        if force or self.state is None or loop_now - self._state_read_at >= self.state_every:
            with real_io():
                self.state = await read_campaign_state(self.store, self.campaign, self.id)
                counts = await self.store.leads.count_by_status(self.id)
            self.leads_left = sum(counts.get(s, 0) for s in _DIALLABLE)
            self._state_read_at = loop_now
        return self.state

    async def load_history(self, now: datetime) -> int:
        """Count the live answers and abandons already on record within the profile's
        longest window (the hourly aggregates), so a restart forgets no abandon; returns
        the live answers loaded."""
        span = max(w.span for w in self.accounting.windows)
        with real_io():
            hours = await self.store.stats.hourly(self.id, since=now - timedelta(seconds=span),
                                                  until=now)
        hours = [h for h in hours if h.live_answers or h.abandons or h.amd_machine]
        if not hours:
            return 0
        # An hour's records count at its middle (or now, for the hour in progress).
        times = np.array([min(h.hour.timestamp() + 1800.0, now.timestamp()) for h in hours])
        fp = self.accounting.fp_rate * np.array([h.amd_machine for h in hours], dtype=float)
        self.accounting.record_totals(
            times, np.array([h.live_answers for h in hours], dtype=float) + fp,
            np.array([h.abandons for h in hours], dtype=float) + fp)
        return sum(h.live_answers for h in hours)

    def snapshot(self, agents: AgentPool, loop_now: float, epoch_now: float) -> pacing.Snapshot:
        """This campaign now, as pacing sees it."""
        serving = agents.serving(self.campaign.serves)
        ready = sum(1 for a in serving if a.state is AgentState.READY)
        busy = [loop_now - a.talk_started for a in serving if a.state is AgentState.TALKING]
        wrap = [loop_now - a.since for a in serving if a.state is AgentState.WRAP_UP]
        stages, elapsed = [], []
        for call in self.calls.values():
            if call.stage is Stage.RINGING and call.up_at is not None:
                stages.append(int(pacing.CallStage.AMD))
                elapsed.append(loop_now - call.up_at)
            elif call.stage is Stage.RINGING:
                stages.append(int(pacing.CallStage.RINGING))
                elapsed.append(loop_now - call.originated)
            elif call.stage is Stage.WAITING and call.verdict_at is not None:
                stages.append(int(pacing.CallStage.QUEUED))
                elapsed.append(loop_now - call.verdict_at)
        return pacing.Snapshot(
            ready_agents=ready, busy_elapsed=np.array(busy, dtype=np.float64),
            wrapup_elapsed=np.array(wrap, dtype=np.float64),
            call_stage=np.array(stages, dtype=np.int64),
            call_elapsed=np.array(elapsed, dtype=np.float64),
            budget=self.accounting.budget(epoch_now))

    async def plan(self, agents: AgentPool, loop_now: float, now: datetime) -> list[ClaimedLead]:
        """The leads to put through the gate now (the pacer's number, as far as there are
        due leads)."""
        decision = self.pacer.decide(self.snapshot(agents, loop_now, now.timestamp()),
                                     now.timestamp())
        self.last_decision = decision
        leads: list[ClaimedLead] = []
        for _ in range(decision.calls):
            with real_io():
                lead = await self.hopper.take(now)
            if lead is None:
                break
            leads.append(lead)
        return leads

    def drop_number(self, number_hash: bytes) -> int:
        """A refusal: forget queued leads with this number."""
        return self.hopper.drop_number(number_hash)
