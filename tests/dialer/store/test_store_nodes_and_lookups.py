"""Store additions for campaigns and the gate: nodes and drains, lookups by name,
campaign upsert, tenant line limit, per-row lead inserts, the per-number guarded create."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import NOW, numbers

from dialer.errors import NotFound
from dialer.store import (
    AttemptState,
    CampaignInfo,
    CampaignStatus,
    DialHistory,
    LeadStatus,
    NewAttempt,
    NewLead,
    Store,
    TenantInfo,
)


async def test_node_heartbeat_and_drain(store: Store) -> None:
    assert await store.nodes.get("n1") is None and not await store.nodes.drain_requested("n1")
    started = await store.nodes.started("n1", now=NOW)
    assert started.heartbeat_at == NOW and not started.drain_requested
    requested = await store.nodes.request_drain("n1", now=NOW + timedelta(seconds=5),
                                                actor="ops")
    assert requested.drain_requested and requested.drain_requested_by == "ops"
    assert requested.started_at == NOW
    beat = await store.nodes.heartbeat("n1", now=NOW + timedelta(seconds=6))
    assert beat.drain_requested and await store.nodes.drain_requested("n1")
    drained = await store.nodes.mark_drained("n1", now=NOW + timedelta(seconds=9))
    assert drained is not None and drained.drained_at == NOW + timedelta(seconds=9)
    restarted = await store.nodes.started("n1", now=NOW + timedelta(minutes=1))
    assert restarted.drain_requested and restarted.drained_at is None  # still asked to drain
    cancelled = await store.nodes.cancel_drain("n1", now=NOW, actor="ops")
    assert cancelled is not None and not cancelled.drain_requested
    assert await store.nodes.mark_drained("n1", now=NOW) is None  # nothing was asked
    assert await store.nodes.cancel_drain("nowhere", now=NOW, actor="ops") is None
    await store.nodes.request_drain("n2", now=NOW, actor="ops")  # a node never seen
    assert [n.id for n in await store.nodes.list_all()] == ["n1", "n2"]
    audit = await store.audit_log.entries(subject_type="node")
    assert [(e.action, e.subject_id) for e in audit] == [
        ("node.drain", "n1"), ("node.drain_cancel", "n1"), ("node.drain", "n2")]


async def test_tenant_lookups_and_line_limit(store: Store, tenant: TenantInfo) -> None:
    assert (await store.tenants.by_name("acme")).id == tenant.id
    with pytest.raises(NotFound):
        await store.tenants.by_name("nobody")
    same = await store.tenants.get_or_create("acme", now=NOW)
    new = await store.tenants.get_or_create("beta", now=NOW)
    assert same.id == tenant.id and new.id != tenant.id
    limited = await store.tenants.set_max_lines(tenant.id, 12, now=NOW, actor="ops")
    assert limited.max_lines == 12 and (await store.tenants.get(tenant.id)).max_lines == 12
    with pytest.raises(ValueError, match=">= 0"):
        await store.tenants.set_max_lines(tenant.id, -1, now=NOW, actor="ops")


async def test_campaign_upsert_and_lookup(store: Store, tenant: TenantInfo) -> None:
    created, new = await store.campaigns.upsert(tenant.id, "spring", "cn", now=NOW,
                                                config={"a": 1},
                                                retention_overrides={"recordings": 9})
    assert new and created.status is CampaignStatus.DRAFT and created.config == {"a": 1}
    await store.campaigns.set_status(created.id, CampaignStatus.RUNNING, now=NOW, actor="t")
    later = NOW + timedelta(hours=1)
    updated, new = await store.campaigns.upsert(tenant.id, "spring", "uk", now=later,
                                                config={"a": 2})
    assert not new and updated.id == created.id and updated.status is CampaignStatus.RUNNING
    assert (updated.profile, updated.config, updated.retention_overrides) == ("uk", {"a": 2}, {})
    assert updated.updated_at == later
    assert (await store.campaigns.by_name(tenant.id, "spring")).id == created.id
    with pytest.raises(NotFound):
        await store.campaigns.by_name(tenant.id, "autumn")
    with pytest.raises(ValueError, match="unknown data class"):
        await store.campaigns.upsert(tenant.id, "x", "cn", now=NOW, config={},
                                     retention_overrides={"nothing": 1})
    await store.tenants.terminate(tenant.id, now=NOW, actor="t")
    with pytest.raises(NotFound, match="active tenant"):
        await store.campaigns.upsert(tenant.id, "autumn", "cn", now=NOW, config={})


async def test_agent_by_external_id(store: Store, tenant: TenantInfo) -> None:
    agent = await store.agents.create(tenant.id, "8001", "Ann", "1234", now=NOW)
    assert (await store.agents.by_external_id(tenant.id, "8001")).id == agent.id
    with pytest.raises(NotFound):
        await store.agents.by_external_id(tenant.id, "8002")


async def test_insert_batch_says_which_rows_were_added(store: Store,
                                                       campaign: CampaignInfo) -> None:
    first, second, third = numbers(3)
    ids = await store.leads.insert_batch(campaign.id, [NewLead(first, "t"),
                                                       NewLead(second, "t")], now=NOW)
    assert all(i is not None for i in ids)
    again = await store.leads.insert_batch(
        campaign.id, [NewLead(second, "t"), NewLead(third, "t", status=LeadStatus.DNC),
                      NewLead(third, "t")], now=NOW)
    assert again[0] is None and again[1] is not None and again[2] is None
    assert (await store.leads.get(again[1])).status is LeadStatus.DNC  # type: ignore[arg-type]
    assert await store.leads.insert_batch(campaign.id, [], now=NOW) == []
    with pytest.raises(NotFound):
        await store.leads.insert_batch(campaign.id + 99, [NewLead(first, "t")], now=NOW)
    with pytest.raises(ValueError, match="'new' or 'dnc'"):
        NewLead(first, "t", status=LeadStatus.DONE)


async def test_claimed_leads_carry_their_due_time(store: Store, campaign: CampaignInfo) -> None:
    due = NOW - timedelta(minutes=5)
    await store.leads.add(campaign.id, [NewLead(numbers(1)[0], "t", next_attempt_at=due)],
                          now=NOW)
    (lead,) = await store.claim_leads(campaign.id, "n1", 5, NOW)
    assert lead.next_attempt_at == due


async def test_create_checked_writes_only_what_the_check_allows(
        store: Store, campaign: CampaignInfo) -> None:
    number = numbers(1)[0]
    await store.leads.add(campaign.id, [NewLead(number, "t")], now=NOW)
    (lead,) = await store.claim_leads(campaign.id, "n1", 1, NOW)
    seen: list[DialHistory] = []

    def deny(history: DialHistory) -> str | None:
        seen.append(history)
        return "no"

    attempt = NewAttempt(campaign.id, number, NOW, lead_id=lead.id, dnc_version=3,
                         gate_decision="admitted")
    assert await store.attempts.create_checked(attempt, since=NOW - timedelta(days=1),
                                               check=deny) == "no"
    assert seen == [DialHistory((), lead_attempts=0, lead_status=LeadStatus.CLAIMED,
                                lead_claimed_by="n1")]
    assert await store.attempts.open_attempts() == []
    made = await store.attempts.create_checked(attempt, since=NOW - timedelta(days=1),
                                               check=lambda h: None)
    row = await store.attempts.get(made)  # type: ignore[arg-type]
    assert (row.state, row.dnc_version, row.gate_decision) == (AttemptState.OPEN, 3, "admitted")
    assert (await store.leads.get(lead.id)).attempt_count == 1
    later = NOW + timedelta(hours=1)
    await store.attempts.create_checked(NewAttempt(campaign.id, number, later, lead_id=lead.id),
                                        since=NOW - timedelta(days=1), check=deny)
    assert seen[-1].attempts == ((NOW, False),) and seen[-1].lead_attempts == 1
    assert seen[-1].lead_status is LeadStatus.IN_CALL


async def test_release_claims_only_frees_this_nodes_claims(store: Store,
                                                           campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, [NewLead(n, "t") for n in numbers(2)], now=NOW)
    mine, theirs = await store.claim_leads(campaign.id, "n1", 2, NOW)
    await store.release_expired_claims(NOW + timedelta(hours=1), timedelta(minutes=5))
    assert (await store.claim_leads(campaign.id, "n2", 1, NOW))[0].id == mine.id
    assert await store.leads.release_claims([mine.id]) == 0  # n2's now
    (again,) = await store.claim_leads(campaign.id, "n1", 1, NOW)
    assert again.id == theirs.id and await store.leads.release_claims([theirs.id]) == 1


async def test_a_restarted_node_hands_back_its_own_claims_but_those_it_keeps(
        store: Store, campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, [NewLead(n, "t") for n in numbers(4)], now=NOW)
    kept, freed, other = await store.claim_leads(campaign.id, "n1", 3, NOW)
    (theirs,) = await store.claim_leads(campaign.id, "n2", 1, NOW)
    assert await store.leads.release_own_claims(keep=[kept.id]) == 2    # store's node: n1
    statuses = [(await store.leads.get(lead.id)).status for lead in (kept, freed, other, theirs)]
    assert statuses == [LeadStatus.CLAIMED, LeadStatus.READY, LeadStatus.READY,
                        LeadStatus.CLAIMED]
    assert await store.leads.release_own_claims() == 1
