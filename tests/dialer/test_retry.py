"""Retry policy: by outcome, never inside the caps' gaps, lifetime cap, dispositions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dial_support import CN_MOBILE, NOW, add_campaign, claim, keyring, make_campaign, store

from dialer.campaign import Disposition, RetryRules
from dialer.compliance import AttemptCaps
from dialer.retry import RetryPolicy, Settlement, settle_lead
from dialer.store import LeadStatus, Outcome, Store
from dnc import Source

__all__ = ["keyring", "store"]  # fixtures

CN = RetryPolicy.for_campaign(make_campaign())
UK = RetryPolicy.for_campaign(make_campaign("uk", caller_id="+442079460000"))
NO_GAP = RetryPolicy(RetryRules(), AttemptCaps(min_gap_hours=0, gap_after_abandon_hours=0))
H = timedelta(hours=1)


def test_busy_sooner_no_answer_later_machine_next_day() -> None:
    assert NO_GAP.next_attempt(Outcome.BUSY, 1, NOW) == NOW + timedelta(minutes=30)
    assert NO_GAP.next_attempt(Outcome.NO_ANSWER, 1, NOW) == NOW + 2 * H
    assert NO_GAP.next_attempt(Outcome.MACHINE, 1, NOW) == NOW + 24 * H
    assert NO_GAP.next_attempt(Outcome.FAILED, 1, NOW) == NOW + H


@pytest.mark.parametrize("outcome", [Outcome.CONNECTED, Outcome.DECLINED,
                                     Outcome.INVALID_NUMBER])
def test_final_outcomes(outcome: Outcome) -> None:
    assert CN.next_attempt(outcome, 1, NOW) is None
    assert CN.settle(outcome, 1, NOW) == Settlement(LeadStatus.DONE)


def test_never_sooner_than_the_gap_between_attempts_to_a_number() -> None:
    assert CN.next_attempt(Outcome.BUSY, 1, NOW) == NOW + 4 * H  # 30 min -> the 4 h gap
    assert CN.next_attempt(Outcome.MACHINE, 1, NOW) == NOW + 24 * H


def test_72_hours_after_an_abandon_under_uk() -> None:
    assert UK.next_attempt(Outcome.ABANDONED, 1, NOW) == NOW + 72 * H
    assert UK.next_attempt(Outcome.CONNECTED, 1, NOW, abandoned=True) == NOW + 72 * H
    assert CN.next_attempt(Outcome.ABANDONED, 1, NOW) == NOW + 24 * H


def test_the_lifetime_cap_ends_the_lead() -> None:
    assert CN.next_attempt(Outcome.BUSY, 5, NOW) is not None
    assert CN.next_attempt(Outcome.BUSY, 6, NOW) is None
    assert CN.settle(Outcome.BUSY, 6, NOW) == Settlement(LeadStatus.DONE)


def test_a_rule_set_to_null_ends_the_lead() -> None:
    policy = RetryPolicy.for_campaign(make_campaign(retries={"busy": None}))
    assert policy.next_attempt(Outcome.BUSY, 1, NOW) is None
    assert policy.delay(Outcome.NO_ANSWER) == 2 * H


def test_dispositions_override_the_outcome() -> None:
    refused = Disposition(code="*9", name="refused", refusal=True)
    sale = Disposition(code="*1", name="sale", final=True)
    callback = Disposition(code="*2", name="callback", retry_after=timedelta(minutes=90))
    label = Disposition(code="*5", name="info")
    assert CN.settle(Outcome.CONNECTED, 1, NOW, disposition=refused) == \
        Settlement(LeadStatus.DNC)
    assert CN.settle(Outcome.CONNECTED, 1, NOW, disposition=sale) == \
        Settlement(LeadStatus.DONE)
    assert CN.settle(Outcome.CONNECTED, 1, NOW, disposition=callback) == \
        Settlement(LeadStatus.READY, NOW + 4 * H)
    assert NO_GAP.settle(Outcome.CONNECTED, 1, NOW, disposition=callback) == \
        Settlement(LeadStatus.READY, NOW + timedelta(minutes=90))
    assert CN.settle(Outcome.CONNECTED, 6, NOW, disposition=callback) == \
        Settlement(LeadStatus.DONE)
    assert CN.settle(Outcome.NO_ANSWER, 1, NOW, disposition=label) == \
        Settlement(LeadStatus.READY, NOW + 4 * H)


async def test_settle_lead_releases_it_with_its_next_time(store: Store) -> None:
    state = await add_campaign(store, make_campaign())
    lead = await claim(store, state, CN_MOBILE)
    status = await settle_lead(store, CN, lead.id, Outcome.NO_ANSWER, 1, NOW)
    stored = await store.leads.get(lead.id)
    assert status is LeadStatus.READY and stored.status is LeadStatus.READY
    assert stored.next_attempt_at == NOW + 4 * H and stored.last_outcome is Outcome.NO_ANSWER
    assert stored.claimed_by is None
    assert await store.claim_leads(state.id, "n1", 5, NOW + 3 * H) == []
    assert len(await store.claim_leads(state.id, "n1", 5, NOW + 4 * H)) == 1


async def test_settle_lead_keeps_a_refusal_made_meanwhile(store: Store) -> None:
    state = await add_campaign(store, make_campaign())
    lead = await claim(store, state, CN_MOBILE)
    await store.leads.mark_dnc(lead.number_hash, now=NOW, actor=Source.AGENT.value)
    status = await settle_lead(store, CN, lead.id, Outcome.BUSY, 1, NOW)
    assert status is LeadStatus.DNC and (await store.leads.get(lead.id)).next_attempt_at is None
