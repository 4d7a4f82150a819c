"""Fixtures of the recordings tests: WAV files, a keyring, an in-memory index, a vault."""

from __future__ import annotations

from pathlib import Path

import pytest
from recording_support import NOW, Keys, MemoryIndex

from recordings import Vault


@pytest.fixture
def keys() -> Keys:
    return Keys({"k1": bytes(range(32)), "k2": bytes(range(1, 33))}, "k1")


@pytest.fixture
def index() -> MemoryIndex:
    return MemoryIndex()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool" / "recording"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def vault(tmp_path: Path, spool: Path, keys: Keys, index: MemoryIndex) -> Vault:
    return Vault(tmp_path / "store", spool, keys, index, node_id="n1", clock=lambda: NOW,
                 chunk_size=4096)
