"""Campaigns in the store: save a loaded file, find one by id or name, read its state."""

from __future__ import annotations

from datetime import datetime

from dialer.campaign.campaign import Campaign
from dialer.campaign.state import CampaignState
from dialer.errors import NotFound
from dialer.store import CampaignInfo, Store, TenantInfo


async def save_campaign(store: Store, campaign: Campaign, *, now: datetime,
                        actor: str) -> tuple[CampaignInfo, TenantInfo, bool]:
    """Upsert the campaign (and its tenant) with its snapshot and retention overrides.

    A new campaign starts as a draft; an existing one keeps its status and freezes.
    Returns the stored campaign, its tenant and whether the campaign is new.
    """
    tenant = await store.tenants.get_or_create(campaign.tenant, now=now, actor=actor)
    info, created = await store.campaigns.upsert(
        tenant.id, campaign.id, campaign.profile.name, now=now, config=campaign.snapshot(),
        retention_overrides=campaign.config.retention.overrides(), actor=actor)
    return info, tenant, created


async def find_campaign(store: Store, ref: str, *, tenant: str | None = None) -> CampaignInfo:
    """A campaign by store id (digits) or by name (in `tenant`, or the only one so named)."""
    if ref.isdigit():
        return await store.campaigns.get(int(ref))
    if tenant is not None:
        owner = await store.tenants.by_name(tenant)
        return await store.campaigns.by_name(owner.id, ref)
    matches = [c for c in await store.campaigns.list_all() if c.name == ref]
    if len(matches) > 1:
        raise NotFound(f"single campaign (several tenants have {ref!r}; name the tenant)",
                       ref)
    if not matches:
        raise NotFound("campaign", ref)
    return matches[0]


def stored_campaign(info: CampaignInfo) -> Campaign:
    """The campaign rebuilt from its stored snapshot."""
    return Campaign.from_snapshot(info.config, where=f"stored campaign {info.id}")


async def read_campaign_state(store: Store, campaign: Campaign | None,
                              campaign_id: int) -> CampaignState:
    """The campaign's and its tenant's current rows (two primary-key reads).

    `campaign` is the loaded configuration; None rebuilds it from the stored snapshot.
    """
    info = await store.campaigns.get(campaign_id)
    tenant = await store.tenants.get(info.tenant_id)
    return CampaignState(campaign=campaign or stored_campaign(info), info=info, tenant=tenant)

