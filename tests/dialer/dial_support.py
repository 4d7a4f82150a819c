"""Fixtures and builders for the gate, hopper and retry tests (imported by name).

`NOW` is a Wednesday, 10:30 in Shanghai (02:30 UTC): inside the `cn` calling hours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from dialer.campaign import Campaign, CampaignConfig, CampaignState, read_campaign_state
from dialer.campaign.campaign import Campaign as _Campaign
from dialer.compliance import BUILTIN_PROFILES, CallingHours, ComplianceProfile
from dialer.gate import DialGate, DialTicket
from dialer.keys import Keyring, new_keyring
from dialer.store import CampaignStatus, ClaimedLead, NewLead, Store
from dnc import Dnc, time_zones

NOW = datetime(2025, 3, 12, 2, 30, tzinfo=UTC)
CN_MOBILE = "+8613812345678"

BASE_CONFIG: dict[str, Any] = {
    "id": "spring",
    "caller_id": "+861012345678",
    "trunk": {"endpoint": "PJSIP/{number}@customers", "number_format": "e164_digits"},
    "safe_harbour": {"message": "demo-thanks"},
}


def cn_number(i: int) -> str:
    """A distinct valid Chinese mobile number."""
    return f"+86138{i:08d}"


def make_campaign(profile: str | ComplianceProfile = "cn", **overrides: Any) -> Campaign:
    """A campaign from the base settings with `overrides` (top-level keys)."""
    chosen = BUILTIN_PROFILES[profile] if isinstance(profile, str) else profile
    data = {**BASE_CONFIG, "profile": chosen.name, **overrides}
    return _Campaign.build(CampaignConfig.model_validate(data), chosen)


def relaxed_profile(*, all_day: bool = False, **caps: Any) -> ComplianceProfile:
    """The `cn` profile with other caps, and calls at any hour if `all_day` (a test-only
    profile: profile files may only tighten)."""
    base = BUILTIN_PROFILES["cn"].model_dump(mode="json")
    base["name"] = "cn-test"
    base["base"] = "cn"
    base["caps"] = {**base["caps"], **caps}
    if all_day:
        base["calling_hours"] = CallingHours.same_every_day("00:00-24:00").model_dump()
    return ComplianceProfile.model_validate(base)


@pytest.fixture
def keyring() -> Keyring:
    """A fresh keyring."""
    return new_keyring()


@pytest.fixture
async def store(db_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    """An open, migrated store (SQLite, then PostgreSQL) as node `n1`."""
    opened = await Store.open(db_url, keyring, node_id="n1", linger_s=0.001)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def dnc(store: Store) -> Dnc:
    """The DNC on the store's database, with the store's number hasher."""
    return await Dnc.open(store.db.engine, store.hasher, region="CN", clock=lambda: NOW)


async def add_campaign(store: Store, campaign: Campaign, *, tenant: str = "acme",
                       status: CampaignStatus = CampaignStatus.RUNNING) -> CampaignState:
    """Store a campaign (and its tenant) with a status; its state as the gate reads it."""
    owner = await store.tenants.get_or_create(tenant, now=NOW)
    info, _ = await store.campaigns.upsert(owner.id, campaign.id, campaign.profile.name,
                                           now=NOW, config=campaign.snapshot())
    if status is not info.status:
        await store.campaigns.set_status(info.id, status, now=NOW, actor="test")
    return await read_campaign_state(store, campaign, info.id)


async def claim(store: Store, state: CampaignState, number: str, *, consent: bool = True,
                priority: int = 0, now: datetime = NOW,
                extra: Mapping[str, Any] | None = None) -> ClaimedLead:
    """Add one lead with this number to the campaign and claim it for node `n1`."""
    lead = NewLead(number, "test", region="CN", time_zones=time_zones(number), consent=consent,
                   priority=priority, custom=dict(extra or {}) or None)
    ids = await store.leads.insert_batch(state.id, [lead], now=now)
    claimed = await store.claim_leads(state.id, "n1", 1000, now)
    found = [c for c in claimed if c.id == ids[0]]
    assert found, "the new lead was not claimed"
    return found[0]


async def admit(store: Store, dnc: Dnc, state: CampaignState, number: str, *,
                now: datetime = NOW) -> DialTicket:
    """Claim a new lead with this number and pass it through the dial gate: its ticket
    (the attempt row is written)."""
    lead = await claim(store, state, number, now=now)
    decision = await DialGate(store, dnc).admit(lead, state, now, lines_in_use=0)
    assert decision.ticket is not None, f"the gate said no: {decision.reason}"
    return decision.ticket
