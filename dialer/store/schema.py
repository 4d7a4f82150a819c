"""The store's tables as SQLAlchemy 2.x typed models.

`SCHEMA_METADATA` is every MetaData the migrations must produce: the store's and the
DNC's own (`dnc.metadata`); a test checks that upgrading to head yields exactly it.
Times are UTC (`UTCDateTime`); numbers are stored encrypted (`*_enc`, AES-GCM, see
`dialer.crypto`) beside their keyed hash (`number_hash`, the DNC's HMAC) and never in
plaintext. Campaign hourly aggregates hold no personal data and outlive the purges.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import dnc
from dialer.store.enums import (
    AgentState,
    AmdResult,
    AttemptState,
    CampaignStatus,
    LeadStatus,
    Outcome,
    PurgeStatus,
    TenantStatus,
)
from dialer.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key that is SQLite's rowid there (so autoincrement works on both databases).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _enum(kind: type[enum.Enum], length: int = 16) -> Enum:
    return Enum(kind, native_enum=False, create_constraint=False, length=length,
                values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    """Declarative base of the store's own tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(),
                                                     dict[str, Any]: JSON()}


class Tenant(Base):
    """A customer of the platform; its data is destroyed some days after it ends."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[TenantStatus] = mapped_column(_enum(TenantStatus), default=TenantStatus.ACTIVE)
    created_at: Mapped[datetime]
    terminated_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]
    frozen_until: Mapped[datetime | None]
    freeze_reason: Mapped[str | None] = mapped_column(String(256))
    max_lines: Mapped[int | None] = mapped_column(Integer)


class Campaign(Base):
    """A campaign of one tenant, dialling under one compliance profile."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str] = mapped_column(String(64))
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus),
                                                   default=CampaignStatus.DRAFT)
    frozen_until: Mapped[datetime | None]
    freeze_reason: Mapped[str | None] = mapped_column(String(256))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retention_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Lead(Base):
    """A number to call for a campaign, encrypted, with its dialling state."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number_hash"),
        Index("ix_leads_claim", "campaign_id", "status", "next_attempt_at"),
        Index("ix_leads_campaign_created", "campaign_id", "created_at"),
        Index("ix_leads_status_claimed_at", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    number_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(8))
    time_zones: Mapped[list[str] | None] = mapped_column(JSON)
    custom_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(128))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_evidence: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus), default=LeadStatus.NEW)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    moved_to_crm_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    import_batch: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[datetime | None]


class Attempt(Base):
    """One call attempt: the call detail record (CDR).

    The id is a UUIDv7 (`new_attempt_id`), so the primary key grows in time order.
    Besides the primary key only time-ordered or low-cardinality columns are indexed,
    which keeps a purge of old rows cheap; lookups by number go to `number_attempts`.
    `lead_id` has no foreign key: a lead's number may be purged (after 30 days) while
    its call records must stay (e.g. 5 years under `us`).
    """

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_campaign_created", "campaign_id", "created_at"),
        Index("ix_attempts_state_node", "state", "node_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    lead_id: Mapped[int | None] = mapped_column(BigInteger)
    node_id: Mapped[str] = mapped_column(String(64))
    number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    number_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    key_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    dnc_version: Mapped[int | None] = mapped_column(BigInteger)
    gate_decision: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[AttemptState] = mapped_column(_enum(AttemptState), default=AttemptState.OPEN)
    created_at: Mapped[datetime]
    originated_at: Mapped[datetime | None]
    ringing_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    amd_at: Mapped[datetime | None]
    amd_result: Mapped[AmdResult | None] = mapped_column(_enum(AmdResult))
    amd_cause: Mapped[str | None] = mapped_column(String(64))
    agent_connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    disposition: Mapped[str | None] = mapped_column(String(64))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"),
                                                 index=True)
    anonymised_at: Mapped[datetime | None]


class NumberAttempt(Base):
    """Recent attempts per number across all campaigns: what the per-number caps read.

    Written with each attempt, kept only as long as the longest cap window needs
    (days, not months), and indexed by (number_hash, at).
    """

    __tablename__ = "number_attempts"
    __table_args__ = (Index("ix_number_attempts_number_at", "number_hash", "at"),)

    attempt_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[datetime] = mapped_column(index=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)


class Agent(Base):
    """A call-centre agent; the PIN is kept only as a salted scrypt hash."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    pin_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class AgentSession(Base):
    """An agent's login on a node, optionally into one campaign."""

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    node_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    login_at: Mapped[datetime]
    logout_at: Mapped[datetime | None]


