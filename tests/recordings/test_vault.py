"""Archiving a recording, and recovering from a crash at every step of it."""

from __future__ import annotations

import errno
import io
import os
import stat
import uuid
import wave
from pathlib import Path

import pytest
from recording_support import NOW, Keys, MemoryIndex, write_wav

from recordings import (
    AttemptOwner,
    ChecksumMismatch,
    Header,
    Leg,
    Segment,
    SpoolName,
    Vault,
    encrypt_stream,
    files,
    read_header,
)


def header_of(path: Path) -> Header:
    with path.open("rb") as fh:
        return read_header(fh)



def attempt(index: MemoryIndex, campaign_id: int = 7) -> uuid.UUID:
    attempt_id = uuid.uuid4()
    index.known[attempt_id] = AttemptOwner(campaign_id, NOW)
    return attempt_id


def no_plaintext_left(vault: Vault) -> None:
    """Nothing readable in the spool, and nothing but encrypted files in the store."""
    assert list(vault.spool_dir.iterdir()) == []
    assert list(vault.layout.incoming.iterdir()) == []
    for path in vault.layout.root.rglob("*"):
        if path.is_file():
            assert path.name.endswith(".wav.enc"), path
            assert path.read_bytes()[:4] == b"DREC"


def decrypted(vault: Vault, index: MemoryIndex, row_id: int) -> bytes:
    out = io.BytesIO()
    vault.decrypt_to(index.rows[row_id - 1], out)
    return out.getvalue()


async def test_a_segment_is_moved_encrypted_indexed_and_its_plaintext_removed(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    attempt_id = attempt(index)
    name = SpoolName(attempt_id, 1)
    audio = write_wav(spool / f"{name.stem}.wav", 2.5)
    row = await vault.archive(Segment(name, started_at=NOW))
    assert row is not None
    final = vault.layout.root / "7" / "2026" / "03" / f"{attempt_id}-1.wav.enc"
    assert row.path == str(final) and final.exists()
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.layout.root.stat().st_mode) == 0o700
    [added] = index.added
    assert (added.duration_s, added.channels, added.key_id, added.node_id) == \
        (2.5, 1, "k1", "n1")
    assert added.size_bytes == final.stat().st_size
    assert header_of(final).label == f"{attempt_id}/1"
    assert decrypted(vault, index, row.id) == audio
    no_plaintext_left(vault)


async def test_decrypting_checks_the_audio_against_the_index(vault: Vault, index: MemoryIndex,
                                                             spool: Path) -> None:
    name = SpoolName(attempt(index), 1)
    write_wav(spool / f"{name.stem}.wav", 0.5)
    row = await vault.archive(Segment(name))
    assert row is not None
    index.rows[0] = type(row)(row.id, row.attempt_id, row.segment, row.path, row.key_id,
                              "0" * 64, False, False)
    with pytest.raises(ChecksumMismatch, match="the index says 000000"):
        vault.decrypt_to(index.rows[0], io.BytesIO())


async def test_stereo_legs_become_one_two_channel_file(vault: Vault, index: MemoryIndex,
                                                       spool: Path, tmp_path: Path) -> None:
    attempt_id = attempt(index)
    customer = SpoolName(attempt_id, 1, Leg.CUSTOMER)
    agent = SpoolName(attempt_id, 1, Leg.AGENT)
    write_wav(spool / f"{customer.stem}.wav", 1.0, tone_hz=300)
    write_wav(spool / f"{agent.stem}.wav", 0.8, tone_hz=500)
    row = await vault.archive(Segment(SpoolName(attempt_id, 1), stereo=True))
    assert row is not None and index.added[0].channels == 2
    out = tmp_path / "out.wav"
    out.write_bytes(decrypted(vault, index, row.id))
    with wave.open(str(out)) as wav:
        assert (wav.getnchannels(), wav.getnframes()) == (2, 8000)
    no_plaintext_left(vault)


