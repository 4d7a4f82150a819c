"""A simulated phone system: customers and agent phones on asyncio timers.

It answers the engine exactly as `AriTelephony` does (the events of `protocol.py`), so
the same engine runs against it in virtual time (`dialer simulate`, the engine tests).
Customers draw their fate from `pacing.CustomerModel` (who answers, after how long, what
AMD says, how long they talk); some live customers press the opt-out key; agent phones
log in on a schedule and key dispositions after some calls.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from dialer.gate import DialTicket
from dialer.telephony.protocol import (
    CAUSE_BUSY,
    CAUSE_CONGESTION,
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    AgentLogin,
    CallAnswered,
    CallEnded,
    CallUp,
    Dtmf,
    LiveChannel,
    OriginateRequest,
    TelephonyError,
    TelephonyEvent,
)
from pacing import CustomerModel, Outcome, Truth

# A live customer left waiting without an agent hangs up after this many seconds.
CUSTOMER_PATIENCE_S = 20.0
# How long a played sound lasts in the simulation.
SOUND_SECONDS = 4.0


@dataclass(frozen=True, slots=True)
class SimAgent:
    """An agent phone: logs in `login_at` seconds after start, out at `logout_at`."""

    agent_id: str
    pin: str
    login_at: float = 0.0
    logout_at: float | None = None


@dataclass(frozen=True, slots=True)
class SimBehaviour:
    """What simulated people do besides the customer model's timings."""

    opt_out_share: float = 0.0          # live customers who press the opt-out key
    opt_out_key: str = "9"
    opt_out_after_s: float = 3.0        # seconds after being connected (or answering)
    refusal_code_share: float = 0.0     # connected calls the agent codes as refused
    refusal_code: str = "*9"
    sale_code_share: float = 0.0        # connected calls the agent codes as final
    sale_code: str = "*1"


@dataclass(slots=True)
class _Channel:
    channel_id: str
    attempt_id: uuid.UUID | None
    agent: SimAgent | None = None
    answered: bool = False
    verdict: str | None = None
    talk: float = 0.0
    wants_out: bool = False
    bridge: str | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