class AgentStateChange(Base):
    """An agent entered a state at an instant (the session's timeline, for occupancy)."""

    __tablename__ = "agent_state_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("agent_sessions.id"), index=True)
    at: Mapped[datetime]
    state: Mapped[AgentState] = mapped_column(_enum(AgentState))


class Node(Base):
    """An engine node: when it last reported, and whether it was asked to drain.

    `dialer drain` sets `drain_requested_at`; the node reads it every tick, stops
    starting calls, lets live ones finish and sets `drained_at`.
    """

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    drain_requested_at: Mapped[datetime | None]
    drain_requested_by: Mapped[str | None] = mapped_column(String(128))
    drained_at: Mapped[datetime | None]


class Recording(Base):
    """A call recording file (encrypted by `recordings/`; this row knows where and how).

    `attempt_id` has no foreign key: a recording is kept per its campaign's rule,
    which may be longer or shorter than its call record's, and an FK action would
    run per deleted attempt in every purge. One row per recorded segment of a call
    (`segment` 1, 2, … when the agent starts and stops recording). `node_id` is the
    node whose recordings folder holds the file; `number_hash` (the DNC's keyed hash,
    copied from the attempt) finds a number's recordings after the call record was
    anonymised, and is cleared when the file is deleted. `missing_at`: recovery found
    the file gone (the row is kept, and the event audited).
    """

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_campaign_created", "campaign_id", "created_at"),
                      Index("ix_recordings_node_id_id", "node_id", "id"),
                      UniqueConstraint("attempt_id", "segment"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    path: Mapped[str] = mapped_column(String(1024))
    duration_s: Mapped[float] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    segment: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    channels: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    node_id: Mapped[str | None] = mapped_column(String(64))
    number_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    missing_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what to which record, when; never purged, never holds a plaintext number."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    node_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PurgeRun(Base):
    """One retention purge: as of which instant, how far it got, how it ended."""

    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[PurgeStatus] = mapped_column(_enum(PurgeStatus), index=True)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    trigger: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class PurgeRunCount(Base):
    """Rows a purge run deleted or anonymised (or would, in a dry run) per data class."""

    __tablename__ = "purge_run_counts"

    run_id: Mapped[int] = mapped_column(ForeignKey("purge_runs.id"), primary_key=True)
    data_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignHourlyStats(Base):
    """Counts per campaign and UTC hour (of the attempts' creation); not personal data."""

    __tablename__ = "campaign_hourly_stats"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    live_answers: Mapped[int] = mapped_column(Integer, default=0)
    abandons: Mapped[int] = mapped_column(Integer, default=0)
    amd_machine: Mapped[int] = mapped_column(Integer, default=0)
    connected: Mapped[int] = mapped_column(Integer, default=0)
    machine: Mapped[int] = mapped_column(Integer, default=0)
    no_answer: Mapped[int] = mapped_column(Integer, default=0)
    busy: Mapped[int] = mapped_column(Integer, default=0)
    declined: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    invalid_number: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)


# Outcome -> the hourly counter it increments; ABANDONED counts in `abandons`, which
# also counts attempts flagged `abandoned` whatever their outcome.
OUTCOME_COLUMNS: dict[Outcome, str] = {o: o.value for o in Outcome if o is not Outcome.ABANDONED}

SCHEMA_METADATA: tuple[MetaData, ...] = (Base.metadata, dnc.metadata)

# The encrypted columns of each table (all of a row's values share its `key_id`), for
# key rotation; a value's column label, the associated data of its encryption, is
# "<table>.<column>".
ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("number_enc", "custom_enc"),
    "attempts": ("number_enc",),
}
LEAD_NUMBER = "leads.number_enc"
LEAD_CUSTOM = "leads.custom_enc"
ATTEMPT_NUMBER = "attempts.number_enc"
