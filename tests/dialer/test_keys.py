"""The keyring: parse, write with owner-only permissions, rotate data keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dialer import ConfigError
from dialer.keys import load_keyring, new_keyring, write_keyring


def test_roundtrip_and_permissions(tmp_path: Path) -> None:
    ring = new_keyring()
    path = tmp_path / "keys.json"
    write_keyring(ring, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_keyring(path)
    assert loaded == ring and loaded.active_key == ring.active_key


def test_rotation_keeps_old_keys_and_hash_key() -> None:
    ring = new_keyring()
    rotated = ring.with_new_data_key()
    assert rotated.active == "k2" and rotated.hash_key == ring.hash_key
    assert rotated.data_keys["k1"] == ring.data_keys["k1"]
    assert rotated.active_key != ring.active_key


def test_keyring_from_env() -> None:
    ring = new_keyring()
    assert load_keyring(None, env={"DIALER_KEYRING": ring.to_json()}) == ring


def test_missing_and_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no key file"):
        load_keyring(None, env={})
    bad = tmp_path / "bad.json"
    bad.write_text('{"hash_key": "AAAA", "data_keys": {}, "active": "k1"}')
    with pytest.raises(ConfigError) as info:
        load_keyring(bad)
    assert info.value.field == "hash_key" and info.value.file == str(bad)


def test_repr_hides_keys() -> None:
    ring = new_keyring()
    assert ring.hash_key.hex() not in repr(ring) and "k1" in repr(ring)
