"""A discrete-event simulation of one campaign, driving any pacing policy.

Virtual clock: a heap of (time, seq, kind, payload); `seq` breaks ties in the order
events were scheduled, so a seed gives the same run every time. Only three things are
events: a policy tick, a live verdict (the call needs an agent), an agent becoming
free, plus agent log-ins and log-outs. Everything else (a call ringing out, busy,
hung up as a machine, an agent moving from talk to wrap-up) follows from times drawn
when the call starts, and is read off arrays when the snapshot is built.

Answers queue first-in first-out for a free agent until their deadline; the longest
idle agent takes the next call.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from pacing.accounting import DEFAULT_WINDOWS, AbandonAccounting, Window
from pacing.customers import CallFates, CustomerModel, Truth
from pacing.errors import InvalidSettings
from pacing.metrics import RunLog, SimulationResult, summarise
from pacing.pacer import PacingPolicy
from pacing.types import CallOutcomes, CallStage, HandleTimes, Outcome, Snapshot

_TICK, _VERDICT, _FREE, _LOGIN, _LOGOUT = range(5)
_OFF, _READY, _BUSY = range(3)
_RINGING, _AMD, _QUEUED = int(CallStage.RINGING), int(CallStage.AMD), int(CallStage.QUEUED)
_HUMAN = int(Outcome.HUMAN)


@dataclass(frozen=True)
class AgentShift:
    """One agent's session: logs in at `login`, out at `logout` (seconds)."""

    login: float
    logout: float


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: customers, agents' shifts, duration, tick and accounting."""

    customers: CustomerModel
    shifts: tuple[AgentShift, ...]
    duration: float
    tick: float = 1.0
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    amd_false_positive_estimate: float = 0.0   # UK-style estimate added by the accounting
    series_step: float = 60.0                  # time-series resolution of the result

    def __post_init__(self) -> None:
        if not self.duration > 0:
            raise InvalidSettings("duration", self.duration)
        if not self.tick > 0:
            raise InvalidSettings("tick", self.tick)

    @classmethod
    def steady(cls, customers: CustomerModel, agents: int, hours: float,
               **kw: object) -> SimulationConfig:
        """`agents` agents logged in for the whole run."""
        duration = hours * 3600.0
        shifts = tuple(AgentShift(0.0, duration) for _ in range(agents))
        return cls(customers, shifts, duration, **kw)  # type: ignore[arg-type]


class _Calls:
    """Calls not yet connected to an agent, in a pool of slots (arrays grow as needed)."""

    _FIELDS = ("active", "start", "answer", "verdict", "end", "deadline", "outcome",
               "truth", "talk", "wrapup")

    def __init__(self, cap: int = 1024) -> None:
        self.cap = cap
        self.active = np.zeros(cap, dtype=bool)
        self.start = np.zeros(cap)
        self.answer = np.zeros(cap)
        self.verdict = np.zeros(cap)
        self.end = np.zeros(cap)
        self.deadline = np.zeros(cap)
        self.outcome = np.zeros(cap, dtype=np.int64)
        self.truth = np.zeros(cap, dtype=np.int64)
        self.talk = np.zeros(cap)
        self.wrapup = np.zeros(cap)
        self.free: list[int] = list(range(cap - 1, -1, -1))

    def grow(self) -> None:
        old = self.cap
        self.cap *= 2
        for name in self._FIELDS:
            arr = getattr(self, name)
            new = np.zeros(self.cap, dtype=arr.dtype)
            new[:old] = arr
            setattr(self, name, new)
        self.free.extend(range(self.cap - 1, old - 1, -1))

    def add(self, now: float, fates: CallFates) -> np.ndarray:
        while len(self.free) < len(fates):
            self.grow()
        slots = np.array([self.free.pop() for _ in range(len(fates))], dtype=np.int64)
        self.active[slots] = True
        self.start[slots] = now
        self.answer[slots] = now + fates.answer
        self.verdict[slots] = now + fates.verdict
        self.end[slots] = now + fates.end
        self.deadline[slots] = now + fates.deadline
        self.outcome[slots] = fates.outcome
        self.truth[slots] = fates.truth
        self.talk[slots] = fates.talk
        self.wrapup[slots] = fates.wrapup
        return slots

    def release(self, slots: np.ndarray) -> None:
        self.active[slots] = False
        self.free.extend(int(s) for s in slots)


