"""`dialer recordings get|delete|list|recover`, and `dialer keys rotate` on recordings."""

from __future__ import annotations

import asyncio
import math
import struct
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialer.cli import main
from dialer.keys import load_keyring
from dialer.store import NewAttempt, Store
from recordings import Header, Segment, SpoolName, Vault, read_header

NUMBER = "+8613812345678"


@dataclass
class Node:
    db_url: str
    key_file: Path
    spool: Path
    store_dir: Path


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    for name in ("DIALER_CONFIG", "DIALER_DB_URL", "DIALER_KEY_FILE", "DIALER_KEYRING"):
        monkeypatch.delenv(name, raising=False)
    spool, store_dir = tmp_path / "spool", tmp_path / "recordings"
    spool.mkdir()
    monkeypatch.setenv("DIALER_RECORDINGS_DIR", str(store_dir))
    monkeypatch.setenv("DIALER_RECORDING_SPOOL_DIR", str(spool))
    key_file = tmp_path / "keys.json"
    assert main(["keys", "init", str(key_file)]) == 0
    yield Node(f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}", key_file, spool, store_dir)


def run(node: Node, *argv: str) -> int:
    return main(["--db-url", node.db_url, "--key-file", str(node.key_file), "--node-id", "n1",
                 *argv])


def tone(path: Path, seconds: float) -> bytes:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"".join(struct.pack("<h", int(5000 * math.sin(i / 3)))
                                 for i in range(int(seconds * 8000))))
    return path.read_bytes()


def recorded_call(node: Node, *, archive: bool = True) -> tuple[uuid.UUID, int, bytes]:
    """A campaign, an attempt to NUMBER and its recording (archived unless told not to)."""
    async def go() -> tuple[uuid.UUID, int, bytes]:
        keyring = load_keyring(node.key_file)
        async with await Store.open(node.db_url, keyring, node_id="n1") as store:
            now = datetime.now(UTC)
            tenant = await store.tenants.create("acme", now=now)
            campaign = await store.campaigns.create(tenant.id, "spring", "cn", now=now)
            attempt = await store.create_attempt(NewAttempt(campaign.id, NUMBER, now))
            name = SpoolName(attempt, 1)
            audio = tone(node.spool / f"{name.stem}.wav", 1.5)
            if archive:
                vault = Vault(node.store_dir, node.spool, keyring, store.recordings,
                              node_id="n1")
                await vault.archive(Segment(name))
            return attempt, campaign.id, audio
    return asyncio.run(go())


def audit(node: Node, action: str) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        async with await Store.open(node.db_url, load_keyring(node.key_file)) as store:
            return [{"actor": e.actor, "subject": e.subject_id, **e.detail}
                    for e in await store.audit_log.entries(action=action)]
    return asyncio.run(go())


def header_of(path: Path) -> Header:
    with path.open("rb") as fh:
        return read_header(fh)


def encrypted_files(node: Node) -> list[Path]:
    return sorted(node.store_dir.rglob("*.wav.enc"))


def test_get_decrypts_and_audits_who_when_why(node: Node, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    attempt, _, audio = recorded_call(node)
    out = tmp_path / "out.wav"
    assert run(node, "recordings", "get", str(attempt), "--reason", "complaint #42",
               "--actor", "sup:li", "--out", str(out)) == 0
    assert out.read_bytes() == audio
    [entry] = audit(node, "recording.get")
    assert (entry["actor"], entry["reason"], entry["segment"]) == ("sup:li", "complaint #42", 1)
    assert "1.5 s" in capsys.readouterr().err


def test_a_tampered_recording_fails_with_a_clear_error_and_leaves_no_audio(
        node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    attempt, _, _ = recorded_call(node)
    [path] = encrypted_files(node)
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 1
    path.write_bytes(bytes(blob))
    out = tmp_path / "out.wav"
    assert run(node, "recordings", "get", str(attempt), "--reason", "r", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "authentication failed" in err and "chunk" in err
    assert not out.exists() and list(tmp_path.glob(".out.wav.part")) == []
    assert audit(node, "recording.get") == []


def test_list_by_campaign_number_and_date_never_prints_the_number(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    attempt, campaign_id, _ = recorded_call(node)
    assert run(node, "recordings", "list", "--campaign", str(campaign_id)) == 0
    listed = capsys.readouterr().out
    assert str(attempt) in listed and "1 recording(s)" in listed
    assert run(node, "recordings", "list", "--number", "13812345678", "--region", "CN",
               "--actor", "sup:li") == 0
    by_number = capsys.readouterr().out
    assert str(attempt) in by_number and "13812345678" not in by_number
    [entry] = audit(node, "recording.list")
    assert entry["number"] == "+86138****5678"
    assert run(node, "recordings", "list", "--number", "+8613900000000") == 0
    assert "0 recording(s)" in capsys.readouterr().out
    assert run(node, "recordings", "list", "--since", "2000-01-01", "--until", "2001-01-01") == 0
    assert "0 recording(s)" in capsys.readouterr().out
    assert run(node, "recordings", "list", "--since", "yesterday") == 2


def test_delete_on_complaint_removes_the_file_and_audits_the_reason(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    attempt, _, _ = recorded_call(node)
    assert run(node, "recordings", "delete", str(attempt), "--reason", "complaint #7") == 0
    assert encrypted_files(node) == []
    [entry] = audit(node, "recording.delete")
    assert entry["reason"] == "complaint #7"
    assert run(node, "recordings", "get", str(attempt), "--reason", "r") == 1
    assert "was deleted" in capsys.readouterr().err
    assert run(node, "recordings", "delete", str(attempt), "--reason", "again") == 1


def test_recover_archives_what_a_crash_left_in_the_spool(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    attempt, _, audio = recorded_call(node, archive=False)
    assert run(node, "recordings", "recover", "--settle", "0") == 0
    assert "archived 1" in capsys.readouterr().out
    assert list(node.spool.iterdir()) == [] and len(encrypted_files(node)) == 1
    assert run(node, "recordings", "get", str(attempt), "--reason", "check",
               "--out", str(node.spool.parent / "back.wav")) == 0
    assert (node.spool.parent / "back.wav").read_bytes() == audio


def test_key_rotation_re_encrypts_recording_files_too(node: Node, tmp_path: Path) -> None:
    attempt, _, audio = recorded_call(node)
    [path] = encrypted_files(node)
    assert header_of(path).key_id == "k1"
    assert run(node, "keys", "rotate") == 0
    assert header_of(path).key_id == "k2"
    assert run(node, "keys", "prune") == 0
    assert sorted(load_keyring(node.key_file).data_keys) == ["k2"]
    out = tmp_path / "after.wav"
    assert run(node, "recordings", "get", str(attempt), "--reason", "r", "--out", str(out)) == 0
    assert out.read_bytes() == audio
