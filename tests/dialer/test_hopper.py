"""The hopper: priority order, refill below low water, refusals, stale claims, release."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from dial_support import NOW, add_campaign, cn_number, keyring, make_campaign, store

from dialer.campaign import CampaignState
from dialer.hopper import Hopper
from dialer.store import LeadStatus, NewLead, Store

__all__ = ["keyring", "store"]  # fixtures


@pytest.fixture
async def state(store: Store) -> CampaignState:
    return await add_campaign(store, make_campaign())


async def add(store: Store, state: CampaignState, count: int, *, start: int = 0,
              priority: int = 0, due_minutes_ago: int | None = None) -> list[int]:
    due = None if due_minutes_ago is None else NOW - timedelta(minutes=due_minutes_ago)
    leads = [NewLead(cn_number(start + i), "t", consent=True, priority=priority,
                     next_attempt_at=due) for i in range(count)]
    ids = await store.leads.insert_batch(state.id, leads, now=NOW)
    return [i for i in ids if i is not None]


async def drain(hopper: Hopper, limit: int = 1000) -> list[int]:
    out = []
    for _ in range(limit):
        lead = await hopper.take(NOW)
        if lead is None:
            break
        out.append(lead.id)
    return out


async def test_priority_then_due_time_then_claim_order(store: Store,
                                                       state: CampaignState) -> None:
    low = await add(store, state, 3, start=0)
    later = await add(store, state, 2, start=10, due_minutes_ago=5)
    earlier = await add(store, state, 2, start=20, due_minutes_ago=50)
    high = await add(store, state, 2, start=30, priority=5)
    hopper = Hopper(store, state.id, size=4, low_water=1)
    assert await drain(hopper) == [*high, *low, *earlier, *later]
    assert hopper.claimed == 9


async def test_refills_only_below_the_low_water_mark(store: Store,
                                                     state: CampaignState) -> None:
    await add(store, state, 30)
    hopper = Hopper(store, state.id, size=10, low_water=3)
    await hopper.take(NOW)
    assert (len(hopper), hopper.claimed) == (9, 10)
    for _ in range(6):
        await hopper.take(NOW)
    assert (len(hopper), hopper.claimed) == (3, 10)
    await hopper.take(NOW)  # at the mark: refill to size, then take one
    assert (len(hopper), hopper.claimed) == (9, 17)
    counts = await store.leads.count_by_status(state.id)
    assert counts[LeadStatus.CLAIMED] == 17 and counts[LeadStatus.NEW] == 13


async def test_two_nodes_never_get_the_same_lead(db_url: str, keyring: object,
                                                 store: Store, state: CampaignState) -> None:
    await add(store, state, 40)
    other = await Store.open(db_url, keyring, node_id="n2")  # type: ignore[arg-type]
    try:
        a, b = Hopper(store, state.id, size=7, low_water=2), Hopper(other, state.id, size=7,
                                                                     low_water=2)
        got_a, got_b = await asyncio.gather(drain(a), drain(b))
    finally:
        await other.close()
    assert not set(got_a) & set(got_b) and len(got_a) + len(got_b) == 40


async def test_drop_number_forgets_queued_leads(store: Store, state: CampaignState) -> None:
    await add(store, state, 5)
    hopper = Hopper(store, state.id, size=10, low_water=0)
    first = await hopper.take(NOW)
    assert first is not None
    victim = store.hasher.digest(cn_number(3))
    assert hopper.drop_number(victim) == 1 and hopper.drop_number(victim) == 0
    rest = await drain(hopper)
    hashes = [(await store.leads.get(i)).number_hash for i in rest]
    assert len(rest) == 3 and victim not in hashes


async def test_close_releases_unused_claims(store: Store, state: CampaignState) -> None:
    ids = await add(store, state, 6)
    hopper = Hopper(store, state.id, size=6, low_water=0)
    taken = await hopper.take(NOW)
    assert taken is not None and sorted(hopper.lead_ids) == sorted(set(ids) - {taken.id})
    await hopper.close()
    assert await hopper.take(NOW) is None and hopper.released == 5
    counts = await store.leads.count_by_status(state.id)
    assert counts == {LeadStatus.CLAIMED: 1, LeadStatus.READY: 5}


async def test_release_hands_back_and_keeps_the_hopper_open(store: Store,
                                                            state: CampaignState) -> None:
    await add(store, state, 4)
    hopper = Hopper(store, state.id, size=4, low_water=0)
    await hopper.take(NOW)
    assert await hopper.release() == 3 and len(hopper) == 0
    assert len(await drain(hopper)) == 3


async def test_stale_claims_are_released_not_dialled(store: Store,
                                                     state: CampaignState) -> None:
    await add(store, state, 3)
    hopper = Hopper(store, state.id, size=3, low_water=0, max_hold=timedelta(minutes=2),
                    empty_retry=timedelta(0))
    assert await hopper.take(NOW) is not None
    later = NOW + timedelta(minutes=3)
    again = await hopper.take(later)  # the two held leads are released, then re-claimed
    assert again is not None and again.claimed_at == later
    assert hopper.released == 2


async def test_an_empty_campaign_is_asked_again_only_after_a_while(
        store: Store, state: CampaignState) -> None:
    hopper = Hopper(store, state.id, size=5, low_water=1, empty_retry=timedelta(seconds=1))
    assert await hopper.take(NOW) is None
    await add(store, state, 1)
    assert await hopper.take(NOW + timedelta(milliseconds=500)) is None
    assert await hopper.take(NOW + timedelta(seconds=1)) is not None


async def test_drop_lead(store: Store, state: CampaignState) -> None:
    ids = await add(store, state, 3)
    hopper = Hopper(store, state.id, size=3, low_water=0)
    await hopper.take(NOW)
    queued = hopper.lead_ids
    assert hopper.drop_lead(queued[0]) and not hopper.drop_lead(queued[0])
    assert len(hopper) == 1 and set(hopper.lead_ids) < set(ids)


def test_low_water_must_be_below_size() -> None:
    with pytest.raises(ValueError, match="low_water"):
        Hopper(None, 1, size=5, low_water=5)  # type: ignore[arg-type]