class Simulation:
    """One run: a config, a policy and a seed."""

    def __init__(self, config: SimulationConfig, policy: PacingPolicy, seed: int) -> None:
        self.config = config
        self.policy = policy
        self.rng = np.random.default_rng(seed)
        self.cust = config.customers
        self.accounting = AbandonAccounting(
            config.windows, amd_false_positive_rate=config.amd_false_positive_estimate)
        n = len(config.shifts)
        self.agent_state = np.full(n, _OFF, dtype=np.int64)
        self.agent_connect = np.zeros(n)
        self.agent_talk_end = np.zeros(n)
        self.agent_talk_told = np.zeros(n, dtype=bool)   # its talk reported to the policy
        self.agent_free_at = np.zeros(n)
        self.agent_leaving = np.zeros(n, dtype=bool)
        self.ready: deque[int] = deque()
        self.ready_since = np.zeros(n)
        self.calls = _Calls()
        self.queue: deque[int] = deque()       # slots of HUMAN calls waiting for an agent
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.now = 0.0
        self.log = RunLog(n)
        self._fates: CallFates | None = None
        self._fate_pos = 0
        self._done_ring: list[float] = []     # HUMAN outcomes not yet reported
        self._done_amd: list[float] = []
        self._done_abandoned: list[bool] = []
        self._done_talk: list[float] = []     # handle times not yet reported
        self._done_wrap: list[float] = []
        self._done_start: list[float] = []

    def run(self) -> SimulationResult:
        """Simulate to the end and summarise."""
        cfg = self.config
        for i, shift in enumerate(cfg.shifts):
            self._push(shift.login, _LOGIN, i)
            self._push(min(shift.logout, cfg.duration), _LOGOUT, i)
        self._push(0.0, _TICK, 0)
        while self.heap:
            t, _, kind, arg = heapq.heappop(self.heap)
            if t > cfg.duration:
                break
            self.now = t
            if kind == _TICK:
                self._tick()
            elif kind == _VERDICT:
                self._verdict(arg)
            elif kind == _FREE:
                self._agent_free(arg)
            elif kind == _LOGIN:
                self._login(arg)
            else:
                self._logout(arg)
        self.now = cfg.duration
        self._expire_queue(cfg.duration)
        self._release_finished(cfg.duration)
        for agent in np.flatnonzero(self.agent_state != _OFF).tolist():
            self.log.logout(agent, cfg.duration)
        return summarise(self.log, cfg.duration, cfg.series_step,
                         self.accounting.budget(cfg.duration))

    # events ---------------------------------------------------------------------------

    def _push(self, t: float, kind: int, arg: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, arg))

    def _tick(self) -> None:
        now = self.now
        self._expire_queue(now)
        self._release_finished(now)
        self._talks_ended(now)
        self._report()
        snap = self._snapshot(now)
        self.log.sample_lines(snap.lines)
        n = self.policy.decide(snap, now).calls
        if n > 0:
            self._originate(n)
        self._push(now + self.config.tick, _TICK, 0)

    def _verdict(self, slot: int) -> None:
        if self.ready:
            self._connect(slot, self.ready.popleft())
        else:
            self.queue.append(slot)

    def _agent_free(self, agent: int) -> None:
        now = self.now
        told = self.agent_talk_told[agent]
        self._done_talk.append(math.nan if told else
                               self.agent_talk_end[agent] - self.agent_connect[agent])
        self._done_wrap.append(now - self.agent_talk_end[agent])
        self._done_start.append(math.nan if told else self.agent_connect[agent])
        if self.agent_leaving[agent]:
            self.agent_state[agent] = _OFF
            self.agent_leaving[agent] = False
            self.log.logout(agent, now)
        else:
            self._make_ready(agent)

    def _login(self, agent: int) -> None:
        if self.agent_state[agent] != _OFF:
            return
        self.log.login(agent, self.now)
        self._make_ready(agent)

    def _logout(self, agent: int) -> None:
        if self.agent_state[agent] == _READY:
            self.ready.remove(agent)
            self.agent_state[agent] = _OFF
            self.log.logout(agent, self.now)
        elif self.agent_state[agent] == _BUSY:
            self.agent_leaving[agent] = True

    # mechanics ------------------------------------------------------------------------

    def _make_ready(self, agent: int) -> None:
        self._expire_queue(self.now)
        if self.queue:
            self._connect(self.queue.popleft(), agent)
            return
        self.agent_state[agent] = _READY
        self.ready_since[agent] = self.now
        self.ready.append(agent)

    def _connect(self, slot: int, agent: int) -> None:
        now = self.now
        c = self.calls
        if self.agent_state[agent] == _READY:
            self.log.agent_wait(now - self.ready_since[agent])
        self.agent_state[agent] = _BUSY
        self.agent_connect[agent] = now
        self.agent_talk_end[agent] = now + c.talk[slot]
        self.agent_talk_told[agent] = False
        self.agent_free_at[agent] = now + c.talk[slot] + c.wrapup[slot]
        self._push(self.agent_free_at[agent], _FREE, agent)
        self.log.connect(now, c.talk[slot])
        self._answered(slot, now, abandoned=False)

    def _expire_queue(self, now: float) -> None:
        c = self.calls
        while self.queue and c.deadline[self.queue[0]] < now:
            slot = self.queue.popleft()
            self._answered(slot, c.deadline[slot], abandoned=True)

    def _answered(self, slot: int, at: float, abandoned: bool) -> None:
        c = self.calls
        self.accounting.record_answer(at, abandoned)
        self.log.answer(at, abandoned, truly_live=c.truth[slot] == Truth.LIVE)
        self._done_ring.append(c.answer[slot] - c.start[slot])
        self._done_amd.append(c.verdict[slot] - c.answer[slot])
        self._done_abandoned.append(abandoned)
        c.release(np.array([slot]))

    def _release_finished(self, now: float) -> None:
        c = self.calls
        done = np.flatnonzero(c.active & (c.end <= now) & (c.outcome != _HUMAN))
        if done.size == 0:
            return
        outcome = c.outcome[done]
        answered = np.isfinite(c.answer[done])
        ring = np.where(answered, c.answer[done], c.end[done]) - c.start[done]
        amd = np.full(done.size, np.nan)
        amd[answered] = c.verdict[done][answered] - c.answer[done][answered]
        machine = outcome == int(Outcome.MACHINE)
        if machine.any():
            self.accounting.record_machine_verdicts(c.verdict[done][machine])
        self.log.false_positives += int((machine & (c.truth[done] == Truth.LIVE)).sum())
        self.policy.observe_calls(CallOutcomes(outcome, ring, amd,
                                               np.zeros(done.size, dtype=bool)))
        c.release(done)

    def _talks_ended(self, now: float) -> None:
        """Queue the talks that ended since the last tick (their agents are in wrap-up)."""
        ended = np.flatnonzero((self.agent_state == _BUSY) & ~self.agent_talk_told
                               & (self.agent_talk_end <= now))
        if ended.size:
            self.agent_talk_told[ended] = True
            talk = self.agent_talk_end[ended] - self.agent_connect[ended]
            self._done_talk.extend(talk.tolist())
            self._done_wrap.extend([math.nan] * ended.size)
            self._done_start.extend(self.agent_connect[ended].tolist())

    def _report(self) -> None:
        """Tell the policy what ended since the last tick (in batches)."""
        if self._done_ring:
            n = len(self._done_ring)
            self.policy.observe_calls(CallOutcomes(
                np.full(n, _HUMAN), np.array(self._done_ring),
                np.array(self._done_amd), np.array(self._done_abandoned)))
            self._done_ring.clear()
            self._done_amd.clear()
            self._done_abandoned.clear()
        if self._done_talk:
            self.policy.observe_handles(HandleTimes(np.array(self._done_talk),
                                                    np.array(self._done_wrap),
                                                    np.array(self._done_start)))
            self._done_talk.clear()
            self._done_wrap.clear()
            self._done_start.clear()

    def _originate(self, n: int) -> None:
        fates = self._draw(n)
        slots = self.calls.add(self.now, fates)
        self.log.dials += n
        human = np.flatnonzero(fates.outcome == _HUMAN)
        for i in human:
            self._push(self.now + float(fates.verdict[i]), _VERDICT, int(slots[i]))

    def _draw(self, n: int) -> CallFates:
        """n fates from a pre-drawn block (drawing in blocks keeps numpy calls few)."""
        if self._fates is None or self._fate_pos + n > len(self._fates):
            self._fates = self.cust.draw(self.rng, max(4096, n))
            self._fate_pos = 0
        f, a, b = self._fates, self._fate_pos, self._fate_pos + n
        self._fate_pos = b
        return CallFates(f.truth[a:b], f.outcome[a:b], f.answer[a:b], f.verdict[a:b],
                         f.end[a:b], f.deadline[a:b], f.talk[a:b], f.wrapup[a:b])

    def _snapshot(self, now: float) -> Snapshot:
        c = self.calls
        idx = np.flatnonzero(c.active)
        answer = c.answer[idx]
        verdict = c.verdict[idx]
        stage = np.where(now < answer, _RINGING, np.where(now < verdict, _AMD, _QUEUED))
        since = np.where(stage == _RINGING, c.start[idx],
                         np.where(stage == _AMD, answer, verdict))
        busy = self.agent_state == _BUSY
        talking = busy & (now < self.agent_talk_end)
        wrapping = busy & ~talking
        return Snapshot(
            ready_agents=len(self.ready),
            busy_elapsed=now - self.agent_connect[talking],
            wrapup_elapsed=now - self.agent_talk_end[wrapping],
            call_stage=stage.astype(np.int64),
            call_elapsed=now - since,
            budget=self.accounting.budget(now),
            busy_remaining=self.agent_free_at[talking] - now,
            wrapup_remaining=self.agent_free_at[wrapping] - now,
        )


def simulate(config: SimulationConfig, policy: PacingPolicy, seed: int) -> SimulationResult:
    """Run one seeded simulation of `config` under `policy`."""
    return Simulation(config, policy, seed).run()
