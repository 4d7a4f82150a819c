"""One node of the dialer: campaigns, agents and calls on one phone system.

    engine = Engine(store, dnc, telephony, clock=WallClock())
    await engine.add_campaign(campaign)            # loaded and stored (`save_campaign`)
    await engine.run(until=lambda: engine.idle)    # ticks, events, heartbeats

Every `tick` seconds each running campaign asks its pacer how many calls to start,
takes that many leads from its hopper and puts each through the dial gate, the only
producer of the `DialTicket` that `Telephony.originate` needs (invariant 1). The DNC
index is checked once more, synchronously, just before each originate, and every call
to a number is hung up the moment a refusal of it is committed (invariant 2).

Events from the phone system drive the calls: a live answer goes to the longest-idle
ready agent, or waits at most until its connect deadline (the profile's connect time
less AMD's overrun) and then hears the safe-harbour message: an abandon. A machine is
hung up on or hears the campaign's message. The callee's opt-out key, an agent's
refusal code and (where the profile says so) a SIP decline are refusals.

Time comes from the injected clock and asyncio's timers only, so the same engine runs
on a `VirtualTimeLoop` against `SimTelephony`; store calls are wrapped in `real_io()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pacing
from dialer.agents import AgentPool, AgentSession
from dialer.call_hooks import CallHooks
from dialer.calls import Call, Stage, unanswered_outcome
from dialer.campaign import Campaign, Disposition, save_campaign
from dialer.clock import Clock, real_io
from dialer.deferred import DeferredWrites
from dialer.errors import StoreUnavailable
from dialer.events import (
    EventBus,
    NodeStatus,
    agent_state,
    call_state,
    campaign_stats,
    dnc_added,
    node_health,
    publish_event,
)
from dialer.gate import DenyReason, DialGate, DialTicket, settle_denied
from dialer.metrics import Metrics
from dialer.runner import CampaignRunner
from dialer.status import AgentView, CampaignView, EngineStatus, WindowView
from dialer.store import (
    AgentState,
    AmdResult,
    AttemptRecord,
    AttemptState,
    CampaignStatus,
    ClaimedLead,
    LeadStatus,
    Outcome,
    Store,
)
from dialer.telephony import (
    CAUSE_NORMAL,
    CAUSE_REJECTED,
    AgentLogin,
    CallAnswered,
    CallEnded,
    CallUp,
    Dtmf,
    OriginateRequest,
    Reconnected,
    Telephony,
    TelephonyError,
    TelephonyEvent,
)
from dnc import CheckStatus, Dnc, DncUnavailable, Refusal, Scope, Source

log = logging.getLogger(__name__)

TICK_S = 0.5
HEARTBEAT_S = 2.0
# A lead claimed longer ago than this by any node is handed back (its node died).
CLAIM_LEASE_S = 300.0
_UNHEALTHY = (DenyReason.DNC_UNAVAILABLE, DenyReason.STORE_UNAVAILABLE)
_PACING_OUTCOMES = {
    Outcome.NO_ANSWER: pacing.Outcome.NO_ANSWER, Outcome.BUSY: pacing.Outcome.BUSY,
    Outcome.DECLINED: pacing.Outcome.FAILED, Outcome.FAILED: pacing.Outcome.FAILED,
    Outcome.INVALID_NUMBER: pacing.Outcome.FAILED,
}
_AGENT_VIEW_STATES = {AgentState.READY: "ready", AgentState.TALKING: "talking",
                      AgentState.WRAP_UP: "wrapup", AgentState.PAUSED: "paused"}
_AMD_RESULTS = {"HUMAN": AmdResult.HUMAN, "MACHINE": AmdResult.MACHINE,
                "NOTSURE": AmdResult.NOTSURE}


class Engine:
    """Dials the campaigns it is given on one telephony, for one node."""

    def __init__(self, store: Store, dnc: Dnc, telephony: Telephony, *, clock: Clock,
                 bus: EventBus | None = None, hooks: Sequence[CallHooks] = (),
                 tick: float = TICK_S, hopper_size: int = 50,
                 state_every: float = 2.0, empty_retry: float = 1.0,
                 heartbeat: float = HEARTBEAT_S, write_every: float = 0.25,
                 claim_lease: float = CLAIM_LEASE_S, metrics: Metrics | None = None) -> None:
        self.store = store
        self.dnc = dnc
        self.telephony = telephony
        self.clock = clock
        self.bus = bus
        self.hooks = list(hooks)
        self.tick_s = tick
        self.hopper_size = hopper_size
        self.state_every = state_every
        self.empty_retry = timedelta(seconds=empty_retry)
        self.heartbeat_s = heartbeat
        self.claim_lease = timedelta(seconds=claim_lease)
        self.metrics = metrics
        self.node_id = store.node_id
        self.gate = DialGate(store, dnc)
        self.agents = AgentPool()
        self.runners: dict[int, CampaignRunner] = {}
        self.calls: dict[str, Call] = {}
        self.started_at = clock.now()
        self.healthy = True
        self.unhealthy_reason: str | None = None
        self.draining = False          # no new calls (asked by `dialer drain`, or winding down)
        self.drain_requested = False
        self.stopped = False
        self._reconciled = False
        self._pump: asyncio.Task[None] | None = None    # the telephony's events, until close
        self.deferred = DeferredWrites(store, every=write_every)
        self._deferred_task: asyncio.Task[None] | None = None
        self.counts: Counter[str] = Counter()
        self.refusal_commit_s: list[float] = []      # signal -> committed
        self.refusal_cancel_s: list[float] = []      # committed -> queued/ringing cancelled
        self._handled: dict[uuid.UUID, Call] = {}    # connected calls until wrap-up ends
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tick_failed = False
        self._unsubscribe = dnc.subscribe(self._on_refusal)

    # -- setup ------------------------------------------------------------------------

    async def add_campaign(self, campaign: Campaign, *, start: bool = False) -> CampaignRunner:
        """Dial a campaign (stored first if new; `start` sets it running)."""
        now = self.clock.now()
        with real_io():
            info, _, _ = await save_campaign(self.store, campaign, now=now,
                                             actor=f"node:{self.node_id}")
            if start and info.status is not CampaignStatus.RUNNING:
                await self.store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=now,
                                                      actor=f"node:{self.node_id}")
        runner = CampaignRunner(self.store, campaign, info.id, hopper_size=self.hopper_size,
                                state_every=self.state_every, empty_retry=self.empty_retry)
        await runner.refresh(self._now(), force=True)
        loaded = await runner.load_history(now)
        if loaded:
            log.info("campaign %s: %d live answers on record within its abandon windows",
                     campaign.id, loaded)
        self.runners[info.id] = runner
        return runner

    # -- running ----------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No call in flight, no agent in wrap-up, and no campaign with a lead due now."""
        return (not self.calls and not self._handled and
                all(r.hopper.exhausted or r.leads_left == 0 for r in self.runners.values()))

    async def run(self, *, until: Callable[[], bool] | None = None,
                  duration: float | None = None) -> None:
        """Reconcile, then tick and handle events until `until()` holds, `duration`
        seconds pass, the node has drained, or `stop()` is called."""
        if not self._reconciled:
            await self.reconcile()
            self._reconciled = True
            with real_io():
                await self.store.nodes.started(self.node_id, now=self.clock.now())
        deadline = None if duration is None else self._now() + duration
        if self._pump is None:
            self._pump = asyncio.create_task(self._pump_events(), name="engine-events")
            self._deferred_task = asyncio.create_task(self.deferred.run(), name="engine-writes")
        heartbeat = asyncio.create_task(self._heartbeats(), name="engine-heartbeat")
        try:
            while not self.stopped:
                await self._tick()
                if until is not None and until():
                    break
                if deadline is not None and self._now() >= deadline:
                    break
                if self.drain_requested and not self.calls and not self._handled:
                    with real_io():
                        await self.store.nodes.mark_drained(self.node_id, now=self.clock.now())
                    log.info("node %s drained", self.node_id)
                    break
                await asyncio.sleep(self.tick_s)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    def stop(self) -> None:
        """Make `run` return after the current tick."""
        self.stopped = True

    async def wind_down(self, timeout: float) -> None:
        """Start no new call; run until the live calls and wrap-ups end (or `timeout`)."""
        self.draining = True
        await self.run(until=lambda: not self.calls and not self._handled, duration=timeout)

    async def close(self) -> None:
        """Stop hearing events, hand queued leads back, wait for owned tasks, flush."""
        self._unsubscribe()
        for task in (self._pump, self._deferred_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for runner in self.runners.values():
            with contextlib.suppress(StoreUnavailable), real_io():
                await runner.hopper.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable), real_io():
            await self.deferred.flush()
            await self.store.flush()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                with real_io():
                    now = self.clock.now()
                    info = await self.store.nodes.heartbeat(self.node_id, now=now)
                    freed = await self.store.release_expired_claims(now, self.claim_lease)
                    orphans = await self._close_dead_nodes_attempts(now)
                if freed or orphans:
                    log.warning("%d leads claimed and %d attempts left open over %s ago by "
                                "nodes that stopped (died?) handed back and closed", freed,
                                orphans, self.claim_lease)
            except StoreUnavailable as exc:
                self._unhealthy(f"store unavailable: {exc}")
                continue
            if info.drain_requested and not self.drain_requested:
                log.warning("node %s: drain requested by %s; no new calls",
                            self.node_id, info.drain_requested_by or "?")
                self.drain_requested = self.draining = True
            if self.metrics is not None or self.bus is not None:
                status = self.status()
                if self.metrics is not None:
                    self._update_metrics(status)
                if self.bus is not None:
                    await self._publish_health(status)

    def _update_metrics(self, status: EngineStatus) -> None:
        """The gauges: abandon rate per window, occupancy, lines in use, DNC size."""
        assert self.metrics is not None
        for view in status.campaigns:
            for window in view.windows:
                self.metrics.set_abandon_rate(view.campaign_id, window.name, window.rate)
            self.metrics.set_occupancy(view.campaign_id, status.occupancy)
            self.metrics.set_lines_in_use(view.campaign_id, view.in_flight)
        self.metrics.set_dnc(sum(self.dnc.index.scopes().values()), self.dnc.version)

    async def _close_dead_nodes_attempts(self, now: datetime) -> int:
        """Close the open attempts of nodes silent for longer than the claim lease (their
        calls died with them or will be hung up when they restart) and settle their leads,
        so those leads are dialled again; returns how many were closed."""
        closed = 0
        for node in await self.store.nodes.list_all():
            silent = node.heartbeat_at is None or now - node.heartbeat_at > self.claim_lease
            if node.id == self.node_id or not silent:
                continue
            for attempt in await self.store.attempts.open_attempts(node.id):
                if now - attempt.created_at <= self.claim_lease:
                    continue
                self._close_orphan(attempt, now)
                closed += 1
        return closed

    def _close_orphan(self, attempt: AttemptRecord, now: datetime) -> None:
        """Close an attempt whose engine is gone, with what is known, and settle its lead."""
        outcome = attempt.outcome or (Outcome.CANCELLED if attempt.answered_at is None
                                      else Outcome.FAILED)
        self.store.update_attempt(attempt.id, state=AttemptState.CLOSED, ended_at=now,
                                  outcome=outcome)
        if attempt.lead_id is not None:
            self.deferred.settle(attempt.lead_id, LeadStatus.READY, None, outcome)

    async def _publish_health(self, status: EngineStatus) -> None:
        """The node's health and each campaign's figures, retained on the bus."""
        assert self.bus is not None
        now = status.now
        health = (NodeStatus.UNHEALTHY if not self.healthy else
                  NodeStatus.DRAINING if self.draining else NodeStatus.ONLINE)
        await publish_event(self.bus, node_health(
            self.node_id, health, at=now, campaigns_running=sum(
                1 for r in self.runners.values() if r.state is not None and r.state.running),
            lines_in_use=len(self.calls), store_ok=self.healthy, dnc_version=self.dnc.version))
        agents = Counter(str(a.state) for a in self.agents)
        for view in status.campaigns:
            runner = self.runners[view.campaign_id]
            await publish_event(self.bus, campaign_stats(
                self.node_id, view.campaign_id, at=now, status=view.state, mode=view.mode,
                lines_in_use=view.in_flight, calls_in_flight=view.in_flight,
                agents=agents, outcomes=runner.outcomes,
                abandon_rate={w.name: w.rate for w in view.windows},
                dnc_version=self.dnc.version))

    async def _tick(self) -> None:
        loop_now, now = self._now(), self.clock.now()
        self._tick_failed = False
        try:
            with real_io():
                await self.dnc.sync()   # another node's refusals reach our calls here too
        except DncUnavailable as exc:
            self._unhealthy(f"DNC unavailable: {exc}")
        for runner in list(self.runners.values()):
            try:
                state = await runner.refresh(loop_now)
            except StoreUnavailable as exc:
                self._unhealthy(f"store unavailable: {exc}")
                return
            if not state.running or self.draining:
                if len(runner.hopper) and not state.running:
                    with real_io():
                        await runner.hopper.release()
                continue
            try:
                leads = await runner.plan(self.agents, loop_now, now)
                await self._dial(runner, leads, now)
            except (StoreUnavailable, DncUnavailable) as exc:
                self._unhealthy(f"{type(exc).__name__}: {exc}")
                return
        if not self.healthy and not self._tick_failed:
            self._healthy_again()

    async def _dial(self, runner: CampaignRunner, leads: list[ClaimedLead],
                    now: datetime) -> None:
        if not leads:
            return
        state = runner.state
        assert state is not None
        base = len(runner.calls)
        tenant_base = sum(len(r.calls) for r in self.runners.values()
                          if r.tenant_id == runner.tenant_id)
        with real_io():
            decisions = await asyncio.gather(*(
                self.gate.admit(lead, state, now, lines_in_use=base + i,
                                tenant_lines_in_use=tenant_base + i)
                for i, lead in enumerate(leads)))
        denied = []
        for lead, decision in zip(leads, decisions, strict=True):
            if decision.ticket is not None:
                await self._originate(runner, lead, decision.ticket)
                continue
            runner.denials[str(decision.reason)] += 1
            if self.metrics is not None:
                self.metrics.gate_denied(runner.id, str(decision.reason))
            if decision.reason in _UNHEALTHY:
                self._unhealthy(f"gate: {decision.reason}")
            denied.append((lead, decision))
        if denied:
            with real_io():
                for lead, decision in denied:
                    await settle_denied(self.store, lead, decision, now)

    async def _originate(self, runner: CampaignRunner, lead: ClaimedLead,
                         ticket: DialTicket) -> None:
        campaign = runner.campaign
        loop_now = self._now()
        call = Call(ticket, lead, str(uuid.uuid4()), runner.id, loop_now)
        # Once more at the instant of dial: a refusal committed since the gate's check
        # is in the index already (the index is local; this is a lookup, no I/O).
        if self.dnc.check(lead.number, tenant=str(lead.tenant_id),
                          campaign=str(runner.id)).status is not CheckStatus.ALLOWED:
            self._close_unstarted(runner, call, "dnc at originate")
            return
        runner.calls[call.channel_id] = call
        self.calls[call.channel_id] = call
        request = OriginateRequest(
            channel_id=call.channel_id, endpoint=campaign.dial_string(lead.number),
            caller_id=campaign.caller_id, ring_timeout=campaign.ring_timeout_s,
            amd=campaign.config.amd.enabled)
        self.store.update_attempt(ticket.attempt_id, channel_id=call.channel_id,
                                  originated_at=self.clock.now())
        try:
            await self.telephony.originate(ticket, request)
        except TelephonyError as exc:
            log.warning("originate of attempt %s failed: %s", ticket.attempt_id, exc)
            runner.calls.pop(call.channel_id, None)
            self.calls.pop(call.channel_id, None)
            self._close_unstarted(runner, call, "originate failed", outcome=Outcome.FAILED)
            return
        runner.counts["dialled"] += 1
        self._publish_call(call, "ringing", None)
        if call.cancelled:  # refused while the originate was on its way
            await self._hangup(call.channel_id)

    def _close_unstarted(self, runner: CampaignRunner, call: Call, why: str, *,
                         outcome: Outcome = Outcome.CANCELLED) -> None:
        log.info("attempt %s not started: %s", call.attempt_id, why)
        runner.counts["cancelled_before_dial"] += 1
        self.store.update_attempt(call.attempt_id, state=AttemptState.CLOSED, outcome=outcome,
                                  ended_at=self.clock.now())
        self._settle(runner, call, outcome)

    # -- events -----------------------------------------------------------------------

    async def _pump_events(self) -> None:
        async for event in self.telephony.events():
            try:
                await self._handle(event)
            except Exception:
                log.exception("engine: handling %s failed", type(event).__name__)

    async def _handle(self, event: TelephonyEvent) -> None:
        if isinstance(event, CallUp):
            call = self.calls.get(event.channel_id)
            if call is not None and call.up_at is None:
                call.up_at = self._now()
        elif isinstance(event, CallAnswered):
            await self._on_answered(event)
        elif isinstance(event, CallEnded):
            await self._on_ended(event)
        elif isinstance(event, Dtmf):
            await self._on_dtmf(event)
        elif isinstance(event, AgentLogin):
            await self._on_login(event)
        elif isinstance(event, Reconnected):
            await self._on_reconnected(event)

    async def _on_answered(self, event: CallAnswered) -> None:
        call = self.calls.get(event.channel_id)
        if call is None:
            log.warning("answer on unknown channel %s (attempt %s): hanging up",
                        event.channel_id, event.attempt_id)
            await self._hangup(event.channel_id)
            return
        runner = self.runners[call.campaign_id]
        campaign = runner.campaign
        loop_now, now = self._now(), self.clock.now()
        call.verdict_at = loop_now
        call.amd_status = event.amd_status
        if event.amd_seconds is not None:
            call.amd_seconds = event.amd_seconds
        elif call.up_at is not None:
            call.amd_seconds = loop_now - call.up_at
        runner.counts["answered"] += 1
        self.store.update_attempt(call.attempt_id, answered_at=now, amd_at=now,
                                  amd_result=_AMD_RESULTS.get(event.amd_status),
                                  amd_cause=event.amd_cause or None)
        if call.cancelled:
            await self._hangup(call.channel_id)
            return
        human = event.amd_status in ("HUMAN", "NOTUSED") or (
            event.amd_status == "NOTSURE" and campaign.config.amd.notsure == "human")
        if not human:
            call.stage, call.outcome = Stage.ENDING, Outcome.MACHINE
            runner.counts["machine"] += 1
            runner.accounting.record_machine_verdicts(now.timestamp())
            runner.pacer.observe_calls(pacing.CallOutcomes.one(
                pacing.Outcome.MACHINE, call.ring_seconds, call.amd_seconds))
            self.store.update_attempt(call.attempt_id, outcome=Outcome.MACHINE)
            self._publish_call(call, "machine", "ringing")
            self._spawn(self._machine(call, campaign))
            return
        runner.counts["human"] += 1
        agent = self.agents.pick(campaign.serves)
        if agent is not None:
            await self._connect(call, agent)
            return
        settings = campaign.pacing_settings()
        slack = settings.connect_within - (settings.amd_overrun
                                           if event.amd_status != "NOTUSED" else 0.0)
        call.stage, call.deadline = Stage.WAITING, loop_now + slack
        call.timer = self._later(slack, self._deadline_passed, call)
        self._publish_call(call, "waiting", "ringing")

    async def _machine(self, call: Call, campaign: Campaign) -> None:
        amd = campaign.config.amd
        if amd.machine_action == "leave_message" and amd.message:
            await self._play(call.channel_id, amd.message)
        await self._hangup(call.channel_id)

    async def _connect(self, call: Call, agent: AgentSession) -> None:
        runner = self.runners[call.campaign_id]
        loop_now, now = self._now(), self.clock.now()
        call.stop_timer()
        call.stage, call.agent, call.connected_at = Stage.CONNECTED, agent, loop_now
        call.outcome = Outcome.CONNECTED
        self.agents.set_state(agent, AgentState.TALKING, loop_now)
        agent.attempt_id = call.attempt_id
        agent.calls += 1
        self._handled[call.attempt_id] = call
        runner.counts["connected"] += 1
        runner.accounting.record_answer(now.timestamp(), abandoned=False)
        runner.pacer.observe_calls(pacing.CallOutcomes.one(
            pacing.Outcome.HUMAN, call.ring_seconds, call.amd_seconds))
        self.store.update_attempt(call.attempt_id, agent_connected_at=now, agent_id=agent.db_id,
                                  outcome=Outcome.CONNECTED)
        self._agent_state(agent, AgentState.READY, call)
        self._publish_call(call, "connected", "waiting", agent=agent.agent_id)
        try:
            await self.telephony.add_to_bridge(agent.bridge_id, call.channel_id)
        except TelephonyError as exc:
            log.warning("bridging attempt %s failed: %s", call.attempt_id, exc)
            return
        for hook in self.hooks:
            await self._hook(hook.bridged(call.attempt_id, agent.bridge_id, call.channel_id,
                                          agent.channel_id, runner.campaign))

    def _deadline_passed(self, call: Call) -> None:
        if call.stage is not Stage.WAITING or call.channel_id not in self.calls:
            return
        runner = self.runners[call.campaign_id]
        now = self.clock.now()
        call.timer = None
        call.stage, call.outcome, call.abandoned = Stage.ENDING, Outcome.ABANDONED, True
        runner.counts["abandoned"] += 1
        runner.accounting.record_answer(now.timestamp(), abandoned=True)
        runner.pacer.observe_calls(pacing.CallOutcomes.one(
            pacing.Outcome.HUMAN, call.ring_seconds, call.amd_seconds, abandoned=True))
        self.store.update_attempt(call.attempt_id, outcome=Outcome.ABANDONED, abandoned=True)
        self._publish_call(call, "abandoned", "waiting")
        self._spawn(self._safe_harbour(call, runner.campaign))

    async def _safe_harbour(self, call: Call, campaign: Campaign) -> None:
        message = campaign.config.safe_harbour.message
        if message:
            await self._play(call.channel_id, message)
        await self._hangup(call.channel_id)

    async def _on_ended(self, event: CallEnded) -> None:
        call = self.calls.pop(event.channel_id, None)
        if call is None:
            agent = self.agents.by_channel(event.channel_id)
            if agent is not None:
                await self._logout(agent)
            return
        runner = self.runners[call.campaign_id]
        runner.calls.pop(call.channel_id, None)
        loop_now, now = self._now(), self.clock.now()
        call.stop_timer()
        call.ended_at = loop_now
        if call.outcome is None:
            if call.stage is Stage.WAITING:
                call.outcome = Outcome.DECLINED  # hung up before the connect deadline
            else:
                call.outcome = unanswered_outcome(
                    event.cause, rang_for=loop_now - call.originated,
                    ring_timeout=runner.campaign.ring_timeout_s,
                    cancelled=call.cancelled)
                seen = _PACING_OUTCOMES.get(call.outcome)
                if seen is not None:
                    runner.pacer.observe_calls(pacing.CallOutcomes.one(
                        seen, loop_now - call.originated))
            if (call.outcome is Outcome.DECLINED and event.cause == CAUSE_REJECTED
                    and runner.campaign.profile.sip_decline_is_refusal):
                self._spawn(self._refuse(call, Source.SIP_DECLINE))
        runner.outcomes[str(call.outcome)] += 1
        if self.metrics is not None:
            self.metrics.call_ended(runner.id, str(call.outcome))
        self.store.update_attempt(call.attempt_id, state=AttemptState.CLOSED, ended_at=now,
                                  hangup_cause=event.cause, outcome=call.outcome)
        self._publish_call(call, "ended", str(call.stage))
        if call.connected_at is not None:
            runner.pacer.observe_handles(pacing.HandleTimes.talk_ended(
                loop_now - call.connected_at, call.connected_at))
        agent = call.agent
        if agent is not None and self.agents.by_channel(agent.channel_id) is agent:
            self.agents.set_state(agent, AgentState.WRAP_UP, loop_now)
            self._agent_state(agent, AgentState.TALKING, call)
            wrap = runner.campaign.config.wrap_up_seconds
            self._later(wrap, self._wrapup_over, agent, call)
        else:
            self._handled.pop(call.attempt_id, None)
            self._settle(runner, call, call.outcome)
        if call.agent is not None:
            for hook in self.hooks:
                await self._hook(hook.ended(call.attempt_id))

    def _wrapup_over(self, agent: AgentSession, call: Call) -> None:
        if agent.state is AgentState.WRAP_UP and agent.attempt_id == call.attempt_id:
            self._spawn(self._finish_wrapup(agent, call))

    async def _finish_wrapup(self, agent: AgentSession, call: Call) -> None:
        runner = self.runners[call.campaign_id]
        loop_now = self._now()
        if call.ended_at is not None:
            runner.pacer.observe_handles(pacing.HandleTimes.wrapup_ended(
                loop_now - call.ended_at))
        self._handled.pop(call.attempt_id, None)
        if self.agents.by_channel(agent.channel_id) is agent and \
                agent.state is AgentState.WRAP_UP:
            self.agents.set_state(agent, AgentState.READY, loop_now)
            self._agent_state(agent, AgentState.WRAP_UP, None)
            await self._serve_waiting(agent)
        self._settle(runner, call, call.outcome or Outcome.CONNECTED)

    def _settle(self, runner: CampaignRunner, call: Call, outcome: Outcome) -> None:
        """Queue the lead's release with the status and due time its retry rules give."""
        disposition = (runner.campaign.config.disposition(call.disposition)
                       if call.disposition else None)
        settled = runner.policy.settle(outcome, call.lead.attempt_count + 1, self.clock.now(),
                                       abandoned=call.abandoned, disposition=disposition)
        self.deferred.settle(call.lead.id, settled.status, settled.next_attempt_at, outcome)

    async def _serve_waiting(self, agent: AgentSession) -> None:
        waiting = [c for c in self.calls.values() if c.stage is Stage.WAITING
                   and self.runners[c.campaign_id].campaign.serves(agent.agent_id)]
        if waiting:
            await self._connect(min(waiting, key=lambda c: c.deadline or 0.0), agent)

    # -- keys and refusals ------------------------------------------------------------

    async def _on_dtmf(self, event: Dtmf) -> None:
        call = self.calls.get(event.channel_id)
        if call is not None:
            key = self.runners[call.campaign_id].campaign.config.opt_out_key
            if key is not None and event.digit == key and not call.refused:
                call.refused = True
                self._spawn(self._customer_opt_out(call))
            return
        agent = self.agents.by_channel(event.channel_id)
        if agent is not None:
            await self._agent_key(agent, event.digit)

    async def _customer_opt_out(self, call: Call) -> None:
        await self._refuse(call, Source.OPT_OUT_KEY)
        confirmation = self.runners[call.campaign_id].campaign.config.opt_out_confirmation
        if confirmation and call.channel_id in self.calls:
            await self._play(call.channel_id, confirmation)
        await self._hangup(call.channel_id)

    async def _refuse(self, call: Call, source: Source) -> None:
        started = time.perf_counter()
        try:
            with real_io():
                outcome = await self.dnc.refuse(call.lead.number, source,
                                                evidence=str(call.attempt_id))
        except DncUnavailable as exc:
            log.error("refusal on attempt %s could not be committed: %s", call.attempt_id, exc)
            self._unhealthy(f"DNC unavailable: {exc}")
            return
        self.refusal_commit_s.append(time.perf_counter() - started)
        self.runners[call.campaign_id].counts["refusals"] += 1
        log.info("attempt %s: refusal (%s) at DNC version %d", call.attempt_id, source.value,
                 outcome.version)

    async def _on_refusal(self, refusal: Refusal) -> None:
        """After a refusal commits: forget queued leads with the number everywhere, mark
        its leads DNC, and hang up calls to it that have not reached an agent."""
        started = time.perf_counter()
        for runner in self._runners_in_scope(refusal):
            runner.drop_number(refusal.digest)
        for call in list(self.calls.values()):
            if call.ticket.number_hash == refusal.digest and call.stage in (
                    Stage.RINGING, Stage.WAITING) and not call.refused:
                call.cancelled = True
                await self._hangup(call.channel_id)
        self.refusal_cancel_s.append(time.perf_counter() - started)
        try:
            with real_io():
                await self.store.leads.mark_dnc(refusal.digest, now=self.clock.now(),
                                                actor=f"node:{self.node_id}")
        except StoreUnavailable as exc:
            log.error("marking leads DNC failed (the gate still blocks them): %s", exc)
        if self.bus is not None:
            await publish_event(self.bus, dnc_added(refusal.digest, refusal.version))

    def _runners_in_scope(self, refusal: Refusal) -> list[CampaignRunner]:
        if refusal.scope is Scope.GLOBAL:
            return list(self.runners.values())
        if refusal.scope is Scope.TENANT:
            return [r for r in self.runners.values() if str(r.tenant_id) == refusal.scope_ref]
        return [r for r in self.runners.values() if str(r.id) == refusal.scope_ref]

    async def _agent_key(self, agent: AgentSession, digit: str) -> None:
        call = self._handled.get(agent.attempt_id) if agent.attempt_id else None
        runners = ([self.runners[call.campaign_id]] if call is not None else
                   [r for r in self.runners.values() if r.campaign.serves(agent.agent_id)])
        codes: dict[str, Campaign] = {}
        for runner in runners:
            codes.update({c: runner.campaign for c in runner.campaign.config.agent_codes()})
        code = agent.key(digit, codes)
        if code is None:
            return
        campaign = codes[code]
        disposition = campaign.config.disposition(code)
        if disposition is not None and call is not None:
            await self._dispose(agent, call, disposition)
            return
        pause = campaign.config.pause_code(code)
        if pause is not None:
            await self._pause(agent, pause.name)
            return
        if call is not None:
            for hook in self.hooks:
                await self._hook(hook.agent_code(call.attempt_id, code))

    async def _dispose(self, agent: AgentSession, call: Call, disposition: Disposition) -> None:
        call.disposition = disposition.name
        self.store.update_attempt(call.attempt_id, disposition=disposition.name)
        log.info("agent %s: attempt %s disposed as %s", agent.agent_id, call.attempt_id,
                 disposition.name)
        if disposition.refusal and not call.refused:
            call.refused = True
            await self._refuse(call, Source.AGENT)
        if agent.state is AgentState.WRAP_UP and agent.attempt_id == call.attempt_id:
            await self._finish_wrapup(agent, call)

    async def _pause(self, agent: AgentSession, name: str) -> None:
        loop_now = self._now()
        if agent.state is AgentState.PAUSED:
            self.agents.set_state(agent, AgentState.READY, loop_now)
            self._agent_state(agent, AgentState.PAUSED, None)
            await self._serve_waiting(agent)
        elif agent.state is AgentState.READY:
            self.agents.set_state(agent, AgentState.PAUSED, loop_now)
            agent.pause_code = name
            self._agent_state(agent, AgentState.READY, None)

    # -- agents -----------------------------------------------------------------------

    async def _on_login(self, event: AgentLogin) -> None:
        now = self.clock.now()
        tenants = {r.tenant_id for r in self.runners.values() if r.tenant_id is not None}
        info = None
        with real_io():
            for tenant_id in sorted(tenants):
                info = await self.store.agents.authenticate(tenant_id, event.agent_id,
                                                            event.pin)
                if info is not None:
                    break
        if info is None:
            self.agents.wrong_pins += 1
            log.warning("agent login refused for id %s: wrong id or PIN", event.agent_id)
            await self._hangup(event.channel_id, CAUSE_REJECTED)
            return
        previous = self.agents.logged_in(event.agent_id)
        if previous is not None:
            await self._hangup(previous.channel_id)
        bridge_id = str(uuid.uuid4())
        try:
            await self.telephony.answer(event.channel_id)
            await self.telephony.create_bridge(bridge_id)
            await self.telephony.add_to_bridge(bridge_id, event.channel_id)
        except TelephonyError as exc:
            log.warning("agent %s could not be seated: %s", event.agent_id, exc)
            return
        with real_io():
            session_id = await self.store.agents.open_session(info.id, at=now)
        session = AgentSession(event.agent_id, info.id, info.tenant_id, event.channel_id,
                               bridge_id, session_id)
        session.login_at = self._now()
        self.agents.add(session)
        self.agents.set_state(session, AgentState.READY, self._now())
        self._agent_state(session, None, None)
        log.info("agent %s logged in", event.agent_id)
        await self._serve_waiting(session)

    async def _logout(self, agent: AgentSession) -> None:
        self.agents.remove(agent.channel_id, self._now())
        for call in list(self.calls.values()):
            if call.agent is agent and call.stage is Stage.CONNECTED:
                await self._hangup(call.channel_id)
        await self.telephony.destroy_bridge(agent.bridge_id)
        if agent.attempt_id is not None and agent.attempt_id in self._handled:
            await self._finish_wrapup(agent, self._handled[agent.attempt_id])
        try:
            with real_io():
                await self.store.agents.close_session(agent.session_id, at=self.clock.now())
        except (StoreUnavailable, LookupError) as exc:
            log.warning("closing agent %s's session failed: %s", agent.agent_id, exc)
        log.info("agent %s logged out", agent.agent_id)

    # -- status -----------------------------------------------------------------------

    def status(self) -> EngineStatus:
        """What the live view shows: agents, campaigns, calls, abandon windows, health."""
        loop_now, now = self._now(), self.clock.now()
        agents = tuple(AgentView(a.agent_id, _AGENT_VIEW_STATES[a.state], loop_now - a.since,
                                 a.calls, a.pause_code)
                       for a in sorted(self.agents, key=lambda a: a.agent_id))
        return EngineStatus(
            node_id=self.node_id, started_at=self.started_at, now=now, healthy=self.healthy,
            unhealthy_reason=self.unhealthy_reason, draining=self.draining,
            dnc_version=self.dnc.version, agents=agents,
            campaigns=tuple(self._campaign_view(r, now) for r in self.runners.values()),
            occupancy=self.agents.occupancy(loop_now))

    def _campaign_view(self, runner: CampaignRunner, now: datetime) -> CampaignView:
        stages = Counter(c.stage for c in runner.calls.values())
        in_amd = sum(1 for c in runner.calls.values()
                     if c.stage is Stage.RINGING and c.up_at is not None)
        budget = runner.accounting.budget(now.timestamp())
        windows = tuple(WindowView(name, float(a), float(b), runner.campaign.abandon_limit)
                        for name, a, b in zip(budget.windows, budget.answers, budget.abandons,
                                              strict=True))
        state = runner.state
        status = ("draining" if self.draining else "unknown" if state is None else
                  "frozen" if state.campaign_frozen(now) or state.tenant_frozen(now)
                  else str(state.info.status))
        decision = runner.last_decision
        counts = runner.counts
        return CampaignView(
            campaign_id=runner.id, name=runner.campaign.config.name,
            mode=decision.mode.name.lower() if decision else
            runner.campaign.pacing_settings().mode.name.lower(), state=status,
            ringing=stages[Stage.RINGING] - in_amd, in_amd=in_amd,
            waiting_for_agent=stages[Stage.WAITING],
            connected=stages[Stage.CONNECTED], dialled=counts["dialled"],
            answered=counts["answered"], human=counts["human"], machine=counts["machine"],
            abandoned=counts["abandoned"], refusals=counts["refusals"],
            leads_left=max(runner.leads_left, 0), windows=windows,
            denials=dict(runner.denials),
            last_decision=decision.reason.name.lower() if decision else "")

    # -- reconciliation ---------------------------------------------------------------

    async def reconcile(self) -> int:
        """Close this node's attempts left open by a previous run (hanging up any of
        their channels still up) and release its leads, and the leads its hoppers held
        claimed then; returns how many attempts were closed."""
        with real_io():
            open_attempts = await self.store.attempts.open_attempts(self.node_id)
        live = await self.telephony.live_channels()
        by_attempt = {c.attempt_id: c for c in live if c.attempt_id is not None}
        ours = {c.channel_id for c in self.calls.values()}
        now = self.clock.now()
        closed = 0
        for attempt in open_attempts:
            if any(c.attempt_id == attempt.id for c in self.calls.values()):
                continue
            channel = by_attempt.get(attempt.id)
            if channel is not None:
                await self._hangup(channel.channel_id)
            self._close_orphan(attempt, now)
            closed += 1
        for channel in live:
            if channel.in_application and channel.channel_id not in ours and \
                    channel.attempt_id is None and not self.agents.by_channel(channel.channel_id):
                await self._hangup(channel.channel_id)  # an agent seat of a previous run
        held = [lead_id for r in self.runners.values() for lead_id in r.hopper.lead_ids]
        with real_io():
            await self.deferred.flush()
            released = await self.store.leads.release_own_claims(keep=held)
            await self.store.flush()
        if closed or released:
            log.warning("reconciled %d attempts left open and %d leads left claimed by a "
                        "previous run", closed, released)
        return closed

    async def _on_reconnected(self, event: Reconnected) -> None:
        live = {c.channel_id for c in await self.telephony.live_channels()}
        for channel_id in [c for c in self.calls if c not in live]:
            await self._on_ended(CallEnded(channel_id, CAUSE_NORMAL))
        for agent in list(self.agents):
            if agent.channel_id not in live:
                await self._logout(agent)
        log.warning("phone system link back (restarted=%s): calls reconciled", event.restarted)

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    @staticmethod
    def _later(delay: float, callback: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback, *args)

    def _unhealthy(self, reason: str) -> None:
        """Fail closed: the gate denies every call while the store or DNC is down; the
        first tick that works again makes the node healthy."""
        if self.healthy:
            log.error("not dialling: %s", reason)
        self.healthy, self.unhealthy_reason = False, reason
        self._tick_failed = True

    def _healthy_again(self) -> None:
        log.warning("dialling again (was: %s)", self.unhealthy_reason)
        self.healthy, self.unhealthy_reason = True, None

    async def _hangup(self, channel_id: str, cause: int = CAUSE_NORMAL) -> None:
        try:
            await self.telephony.hangup(channel_id, cause)
        except TelephonyError as exc:
            log.warning("hang-up of %s failed: %s", channel_id, exc)

    async def _play(self, channel_id: str, sound: str) -> bool:
        try:
            return await self.telephony.play(channel_id, f"sound:{sound}")
        except TelephonyError as exc:
            log.warning("playing %s to %s failed: %s", sound, channel_id, exc)
            return False

    async def _hook(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("a call hook failed")

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("engine task failed")

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish_call(self, call: Call, state: str, previous: str | None, *,
                      agent: str | None = None) -> None:
        if self.bus is not None:
            self._spawn(publish_event(self.bus, call_state(
                self.node_id, call.attempt_id, at=self.clock.now(), campaign=call.campaign_id,
                number=call.lead.number, state=state, previous=previous,
                outcome=None if call.outcome is None else str(call.outcome),
                agent=agent, amd=call.amd_status)))

    def _agent_state(self, agent: AgentSession, previous: AgentState | None,
                     call: Call | None) -> None:
        now = self.clock.now()
        self.deferred.agent_state(agent.session_id, agent.state, now)
        if self.bus is not None:
            self._spawn(publish_event(self.bus, agent_state(
                self.node_id, agent.agent_id, at=now, state=str(agent.state),
                previous=None if previous is None else str(previous),
                campaign=None if call is None else call.campaign_id,
                call=None if call is None else call.attempt_id)))

