"""Fixtures of the lead import tests: a store, its DNC, a stored `cn` campaign, CSV files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from leads_support import NOW, CsvWriter, Target, build, quote

from dialer.campaign import save_campaign
from dialer.keys import Keyring, new_keyring
from dialer.store import Store
from dnc import Dnc


@pytest.fixture
def keyring() -> Keyring:
    return new_keyring()


@pytest.fixture
async def store(db_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    opened = await Store.open(db_url, keyring, node_id="n1", linger_s=0.001)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def dnc(store: Store) -> Dnc:
    return await Dnc.open(store.db.engine, store.hasher, region="CN", clock=lambda: NOW)


@pytest.fixture
async def target(store: Store) -> Target:
    campaign = build()
    info, tenant, _ = await save_campaign(store, campaign, now=NOW, actor="test")
    return Target(campaign, info.id, tenant.id)


@pytest.fixture
def csv_file(tmp_path: Path) -> CsvWriter:
    """Write rows (lists of cells) as a CSV file in an encoding; returns its path."""
    def make(rows: list[list[str]], encoding: str = "utf-8", name: str = "leads.csv") -> Path:
        text = "".join(",".join(quote(c) for c in row) + "\r\n" for row in rows)
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path
    return make


