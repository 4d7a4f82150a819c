"""Attempts: durable before the originate, batched updates, aggregates counted once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from store_helpers import NOW, new_leads

from dialer.db import create_engine
from dialer.errors import NotFound
from dialer.store import (
    AmdResult,
    AttemptState,
    CampaignInfo,
    LeadStatus,
    NewAttempt,
    Outcome,
    Store,
    TenantInfo,
    new_attempt_id,
)
from dialer.store.schema import Attempt

NUMBER = "+8613812345678"


async def test_the_row_is_committed_before_create_returns(store: Store, db_url: str,
                                                          campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(1), now=NOW)
    [lead] = await store.claim_leads(campaign.id, "n1", 1, NOW)
    attempt_id = await store.create_attempt(NewAttempt(campaign.id, lead.number, NOW,
                                                       lead_id=lead.id, dnc_version=41,
                                                       gate_decision="allow"))
    other = create_engine(db_url)  # another connection pool: sees only committed rows
    try:
        async with other.connect() as conn:
            row = (await conn.execute(select(Attempt.__table__)
                                      .where(Attempt.id == attempt_id))).one()
    finally:
        await other.dispose()
    assert (row.state, row.dnc_version, row.gate_decision, row.node_id) == \
        (AttemptState.OPEN, 41, "allow", "n1")
    assert uuid.UUID(str(attempt_id)).version == 7
    record = await store.leads.get(lead.id)
    assert (record.status, record.attempt_count, record.last_attempt_at) == \
        (LeadStatus.IN_CALL, 1, NOW)


async def test_updates_are_batched_until_flushed(store: Store, campaign: CampaignInfo) -> None:
    attempt_id = await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))
    store.update_attempt(attempt_id, originated_at=NOW, channel_id="chan-1")
    store.update_attempt(attempt_id, ringing_at=NOW + timedelta(seconds=1))
    await store.flush()
    got = await store.attempts.get(attempt_id, with_number=True)
    assert (got.originated_at, got.ringing_at, got.channel_id) == \
        (NOW, NOW + timedelta(seconds=1), "chan-1")
    assert got.number == NUMBER and NUMBER not in repr(got)
    with pytest.raises(ValueError, match="number_hash"):
        store.update_attempt(attempt_id, number_hash=b"x")


async def _close(store: Store, attempt_id: uuid.UUID, **fields: object) -> None:
    store.update_attempt(attempt_id, state=AttemptState.CLOSED, **fields)
    await store.flush()


async def test_closing_counts_in_the_hourly_aggregates_once(store: Store,
                                                            campaign: CampaignInfo) -> None:
    plan: list[dict[str, object]] = [
        {"outcome": Outcome.CONNECTED, "answered_at": NOW, "agent_connected_at": NOW,
         "ended_at": NOW + timedelta(seconds=90)},
        {"outcome": Outcome.ABANDONED, "answered_at": NOW, "abandoned": True},
        {"outcome": Outcome.MACHINE, "answered_at": NOW, "amd_result": AmdResult.MACHINE},
        {"outcome": Outcome.NO_ANSWER},
        {"outcome": Outcome.BUSY},
    ]
    ids = [await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW + timedelta(
        minutes=i))) for i in range(len(plan))]
    for attempt_id, fields in zip(ids, plan, strict=True):
        await _close(store, attempt_id, **fields)
    await _close(store, ids[0], outcome=Outcome.CONNECTED)  # closing twice counts once
    store.update_attempt(ids[0], disposition="sale")  # after closing: stored, not recounted
    await store.flush()
    [hour] = await store.stats.hourly(campaign.id)
    assert hour.hour == NOW.replace(minute=0)
    assert (hour.attempts, hour.answers, hour.live_answers, hour.abandons, hour.amd_machine) == \
        (5, 3, 2, 1, 1)
    assert hour.outcomes[Outcome.CONNECTED] == 1 and hour.outcomes[Outcome.BUSY] == 1
    assert hour.talk_seconds == 90.0
    assert (await store.attempts.get(ids[0])).disposition == "sale"


async def test_per_number_caps_count_across_campaigns(store: Store, tenant: TenantInfo,
                                                      campaign: CampaignInfo) -> None:
    other = await store.campaigns.create(tenant.id, "other", "cn", now=NOW)
    first = await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW - timedelta(hours=30)))
    await store.create_attempt(NewAttempt(other.id, NUMBER, NOW - timedelta(hours=2)))
    await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW - timedelta(hours=1)))
    await store.create_attempt(NewAttempt(campaign.id, "+8613900000000", NOW))
    digest = store.hasher.digest(NUMBER)
    assert await store.count_attempts_for_number(digest, NOW - timedelta(hours=24)) == 2
    assert await store.count_attempts_for_number(digest, NOW - timedelta(hours=48)) == 3
    store.update_attempt(first, abandoned=True)
    await store.flush()
    history = await store.attempts.history_for_number(digest, NOW - timedelta(hours=72))
    assert [a for _, a in history] == [False, False, True]
    assert history[0][0] == NOW - timedelta(hours=1)


async def test_open_attempts_are_listed_for_reconciliation(store: Store,
                                                           campaign: CampaignInfo) -> None:
    a = await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))
    b = await store.create_attempt(NewAttempt(campaign.id, "+8613900000000", NOW))
    await _close(store, b, outcome=Outcome.NO_ANSWER)
    assert [r.id for r in await store.attempts.open_attempts("n1")] == [a]
    assert await store.attempts.open_attempts("elsewhere") == []
    assert await store.attempts.open_for_number(store.hasher.digest(NUMBER)) == [a]


async def test_a_bad_row_fails_only_its_own_caller(store: Store,
                                                   campaign: CampaignInfo) -> None:
    taken = new_attempt_id(NOW)
    await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW, id=taken))
    results = await asyncio.gather(
        *(store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW)) for _ in range(5)),
        store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW, id=taken)),
        return_exceptions=True)
    assert all(isinstance(r, uuid.UUID) for r in results[:5])
    assert not isinstance(results[5], uuid.UUID) and isinstance(results[5], Exception)
    assert len(await store.attempts.open_attempts()) == 6
    with pytest.raises(NotFound):
        await store.create_attempt(NewAttempt(4242, NUMBER, NOW))


async def test_ids_follow_creation_time() -> None:
    ids = [new_attempt_id(NOW + timedelta(milliseconds=i)) for i in range(50)]
    assert ids == sorted(ids, key=lambda u: u.bytes)
    assert all(u.version == 7 for u in ids)
