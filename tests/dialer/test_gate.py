"""The dial gate: every check, its order, the attempt row it writes, fail-closed paths."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
from dial_support import (
    CN_MOBILE,
    NOW,
    add_campaign,
    claim,
    cn_number,
    dnc,
    keyring,
    make_campaign,
    relaxed_profile,
    store,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from tz_oracle import TRANSITIONS, VALID_FROM, VALID_UNTIL, open_in

from dialer.campaign import CampaignState, read_campaign_state
from dialer.errors import StoreFault, StoreUnavailable
from dialer.gate import ADMITTED, DenyReason, DialGate, DialTicket, LeadAction, settle_denied
from dialer.keys import new_keyring
from dialer.store import AttemptState, CampaignStatus, LeadStatus, Store
from dnc import Dnc, Scope, Source, dnc_state, time_zones

__all__ = ["dnc", "keyring", "store"]  # fixtures


@pytest.fixture
async def state(store: Store) -> CampaignState:
    return await add_campaign(store, make_campaign())


@pytest.fixture
def gate(store: Store, dnc: Dnc) -> DialGate:
    return DialGate(store, dnc)


async def test_admits_and_writes_the_attempt_row_first(store: Store, dnc: Dnc,
                                                       state: CampaignState,
                                                       gate: DialGate) -> None:
    await dnc.refuse(cn_number(999), Source.MANUAL)  # version 1, another number
    lead = await claim(store, state, CN_MOBILE)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.allowed and decision.reason is None and decision.dnc_version == 1
    ticket = decision.ticket
    assert ticket is not None
    assert (ticket.campaign_id, ticket.lead_id, ticket.number) == (state.id, lead.id, CN_MOBILE)
    assert ticket.number_hash == lead.number_hash and ticket.dnc_version == 1
    assert CN_MOBILE not in repr(ticket) and ticket.masked_number in repr(ticket.masked_number)
    row = await store.attempts.get(ticket.attempt_id, with_number=True)
    assert (row.state, row.dnc_version, row.gate_decision) == (AttemptState.OPEN, 1, ADMITTED)
    assert row.number == CN_MOBILE and row.lead_id == lead.id and row.created_at == NOW
    stored = await store.leads.get(lead.id)
    assert stored.status is LeadStatus.IN_CALL and stored.attempt_count == 1
    assert gate.admitted == 1 and not gate.denials


async def test_a_ticket_is_made_only_by_the_gate(store: Store, state: CampaignState,
                                                 gate: DialGate) -> None:
    lead = await claim(store, state, CN_MOBILE)
    ticket = (await gate.admit(lead, state, NOW, lines_in_use=0)).ticket
    assert ticket is not None
    with pytest.raises(TypeError, match="only the dial gate"):
        DialTicket(ticket.attempt_id, ticket.campaign_id, ticket.lead_id, ticket.number,
                   ticket.number_hash, ticket.dnc_version, ticket.decided_at)
    with pytest.raises(TypeError, match="only the dial gate"):
        dataclasses.replace(ticket, number=cn_number(5))
    assert dataclasses.replace(ticket) == ticket  # an exact copy is still the same proof


@pytest.mark.parametrize(("status", "allowed"), [
    (CampaignStatus.DRAFT, False), (CampaignStatus.PAUSED, False),
    (CampaignStatus.STOPPED, False), (CampaignStatus.RUNNING, True)])
async def test_only_a_running_campaign_dials(store: Store, gate: DialGate,
                                             status: CampaignStatus, allowed: bool) -> None:
    state = await add_campaign(store, make_campaign(), status=status)
    lead = await claim(store, state, CN_MOBILE)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is DenyReason.CAMPAIGN_NOT_RUNNING
        assert decision.reason.campaign_wide and decision.reason.lead_status is None


async def test_campaign_freeze_holds_until_its_end_then_lifts_itself(
        store: Store, state: CampaignState, gate: DialGate) -> None:
    until = NOW + timedelta(hours=1)
    await store.campaigns.freeze(state.id, until=until, reason="abuse", now=NOW, actor="ops")
    state = await read_campaign_state(store, state.campaign, state.id)
    lead = await claim(store, state, CN_MOBILE)
    frozen = await gate.admit(lead, state, NOW + timedelta(minutes=59), lines_in_use=0)
    assert (frozen.reason, frozen.retry_at) == (DenyReason.CAMPAIGN_FROZEN, until)
    thawed = await gate.admit(lead, state, until, lines_in_use=0)
    assert thawed.allowed


async def test_an_open_ended_freeze_has_no_retry_time(store: Store, state: CampaignState,
                                                      gate: DialGate) -> None:
    await store.campaigns.freeze(state.id, until=None, reason="x", now=NOW, actor="ops")
    state = await read_campaign_state(store, state.campaign, state.id)
    lead = await claim(store, state, CN_MOBILE)
    decision = await gate.admit(lead, state, NOW + timedelta(days=400), lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.CAMPAIGN_FROZEN, None)


async def test_tenant_freeze_and_termination(store: Store, state: CampaignState,
                                             gate: DialGate) -> None:
    lead = await claim(store, state, CN_MOBILE)
    until = NOW + timedelta(minutes=30)
    await store.tenants.freeze(state.tenant_id, until=until, reason="r", now=NOW, actor="ops")
    frozen = await read_campaign_state(store, state.campaign, state.id)
    decision = await gate.admit(lead, frozen, NOW, lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.TENANT_FROZEN, until)
    await store.tenants.unfreeze(state.tenant_id, now=NOW, actor="ops")
    await store.tenants.terminate(state.tenant_id, now=NOW, actor="ops")
    ended = await read_campaign_state(store, state.campaign, state.id)
    decision = await gate.admit(lead, ended, NOW, lines_in_use=0)
    assert decision.reason is DenyReason.TENANT_TERMINATED


async def test_line_limits_of_the_campaign_and_the_tenant(store: Store, gate: DialGate) -> None:
    state = await add_campaign(store, make_campaign(lines={"max_lines": 2}))
    lead = await claim(store, state, CN_MOBILE)
    full = await gate.admit(lead, state, NOW, lines_in_use=2)
    assert full.reason is DenyReason.LINE_LIMIT and full.reason.campaign_wide
    await store.tenants.set_max_lines(state.tenant_id, 5, now=NOW, actor="ops")
    state = await read_campaign_state(store, state.campaign, state.id)
    tenant_full = await gate.admit(lead, state, NOW, lines_in_use=1, tenant_lines_in_use=5)
    assert tenant_full.reason is DenyReason.TENANT_LINE_LIMIT
    assert (await gate.admit(lead, state, NOW, lines_in_use=1, tenant_lines_in_use=4)).allowed


async def test_consent_required_by_the_profile(store: Store, state: CampaignState,
                                               gate: DialGate) -> None:
    lead = await claim(store, state, CN_MOBILE, consent=False)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.reason is DenyReason.NO_CONSENT
    assert decision.reason.lead_status is LeadStatus.CANCELLED


async def test_consent_not_needed_under_us(store: Store, gate: DialGate) -> None:
    campaign = make_campaign("us", caller_id="+12015550123", opt_out_key="9")
    state = await add_campaign(store, campaign)
    at = NOW.replace(hour=15)  # 10:00 in New York
    lead = await claim(store, state, "+12015550124", consent=False, now=at)
    assert (await gate.admit(lead, state, at, lines_in_use=0)).allowed


@pytest.mark.parametrize("scope", ["global", "tenant", "campaign"])
async def test_a_listed_number_is_denied_in_every_scope_that_covers_it(
        store: Store, dnc: Dnc, state: CampaignState, gate: DialGate, scope: str) -> None:
    ref = {"global": None, "tenant": str(state.tenant_id), "campaign": str(state.id)}[scope]
    outcome = await dnc.refuse(CN_MOBILE, Source.AGENT, scope=Scope(scope), scope_ref=ref)
    lead = await claim(store, state, CN_MOBILE)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert (decision.reason, decision.dnc_version) == (DenyReason.DNC, outcome.version)
    assert decision.reason.lead_status is LeadStatus.DNC
    assert (await store.leads.get(lead.id)).attempt_count == 0


async def test_another_tenants_or_campaigns_list_does_not_block(
        store: Store, dnc: Dnc, state: CampaignState, gate: DialGate) -> None:
    await dnc.refuse(CN_MOBILE, Source.AGENT, scope=Scope.TENANT,
                     scope_ref=str(state.tenant_id + 1))
    await dnc.refuse(CN_MOBILE, Source.AGENT, scope=Scope.CAMPAIGN, scope_ref=str(state.id + 1))
    lead = await claim(store, state, CN_MOBILE)
    assert (await gate.admit(lead, state, NOW, lines_in_use=0)).allowed


async def test_another_nodes_refusal_is_seen_at_once(db_url: str, store: Store, dnc: Dnc,
                                                     state: CampaignState,
                                                     gate: DialGate) -> None:
    other = await Dnc.open(store.db.engine, store.hasher, region="CN")
    lead = await claim(store, state, CN_MOBILE)
    outcome = await other.refuse(CN_MOBILE, Source.OPT_OUT_KEY)
    assert dnc.version < outcome.version  # this node's index has not heard of it yet
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert (decision.reason, decision.dnc_version) == (DenyReason.DNC, outcome.version)


async def test_outside_the_window_it_says_when_it_opens(store: Store, state: CampaignState,
                                                       gate: DialGate) -> None:
    lunch = NOW.replace(hour=4, minute=30)  # 12:30 in Shanghai: the cn rest hours
    lead = await claim(store, state, CN_MOBILE, now=lunch)
    decision = await gate.admit(lead, state, lunch, lines_in_use=0)
    assert decision.reason is DenyReason.OUTSIDE_WINDOW
    assert decision.retry_at == NOW.replace(hour=6, minute=0)  # 14:00 in Shanghai
    assert decision.reason.lead_status is None and not decision.reason.campaign_wide


async def test_the_campaigns_narrower_window_applies(store: Store, gate: DialGate) -> None:
    state = await add_campaign(store, make_campaign(calling_hours={"wed": ["11:00-12:00"]}))
    lead = await claim(store, state, CN_MOBILE)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.reason is DenyReason.OUTSIDE_WINDOW
    assert decision.retry_at == NOW.replace(hour=3, minute=0)


async def test_a_number_spanning_zones_needs_every_zone_open(store: Store,
                                                           gate: DialGate) -> None:
    campaign = make_campaign("us", caller_id="+12015550123", opt_out_key="9")
    state = await add_campaign(store, campaign)
    at = NOW.replace(hour=13, minute=30)  # 09:30 New York, 06:30 Los Angeles
    chicago = await claim(store, state, "+13125550123", now=at)
    tollfree = await claim(store, state, "+18002530000", now=at)  # every US zone
    assert (await gate.admit(chicago, state, at, lines_in_use=0)).allowed
    decision = await gate.admit(tollfree, state, at, lines_in_use=0)
    assert decision.reason is DenyReason.OUTSIDE_WINDOW


async def test_a_number_without_a_time_zone_is_denied(store: Store, state: CampaignState,
                                                      gate: DialGate) -> None:
    lead = await claim(store, state, "+881612345678")  # satellite: no zone known
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.reason is DenyReason.UNKNOWN_TIME_ZONE
    assert decision.reason.lead_status is LeadStatus.INVALID


async def test_minimum_gap_across_campaigns(store: Store, gate: DialGate) -> None:
    first = await add_campaign(store, make_campaign(id="a"))
    second = await add_campaign(store, make_campaign(id="b"))
    assert (await gate.admit(await claim(store, first, CN_MOBILE), first, NOW,
                             lines_in_use=0)).allowed
    later = NOW + timedelta(hours=1)
    lead = await claim(store, second, CN_MOBILE, now=later)
    decision = await gate.admit(lead, second, later, lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.MIN_GAP, NOW + timedelta(hours=4))
    assert (await gate.admit(lead, second, NOW + timedelta(hours=4), lines_in_use=0)).allowed


async def test_daily_cap_across_campaigns(store: Store, gate: DialGate) -> None:
    profile = relaxed_profile(min_gap_hours=0, gap_after_abandon_hours=0, per_number_daily=2)
    states = [await add_campaign(store, make_campaign(profile, id=f"c{i}")) for i in range(3)]
    times = [NOW, NOW + timedelta(minutes=30)]
    for s, at in zip(states, times, strict=False):
        assert (await gate.admit(await claim(store, s, CN_MOBILE, now=at), s, at,
                                 lines_in_use=0)).allowed
    at = NOW + timedelta(hours=1)
    lead = await claim(store, states[2], CN_MOBILE, now=at)
    decision = await gate.admit(lead, states[2], at, lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.DAILY_CAP, NOW + timedelta(days=1))


async def test_no_redial_within_72_hours_of_an_abandon_under_uk(store: Store,
                                                               gate: DialGate) -> None:
    campaign = make_campaign("uk", caller_id="+442079460000")
    state = await add_campaign(store, campaign)
    at = NOW.replace(hour=10)  # 10:00 in London
    lead = await claim(store, state, "+447400123456", now=at)
    ticket = (await gate.admit(lead, state, at, lines_in_use=0)).ticket
    assert ticket is not None
    store.update_attempt(ticket.attempt_id, abandoned=True)
    await store.flush()
    await store.leads.finish(lead.id, LeadStatus.READY, now=at)
    again = (await store.claim_leads(state.id, "n1", 10, at))[0]
    next_day = at + timedelta(days=1)
    decision = await gate.admit(again, state, next_day, lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.ABANDON_GAP,
                                                    at + timedelta(hours=72))


async def test_lifetime_cap_of_a_lead(store: Store, gate: DialGate) -> None:
    profile = relaxed_profile(min_gap_hours=0, gap_after_abandon_hours=0, per_number_daily=10,
                              per_lead_lifetime=2)
    state = await add_campaign(store, make_campaign(profile))
    lead = await claim(store, state, CN_MOBILE)
    for i in range(2):
        at = NOW + timedelta(minutes=i)
        assert (await gate.admit(lead, state, at, lines_in_use=0)).allowed
        await store.leads.finish(lead.id, LeadStatus.READY, now=at)
        lead = (await store.claim_leads(state.id, "n1", 10, at))[0]
    decision = await gate.admit(lead, state, NOW + timedelta(minutes=5), lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.LIFETIME_CAP, None)
    assert decision.reason.lead_status is LeadStatus.DONE


async def test_a_lead_no_longer_claimed_by_this_node_is_not_dialled(
        store: Store, state: CampaignState, gate: DialGate) -> None:
    lead = await claim(store, state, CN_MOBILE)
    await store.release_expired_claims(NOW + timedelta(hours=1), timedelta(minutes=5))
    decision = await gate.admit(lead, state, NOW + timedelta(hours=1), lines_in_use=0)
    assert decision.reason is DenyReason.LEAD_NOT_CLAIMED


async def test_dnc_unreadable_fails_closed(store: Store, dnc: Dnc, state: CampaignState,
                                           gate: DialGate) -> None:
    lead = await claim(store, state, CN_MOBILE)
    async with store.db.write() as conn:  # the store loses the DNC version row
        await conn.execute(update(dnc_state).values(version=-1))
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.reason is DenyReason.DNC_UNAVAILABLE and decision.reason.campaign_wide
    assert (await store.leads.get(lead.id)).attempt_count == 0


async def test_store_unwritable_fails_closed(store: Store, state: CampaignState,
                                             gate: DialGate,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lead = await claim(store, state, CN_MOBILE)

    async def down(*_: object, **__: object) -> None:
        raise StoreUnavailable("gone", cause=StoreFault.CONNECTION_LOST)

    monkeypatch.setattr(store.attempts, "create_checked", down)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert decision.reason is DenyReason.STORE_UNAVAILABLE and decision.ticket is None


async def test_checks_run_in_the_documented_order(store: Store, dnc: Dnc,
                                                  gate: DialGate) -> None:
    state = await add_campaign(store, make_campaign(lines={"max_lines": 1}),
                               status=CampaignStatus.PAUSED)
    await dnc.refuse(CN_MOBILE, Source.AGENT)
    lead = await claim(store, state, CN_MOBILE, consent=False)
    lunch = NOW.replace(hour=4, minute=30)  # also outside the window
    seen = []

    async def attempt(lines: int) -> None:
        seen.append((await gate.admit(lead, state, lunch, lines_in_use=lines)).reason)

    await attempt(1)
    await store.campaigns.set_status(state.id, CampaignStatus.RUNNING, now=NOW, actor="t")
    state = await read_campaign_state(store, state.campaign, state.id)
    await attempt(1)
    await attempt(0)
    lead = dataclasses.replace(lead, consent=True)
    await attempt(0)
    await dnc.remove(CN_MOBILE, reason="test")
    await attempt(0)
    assert seen == [DenyReason.CAMPAIGN_NOT_RUNNING, DenyReason.LINE_LIMIT,
                    DenyReason.NO_CONSENT, DenyReason.DNC, DenyReason.OUTSIDE_WINDOW]
    assert gate.denials == dict.fromkeys(seen, 1)


@pytest.mark.parametrize(("reason", "action"), [
    (DenyReason.DNC, LeadAction.CLOSE), (DenyReason.LIFETIME_CAP, LeadAction.CLOSE),
    (DenyReason.OUTSIDE_WINDOW, LeadAction.RESCHEDULE), (DenyReason.MIN_GAP,
                                                         LeadAction.RESCHEDULE),
    (DenyReason.CAMPAIGN_FROZEN, LeadAction.RELEASE),
    (DenyReason.STORE_UNAVAILABLE, LeadAction.RELEASE),
    (DenyReason.LEAD_NOT_CLAIMED, LeadAction.FORGET)])
def test_what_a_denial_means_for_its_lead(reason: DenyReason, action: LeadAction) -> None:
    assert reason.lead_action is action
    assert (reason.lead_status is not None) == (action is LeadAction.CLOSE)


async def test_settle_denied_applies_each_action(store: Store, dnc: Dnc, gate: DialGate,
                                                 state: CampaignState) -> None:
    lunch = NOW.replace(hour=4, minute=30)
    waiting = await claim(store, state, cn_number(1), now=lunch)
    decision = await gate.admit(waiting, state, lunch, lines_in_use=0)
    assert await settle_denied(store, waiting, decision, lunch) is LeadStatus.READY
    stored = await store.leads.get(waiting.id)
    assert stored.next_attempt_at == decision.retry_at and stored.claimed_by is None
    await dnc.refuse(cn_number(2), Source.AGENT)
    listed = await claim(store, state, cn_number(2))
    decision = await gate.admit(listed, state, NOW, lines_in_use=0)
    assert await settle_denied(store, listed, decision, NOW) is LeadStatus.DNC
    full = await claim(store, state, cn_number(3))
    decision = await gate.admit(full, state, NOW, lines_in_use=0, tenant_lines_in_use=0)
    assert decision.allowed
    await store.leads.finish(full.id, LeadStatus.READY, now=NOW)
    other = (await store.claim_leads(state.id, "n2", 10, NOW))[0]  # now node n2's
    assert other.id == full.id
    decision = await gate.admit(full, state, NOW + timedelta(hours=5), lines_in_use=0)
    assert decision.reason is DenyReason.LEAD_NOT_CLAIMED
    assert await settle_denied(store, full, decision, NOW) is None
    assert (await store.leads.get(full.id)).claimed_by == "n2"  # n2's claim is untouched
    mine = await claim(store, state, cn_number(4))
    await store.campaigns.set_status(state.id, CampaignStatus.PAUSED, now=NOW, actor="t")
    paused = await read_campaign_state(store, state.campaign, state.id)
    decision = await gate.admit(mine, paused, NOW, lines_in_use=0)
    assert await settle_denied(store, mine, decision, NOW) is LeadStatus.READY
    assert (await store.leads.get(mine.id)).claimed_by is None
    with pytest.raises(ValueError, match="nothing to settle"):
        await settle_denied(store, mine, dataclasses.replace(decision, reason=None), NOW)


async def test_a_window_that_never_opens_still_gives_a_retry_time(store: Store,
                                                                 gate: DialGate) -> None:
    closed = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    state = await add_campaign(store, make_campaign(calling_hours=closed))
    lead = await claim(store, state, CN_MOBILE)
    decision = await gate.admit(lead, state, NOW, lines_in_use=0)
    assert (decision.reason, decision.retry_at) == (DenyReason.OUTSIDE_WINDOW,
                                                    NOW + timedelta(days=8))


async def test_a_lead_of_another_campaign_is_a_programming_error(
        store: Store, state: CampaignState, gate: DialGate) -> None:
    other = await add_campaign(store, make_campaign(id="other"))
    lead = await claim(store, other, CN_MOBILE)
    with pytest.raises(ValueError, match="belongs to campaign"):
        await gate.admit(lead, state, NOW, lines_in_use=0)


# -- properties, against a real database (SQLite and PostgreSQL) -------------------------

KEYRING = new_keyring()
_unique = itertools.count(1)
DB_PROPERTY = settings(max_examples=20, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow])


@asynccontextmanager
async def node(db_url: str, node_id: str) -> AsyncIterator[tuple[Store, Dnc, DialGate]]:
    """One node: its own store connection, DNC index and gate."""
    opened = await Store.open(db_url, KEYRING, node_id=node_id, linger_s=0.001)
    try:
        index = await Dnc.open(opened.db.engine, opened.hasher, region="CN")
        yield opened, index, DialGate(opened, index)
    finally:
        await opened.close()


SCOPES = ["global", "tenant", "campaign", "other_tenant", "other_campaign", None]


@DB_PROPERTY
@given(st.lists(st.sampled_from(SCOPES), min_size=1, max_size=6))
def test_property_a_listed_number_is_never_admitted(db_url: str,
                                                   listings: list[str | None]) -> None:
    uid = next(_unique)

    async def scenario() -> None:
        async with node(db_url, "n1") as (st_, index, gate_):
            state = await add_campaign(st_, make_campaign(id=f"p{uid}"), tenant=f"t{uid}")
            refs = {"global": (Scope.GLOBAL, None),
                    "tenant": (Scope.TENANT, str(state.tenant_id)),
                    "campaign": (Scope.CAMPAIGN, str(state.id)),
                    "other_tenant": (Scope.TENANT, f"x{state.tenant_id}"),
                    "other_campaign": (Scope.CAMPAIGN, f"x{state.id}")}
            numbers = [cn_number(uid * 100 + i) for i in range(len(listings))]
            for number, scope in zip(numbers, listings, strict=True):
                if scope is not None:
                    where, ref = refs[scope]
                    await index.refuse(number, Source.AGENT, scope=where, scope_ref=ref)
            for number, scope in zip(numbers, listings, strict=True):
                lead = await claim(st_, state, number)
                decision = await gate_.admit(lead, state, NOW, lines_in_use=0)
                covered = scope in ("global", "tenant", "campaign")
                assert decision.allowed is not covered
                if covered:
                    assert decision.reason is DenyReason.DNC

    asyncio.run(scenario())


US_NUMBERS = {"America/New_York": "+1201555", "America/Chicago": "+1312555",
              "America/Los_Angeles": "+1310555", "America/Phoenix": "+1602555"}
instants = st.one_of(
    st.builds(lambda edge, s: edge + timedelta(seconds=s), st.sampled_from(TRANSITIONS),
              st.integers(-2 * 86400, 2 * 86400)),
    st.builds(lambda s: VALID_FROM + timedelta(seconds=s),
              st.integers(0, int((VALID_UNTIL - VALID_FROM).total_seconds()))))


@DB_PROPERTY
@given(st.lists(st.tuples(st.sampled_from(sorted(US_NUMBERS)), instants), min_size=1,
                max_size=6))
def test_property_never_admitted_outside_the_window(db_url: str,
                                                   calls: list[tuple[str, datetime]]) -> None:
    uid = next(_unique)
    campaign = make_campaign("us", id=f"w{uid}", caller_id="+12015550123", opt_out_key="9")

    async def scenario() -> None:
        async with node(db_url, "n1") as (st_, _, gate_):
            state = await add_campaign(st_, campaign, tenant=f"t{uid}")
            for i, (zone, at) in enumerate(calls):
                number = f"{US_NUMBERS[zone]}{(uid * 10 + i) % 10000:04d}"
                assert time_zones(number) == (zone,)
                lead = await claim(st_, state, number, now=at)
                decision = await gate_.admit(lead, state, at, lines_in_use=0)
                assert decision.allowed == open_in(campaign.calling_hours, zone, at)
                if not decision.allowed:
                    assert decision.reason is DenyReason.OUTSIDE_WINDOW
                    assert decision.retry_at is not None
                    assert open_in(campaign.calling_hours, zone, decision.retry_at)

    asyncio.run(scenario())


@DB_PROPERTY
@given(st.lists(st.tuples(st.integers(0, 600), st.sets(st.integers(0, 3), min_size=1)),
                min_size=1, max_size=5),
       st.booleans())
def test_property_caps_hold_under_concurrent_admits(db_url: str,
                                                   waves: list[tuple[int, set[int]]],
                                                   gapless: bool) -> None:
    uid = next(_unique)
    caps = ({"min_gap_hours": 0, "gap_after_abandon_hours": 0, "per_number_daily": 2,
             "per_lead_lifetime": 2} if gapless else {"per_number_daily": 3})
    profile = relaxed_profile(all_day=True, **caps)
    number = cn_number(uid)

    async def scenario() -> None:
        async with node(db_url, "n1") as one, node(db_url, "n2") as two:
            nodes = [one, one, two, two]  # four campaigns, two on each node
            states = [await add_campaign(one[0], make_campaign(profile, id=f"k{uid}-{i}"),
                                         tenant=f"t{uid}") for i in range(4)]
            leads = {}
            for i, state in enumerate(states):
                leads[i] = await claim(nodes[i][0], state, number)
                if nodes[i][0] is not one[0]:  # hand the lead to node n2
                    await one[0].leads.release_claims([leads[i].id])
                    leads[i] = (await nodes[i][0].claim_leads(state.id, "n2", 1, NOW))[0]
            at = NOW
            for minutes, chosen in waves:
                at += timedelta(minutes=minutes)
                for i in chosen:
                    node_store = nodes[i][0]
                    await node_store.leads.finish(leads[i].id, LeadStatus.READY, now=at)
                    leads[i] = (await node_store.claim_leads(states[i].id, node_store.node_id,
                                                             1, at))[0]
                await asyncio.gather(*(nodes[i][2].admit(leads[i], states[i], at,
                                                         lines_in_use=0) for i in chosen))
            made = sorted(t for t, _ in await one[0].attempts.history_for_number(
                leads[0].number_hash, NOW - timedelta(days=1)))
            effective = profile.caps
            for i, t in enumerate(made):
                in_day = [u for u in made[:i + 1] if u > t - timedelta(hours=24)]
                assert len(in_day) <= effective.per_number_daily
                if i:
                    assert t - made[i - 1] >= timedelta(hours=effective.min_gap_hours)
            for lead in leads.values():
                stored = await one[0].leads.get(lead.id)
                assert stored.attempt_count <= effective.per_lead_lifetime

    asyncio.run(scenario())


@DB_PROPERTY
@given(st.integers(1, 6), st.lists(st.integers(0, 6), min_size=7, max_size=7), st.booleans())
def test_property_a_check_that_saw_the_refusal_never_admits(db_url: str, admits: int,
                                                           yields: list[int],
                                                           from_other_node: bool) -> None:
    uid = next(_unique)
    profile = relaxed_profile(all_day=True, min_gap_hours=0, gap_after_abandon_hours=0,
                              per_number_daily=10)
    number = cn_number(uid)

    async def scenario() -> None:
        async with node(db_url, "n1") as (st_, index, gate_), node(db_url, "n9") as other:
            states = [await add_campaign(st_, make_campaign(profile, id=f"r{uid}-{i}"),
                                         tenant=f"t{uid}") for i in range(admits + 1)]
            leads = [await claim(st_, s, number) for s in states]
            refuser = other[1] if from_other_node else index

            async def admit(i: int) -> object:
                for _ in range(yields[i]):
                    await asyncio.sleep(0)
                return await gate_.admit(leads[i], states[i], NOW, lines_in_use=0)

            async def refuse() -> int:
                for _ in range(yields[-1]):
                    await asyncio.sleep(0)
                return (await refuser.refuse(number, Source.OPT_OUT_KEY)).version

            *decisions, version = await asyncio.gather(*(admit(i) for i in range(admits)),
                                                       refuse())
            for decision in decisions:
                if decision.allowed:
                    assert decision.ticket.dnc_version < version
                    row = await st_.attempts.get(decision.ticket.attempt_id)
                    assert row.dnc_version == decision.ticket.dnc_version
                else:
                    assert decision.reason is DenyReason.DNC
                    assert decision.dnc_version >= version
            after = await gate_.admit(leads[-1], states[-1], NOW, lines_in_use=0)
            assert after.reason is DenyReason.DNC and after.dnc_version >= version

    asyncio.run(scenario())
