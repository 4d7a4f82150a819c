"""Key rotation: every encrypted column re-encrypted in batches, resumably, with counts."""

from __future__ import annotations

import pytest
from store_helpers import NOW, new_leads

from dialer.crypto import FieldCipher
from dialer.errors import UnknownKeyId
from dialer.keys import Keyring
from dialer.store import (
    CampaignInfo,
    KeyRotator,
    NewAttempt,
    NewLead,
    Store,
    key_usage,
    unused_keys,
)


async def seed(store: Store, campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(25), now=NOW)
    await store.leads.add(campaign.id, [NewLead("+8613999999999", "t", custom={"n": "Li"})],
                          now=NOW)
    for lead in await store.claim_leads(campaign.id, "n1", 12, NOW):
        await store.create_attempt(NewAttempt(campaign.id, lead.number, NOW, lead_id=lead.id))


async def test_rotation_reencrypts_everything(db_url: str, keyring: Keyring, store: Store,
                                              campaign: CampaignInfo) -> None:
    await seed(store, campaign)
    assert await key_usage(store.db) == {"leads": {"k1": 26}, "attempts": {"k1": 12},
                                         "recordings": {}}
    rotated = keyring.with_new_data_key()
    batches: list[tuple[str, int]] = []
    done = await KeyRotator(store, cipher=FieldCipher(rotated), batch_size=5,
                            on_batch=lambda t, n: batches.append((t, n))).reencrypt(
        now=NOW, actor="ops")
    assert done == {"leads": 26, "attempts": 12}
    assert len(batches) == 6 + 3
    assert await key_usage(store.db) == {"leads": {"k2": 26}, "attempts": {"k2": 12},
                                         "recordings": {}}
    assert unused_keys(await key_usage(store.db), ["k1", "k2"], "k2") == ["k1"]
    [entry] = await store.audit_log.entries(action="keys.reencrypt")
    assert entry.detail == {"active": "k2", "rows": {"leads": 26, "attempts": 12}}
    only_new = Keyring(rotated.hash_key, {"k2": rotated.data_keys["k2"]}, "k2")
    reopened = await Store.open(db_url, only_new)
    try:
        lead = next(c for c in await reopened.claim_leads(campaign.id, "n1", 20, NOW)
                    if c.number == "+8613999999999")
        assert lead.custom == {"n": "Li"}
        attempt = (await reopened.attempts.open_attempts())[0]
        assert (await reopened.attempts.get(attempt.id, with_number=True)).number
    finally:
        await reopened.close()


class Crash(Exception):
    """Stands for the process dying between two batches."""


async def test_an_interrupted_rotation_resumes(keyring: Keyring, store: Store,
                                               campaign: CampaignInfo) -> None:
    await seed(store, campaign)
    cipher = FieldCipher(keyring.with_new_data_key())
    seen: list[int] = []

    def crash(table: str, n: int) -> None:
        seen.append(n)
        if len(seen) == 3:
            raise Crash

    with pytest.raises(Crash):
        await KeyRotator(store, cipher=cipher, batch_size=5, on_batch=crash).reencrypt(
            now=NOW, actor="ops")
    assert await key_usage(store.db) == {"leads": {"k1": 11, "k2": 15}, "attempts": {"k1": 12},
                                         "recordings": {}}
    done = await KeyRotator(store, cipher=cipher, batch_size=5).reencrypt(now=NOW, actor="ops")
    assert done == {"leads": 11, "attempts": 12}
    again = await KeyRotator(store, cipher=cipher, batch_size=5).reencrypt(now=NOW, actor="ops")
    assert again == {"leads": 0, "attempts": 0}


async def test_a_store_without_the_old_key_says_which_is_missing(
        db_url: str, keyring: Keyring, store: Store, campaign: CampaignInfo) -> None:
    await seed(store, campaign)
    other = keyring.with_new_data_key()
    stranger = Keyring(other.hash_key, {"k2": other.data_keys["k2"]}, "k2")
    reopened = await Store.open(db_url, stranger)
    try:
        with pytest.raises(UnknownKeyId, match="'k1'"):
            await reopened.claim_leads(campaign.id, "n1", 1, NOW)
        assert len(await store.claim_leads(campaign.id, "n1", 100, NOW)) == 26 - 12
    finally:
        await reopened.close()
