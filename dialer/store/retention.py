"""Retention rules applied to one campaign at one instant (pure: no I/O, `now` given).

For each data class the plan holds a cutoff (records created before it have expired)
and what to do with them. A terminated tenant's campaigns past their destruction
deadline are destroyed instead, except what a legal minimum still protects: the
profile's `minimum_days` of a data class is never undercut, whatever the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.compliance import ComplianceProfile, DataClass, Retention, RetentionAction
from dialer.store.enums import TenantStatus
from dialer.store.records import CampaignInfo, TenantInfo


@dataclass(frozen=True, slots=True)
class ClassPlan:
    """Records of one class created before `cutoff` are deleted or anonymised."""

    data_class: DataClass
    cutoff: datetime
    action: RetentionAction


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """What a purge does to one campaign's data."""

    campaign_id: int
    tenant_id: int
    profile: str
    classes: tuple[ClassPlan, ...]
    destroy: bool
    # When destroying, records younger than these are kept (legal minimums).
    keep_after: Mapping[DataClass, datetime]


def _override(campaign: CampaignInfo, data_class: DataClass) -> int | None:
    value = campaign.retention_overrides.get(data_class.value)
    return None if value is None else int(value)


def destruction_due(tenant: TenantInfo, profile: ComplianceProfile, now: datetime) -> bool:
    """True when a terminated tenant's data must be destroyed under this profile."""
    if tenant.status is not TenantStatus.TERMINATED or tenant.terminated_at is None:
        return False
    deadline = tenant.terminated_at + timedelta(days=profile.retention.tenant_destruction_days)
    return now >= deadline


def plan_campaign(campaign: CampaignInfo, tenant: TenantInfo, profile: ComplianceProfile,
                  now: datetime) -> CampaignPlan:
    """The purge plan of one campaign under its profile and overrides, as of `now`."""
    destroy = destruction_due(tenant, profile, now)
    classes = []
    keep_after: dict[DataClass, datetime] = {}
    for data_class in DataClass:
        rule = profile.retention.rule(data_class)
        if destroy:
            keep_after[data_class] = now - timedelta(days=rule.minimum_days)
            continue
        cutoff = profile.retention_cutoff(data_class, now, _override(campaign, data_class))
        if cutoff is not None:
            classes.append(ClassPlan(data_class, cutoff, rule.action))
    return CampaignPlan(campaign_id=campaign.id, tenant_id=campaign.tenant_id,
                        profile=profile.name, classes=tuple(classes), destroy=destroy,
                        keep_after=keep_after)


def tenant_destruction_days(profiles: list[ComplianceProfile]) -> int:
    """The deadline for a tenant's own data (agents): the strictest of its campaigns'."""
    if not profiles:
        return Retention().tenant_destruction_days
    return min(p.retention.tenant_destruction_days for p in profiles)


def profile_for(campaign: CampaignInfo,
                profiles: Mapping[str, ComplianceProfile]) -> ComplianceProfile | None:
    """The campaign's profile, or None if it names one that is not loaded."""
    return profiles.get(campaign.profile)


NUMBER_LOG_MIN_DAYS = 7


def number_log_cutoff(profiles: Iterable[ComplianceProfile], now: datetime) -> datetime:
    """Entries of the per-number attempt log older than this are no longer read by any
    cap: the longest window of the profiles (a day, the gaps), a day's margin, and
    never less than `NUMBER_LOG_MIN_DAYS`."""
    hours = max([24.0, *(max(p.caps.min_gap_hours, p.caps.gap_after_abandon_hours)
                         for p in profiles)])
    return now - max(timedelta(days=NUMBER_LOG_MIN_DAYS), timedelta(hours=hours + 24))
