"""The store's commands: `dialer keys …`, `dialer purge`, `dialer report …`."""

from __future__ import annotations

import asyncio
import csv
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialer.cli import main
from dialer.keys import Keyring, load_keyring, write_keyring
from dialer.store import AttemptState, NewAttempt, NewLead, Outcome, Store

NUMBER = "+8613812345678"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("DIALER_CONFIG", "DIALER_DB_URL", "DIALER_KEY_FILE", "DIALER_KEYRING"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    assert main(["keys", "init", str(path)]) == 0
    return path


def run(db_url: str, key_file: Path, *argv: str) -> int:
    return main(["--db-url", db_url, "--key-file", str(key_file), "--node-id", "cli", *argv])


def seed(db_url: str, keyring: Keyring, *, days_ago: int = 0) -> int:
    """A tenant, a `uk` campaign with two leads and one closed attempt; its id."""
    async def go() -> int:
        at = datetime.now(UTC) - timedelta(days=days_ago)
        store = await Store.open(db_url, keyring)
        try:
            tenant = await store.tenants.create("acme", now=at)
            campaign = await store.campaigns.create(tenant.id, "c", "uk", now=at)
            await store.leads.add(campaign.id, [NewLead(NUMBER, "t"),
                                                NewLead("+8613812345679", "t")], now=at)
            attempt = await store.create_attempt(NewAttempt(campaign.id, NUMBER, at))
            store.update_attempt(attempt, outcome=Outcome.BUSY, state=AttemptState.CLOSED,
                                 disposition="-1+1")
            return campaign.id
        finally:
            await store.close()
    return asyncio.run(go())


def test_keys_init_makes_an_owner_only_file_and_never_overwrites(
        key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_keyring(key_file).active == "k1"
    capsys.readouterr()
    assert main(["keys", "init", str(key_file)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_rotate_status_and_prune(db_url: str, key_file: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url, load_keyring(key_file))
    capsys.readouterr()
    assert run(db_url, key_file, "keys", "rotate", "--batch-size", "1") == 0
    out = capsys.readouterr().out
    assert "new active data key k2" in out and "leads 2, attempts 1" in out
    assert load_keyring(key_file).active == "k2"
    assert run(db_url, key_file, "keys", "status") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["key", "attempts", "leads", "recordings"]
    assert table[1].split() == ["k1", "0", "0", "0"] and table[2].split() == ["k2*", "1", "2", "0"]
    assert run(db_url, key_file, "keys", "prune") == 0
    assert sorted(load_keyring(key_file).data_keys) == ["k2"]
    assert run(db_url, key_file, "report", "cdr", "--campaign", "1", "--out",
               str(key_file.with_name("x.csv")), "--unmasked") == 0


def test_an_unfinished_rotation_must_be_resumed(db_url: str, key_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    keyring = load_keyring(key_file)
    seed(db_url, keyring)
    write_keyring(keyring.with_new_data_key(), key_file)  # a rotation that died at once
    capsys.readouterr()
    assert run(db_url, key_file, "keys", "rotate") == 1
    assert "--resume" in capsys.readouterr().err
    assert run(db_url, key_file, "keys", "rotate", "--resume") == 0
    assert "leads 2, attempts 1" in capsys.readouterr().out
    assert sorted(load_keyring(key_file).data_keys) == ["k1", "k2"]


def test_rotation_needs_a_key_file(db_url: str, key_file: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DIALER_KEYRING", key_file.read_text())
    assert main(["--db-url", db_url, "keys", "rotate"]) == 2
    assert "key_file" in capsys.readouterr().err


def test_purge_dry_run_then_for_real(db_url: str, key_file: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url, load_keyring(key_file), days_ago=40)
    capsys.readouterr()
    assert run(db_url, key_file, "purge", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "dry run (nothing changed)" in out
    assert "call_records" in out and "dialled_numbers" in out
    assert run(db_url, key_file, "purge", "--actor", "ops:wang") == 0
    out = capsys.readouterr().out
    assert "purge run #2" in out and " 2\n" in out
    assert run(db_url, key_file, "purge") == 0
    assert ": 0 rows" in capsys.readouterr().out


def test_purge_with_a_custom_profile_and_a_skipped_campaign(
        db_url: str, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keyring = load_keyring(key_file)
    seed(db_url, keyring, days_ago=40)

    async def add_campaign(profile: str) -> None:
        store = await Store.open(db_url, keyring)
        try:
            await store.campaigns.create(1, f"under {profile}", profile,
                                         now=datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(add_campaign("acme"))
    capsys.readouterr()
    assert run(db_url, key_file, "purge", "--dry-run") == 1
    assert "unknown compliance profile 'acme'" in capsys.readouterr().out
    profile = tmp_path / "acme.yaml"
    profile.write_text("name: acme\nbase: uk\n")
    assert run(db_url, key_file, "purge", "--profiles", str(profile)) == 0
    assert "skipped" not in capsys.readouterr().out


def test_reports(db_url: str, key_file: Path, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    campaign_id = seed(db_url, load_keyring(key_file))
    capsys.readouterr()
    assert run(db_url, key_file, "report", "campaign", str(campaign_id), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attempts"] == 1 and data["outcomes"]["busy"] == 1
    assert data["windows"][0]["label"] == "24h"
    assert run(db_url, key_file, "report", "campaign", str(campaign_id)) == 0
    assert "abandon rate per window" in capsys.readouterr().out
    out = tmp_path / "cdr.csv"
    assert run(db_url, key_file, "report", "cdr", "--campaign", str(campaign_id),
               "--out", str(out)) == 0
    [row] = list(csv.DictReader(out.open()))
    assert row["number"] == "'+86138****5678" and row["disposition"] == "'-1+1"
    assert run(db_url, key_file, "report", "campaign", "99") == 1
    assert "no campaign 99" in capsys.readouterr().err


def test_an_unusable_store_is_a_clear_error(tmp_path: Path, key_file: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    assert run(f"sqlite+aiosqlite:///{bad}", key_file, "purge") == 1
    err = capsys.readouterr().err
    assert "store unavailable (corrupt)" in err and str(bad) in err
