"""Fixtures of the store tests: a keyring, an open store on `db_url`, a tenant and campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from store_helpers import NOW

from dialer.keys import Keyring, new_keyring
from dialer.store import CampaignInfo, Store, TenantInfo


@pytest.fixture
def keyring() -> Keyring:
    """A fresh keyring."""
    return new_keyring()


@pytest.fixture
async def store(db_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    """An open, migrated store on SQLite or PostgreSQL; closed after the test."""
    opened = await Store.open(db_url, keyring, node_id="n1", linger_s=0.001)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def tenant(store: Store) -> TenantInfo:
    """An active tenant."""
    return await store.tenants.create("acme", now=NOW)


@pytest.fixture
async def campaign(store: Store, tenant: TenantInfo) -> CampaignInfo:
    """A campaign of `tenant` under the `uk` profile."""
    return await store.campaigns.create(tenant.id, "spring", "uk", now=NOW)
