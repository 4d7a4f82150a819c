"""Agents on their phones: sessions, states, longest-idle selection and keyed codes.

An agent logs in by calling the login extension with id and PIN; the engine keeps that
call up for the whole session, parked alone in the agent's own bridge while ready. A
customer is connected by joining that bridge. States: ready → talking → wrap-up → ready,
and paused (a pause code) from ready or wrap-up. Codes are keyed as DTMF: `*` starts a
code, the digits after it complete it (`*9`, `*0`, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dialer.store import AgentState

MAX_CODE_LENGTH = 4


@dataclass(slots=True)
class AgentSession:
    """One logged-in agent as the engine tracks it (times are loop seconds)."""

    agent_id: str                 # the login id keyed on the phone
    db_id: int
    tenant_id: int
    channel_id: str
    bridge_id: str
    session_id: int
    state: AgentState = AgentState.READY
    since: float = 0.0            # when the current state began
    idle_since: float = 0.0       # when the agent last became ready (longest idle first)
    calls: int = 0
    login_at: float = 0.0
    talk_started: float = 0.0
    talk_total: float = 0.0       # seconds talking in finished calls
    pause_code: str | None = None
    attempt_id: uuid.UUID | None = None    # the call being handled (talking or wrap-up)
    keyed: str = field(default="", repr=False)

    def key(self, digit: str, codes: Iterable[str]) -> str | None:
        """Add a keyed digit; the completed code when the digits so far spell one."""
        if digit == "*":
            self.keyed = "*"
            return None
        if not self.keyed:
            return None
        self.keyed += digit
        known = set(codes)
        if self.keyed in known:
            code, self.keyed = self.keyed, ""
            return code
        if len(self.keyed) >= MAX_CODE_LENGTH or not any(c.startswith(self.keyed)
                                                         for c in known):
            self.keyed = ""
        return None


class AgentPool:
    """The agents logged in on this node."""

    def __init__(self) -> None:
        self._by_channel: dict[str, AgentSession] = {}
        self.wrong_pins = 0
        self._gone_talk = 0.0       # talk and logged-in seconds of ended sessions
        self._gone_logged_in = 0.0

    def __len__(self) -> int:
        return len(self._by_channel)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._by_channel.values()))

    def add(self, session: AgentSession) -> None:
        """A new session (its phone's channel is its key)."""
        self._by_channel[session.channel_id] = session

    def remove(self, channel_id: str, now: float) -> AgentSession | None:
        """End a session (the phone hung up) at loop time `now`."""
        session = self._by_channel.pop(channel_id, None)
        if session is not None:
            self._gone_talk += self._talk(session, now)
            self._gone_logged_in += now - session.login_at
        return session

    @staticmethod
    def _talk(session: AgentSession, now: float) -> float:
        current = now - session.talk_started if session.state is AgentState.TALKING else 0.0
        return session.talk_total + current

    def occupancy(self, now: float) -> float:
        """Talk time over logged-in time, of every session so far (0 before any)."""
        sessions = list(self._by_channel.values())
        logged_in = self._gone_logged_in + sum(now - s.login_at for s in sessions)
        talk = self._gone_talk + sum(self._talk(s, now) for s in sessions)
        return talk / logged_in if logged_in > 0 else 0.0

    def by_channel(self, channel_id: str) -> AgentSession | None:
        """The session whose phone is this channel."""
        return self._by_channel.get(channel_id)

    def logged_in(self, agent_id: str) -> AgentSession | None:
        """The session of an agent id, if logged in."""
        return next((s for s in self._by_channel.values() if s.agent_id == agent_id), None)

    def serving(self, serves: Callable[[str], bool]) -> list[AgentSession]:
        """Sessions of the agents a campaign may use."""
        return [s for s in self._by_channel.values() if serves(s.agent_id)]

    def pick(self, serves: Callable[[str], bool]) -> AgentSession | None:
        """The longest-idle ready agent a campaign may use, if any."""
        ready = [s for s in self._by_channel.values()
                 if s.state is AgentState.READY and serves(s.agent_id)]
        return min(ready, key=lambda s: s.idle_since, default=None)

    def set_state(self, session: AgentSession, state: AgentState, now: float) -> None:
        """Move a session to a state at loop time `now`."""
        if session.state is AgentState.TALKING and state is not AgentState.TALKING:
            session.talk_total += now - session.talk_started
        session.state = state
        session.since = now
        if state is AgentState.READY:
            session.idle_since = now
            session.attempt_id = None
            session.pause_code = None
        if state is AgentState.TALKING:
            session.talk_started = now
