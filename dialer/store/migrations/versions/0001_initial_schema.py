"""Initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 17:15:47.650214
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_subject", ["subject_type", "subject_id"], unique=False)

    op.create_table(
        "number_attempts",
        sa.Column("attempt_id", sa.Uuid(), nullable=False),
        sa.Column("number_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_number_attempts")),
    )
    with op.batch_alter_table("number_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_attempts_at"), ["at"], unique=False)
        batch_op.create_index("ix_number_attempts_number_at", ["number_hash", "at"], unique=False)

    op.create_table(
        "purge_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("as_of", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum("running", "done", "failed", name="purgestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_runs")),
    )
    with op.batch_alter_table("purge_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purge_runs_status"), ["status"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "terminated",
                "destroyed",
                name="tenantstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("destroyed_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("frozen_until", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("freeze_reason", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("pin_hash", sa.String(length=256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agents_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint(
            "tenant_id", "external_id", name=op.f("uq_agents_tenant_id_external_id")
        ),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "running",
                "paused",
                "stopped",
                "finished",
                name="campaignstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("frozen_until", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("freeze_reason", sa.String(length=256), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("retention_overrides", sa.JSON(), nullable=False),
        sa.Column("created_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaigns_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_campaigns_tenant_id_name")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "purge_run_counts",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("data_class", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["purge_runs.id"], name=op.f("fk_purge_run_counts_run_id_purge_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "data_class", "action", name=op.f("pk_purge_run_counts")),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("login_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("logout_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_sessions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_agent_sessions_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
    )
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_sessions_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agent_sessions_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger(), nullable=True),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("number_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("dnc_version", sa.BigInteger(), nullable=True),
        sa.Column("gate_decision", sa.String(length=64), nullable=True),
        sa.Column(
            "state",
            sa.Enum("open", "closed", name="attemptstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("created_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("originated_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ringing_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("amd_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "amd_result",
            sa.Enum(
                "human",
                "machine",
                "notsure",
                "hangup",
                name="amdresult",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("amd_cause", sa.String(length=64), nullable=True),
        sa.Column(
            "agent_connected_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("ended_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "connected",
                "abandoned",
                "machine",
                "no_answer",
                "busy",
                "declined",
                "failed",
                "invalid_number",
                "cancelled",
                name="outcome",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("anonymised_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_attempts_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_attempts_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_attempts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attempts_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            "ix_attempts_campaign_created", ["campaign_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_attempts_state_node", ["state", "node_id"], unique=False)

    op.create_table(
        "campaign_hourly_stats",
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("hour", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("live_answers", sa.Integer(), nullable=False),
        sa.Column("abandons", sa.Integer(), nullable=False),
        sa.Column("amd_machine", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Integer(), nullable=False),
        sa.Column("machine", sa.Integer(), nullable=False),
        sa.Column("no_answer", sa.Integer(), nullable=False),
        sa.Column("busy", sa.Integer(), nullable=False),
        sa.Column("declined", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("invalid_number", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_hourly_stats_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "hour", name=op.f("pk_campaign_hourly_stats")),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("number_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("time_zones", sa.JSON(), nullable=True),
        sa.Column("custom_enc", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_evidence", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "ready",
                "claimed",
                "in_call",
                "done",
                "dnc",
                "cancelled",
                "invalid",
                name="leadstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_outcome",
            sa.Enum(
                "connected",
                "abandoned",
                "machine",
                "no_answer",
                "busy",
                "declined",
                "failed",
                "invalid_number",
                "cancelled",
                name="outcome",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("moved_to_crm_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("import_batch", sa.String(length=64), nullable=True),
        sa.Column("purged_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_leads_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_leads_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint(
            "campaign_id", "number_hash", name=op.f("uq_leads_campaign_id_number_hash")
        ),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leads_campaign_created", ["campaign_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_leads_claim", ["campaign_id", "status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_leads_number_hash"), ["number_hash"], unique=False)
        batch_op.create_index("ix_leads_status_claimed_at", ["status", "claimed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "recordings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt_id", sa.Uuid(), nullable=True),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", dialer.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_recordings_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_recordings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_attempt_id"), ["attempt_id"], unique=False)
        batch_op.create_index(
            "ix_recordings_campaign_created", ["campaign_id", "created_at"], unique=False
        )

    op.create_table(
        "agent_state_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", dialer.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "ready",
                "talking",
                "wrap_up",
                "paused",
                name="agentstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["agent_sessions.id"],
            name=op.f("fk_agent_state_changes_session_id_agent_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_changes")),
    )
    with op.batch_alter_table("agent_state_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_state_changes_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("agent_state_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_state_changes_session_id"))

    op.drop_table("agent_state_changes")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_campaign_created")
        batch_op.drop_index(batch_op.f("ix_recordings_attempt_id"))

    op.drop_table("recordings")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_tenant_id"))
        batch_op.drop_index("ix_leads_status_claimed_at")
        batch_op.drop_index(batch_op.f("ix_leads_number_hash"))
        batch_op.drop_index("ix_leads_claim")
        batch_op.drop_index("ix_leads_campaign_created")

    op.drop_table("leads")
    op.drop_table("campaign_hourly_stats")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_state_node")
        batch_op.drop_index("ix_attempts_campaign_created")
        batch_op.drop_index(batch_op.f("ix_attempts_agent_id"))

    op.drop_table("attempts")
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_sessions_campaign_id"))
        batch_op.drop_index(batch_op.f("ix_agent_sessions_agent_id"))

    op.drop_table("agent_sessions")
    op.drop_table("purge_run_counts")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_tenant_id"))

    op.drop_table("campaigns")
    op.drop_table("agents")
    op.drop_table("tenants")
    with op.batch_alter_table("purge_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purge_runs_status"))

    op.drop_table("purge_runs")
    with op.batch_alter_table("number_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_number_attempts_number_at")
        batch_op.drop_index(batch_op.f("ix_number_attempts_at"))

    op.drop_table("number_attempts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
