"""Campaigns in the store: saved with their snapshot, found by id or name, their state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from campaign_support import MINIMAL, WriteFile

from dialer.campaign import (
    CampaignState,
    find_campaign,
    frozen_at,
    load_campaign,
    read_campaign_state,
    save_campaign,
    stored_campaign,
)
from dialer.errors import ConfigError, NotFound
from dialer.store import CampaignStatus, Store, TenantStatus

NOW = datetime(2025, 3, 12, 2, 30, tzinfo=UTC)


async def test_save_creates_the_tenant_and_a_draft(store: Store, write: WriteFile) -> None:
    campaign = load_campaign(write(MINIMAL + "tenant: acme\nretention: {recordings: 60}\n"))
    info, tenant, created = await save_campaign(store, campaign, now=NOW, actor="cli:ops")
    assert created and tenant.name == "acme" and info.tenant_id == tenant.id
    assert (info.name, info.profile, info.status) == ("spring", "cn", CampaignStatus.DRAFT)
    assert info.retention_overrides == {"recordings": 60}
    assert stored_campaign(info) == campaign
    actions = [e.action for e in await store.audit_log.entries()]
    assert actions == ["tenant.create", "campaign.create"]


async def test_saving_again_updates_and_keeps_status_and_freeze(store: Store,
                                                               write: WriteFile) -> None:
    path = write(MINIMAL)
    info, _, _ = await save_campaign(store, load_campaign(path), now=NOW, actor="a")
    await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=NOW, actor="a")
    await store.campaigns.freeze(info.id, until=NOW + timedelta(hours=1), reason="r", now=NOW,
                                 actor="a")
    changed = load_campaign(write(MINIMAL + "caps: {per_number_daily: 1}\n"))
    again, _, created = await save_campaign(store, changed, now=NOW, actor="a")
    assert not created and again.id == info.id
    assert again.status is CampaignStatus.RUNNING and again.frozen_until is not None
    assert stored_campaign(again).caps.per_number_daily == 1
    assert [c.id for c in await store.campaigns.list_all()] == [info.id]


async def test_find_by_id_or_name(store: Store, write: WriteFile) -> None:
    first, _, _ = await save_campaign(store, load_campaign(write(MINIMAL + "tenant: a\n")),
                                      now=NOW, actor="t")
    assert (await find_campaign(store, str(first.id))).id == first.id
    assert (await find_campaign(store, "spring")).id == first.id
    second, _, _ = await save_campaign(store, load_campaign(write(MINIMAL + "tenant: b\n")),
                                       now=NOW, actor="t")
    with pytest.raises(NotFound, match="several tenants"):
        await find_campaign(store, "spring")
    assert (await find_campaign(store, "spring", tenant="b")).id == second.id
    with pytest.raises(NotFound):
        await find_campaign(store, "autumn")
    with pytest.raises(NotFound):
        await find_campaign(store, "spring", tenant="c")


async def test_state_reads_the_campaign_and_tenant_rows(store: Store, write: WriteFile) -> None:
    campaign = load_campaign(write(MINIMAL))
    info, tenant, _ = await save_campaign(store, campaign, now=NOW, actor="t")
    state = await read_campaign_state(store, campaign, info.id)
    assert (state.id, state.tenant_id, state.running) == (info.id, tenant.id, False)
    assert state.tenant_active and not state.campaign_frozen(NOW)
    await store.tenants.freeze(tenant.id, until=NOW + timedelta(minutes=5), reason="x",
                               now=NOW, actor="t")
    await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=NOW, actor="t")
    rebuilt = await read_campaign_state(store, None, info.id)  # from the snapshot
    assert rebuilt.campaign == campaign and rebuilt.running
    assert rebuilt.tenant_frozen(NOW) and not rebuilt.tenant_frozen(NOW + timedelta(minutes=5))
    await store.tenants.terminate(tenant.id, now=NOW, actor="t")
    ended = await read_campaign_state(store, campaign, info.id)
    assert ended.tenant.status is TenantStatus.TERMINATED and not ended.tenant_active
    other = await store.tenants.create("other", now=NOW)
    with pytest.raises(ValueError, match="belongs to tenant"):
        CampaignState(campaign=campaign, info=info, tenant=other)


async def test_a_stored_snapshot_that_no_longer_validates(store: Store,
                                                          write: WriteFile) -> None:
    tenant = await store.tenants.create("t", now=NOW)
    info = await store.campaigns.create(tenant.id, "old", "cn", now=NOW, config={"x": 1})
    with pytest.raises(ConfigError, match=f"stored campaign {info.id}"):
        stored_campaign(info)


def test_a_freeze_lifts_itself_at_its_end() -> None:
    assert frozen_at(NOW + timedelta(seconds=1), NOW)
    assert not frozen_at(NOW, NOW) and not frozen_at(None, NOW)
