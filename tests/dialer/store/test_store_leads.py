"""Leads: encrypted import, de-duplication, claiming, release, refusal across campaigns."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from store_helpers import NOW, new_leads

from dialer.errors import NotFound
from dialer.keys import Keyring
from dialer.store import CampaignInfo, LeadStatus, NewLead, Outcome, Store, TenantInfo
from dialer.store.schema import Lead
from dnc import NumberHasher


async def test_numbers_and_custom_fields_are_encrypted_at_rest(store: Store, keyring: Keyring,
                                                                campaign: CampaignInfo) -> None:
    lead = NewLead("+8613812345678", "crm-export", custom={"name": "Li Lei"}, consent=True,
                   consent_evidence="web form 2025-01-02")
    result = await store.leads.add(campaign.id, [lead], now=NOW, import_batch="b1")
    assert (result.inserted, result.duplicates) == (1, 0)
    async with store.db.read() as conn:
        row = (await conn.execute(select(Lead.__table__))).one()
    raw = b"".join(v for v in row if isinstance(v, bytes))
    assert b"13812345678" not in raw and b"Li Lei" not in raw
    assert row.number_hash == NumberHasher(keyring.hash_key).digest("+8613812345678")
    assert row.key_id == "k1" and row.import_batch == "b1"
    record = await store.leads.get(row.id, decrypt=True)
    assert record.number == "+8613812345678" and record.custom == {"name": "Li Lei"}
    assert "13812345678" not in repr(record) and record.masked_number == "+86138****5678"
    assert (await store.leads.get(row.id)).number is None


async def test_duplicates_in_a_campaign_are_skipped_not_fatal(store: Store,
                                                              campaign: CampaignInfo) -> None:
    first = await store.leads.add(campaign.id, new_leads(1500), now=NOW)
    again = await store.leads.add(campaign.id, [*new_leads(3), *new_leads(2, "+86139")],
                                  now=NOW)
    assert (first.inserted, first.duplicates) == (1500, 0)
    assert (again.inserted, again.duplicates) == (2, 3)
    with pytest.raises(NotFound):
        await store.leads.add(9999, new_leads(1), now=NOW)


def test_a_lead_needs_an_e164_number() -> None:
    with pytest.raises(ValueError, match=r"\*\*"):
        NewLead("013812345678", "x")


async def test_claim_order_due_time_and_exclusivity(store: Store,
                                                    campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, [
        NewLead("+441111111111", "t", priority=0),
        NewLead("+442222222222", "t", priority=5),
        NewLead("+443333333333", "t", priority=0, next_attempt_at=NOW + timedelta(hours=1)),
        NewLead("+444444444444", "t", priority=0, next_attempt_at=NOW - timedelta(hours=1)),
    ], now=NOW)
    claimed = await store.claim_leads(campaign.id, "n1", 10, NOW)
    assert [c.number for c in claimed] == ["+442222222222", "+441111111111", "+444444444444"]
    assert all(c.claimed_at == NOW for c in claimed)
    assert await store.claim_leads(campaign.id, "n2", 10, NOW) == []
    later = await store.claim_leads(campaign.id, "n2", 10, NOW + timedelta(hours=2))
    assert [c.number for c in later] == ["+443333333333"]
    record = await store.leads.get(later[0].id)
    assert (record.status, record.claimed_by) == (LeadStatus.CLAIMED, "n2")


async def test_concurrent_claimers_in_one_process_never_share(store: Store,
                                                              campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(200), now=NOW)
    batches = await asyncio.gather(*(store.claim_leads(campaign.id, f"n{i}", 7, NOW)
                                     for i in range(40)))
    ids = [lead.id for batch in batches for lead in batch]
    assert len(ids) == len(set(ids)) == 200


async def test_expired_claims_come_back(store: Store, campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(3), now=NOW)
    await store.claim_leads(campaign.id, "dead-node", 2, NOW)
    lease = timedelta(minutes=5)
    assert await store.release_expired_claims(NOW + timedelta(minutes=4), lease) == 0
    assert await store.release_expired_claims(NOW + timedelta(minutes=6), lease) == 2
    again = await store.claim_leads(campaign.id, "n1", 5, NOW + timedelta(minutes=6))
    assert len(again) == 3


async def test_finish_never_overrides_a_refusal(store: Store, tenant: TenantInfo,
                                                campaign: CampaignInfo) -> None:
    other = await store.campaigns.create(tenant.id, "autumn", "cn", now=NOW)
    await store.leads.add(campaign.id, [NewLead("+8613800000001", "t")], now=NOW)
    await store.leads.add(other.id, [NewLead("+8613800000001", "t"),
                                     NewLead("+8613800000002", "t")], now=NOW)
    [lead] = await store.claim_leads(campaign.id, "n1", 1, NOW)
    changed = await store.leads.mark_dnc(lead.number_hash, now=NOW, actor="agent:7")
    assert sorted(c for _, c in changed) == sorted([campaign.id, other.id])
    status = await store.leads.finish(lead.id, LeadStatus.READY, now=NOW,
                                      next_attempt_at=NOW + timedelta(hours=4),
                                      outcome=Outcome.NO_ANSWER)
    assert status is LeadStatus.DNC
    assert [c.number for c in await store.claim_leads(other.id, "n1", 5, NOW)] == \
        ["+8613800000002"]
    entries = await store.audit_log.entries(action="lead.dnc")
    assert len(entries) == 1 and "13800000001" not in str(entries[0])


async def test_finish_and_release(store: Store, campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(3), now=NOW)
    claimed = await store.claim_leads(campaign.id, "n1", 3, NOW)
    later = NOW + timedelta(hours=4)
    assert await store.leads.finish(claimed[0].id, LeadStatus.READY, now=NOW,
                                    next_attempt_at=later, outcome=Outcome.BUSY) \
        is LeadStatus.READY
    assert await store.leads.release_claims([claimed[1].id, claimed[2].id]) == 2
    assert {c.id for c in await store.claim_leads(campaign.id, "n1", 3, NOW)} == \
        {claimed[1].id, claimed[2].id}
    record = await store.leads.get(claimed[0].id)
    assert (record.last_outcome, record.next_attempt_at, record.claimed_by) == \
        (Outcome.BUSY, later, None)
    counts = await store.leads.count_by_status(campaign.id)
    assert counts == {LeadStatus.READY: 1, LeadStatus.CLAIMED: 2}
    with pytest.raises(NotFound):
        await store.leads.finish(424242, LeadStatus.DONE, now=NOW)


async def test_move_to_crm_is_audited(store: Store, campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(1), now=NOW)
    [lead_id] = await store.leads.ids_for_number(store.hasher.digest(new_leads(1)[0].number))
    await store.leads.move_to_crm(lead_id, now=NOW, actor="crm-sync")
    assert (await store.leads.get(lead_id)).moved_to_crm_at == NOW
    assert [e.subject_id for e in await store.audit_log.entries(action="lead.move_to_crm")] == \
        [str(lead_id)]
