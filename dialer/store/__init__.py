"""The SQL store: tenants, campaigns, leads, attempts (CDRs), agents, recordings, audit,
hourly aggregates, nodes (heartbeats, drain requests), retention purges, key rotation and
reports (SQLite or PostgreSQL)."""

from dialer.store.cdr_export import export_cdrs, neutralise
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
from dialer.store.ids import new_attempt_id
from dialer.store.migrate import current_revision, ensure_schema, head_revision
from dialer.store.purge import Purger, PurgeReport
from dialer.store.records import (
    AgentInfo,
    AgentStateSpan,
    AttemptRecord,
    AuditRecord,
    CampaignInfo,
    ClaimedLead,
    DialHistory,
    HourlyStats,
    LeadImportResult,
    LeadRecord,
    NewAttempt,
    NewLead,
    NodeInfo,
    RecordingInfo,
    TenantInfo,
)
from dialer.store.reports import (
    AgentOccupancy,
    CampaignReport,
    WindowRate,
    campaign_report,
    render_text,
)
from dialer.store.rotation import KeyRotator, key_usage, unused_keys
from dialer.store.scheduler import PurgeScheduler
from dialer.store.schema import SCHEMA_METADATA
from dialer.store.store import Store

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "AgentInfo",
    "AgentOccupancy",
    "AgentState",
    "AgentStateSpan",
    "AmdResult",
    "AttemptRecord",
    "AttemptState",
    "AuditRecord",
    "CampaignInfo",
    "CampaignReport",
    "CampaignStatus",
    "ClaimedLead",
    "DialHistory",
    "HourlyStats",
    "KeyRotator",
    "LeadImportResult",
    "LeadRecord",
    "LeadStatus",
    "NewAttempt",
    "NewLead",
    "NodeInfo",
    "Outcome",
    "PurgeReport",
    "PurgeScheduler",
    "PurgeStatus",
    "Purger",
    "RecordingInfo",
    "SCHEMA_METADATA",
    "Store",
    "TenantInfo",
    "TenantStatus",
    "WindowRate",
    "campaign_report",
    "current_revision",
    "ensure_schema",
    "export_cdrs",
    "head_revision",
    "key_usage",
    "neutralise",
    "new_attempt_id",
    "render_text",
    "unused_keys",
]