class SimTelephony:
    """Customers from a `CustomerModel` and agent phones, driven by the running loop."""

    def __init__(self, customers: CustomerModel, *, seed: int = 0,
                 agents: Sequence[SimAgent] = (), behaviour: SimBehaviour | None = None
                 ) -> None:
        self._customers = customers
        self._rng = np.random.default_rng(seed)
        self._agents = list(agents)
        self._behaviour = behaviour or SimBehaviour()
        self._queue: asyncio.Queue[TelephonyEvent] = asyncio.Queue()
        self._channels: dict[str, _Channel] = {}
        self._bridges: dict[str, set[str]] = {}
        self._started = False
        self._ids = itertools.count(1)
        self.originated = 0
        self.dialled: list[uuid.UUID] = []

    def _later(self, channel: _Channel, delay: float, fn: object, *args: object) -> None:
        loop = asyncio.get_running_loop()
        channel.timers.append(loop.call_later(max(delay, 0.0), fn, *args))  # type: ignore[arg-type]

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        for agent in self._agents:
            loop.call_later(agent.login_at, self._login, agent)

    def _login(self, agent: SimAgent) -> None:
        channel = _Channel(f"sim-agent-{agent.agent_id}-{next(self._ids)}", None, agent=agent,
                           answered=True)
        self._channels[channel.channel_id] = channel
        if agent.logout_at is not None:
            self._later(channel, agent.logout_at - agent.login_at, self._end, channel,
                        CAUSE_NORMAL)
        self._queue.put_nowait(AgentLogin(channel.channel_id, agent.agent_id, agent.pin))

    async def events(self) -> AsyncIterator[TelephonyEvent]:
        """Every event in order (the agents' logins are scheduled on first use)."""
        self._start()
        while True:
            yield await self._queue.get()

    async def originate(self, ticket: DialTicket, request: OriginateRequest) -> None:
        """Ring a simulated customer whose fate is drawn now."""
        self._start()
        if request.channel_id in self._channels:
            raise TelephonyError(f"channel {request.channel_id} exists")
        fate = self._customers.draw(self._rng, 1)
        channel = _Channel(request.channel_id, ticket.attempt_id)
        self._channels[channel.channel_id] = channel
        self.originated += 1
        self.dialled.append(ticket.attempt_id)
        truth, outcome = int(fate.truth[0]), int(fate.outcome[0])
        answer, verdict = float(fate.answer[0]), float(fate.verdict[0])
        if not request.amd and np.isfinite(answer):
            verdict, outcome = answer, int(Outcome.HUMAN)
        if np.isfinite(answer) and answer < request.ring_timeout:
            channel.talk = float(fate.talk[0])
            status = ("NOTUSED" if not request.amd else
                      "HUMAN" if outcome == Outcome.HUMAN else "MACHINE")
            channel.wants_out = (truth == Truth.LIVE and
                                 self._rng.random() < self._behaviour.opt_out_share)
            self._later(channel, answer, self._answer, channel)
            self._later(channel, verdict, self._verdict, channel, status, verdict - answer)
            return
        if truth == Truth.BUSY:
            self._later(channel, float(fate.end[0]), self._end, channel, CAUSE_BUSY)
        elif truth == Truth.FAILED:
            self._later(channel, float(fate.end[0]), self._end, channel, CAUSE_CONGESTION)
        else:
            self._later(channel, request.ring_timeout, self._end, channel, CAUSE_NO_ANSWER)

    def _answer(self, channel: _Channel) -> None:
        channel.answered = True
        self._queue.put_nowait(CallUp(channel.channel_id))

    def _verdict(self, channel: _Channel, status: str, amd_seconds: float) -> None:
        assert channel.attempt_id is not None
        channel.verdict = status
        self._queue.put_nowait(CallAnswered(channel.channel_id, channel.attempt_id, status,
                                            "SIM", amd_seconds))
        if status == "MACHINE":
            self._later(channel, 30.0, self._end, channel, CAUSE_NORMAL)
            return
        if channel.wants_out:
            self._later(channel, self._behaviour.opt_out_after_s, self._press, channel,
                        self._behaviour.opt_out_key)
        self._later(channel, CUSTOMER_PATIENCE_S, self._end, channel, CAUSE_NORMAL)

    def press(self, channel_id: str, digits: str) -> None:
        """A simulated person keys `digits` on a channel now (e.g. an agent's pause code)."""
        channel = self._channels.get(channel_id)
        if channel is not None:
            self._press(channel, digits)

    def _press(self, channel: _Channel, digits: str) -> None:
        if channel.channel_id in self._channels:
            for digit in digits:
                self._queue.put_nowait(Dtmf(channel.channel_id, digit))

    def _end(self, channel: _Channel, cause: int) -> None:
        if self._channels.pop(channel.channel_id, None) is None:
            return
        channel.cancel()
        if channel.bridge is not None:
            self._bridges.get(channel.bridge, set()).discard(channel.channel_id)
            self._customer_left(channel)
        self._queue.put_nowait(CallEnded(channel.channel_id, cause, channel.answered))

    def _customer_left(self, customer: _Channel) -> None:
        """A connected customer hung up: the agent in that bridge may key a code."""
        if customer.agent is not None or customer.bridge is None:
            return
        for member in self._bridges.get(customer.bridge, set()):
            agent = self._channels.get(member)
            if agent is None or agent.agent is None:
                continue
            roll = self._rng.random()
            b = self._behaviour
            code = (b.refusal_code if roll < b.refusal_code_share else
                    b.sale_code if roll < b.refusal_code_share + b.sale_code_share else None)
            if code is not None:
                self._later(agent, 1.0, self._press, agent, code)

    async def hangup(self, channel_id: str, cause: int = CAUSE_NORMAL) -> None:
        """End a channel now (no error if it is gone)."""
        channel = self._channels.get(channel_id)
        if channel is not None:
            self._end(channel, cause)

    async def answer(self, channel_id: str) -> None:
        """Agent phones are answered already."""
        if channel_id not in self._channels:
            raise TelephonyError(f"channel {channel_id} is gone")

    async def create_bridge(self, bridge_id: str) -> None:
        """A bridge is a set of channel ids."""
        self._bridges.setdefault(bridge_id, set())

    async def add_to_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Join a bridge; a customer joining an agent starts talking (its talk time)."""
        channel = self._channels.get(channel_id)
        members = self._bridges.get(bridge_id)
        if channel is None or members is None:
            raise TelephonyError(f"channel {channel_id} or bridge {bridge_id} is gone")
        if channel.bridge is not None:
            self._bridges.get(channel.bridge, set()).discard(channel_id)
        members.add(channel_id)
        channel.bridge = bridge_id
        if channel.agent is None:
            channel.cancel()
            self._later(channel, channel.talk, self._end, channel, CAUSE_NORMAL)
            if channel.wants_out:
                self._later(channel, self._behaviour.opt_out_after_s, self._press, channel,
                            self._behaviour.opt_out_key)

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Leave a bridge."""
        self._bridges.get(bridge_id, set()).discard(channel_id)
        channel = self._channels.get(channel_id)
        if channel is not None and channel.bridge == bridge_id:
            channel.bridge = None

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Forget a bridge."""
        for member in self._bridges.pop(bridge_id, set()):
            channel = self._channels.get(member)
            if channel is not None:
                channel.bridge = None

    async def play(self, channel_id: str, media: str) -> bool:
        """A sound lasts `SOUND_SECONDS`; False if the channel ends first."""
        if channel_id not in self._channels:
            return False
        await asyncio.sleep(SOUND_SECONDS)
        return channel_id in self._channels

    async def live_channels(self) -> list[LiveChannel]:
        """The channels up now."""
        return [LiveChannel(c.channel_id, c.attempt_id, "Up" if c.answered else "Ring",
                            c.verdict is not None or c.agent is not None)
                for c in self._channels.values()]

    async def close(self) -> None:
        """Stop every timer."""
        for channel in self._channels.values():
            channel.cancel()