async def test_a_crash_before_indexing_is_finished_at_recovery(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    name = SpoolName(attempt(index), 1)
    audio = write_wav(spool / f"{name.stem}.wav", 1.0)
    index.fail_index = True
    with pytest.raises(OSError, match="simulated crash"):
        await vault.archive(Segment(name))
    assert (vault.layout.incoming / f"{name.stem}.wav").exists()   # plaintext kept
    index.fail_index = False
    report = await vault.recover()
    assert report.archived == 1 and len(index.rows) == 1
    assert decrypted(vault, index, 1) == audio
    no_plaintext_left(vault)


async def test_a_crash_after_indexing_only_removes_the_plaintext(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    name = SpoolName(attempt(index), 1)
    audio = write_wav(spool / f"{name.stem}.wav", 1.0)
    await vault.archive(Segment(name))
    (vault.layout.incoming / f"{name.stem}.wav").write_bytes(audio)   # as if not yet removed
    report = await vault.recover()
    assert (report.plaintext_removed, report.archived, len(index.rows)) == (1, 0, 1)
    no_plaintext_left(vault)


async def test_a_crash_while_copying_out_of_the_spool_is_undone_and_redone(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    name = SpoolName(attempt(index), 1)
    audio = write_wav(spool / f"{name.stem}.wav", 1.0)
    vault.layout.ensure()
    partial = vault.layout.incoming / f"{name.stem}.wav{files.PART_SUFFIX}"
    partial.write_bytes(audio[:1000])                     # copy across file systems, cut
    report = await vault.recover(settle_s=0)
    assert (report.temp_removed, report.archived) == (1, 1)
    assert decrypted(vault, index, 1) == audio
    no_plaintext_left(vault)


async def test_a_copy_across_file_systems_is_fsynced_then_renamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "a.wav", tmp_path / "b.wav"
    audio = write_wav(src, 0.2)
    real_replace = os.replace

    def cross_device(a: object, b: object) -> None:
        if Path(str(a)) == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(a, b)   # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "replace", cross_device)
    files.take(src, dst)
    assert not src.exists() and dst.read_bytes() == audio
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600


async def test_an_interrupted_encryption_is_removed_and_redone(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    name = SpoolName(attempt(index), 1)
    vault.layout.ensure()
    audio = write_wav(vault.layout.incoming / f"{name.stem}.wav", 1.0)   # taken already
    tmp = vault.layout.incoming / f"{name.stem}.wav{files.TMP_SUFFIX}"
    tmp.write_bytes(b"DREC\x01 half an encryption")
    report = await vault.recover()
    assert (report.temp_removed, report.archived) == (1, 1)
    assert decrypted(vault, index, 1) == audio
    no_plaintext_left(vault)


async def test_a_complete_encrypted_temp_file_without_plaintext_is_finished(
        vault: Vault, index: MemoryIndex, keys: Keys) -> None:
    name = SpoolName(attempt(index), 1)
    vault.layout.ensure()
    plain = vault.layout.incoming / f"{name.stem}.wav"
    audio = write_wav(plain, 1.0)
    tmp = vault.layout.incoming / f"{name.stem}.wav{files.TMP_SUFFIX}"
    with plain.open("rb") as src, tmp.open("wb") as dst:
        encrypt_stream(src, dst, key_id="k1", key=keys.data_keys["k1"], label=name.label)
    plain.unlink()
    report = await vault.recover()
    assert (report.temp_restored, report.archived) == (1, 1)
    assert decrypted(vault, index, 1) == audio
    no_plaintext_left(vault)


async def test_an_incomplete_encrypted_temp_file_without_plaintext_is_reported_lost(
        vault: Vault, index: MemoryIndex, keys: Keys) -> None:
    name = SpoolName(attempt(index), 1)
    vault.layout.ensure()
    plain = vault.layout.incoming / f"{name.stem}.wav"
    write_wav(plain, 1.0)
    tmp = vault.layout.incoming / f"{name.stem}.wav{files.TMP_SUFFIX}"
    with plain.open("rb") as src, tmp.open("wb") as dst:
        encrypt_stream(src, dst, key_id="k1", key=keys.data_keys["k1"], label=name.label,
                       chunk_size=1024)
    plain.unlink()
    tmp.write_bytes(tmp.read_bytes()[:-2000])
    report = await vault.recover()
    assert (report.lost, report.archived, index.rows) == (1, 0, [])
    no_plaintext_left(vault)


async def test_a_crash_between_merging_and_removing_the_legs(
        vault: Vault, index: MemoryIndex) -> None:
    attempt_id = attempt(index)
    vault.layout.ensure()
    incoming = vault.layout.incoming
    write_wav(incoming / f"{SpoolName(attempt_id, 1).stem}.wav", 1.0, channels=2)
    for leg in Leg:
        write_wav(incoming / f"{SpoolName(attempt_id, 1, leg).stem}.wav", 1.0)
    report = await vault.recover()
    assert report.archived == 1 and index.added[0].channels == 2
    no_plaintext_left(vault)


async def test_recovery_leaves_recordings_still_being_written(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    live = SpoolName(attempt(index), 1)
    write_wav(spool / f"{live.stem}.wav", 0.5)
    foreign = spool / "voicemail-greeting.wav"
    write_wav(foreign, 0.1)
    report = await vault.recover(settle_s=60)
    assert (report.still_recording, report.archived) == (1, 0)
    assert (spool / f"{live.stem}.wav").exists() and foreign.exists()
    report = await vault.recover(settle_s=0, busy={live.stem})
    assert report.still_recording == 1
    report = await vault.recover(settle_s=0)
    assert report.archived == 1 and foreign.exists()


async def test_a_recording_of_an_unknown_attempt_is_kept_encrypted_as_an_orphan(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    name = SpoolName(uuid.uuid4(), 1)
    write_wav(spool / f"{name.stem}.wav", 0.5)
    report = await vault.recover(settle_s=0)
    assert report.orphans == 1 and index.rows == []
    assert vault.layout.orphan_path(name).read_bytes()[:4] == b"DREC"
    no_plaintext_left(vault)


async def test_rows_without_files_are_marked_missing_and_deleted_files_removed(
        vault: Vault, index: MemoryIndex, spool: Path) -> None:
    rows = []
    for _ in range(3):
        name = SpoolName(attempt(index), 1)
        write_wav(spool / f"{name.stem}.wav", 0.2)
        rows.append(await vault.archive(Segment(name)))
    gone, deleted, kept = rows
    assert gone is not None and deleted is not None and kept is not None
    Path(gone.path).unlink()
    index.delete(deleted.id)          # the row was deleted, the file's removal was cut short
    report = await vault.recover()
    assert (report.missing_marked, report.leftovers_removed) == (1, 1)
    assert index.missing_audit == [(gone.id, "file not found at recovery")]
    assert index.rows[gone.id - 1].missing and not Path(deleted.path).exists()
    assert Path(kept.path).exists()
    again = await vault.recover()
    assert again.missing_marked == 0     # marked once, never dropped


async def test_rekeying_re_encrypts_under_the_active_key_streamed(
        vault: Vault, index: MemoryIndex, spool: Path, keys: Keys) -> None:
    name = SpoolName(attempt(index), 1)
    audio = write_wav(spool / f"{name.stem}.wav", 3.0)
    row = await vault.archive(Segment(name))
    assert row is not None
    keys.active = "k2"
    assert await vault.rekey() == 1
    assert header_of(Path(row.path)).key_id == "k2"
    assert index.rows[0].key_id == "k2"
    assert decrypted(vault, index, row.id) == audio
    assert await vault.rekey() == 0
    keys.data_keys.pop("k1")
    assert decrypted(vault, index, row.id) == audio
    no_plaintext_left(vault)
