"""One customer call as the engine tracks it, and what a hang-up cause means.

Stages: RINGING (originated, no verdict yet) → WAITING (a live answer waiting for an
agent, at most until its connect deadline) → CONNECTED (bridged to an agent), or
ENDING (an abandon's safe-harbour message, a machine's message, an opt-out's
confirmation: the engine hangs up after it). Every call ends with the channel's end.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from dataclasses import dataclass, field

from dialer.agents import AgentSession
from dialer.gate import DialTicket
from dialer.store import ClaimedLead, Outcome
from dialer.telephony import (
    CAUSE_BUSY,
    CAUSE_CONGESTION,
    CAUSE_FAILURE,
    CAUSE_NO_ANSWER,
    CAUSE_NO_RESPONSE,
    CAUSE_REJECTED,
)

_CAUSE_OUTCOMES = {
    CAUSE_BUSY: Outcome.BUSY,
    CAUSE_NO_RESPONSE: Outcome.NO_ANSWER,
    CAUSE_NO_ANSWER: Outcome.NO_ANSWER,
    CAUSE_REJECTED: Outcome.DECLINED,
    1: Outcome.INVALID_NUMBER,       # unallocated number
    28: Outcome.INVALID_NUMBER,      # invalid number format
    CAUSE_CONGESTION: Outcome.FAILED,
    CAUSE_FAILURE: Outcome.FAILED,
}


class Stage(enum.StrEnum):
    """Where a customer call is."""

    RINGING = "ringing"
    WAITING = "waiting"
    CONNECTED = "connected"
    ENDING = "ending"


@dataclass(slots=True)
class Call:
    """A customer call from its originate to its end (times are loop seconds)."""

    ticket: DialTicket
    lead: ClaimedLead
    channel_id: str
    campaign_id: int
    originated: float
    stage: Stage = Stage.RINGING
    up_at: float | None = None          # answered, AMD listening (when reported)
    verdict_at: float | None = None
    amd_status: str | None = None
    amd_seconds: float = float("nan")   # answer -> verdict, when known
    deadline: float | None = None
    agent: AgentSession | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome | None = None
    abandoned: bool = False
    refused: bool = False
    cancelled: bool = False
    disposition: str | None = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def ring_seconds(self) -> float:
        """Originate -> answer (-> verdict when the answer time is unknown)."""
        assert self.verdict_at is not None
        amd = 0.0 if self.amd_seconds != self.amd_seconds else self.amd_seconds
        return self.verdict_at - amd - self.originated

    @property
    def attempt_id(self) -> uuid.UUID:
        """The attempt row's id."""
        return self.ticket.attempt_id

    def stop_timer(self) -> None:
        """Cancel the connect-deadline timer, if armed."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def unanswered_outcome(cause: int, *, rang_for: float, ring_timeout: float,
                       cancelled: bool) -> Outcome:
    """The outcome of a call that ended before any verdict, from its Q.850 cause."""
    if cancelled:
        return Outcome.CANCELLED
    outcome = _CAUSE_OUTCOMES.get(cause)
    if outcome is not None:
        return outcome
    # Normal clearing (16) or unspecified before an answer: the trunk gave up ringing,
    # or the callee hung up while AMD listened.
    return Outcome.NO_ANSWER if rang_for >= 0.9 * ring_timeout or cause == 16 \
        else Outcome.FAILED
