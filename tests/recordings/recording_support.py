"""Helpers the recordings tests share: WAV files, a keyring, an in-memory index."""

from __future__ import annotations

import math
import struct
import uuid
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from recordings import AttemptOwner, IndexedFile, NewRecording

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def write_wav(path: Path, seconds: float, *, rate: int = 8000, channels: int = 1,
              tone_hz: float = 440.0) -> bytes:
    """A 16-bit PCM WAV of a tone; returns the file's bytes."""
    frames = int(seconds * rate)
    samples = [int(8000 * math.sin(2 * math.pi * tone_hz * i / rate)) for i in range(frames)]
    data = b"".join(struct.pack("<h", s) * channels for s in samples)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data)
    return path.read_bytes()


@dataclass
class Keys:
    """A keyring-like object (`DataKeys`)."""

    data_keys: dict[str, bytes]
    active: str


@dataclass
class MemoryIndex:
    """A `RecordingIndex` in memory; `known` attempts have owners."""

    known: dict[uuid.UUID, AttemptOwner] = field(default_factory=dict)
    rows: list[IndexedFile] = field(default_factory=list)
    added: list[NewRecording] = field(default_factory=list)
    missing_audit: list[tuple[int, str]] = field(default_factory=list)
    fail_index: bool = False

    async def owner(self, attempt_id: uuid.UUID) -> AttemptOwner | None:
        return self.known.get(attempt_id)

    async def find(self, attempt_id: uuid.UUID, segment: int) -> IndexedFile | None:
        return next((r for r in self.rows
                     if (r.attempt_id, r.segment) == (attempt_id, segment)), None)

    async def index(self, recording: NewRecording) -> IndexedFile:
        if self.fail_index:
            raise OSError("the database went away (simulated crash)")
        found = await self.find(recording.attempt_id, recording.segment)
        if found is not None:
            return found
        row = IndexedFile(len(self.rows) + 1, recording.attempt_id, recording.segment,
                          recording.path, recording.key_id, recording.checksum, False, False)
        self.rows.append(row)
        self.added.append(recording)
        return row

    async def files_of_node(self, node_id: str, *, after_id: int,
                            limit: int) -> Sequence[IndexedFile]:
        return [r for r in self.rows if r.id > after_id][:limit]

    async def mark_missing(self, recording_id: int, *, at: datetime, reason: str) -> None:
        self._update(recording_id, missing=True)
        self.missing_audit.append((recording_id, reason))

    async def rekeyed(self, recording_id: int, *, old_key_id: str | None, key_id: str,
                      size_bytes: int) -> bool:
        row = self.rows[recording_id - 1]
        if row.key_id != old_key_id:
            return False
        self._update(recording_id, key_id=key_id)
        return True

    def delete(self, recording_id: int) -> None:
        self._update(recording_id, deleted=True)

    def _update(self, recording_id: int, **changes: object) -> None:
        self.rows[recording_id - 1] = replace(self.rows[recording_id - 1], **changes)
