"""Fixtures of the campaign tests: campaign files in a temporary folder, a store."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from campaign_support import WriteFile

from dialer.keys import Keyring, new_keyring
from dialer.store import Store


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write a (dedented) YAML file in the test's folder; returns its path."""
    def make(body: str, name: str = "campaign.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path
    return make


@pytest.fixture
def keyring() -> Keyring:
    """A fresh keyring."""
    return new_keyring()


@pytest.fixture
async def store(db_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    """An open, migrated store (SQLite, then PostgreSQL)."""
    opened = await Store.open(db_url, keyring, node_id="n1", linger_s=0.001)
    try:
        yield opened
    finally:
        await opened.close()
