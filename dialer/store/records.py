"""What the store takes and returns: plain frozen dataclasses, numbers masked on display.

A record that carries a plaintext number (a claimed lead, an attempt read with
`with_number=True`) shows it masked in `repr`, so logging a record never leaks it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.store.enums import (
    AgentState,
    AmdResult,
    AttemptState,
    CampaignStatus,
    LeadStatus,
    Outcome,
    TenantStatus,
)
from dnc import mask_number


def _masked(number: str | None) -> str | None:
    return None if number is None else mask_number(number)


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A tenant as stored."""

    id: int
    name: str
    status: TenantStatus
    created_at: datetime
    terminated_at: datetime | None
    destroyed_at: datetime | None
    frozen_until: datetime | None
    freeze_reason: str | None
    max_lines: int | None = None


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    """A campaign as stored."""

    id: int
    tenant_id: int
    name: str
    profile: str
    status: CampaignStatus
    frozen_until: datetime | None
    freeze_reason: str | None
    config: Mapping[str, Any]
    retention_overrides: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewLead:
    """A lead to add: an E.164 number (already normalised) and what came with it."""

    number: str = field(repr=False)
    source: str
    region: str | None = None
    time_zones: tuple[str, ...] = ()
    custom: Mapping[str, Any] | None = field(default=None, repr=False)
    consent: bool = False
    consent_evidence: str | None = field(default=None, repr=False)
    priority: int = 0
    next_attempt_at: datetime | None = None
    status: LeadStatus = LeadStatus.NEW  # or DNC: kept for the record, never dialled

    def __post_init__(self) -> None:
        if not (self.number.startswith("+") and self.number[1:].isdigit()
                and 4 <= len(self.number) <= 16):
            raise ValueError(f"not an E.164 number: {mask_number(self.number)}")
        if self.status not in (LeadStatus.NEW, LeadStatus.DNC):
            raise ValueError(f"a new lead is 'new' or 'dnc', not {self.status.value!r}")

    @property
    def masked_number(self) -> str:
        """The number as it may appear in logs and events."""
        return mask_number(self.number)


@dataclass(frozen=True, slots=True)
class LeadImportResult:
    """How many leads an import added, and how many were already in the campaign."""

    inserted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class ClaimedLead:
    """A lead this node claimed to dial now, with its number decrypted."""

    id: int
    campaign_id: int
    tenant_id: int
    number: str = field(repr=False)
    number_hash: bytes = field(repr=False)
    region: str | None
    time_zones: tuple[str, ...]
    custom: Mapping[str, Any] = field(repr=False)
    consent: bool
    priority: int
    attempt_count: int
    last_outcome: Outcome | None
    last_attempt_at: datetime | None
    claimed_at: datetime
    next_attempt_at: datetime | None = None

    @property
    def masked_number(self) -> str:
        """The number as it may appear in logs and events."""
        return mask_number(self.number)


@dataclass(frozen=True, slots=True)
class LeadRecord:
    """A lead as stored; `number` and `custom` only when asked to decrypt them."""

    id: int
    campaign_id: int
    tenant_id: int
    status: LeadStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_outcome: Outcome | None
    claimed_by: str | None
    claimed_at: datetime | None
    moved_to_crm_at: datetime | None
    consent: bool
    priority: int
    source: str
    region: str | None
    time_zones: tuple[str, ...]
    created_at: datetime
    purged_at: datetime | None
    key_id: str | None
    number_hash: bytes | None = field(repr=False)
    number: str | None = field(default=None, repr=False)
    custom: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def masked_number(self) -> str | None:
        """The decrypted number masked, or None if not decrypted or purged."""
        return _masked(self.number)


@dataclass(frozen=True, slots=True)
class NewAttempt:
    """An attempt to record before its originate is sent."""

    campaign_id: int
    number: str = field(repr=False)
    created_at: datetime
    lead_id: int | None = None
    dnc_version: int | None = None
    gate_decision: str | None = None
    channel_id: str | None = None
    id: uuid.UUID | None = None  # default: a UUIDv7 of `created_at` (dialer.store.new_attempt_id)


@dataclass(frozen=True, slots=True)
class DialHistory:
    """What the per-number caps read at the instant of dial, inside the attempt's own
    transaction: the number's recent attempts in every campaign (newest first, with
    their abandoned flag) and the lead's attempt count, status and claimer."""

    attempts: tuple[tuple[datetime, bool], ...]
    lead_attempts: int | None = None
    lead_status: LeadStatus | None = None
    lead_claimed_by: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """An attempt (CDR) as stored; `number` only when asked to decrypt it."""

    id: uuid.UUID
    tenant_id: int
    campaign_id: int
    lead_id: int | None
    node_id: str
    channel_id: str | None
    dnc_version: int | None
    gate_decision: str | None
    state: AttemptState
    created_at: datetime
    originated_at: datetime | None
    ringing_at: datetime | None
    answered_at: datetime | None
    amd_at: datetime | None
    amd_result: AmdResult | None
    amd_cause: str | None
    agent_connected_at: datetime | None
    ended_at: datetime | None
    hangup_cause: int | None
    outcome: Outcome | None
    disposition: str | None
    abandoned: bool
    agent_id: int | None
    anonymised_at: datetime | None
    key_id: str | None
    number_hash: bytes | None = field(repr=False)
    number: str | None = field(default=None, repr=False)

    @property
    def masked_number(self) -> str | None:
        """The decrypted number masked, or None if not decrypted or anonymised."""
        return _masked(self.number)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """An agent as stored (never the PIN or its hash)."""

    id: int
    tenant_id: int
    external_id: str
    name: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AgentStateSpan:
    """An agent state entered at `at` within a session."""

    session_id: int
    at: datetime
    state: AgentState


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """An engine node as stored: its heartbeat and drain request."""

    id: str
    started_at: datetime | None
    heartbeat_at: datetime | None
    drain_requested_at: datetime | None
    drain_requested_by: str | None
    drained_at: datetime | None

    @property
    def drain_requested(self) -> bool:
        """True while a drain is asked for (until `dialer drain --cancel`)."""
        return self.drain_requested_at is not None


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """A recording as stored."""

    id: int
    attempt_id: uuid.UUID | None
    tenant_id: int
    campaign_id: int
    path: str
    duration_s: float
    size_bytes: int
    checksum: str
    key_id: str | None
    created_at: datetime
    deleted_at: datetime | None
    segment: int = 1
    channels: int = 1
    node_id: str | None = None
    missing_at: datetime | None = None

    @property
    def state(self) -> str:
        """`deleted`, `missing` (its file vanished) or `stored`."""
        if self.deleted_at is not None:
            return "deleted"
        return "missing" if self.missing_at is not None else "stored"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit log entry."""

    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str | None
    subject_id: str | None
    node_id: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HourlyStats:
    """Counts of one campaign over one UTC hour (from the aggregates, not the CDRs)."""

    campaign_id: int
    hour: datetime
    attempts: int
    answers: int
    live_answers: int
    abandons: int
    amd_machine: int
    outcomes: Mapping[Outcome, int]
    talk_seconds: float
