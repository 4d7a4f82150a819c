"""The encrypted recording store: archive a finished recording, recover after a crash,
decrypt for retrieval, re-encrypt under a new key.

Archiving one segment, each step safe to crash after::

    1. take    spool/<name>.wav → .incoming/<name>.wav (rename, or copy+fsync+rename+unlink)
    2. merge   stereo only: legs -c/-a → .incoming/<name>.wav (via .part), legs removed
    3. seal    encrypt → .incoming/<name>.wav.enc.tmp, fsync, rename to its final path
    4. index   the row (attempt, segment, path, duration, size, SHA-256, key id, node)
    5. remove  the plaintext

`recover()` (at start) finishes or undoes whatever a crash left: a `.part` is removed
(its input is still there); an `.enc.tmp` is removed when its plaintext is still there,
else decrypted back into the plaintext if it is complete (then archived as usual), else
removed as lost; spool files that stopped growing are taken; each plaintext is archived,
or just removed when its row exists; a row of this node whose file is gone is marked
missing (audited by the index), and the file of a deleted row is removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from recordings import files
from recordings.errors import (
    ArchiveError,
    ChecksumMismatch,
    RecordingCryptoError,
)
from recordings.index import IndexedFile, NewRecording, RecordingIndex
from recordings.layout import Layout, Leg, SpoolName, parse_spool_name, recording_label
from recordings.stream import DEFAULT_CHUNK, DataKeys, StreamResult, decrypt_stream
from recordings.wav import merge_to_stereo, repair_header

log = logging.getLogger(__name__)

WAV = ".wav"
DEFAULT_SETTLE_S = 30.0
_ROW_BATCH = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Segment:
    """One recorded segment of a call: its name, its legs (stereo) and when it started."""

    name: SpoolName
    stereo: bool = False
    started_at: datetime | None = None

    @property
    def parts(self) -> tuple[SpoolName, ...]:
        """The spool names Asterisk wrote for it (two legs in stereo, else one)."""
        if not self.stereo:
            return (self.name,)
        whole = self.name
        return (SpoolName(whole.attempt_id, whole.segment, Leg.CUSTOMER),
                SpoolName(whole.attempt_id, whole.segment, Leg.AGENT))


@dataclass
class RecoveryReport:
    """What `recover()` found and did."""

    archived: int = 0
    plaintext_removed: int = 0
    temp_removed: int = 0
    temp_restored: int = 0
    lost: int = 0
    missing_marked: int = 0
    leftovers_removed: int = 0
    orphans: int = 0
    still_recording: int = 0
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        parts = [f"{name.replace('_', ' ')} {value}" for name, value in vars(self).items()
                 if isinstance(value, int) and value]
        if self.failed:
            parts.append(f"failed {len(self.failed)}")
        return ", ".join(parts) or "nothing to do"


class Vault:
    """Encrypted recordings of one node under `root`, fed from Asterisk's `spool_dir`."""

    def __init__(self, root: Path, spool_dir: Path, keys: DataKeys, index: RecordingIndex, *,
                 node_id: str, clock: Callable[[], datetime] = _utc_now,
                 chunk_size: int = DEFAULT_CHUNK) -> None:
        self.layout = Layout(Path(root).absolute())
        self.spool_dir = Path(spool_dir)
        self._keys = keys
        self._index = index
        self._node_id = node_id
        self._clock = clock
        self._chunk = chunk_size

    def __repr__(self) -> str:
        return f"Vault(root={str(self.layout.root)!r}, spool={str(self.spool_dir)!r})"

    # -- archiving -----------------------------------------------------------------------

    async def archive(self, segment: Segment) -> IndexedFile | None:
        """Move a finished segment out of the spool, encrypt and index it, remove the
        plaintext. Returns its row (None if its attempt is unknown: kept as an orphan)."""
        await asyncio.to_thread(self.layout.ensure)
        present = []
        for part in segment.parts:
            src, dst = self._spool(part), self._incoming(part)
            if src.exists():
                await asyncio.to_thread(files.take, src, dst)
            if dst.exists():
                present.append(part)
        whole = self._incoming(segment.name)
        if not present and not whole.exists():
            raise ArchiveError("Asterisk left no recording file",
                               path=self._spool(segment.parts[0]))
        return await self._finish(segment.name, segment.started_at)

    async def _finish(self, name: SpoolName, started_at: datetime | None) -> IndexedFile | None:
        plain = await asyncio.to_thread(self._assemble, name)
        existing = await self._index.find(name.attempt_id, name.segment)
        if existing is not None:
            await asyncio.to_thread(_remove, plain)
            return existing
        owner = await self._index.owner(name.attempt_id)
        key_id = self._keys.active
        if owner is None:
            target = self.layout.orphan_path(name)
            await asyncio.to_thread(self._seal, plain, target, name, key_id)
            await asyncio.to_thread(_remove, plain)
            log.error("recording %s: its attempt is unknown; kept encrypted as %s",
                      name.stem, target)
            return None
        final = self.layout.final_path(owner.campaign_id, owner.created_at, name)
        info = await asyncio.to_thread(repair_header, plain)
        sealed = await asyncio.to_thread(self._seal, plain, final, name, key_id)
        row = await self._index.index(NewRecording(
            attempt_id=name.attempt_id, segment=name.segment, path=str(final),
            duration_s=info.duration_s, size_bytes=sealed.sealed_bytes, checksum=sealed.sha256,
            key_id=key_id, channels=info.channels,
            created_at=started_at or owner.created_at, node_id=self._node_id))
        await asyncio.to_thread(_remove, plain)
        return row

    def _assemble(self, name: SpoolName) -> Path:
        """The segment's plaintext in `.incoming` (merging stereo legs if needed)."""
        plain = self._incoming(name)
        legs = [self._incoming(SpoolName(name.attempt_id, name.segment, leg)) for leg in Leg]
        present = [p for p in legs if p.exists()]
        if plain.exists():
            for leg in present:       # merged before a crash: the legs are leftovers
                _remove(leg)
            return plain
        if len(present) == 2:
            part = plain.with_name(plain.name + files.PART_SUFFIX)
            merge_to_stereo(present[0], present[1], part)
            with part.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(part, plain)
            files.fsync_dir(plain.parent)
            for leg in present:
                _remove(leg)
        elif len(present) == 1:
            log.warning("recording %s: only the %s leg exists; kept as mono", name.stem,
                        present[0].stem.rsplit("-", 1)[1])
            os.replace(present[0], plain)
            files.fsync_dir(plain.parent)
        else:
            raise ArchiveError("no plaintext to archive", path=plain)
        return plain

    def _seal(self, plain: Path, final: Path, name: SpoolName, key_id: str) -> StreamResult:
        tmp = self.layout.incoming / f"{name.stem}{WAV}{files.TMP_SUFFIX}"
        return files.seal(plain, final, tmp, key_id=key_id, key=self._keys.data_keys[key_id],
                          label=name.label, chunk_size=self._chunk)

    def _spool(self, name: SpoolName) -> Path:
        return self.spool_dir / f"{name.stem}{WAV}"

    def _incoming(self, name: SpoolName) -> Path:
        return self.layout.incoming / f"{name.stem}{WAV}"

    # -- recovery ------------------------------------------------------------------------

    async def recover(self, *, settle_s: float = DEFAULT_SETTLE_S,
                      busy: Collection[str] = ()) -> RecoveryReport:
        """Finish or undo what a crash left (see the module docstring). Spool files
        written to in the last `settle_s` seconds, or named in `busy`, are left alone."""
        report = RecoveryReport()
        await asyncio.to_thread(self.layout.ensure)
        await asyncio.to_thread(self._sweep_temporaries, report)
        await asyncio.to_thread(self._take_settled, settle_s, set(busy), report)
        names = sorted({n.whole for n in self._incoming_names()})
        for name in names:
            try:
                before = await self._index.find(name.attempt_id, name.segment)
                row = await self._finish(name, None)
            except (OSError, ArchiveError, RecordingCryptoError) as exc:
                log.error("recording %s: recovery failed: %s", name.stem, exc)
                report.failed.append(f"{name.stem}: {exc}")
                continue
            if before is not None:
                report.plaintext_removed += 1
            elif row is None:
                report.orphans += 1
            else:
                report.archived += 1
        await self._check_rows(report)
        log.info("recordings recovery: %s", report.summary())
        return report

    def _incoming_names(self) -> list[SpoolName]:
        out = []
        for path in self.layout.incoming.glob(f"*{WAV}"):
            name = parse_spool_name(path.name[:-len(WAV)])
            if name is not None:
                out.append(name)
        return out

    def _sweep_temporaries(self, report: RecoveryReport) -> None:
        incoming = self.layout.incoming
        for path in sorted(incoming.iterdir()):
            name = path.name
            if name.endswith((files.PART_SUFFIX, files.REKEY_SUFFIX)):
                _remove(path)
                report.temp_removed += 1
            elif name.endswith(files.TMP_SUFFIX):
                plain = incoming / name[:-len(files.TMP_SUFFIX)]
                if plain.exists():
                    _remove(path)
                    report.temp_removed += 1
                else:
                    self._restore(path, plain, report)

    def _restore(self, tmp: Path, plain: Path, report: RecoveryReport) -> None:
        """An encrypted temp file without its plaintext: decrypt it back if complete."""
        name = parse_spool_name(plain.name[:-len(WAV)])
        part = plain.with_name(plain.name + files.PART_SUFFIX)
        try:
            with tmp.open("rb") as src, files.open_private(part) as dst:
                decrypt_stream(src, dst, self._keys.data_keys,
                               label=name.label if name else None, path=str(tmp))
                dst.flush()
                os.fsync(dst.fileno())
        except RecordingCryptoError as exc:
            _remove(part)
            _remove(tmp)
            report.lost += 1
            log.error("recording %s: incomplete encrypted temp file removed, the audio is "
                      "lost: %s", tmp.name, exc.reason)
            return
        os.replace(part, plain)
        files.fsync_dir(plain.parent)
        _remove(tmp)
        report.temp_restored += 1

    def _take_settled(self, settle_s: float, busy: set[str], report: RecoveryReport) -> None:
        if not self.spool_dir.is_dir():
            return
        cutoff = time.time() - settle_s
        for path in sorted(self.spool_dir.glob(f"*{WAV}")):
            name = parse_spool_name(path.name[:-len(WAV)])
            if name is None:
                continue
            try:
                fresh = path.stat().st_mtime > cutoff
            except FileNotFoundError:
                continue
            if fresh or name.stem in busy:
                report.still_recording += 1
                continue
            files.take(path, self._incoming(name))

    async def _check_rows(self, report: RecoveryReport) -> None:
        after = 0
        while rows := await self._index.files_of_node(self._node_id, after_id=after,
                                                      limit=_ROW_BATCH):
            after = rows[-1].id
            exists = await asyncio.to_thread(lambda: [Path(r.path).exists() for r in rows])
            for row, present in zip(rows, exists, strict=True):
                if row.deleted and present:
                    await asyncio.to_thread(_remove, Path(row.path))
                    report.leftovers_removed += 1
                elif not row.deleted and not row.missing and not present:
                    await self._index.mark_missing(row.id, at=self._clock(),
                                                   reason="file not found at recovery")
                    report.missing_marked += 1
                    log.error("recording %d: its file %s is missing; marked so", row.id,
                              row.path)

    # -- retrieval and re-keying -----------------------------------------------------------

    def decrypt_to(self, row: IndexedFile, dst: BinaryIO) -> StreamResult:
        """Decrypt a recording into `dst` and check it is the audio its row describes
        (blocking). On error `dst` may hold part of the audio: discard it."""
        label = recording_label(row.attempt_id, row.segment) if row.attempt_id else None
        with open(row.path, "rb") as src:
            result = decrypt_stream(src, dst, self._keys.data_keys, label=label, path=row.path)
        if result.sha256 != row.checksum:
            raise ChecksumMismatch(row.checksum, result.sha256, path=row.path)
        return result

    async def rekey(self) -> int:
        """Re-encrypt this node's recordings that use an older data key under the active
        one (streamed, one file at a time); returns how many were rewritten."""
        active = self._keys.active
        done, after = 0, 0
        while rows := await self._index.files_of_node(self._node_id, after_id=after,
                                                      limit=_ROW_BATCH):
            after = rows[-1].id
            for row in rows:
                if row.deleted or row.missing or row.key_id == active:
                    continue
                result = await asyncio.to_thread(self._reseal, row, active)
                if result is None:
                    await self._index.mark_missing(row.id, at=self._clock(),
                                                   reason="file not found at re-keying")
                    continue
                if await self._index.rekeyed(row.id, old_key_id=row.key_id, key_id=active,
                                             size_bytes=result.sealed_bytes):
                    done += 1
        return done

    def _reseal(self, row: IndexedFile, key_id: str) -> StreamResult | None:
        path = Path(row.path)
        if not path.exists():
            return None
        self.layout.ensure()
        tmp = self.layout.incoming / f"{path.name}{files.REKEY_SUFFIX}"
        label = recording_label(row.attempt_id, row.segment) if row.attempt_id else None
        return files.reseal(path, tmp, self._keys.data_keys, key_id=key_id, label=label,
                            expected_sha256=row.checksum, chunk_size=self._chunk)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)

