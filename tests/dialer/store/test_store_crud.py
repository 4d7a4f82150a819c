"""Tenants, campaigns, agents, sessions, recordings and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import NOW

from dialer.errors import NotFound
from dialer.store import (
    AgentState,
    CampaignInfo,
    CampaignStatus,
    NewAttempt,
    Store,
    TenantInfo,
    TenantStatus,
)
from dialer.store.agents import check_pin, hash_pin
from dialer.store.tenants import FROZEN_FOREVER


async def test_tenant_life_and_freezes_are_audited(store: Store, tenant: TenantInfo) -> None:
    until = NOW + timedelta(days=2)
    frozen = await store.tenants.freeze(tenant.id, until=until, reason="abuse report",
                                        now=NOW, actor="ops:li")
    assert (frozen.frozen_until, frozen.freeze_reason) == (until, "abuse report")
    forever = await store.tenants.freeze(tenant.id, until=None, reason="unpaid", now=NOW,
                                         actor="ops:li")
    assert forever.frozen_until == FROZEN_FOREVER
    assert (await store.tenants.unfreeze(tenant.id, now=NOW, actor="ops:li")).frozen_until \
        is None
    ended = await store.tenants.terminate(tenant.id, now=NOW, actor="ops:li")
    assert (ended.status, ended.terminated_at) == (TenantStatus.TERMINATED, NOW)
    with pytest.raises(NotFound, match="active tenant"):
        await store.tenants.terminate(tenant.id, now=NOW, actor="ops:li")
    with pytest.raises(NotFound, match="active tenant"):
        await store.campaigns.create(tenant.id, "late", "uk", now=NOW)
    actions = [e.action for e in await store.audit_log.entries(subject_type="tenant")]
    assert actions == ["tenant.create", "tenant.freeze", "tenant.freeze", "tenant.unfreeze",
                       "tenant.terminate"]
    assert (await store.tenants.get(tenant.id)).status is TenantStatus.TERMINATED
    with pytest.raises(NotFound):
        await store.tenants.get(999)


async def test_campaign_changes(store: Store, tenant: TenantInfo,
                                campaign: CampaignInfo) -> None:
    assert (campaign.status, campaign.profile, campaign.config) == \
        (CampaignStatus.DRAFT, "uk", {})
    later = NOW + timedelta(minutes=1)
    running = await store.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, now=later,
                                               actor="sup")
    assert running.status is CampaignStatus.RUNNING and running.updated_at == later
    config = {"lines": 30, "amd": {"enabled": True}}
    assert (await store.campaigns.update_config(campaign.id, config, now=later,
                                                actor="sup")).config == config
    assert (await store.campaigns.set_retention_overrides(
        campaign.id, {"recordings": 90}, now=later, actor="sup")).retention_overrides == \
        {"recordings": 90}
    await store.campaigns.freeze(campaign.id, until=None, reason="complaint", now=later,
                                 actor="sup")
    assert (await store.campaigns.get(campaign.id)).freeze_reason == "complaint"
    with pytest.raises(ValueError, match="unknown data class 'dnc'"):
        await store.campaigns.set_retention_overrides(campaign.id, {"dnc": 1}, now=later,
                                                      actor="sup")
    with pytest.raises(ValueError, match="whole number"):
        await store.campaigns.create(tenant.id, "bad", "uk", now=NOW,
                                     retention_overrides={"recordings": -1})
    second = await store.campaigns.create(tenant.id, "summer", "cn", now=NOW)
    assert [c.id for c in await store.campaigns.list_all(tenant.id)] == [campaign.id, second.id]
    with pytest.raises(NotFound):
        await store.campaigns.set_status(999, CampaignStatus.PAUSED, now=NOW, actor="x")


def test_pin_hash_is_salted_scrypt() -> None:
    one, two = hash_pin("4711"), hash_pin("4711")
    assert one != two and one.startswith("scrypt$") and "4711" not in one
    assert check_pin("4711", one) and not check_pin("4712", one)
    assert not check_pin("4711", "garbage")


async def test_agents_authenticate_with_their_pin(store: Store, tenant: TenantInfo) -> None:
    agent = await store.agents.create(tenant.id, "A-7", "Wang Fang", "2580", now=NOW)
    assert await store.agents.authenticate(tenant.id, "A-7", "2580") == agent
    assert await store.agents.authenticate(tenant.id, "A-7", "0000") is None
    assert await store.agents.authenticate(tenant.id, "A-8", "2580") is None
    await store.agents.set_pin(agent.id, "1357", now=NOW, actor="sup")
    assert await store.agents.authenticate(tenant.id, "A-7", "1357") == agent
    await store.agents.set_active(agent.id, False, now=NOW, actor="sup")
    assert await store.agents.authenticate(tenant.id, "A-7", "1357") is None
    assert [a.external_id for a in await store.agents.of_tenant(tenant.id)] == ["A-7"]
    assert not hasattr(await store.agents.get(agent.id), "pin_hash")


async def test_sessions_keep_a_state_timeline(store: Store, tenant: TenantInfo,
                                              campaign: CampaignInfo) -> None:
    agent = await store.agents.create(tenant.id, "A-1", "Li", "1111", now=NOW)
    session = await store.agents.open_session(agent.id, at=NOW, campaign_id=campaign.id)
    for minutes, state in ((0, AgentState.READY), (5, AgentState.TALKING),
                           (9, AgentState.WRAP_UP)):
        await store.agents.change_state(session, state, at=NOW + timedelta(minutes=minutes))
    await store.agents.close_session(session, at=NOW + timedelta(minutes=10))
    with pytest.raises(NotFound):
        await store.agents.close_session(session, at=NOW + timedelta(minutes=11))
    assert [s.state for s in await store.agents.timeline(session)] == \
        [AgentState.READY, AgentState.TALKING, AgentState.WRAP_UP]


async def test_recordings_belong_to_their_attempt(store: Store, campaign: CampaignInfo) -> None:
    attempt_id = await store.create_attempt(NewAttempt(campaign.id, "+8613812345678", NOW))
    rec = await store.recordings.add(attempt_id, path="/rec/a.wav.enc", duration_s=12.5,
                                     size_bytes=200_000, checksum="ab" * 32, key_id="k1",
                                     created_at=NOW)
    assert (rec.campaign_id, rec.tenant_id) == (campaign.id, campaign.tenant_id)
    assert await store.recordings.for_attempt(attempt_id) == [rec]
    await store.recordings.mark_deleted(rec.id, now=NOW, actor="sup", reason="complaint")
    assert (await store.recordings.get(rec.id)).deleted_at == NOW
    with pytest.raises(NotFound):
        await store.recordings.mark_deleted(rec.id, now=NOW, actor="sup", reason="again")


async def test_audit_detail_never_keeps_a_plaintext_number(store: Store) -> None:
    await store.audit("agent:7", "refusal", at=NOW, subject_type="attempt", subject_id="x",
                      detail={"said": "call +8613812345678 never again",
                              "numbers": ["+441234567890"]})
    [entry] = await store.audit_log.entries(action="refusal")
    assert "13812345678" not in str(entry.detail) and "1234567890" not in str(entry.detail)
    assert entry.detail["said"] == "call +86138****5678 never again"
    assert entry.node_id == "n1"
