"""What the engine needs from a phone system, and what it hears back.

Two implementations: `AriTelephony` (a real Asterisk over ARI) and `SimTelephony`
(customers and agent phones simulated on asyncio timers, so it runs in virtual time).
The engine never talks to Asterisk except through this protocol.

Channels are named by ids the engine chooses (UUID strings) for customers, and by the
telephony for agent phones. Every event names the channel it is about.

Customer call life (what a `Telephony` reports, in order):
    originate(...)        -> the trunk rings the number (no event while it rings)
    CallUp                -> the callee answered; AMD is listening (optional: a phone
                             system that cannot tell leaves it out)
    CallAnswered          -> the callee answered and AMD gave its verdict (the dialplan
                             ran AMD() and entered Stasis(dialer,<attempt>,<status>,<cause>))
    Dtmf                  -> a key pressed on any channel the engine owns
    CallEnded             -> the channel is gone, with its hang-up cause (every
                             originated channel ends with exactly one CallEnded, answered
                             or not, even if originate itself failed after returning)
Agent phones:
    AgentLogin            -> a phone dialled the login extension (id and PIN as keyed);
                             the channel waits, answered, for the engine to accept it
                             (`answer` + `hold`) or to refuse it (`hangup`)
    CallEnded             -> the agent's phone hung up (a logout)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dialer.gate import DialTicket

# Q.850 hang-up causes the engine reads (Asterisk passes them through).
CAUSE_NORMAL = 16
CAUSE_BUSY = 17
CAUSE_NO_RESPONSE = 18
CAUSE_NO_ANSWER = 19
CAUSE_REJECTED = 21
CAUSE_UNALLOCATED = 1
CAUSE_NORMAL_UNSPECIFIED = 31
CAUSE_CONGESTION = 34
CAUSE_FAILURE = 38
CAUSE_TEMPORARY_FAILURE = 41
CAUSE_SWITCH_CONGESTION = 42


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """How to place one customer call (the ticket says which number and why)."""

    channel_id: str                # the engine's id for the customer channel (a UUID)
    endpoint: str                  # the trunk template filled in: PJSIP/+8613812345678@trunk
    caller_id: str | None
    ring_timeout: float            # seconds; the telephony gives up ringing after this
    amd: bool = True               # run AMD() on answer (False: verdict NOTUSED)
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """A channel the phone system still has (for reconciliation after a restart)."""

    channel_id: str
    attempt_id: uuid.UUID | None   # from the channel's DIALER_ATTEMPT, when it has one
    state: str                     # "Ring", "Up", ...
    in_application: bool           # inside Stasis(dialer) now


@dataclass(frozen=True, slots=True)
class CallUp:
    """A customer's channel answered (before AMD's verdict)."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """A customer answered and AMD gave its verdict (HUMAN, MACHINE, NOTSURE, NOTUSED);
    `amd_seconds`: from the answer to the verdict, when the phone system saw the answer."""

    channel_id: str
    attempt_id: uuid.UUID
    amd_status: str
    amd_cause: str = ""
    amd_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A channel is gone (customer or agent phone), with its Q.850 cause."""

    channel_id: str
    cause: int
    answered: bool = False


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key pressed on a channel the engine owns."""

    channel_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """An agent phone dialled the login extension with this id and PIN."""

    channel_id: str
    agent_id: str
    pin: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The link to the phone system came back (`restarted`: Asterisk itself restarted);
    the engine reconciles its calls with `live_channels()`."""

    restarted: bool


TelephonyEvent = CallUp | CallAnswered | CallEnded | Dtmf | AgentLogin | Reconnected


class TelephonyError(Exception):
    """A request to the phone system failed (the channel may be gone)."""


@runtime_checkable
class Telephony(Protocol):
    """A phone system the engine can place calls on, bridge, play to and hang up."""

    def events(self) -> AsyncIterator[TelephonyEvent]:
        """Every event, in the order the phone system reported them (one consumer)."""
        ...

    async def originate(self, ticket: DialTicket, request: OriginateRequest) -> None:
        """Start ringing the ticket's number; raises `TelephonyError` if it cannot start
        (then no `CallEnded` follows). Needs the gate's ticket: nothing else can dial."""
        ...

    async def hangup(self, channel_id: str, cause: int = CAUSE_NORMAL) -> None:
        """Hang a channel up (ringing or answered); a channel already gone is no error."""
        ...

    async def answer(self, channel_id: str) -> None:
        """Answer a channel waiting in the application (an agent's login call)."""
        ...

    async def create_bridge(self, bridge_id: str) -> None:
        """Create a mixing bridge that passes DTMF events."""
        ...

    async def add_to_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Put a channel in a bridge (it leaves any other bridge)."""
        ...

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Take a channel out of a bridge; gone channels or bridges are no error."""
        ...

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge; a gone bridge is no error."""
        ...

    async def play(self, channel_id: str, media: str) -> bool:
        """Play `media` (e.g. "sound:please-try-call-later") to a channel and return when
        it has finished: True if it played to the end, False if the channel went away."""
        ...

    async def live_channels(self) -> list[LiveChannel]:
        """The channels the phone system has now (for reconciliation)."""
        ...

    async def close(self) -> None:
        """Stop; channels are left as they are."""
        ...
