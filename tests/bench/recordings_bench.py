"""Recordings benchmark: encryption throughput and CPU seconds per recorded hour.

Measured on synthetic recordings shaped like Asterisk's (`wav`: 8 kHz, 16-bit, mono,
57.6 MB per hour; stereo twice that), each against a baseline taken in the same run:

- streamed encryption file → file (`encrypt_stream`, 64 KiB chunks, plus fsync) and
  decryption (`decrypt_stream`) in MB/s of audio, wall and CPU; baselines: a plain file
  copy of the same bytes (the I/O floor) and one-shot AES-256-GCM of the whole buffer in
  memory (the cipher's ceiling on this CPU);
- chunk sizes 16 KiB / 64 KiB / 256 KiB (the format's cost of streaming);
- the whole archive of one segment (`Vault.archive`: take from the spool, repair the
  header, encrypt + SHA-256, fsync, rename, index, remove the plaintext) as CPU seconds
  per recorded hour, mono and stereo (stereo includes merging the two legs).

Usage: python tests/bench/recordings_bench.py [--quick] [--minutes N] [--repeat N]
The last line is `BENCH recordings key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from recordings import (
    AttemptOwner,
    IndexedFile,
    Leg,
    NewRecording,
    Segment,
    SpoolName,
    Vault,
    decrypt_stream,
    encrypt_stream,
)

RATE = 8000
BYTES_PER_HOUR_MONO = RATE * 2 * 3600
KEY = os.urandom(32)


class Keys:
    """One data key, active."""

    def __init__(self) -> None:
        self.data_keys = {"k1": KEY}
        self.active = "k1"


class Index:
    """The least index the vault needs: every attempt known, rows kept in a list."""

    def __init__(self) -> None:
        self.rows: list[IndexedFile] = []

    async def owner(self, attempt_id: uuid.UUID) -> AttemptOwner:
        return AttemptOwner(1, datetime.now(UTC))

    async def find(self, attempt_id: uuid.UUID, segment: int) -> IndexedFile | None:
        return None

    async def index(self, rec: NewRecording) -> IndexedFile:
        row = IndexedFile(len(self.rows) + 1, rec.attempt_id, rec.segment, rec.path,
                          rec.key_id, rec.checksum, False, False)
        self.rows.append(row)
        return row

    async def files_of_node(self, node_id: str, *, after_id: int,
                            limit: int) -> Sequence[IndexedFile]:
        return []

    async def mark_missing(self, recording_id: int, *, at: datetime, reason: str) -> None:
        raise AssertionError("no file goes missing here")

    async def rekeyed(self, recording_id: int, *, old_key_id: str | None, key_id: str,
                      size_bytes: int) -> bool:
        return False


def make_wav(path: Path, seconds: float, seed: int) -> int:
    """A speech-like 16-bit mono WAV (noise shaped by a slow envelope); its size."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * RATE)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        step = RATE * 60
        for start in range(0, frames, step):
            n = min(step, frames - start)
            envelope = 0.5 + 0.5 * np.sin(np.arange(start, start + n) / 3000.0)
            wav.writeframes((rng.normal(0, 3000, n) * envelope).astype("<i2").tobytes())
    return path.stat().st_size


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def encrypt_file(src: Path, dst: Path, chunk: int) -> None:
    with src.open("rb") as fin, dst.open("wb") as fout:
        encrypt_stream(fin, fout, key_id="k1", key=KEY, label="bench/1", chunk_size=chunk)
        fout.flush()
        os.fsync(fout.fileno())


def decrypt_file(src: Path, dst: Path) -> None:
    with src.open("rb") as fin, dst.open("wb") as fout:
        decrypt_stream(fin, fout, {"k1": KEY})


def copy_file(src: Path, dst: Path) -> None:
    with src.open("rb") as fin, dst.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1024 * 1024)
        fout.flush()
        os.fsync(fout.fileno())


def oneshot(src: Path, repeat: int) -> tuple[float, float]:
    """AES-256-GCM of the whole file's bytes at once, in memory."""
    data = src.read_bytes()
    aead = AESGCM(KEY)
    return timed(lambda: aead.encrypt(os.urandom(12), data, None), repeat)


