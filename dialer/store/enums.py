"""The states and kinds the store records, as string enums (stored by value)."""

from __future__ import annotations

import enum


class TenantStatus(enum.StrEnum):
    """A tenant's life: active, terminated (data destroyed later), destroyed."""

    ACTIVE = "active"
    TERMINATED = "terminated"
    DESTROYED = "destroyed"


class CampaignStatus(enum.StrEnum):
    """Where a campaign is in its life."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class LeadStatus(enum.StrEnum):
    """Where a lead is: waiting, claimed by a node, in a call, or finished for a reason."""

    NEW = "new"
    READY = "ready"
    CLAIMED = "claimed"
    IN_CALL = "in_call"
    DONE = "done"
    DNC = "dnc"
    CANCELLED = "cancelled"
    INVALID = "invalid"


DIALLABLE_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.READY)
FINAL_LEAD_STATUSES = (LeadStatus.DONE, LeadStatus.DNC, LeadStatus.CANCELLED, LeadStatus.INVALID)


class AttemptState(enum.StrEnum):
    """An attempt is open from its row's creation until its outcome is known."""

    OPEN = "open"
    CLOSED = "closed"


class AmdResult(enum.StrEnum):
    """Asterisk's AMD() verdict (AMDSTATUS)."""

    HUMAN = "human"
    MACHINE = "machine"
    NOTSURE = "notsure"
    HANGUP = "hangup"


class Outcome(enum.StrEnum):
    """How an attempt ended."""

    CONNECTED = "connected"          # live answer bridged to an agent in time
    ABANDONED = "abandoned"          # live answer not connected within the limit
    MACHINE = "machine"              # answering machine
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    DECLINED = "declined"            # the callee rejected the call (SIP 603/486 by user)
    FAILED = "failed"                # congestion, network or trunk failure
    INVALID_NUMBER = "invalid_number"
    CANCELLED = "cancelled"          # hung up by us before an answer (refusal, drain…)


LIVE_OUTCOMES = (Outcome.CONNECTED, Outcome.ABANDONED)
ANSWERED_OUTCOMES = (*LIVE_OUTCOMES, Outcome.MACHINE)


class AgentState(enum.StrEnum):
    """An agent's state within a session (occupancy = talking + wrap-up over available)."""

    READY = "ready"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class PurgeStatus(enum.StrEnum):
    """A purge run is running until it finishes (or is resumed after a crash)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