def archive_cpu(work: Path, seconds: float, stereo: bool, repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of archiving one segment of `seconds` of audio."""
    walls, cpus = [], []
    for i in range(repeat):
        root = work / f"vault-{stereo}-{i}"
        spool = work / f"spool-{stereo}-{i}"
        spool.mkdir()
        name = SpoolName(uuid.uuid4(), 1)
        legs = [SpoolName(name.attempt_id, 1, leg) for leg in Leg] if stereo else [name]
        for n, leg in enumerate(legs):
            make_wav(spool / f"{leg.stem}.wav", seconds, seed=i * 2 + n)
        vault = Vault(root, spool, Keys(), Index(), node_id="bench")
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(vault.archive(Segment(name, stereo=stereo)))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        shutil.rmtree(root)
        shutil.rmtree(spool)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 minutes of audio, within 60 s")
    parser.add_argument("--minutes", type=float, help="length of the test recording")
    parser.add_argument("--repeat", type=int, help="runs per measurement (median)")
    args = parser.parse_args()
    minutes = args.minutes or (10.0 if args.quick else 60.0)
    repeat = args.repeat or (3 if args.quick else 5)
    seconds = minutes * 60
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="recordings-bench-") as tmp:
        work = Path(tmp)
        src = work / "call.wav"
        size = make_wav(src, seconds, seed=1)
        mb = size / 1e6
        copy_wall, copy_cpu = timed(lambda: copy_file(src, work / "copy.wav"), repeat)
        gcm_wall, gcm_cpu = oneshot(src, repeat)
        rows.append(("baseline: file copy + fsync", mb / copy_wall, copy_cpu, "1.00"))
        rows.append(("baseline: one-shot AES-GCM in memory", mb / gcm_wall, gcm_cpu, "-"))
        enc: dict[int, tuple[float, float]] = {}
        for chunk in (16 * 1024, 64 * 1024, 256 * 1024):
            enc[chunk] = timed(functools.partial(encrypt_file, src, work / f"c{chunk}.enc",
                                                 chunk), repeat)
            wall, cpu = enc[chunk]
            rows.append((f"encrypt_stream, {chunk // 1024} KiB chunks + fsync", mb / wall,
                         cpu, f"{copy_wall / wall:.2f}"))
        dec_wall, dec_cpu = timed(lambda: decrypt_file(work / f"c{64 * 1024}.enc",
                                                       work / "back.wav"), repeat)
        rows.append(("decrypt_stream, 64 KiB chunks", mb / dec_wall, dec_cpu,
                     f"{copy_wall / dec_wall:.2f}"))
        assert (work / "back.wav").read_bytes() == src.read_bytes()
        mono_wall, mono_cpu = archive_cpu(work, seconds, False, repeat)
        stereo_wall, stereo_cpu = archive_cpu(work, seconds, True, max(1, repeat - 1))
    hours = seconds / 3600
    print(f"recordings benchmark: {minutes:g} min of 8 kHz 16-bit audio ({mb:.1f} MB mono), "
          f"median of {repeat} runs")
    print(f"{'operation':<44} {'MB/s':>9} {'CPU s':>8} {'vs copy':>8}")
    for name, rate, cpu, ratio in rows:
        print(f"{name:<44} {rate:>9.1f} {cpu:>8.3f} {ratio:>8}")
    enc_wall, enc_cpu = enc[64 * 1024]
    print(f"encryption reaches {gcm_wall / enc_wall:.2f} of the one-shot cipher's speed "
          f"and {copy_wall / enc_wall:.2f} of a plain copy's")
    print(f"{'archive one segment':<44} {'wall s':>9} {'CPU s':>8} {'CPU s/h':>8}")
    print(f"{'  mono (take, encrypt, index, remove)':<44} {mono_wall:>9.3f} {mono_cpu:>8.3f} "
          f"{mono_cpu / hours:>8.3f}")
    print(f"{'  stereo (two legs merged first)':<44} {stereo_wall:>9.3f} {stereo_cpu:>8.3f} "
          f"{stereo_cpu / hours:>8.3f}")
    bench = {
        "encrypt_mb_s": f"{mb / enc_wall:.1f}", "decrypt_mb_s": f"{mb / dec_wall:.1f}",
        "copy_mb_s": f"{mb / copy_wall:.1f}", "aesgcm_oneshot_mb_s": f"{mb / gcm_wall:.1f}",
        "encrypt_vs_copy": f"{copy_wall / enc_wall:.2f}",
        "encrypt_cpu_s_per_hour": f"{enc_cpu / hours:.3f}",
        "archive_cpu_s_per_hour": f"{mono_cpu / hours:.3f}",
        "archive_stereo_cpu_s_per_hour": f"{stereo_cpu / hours:.3f}",
    }
    print("BENCH recordings " + " ".join(f"{k}={v}" for k, v in bench.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
