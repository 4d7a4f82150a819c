"""What the archive needs from the store: the recordings' index rows (a Protocol).

The dialer's store implements it (`dialer.store.recordings.Recordings`); this package
never imports the dialer. An index row is written only after its encrypted file is in
place, so a row always names a complete file unless something outside removed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AttemptOwner:
    """The campaign an attempt belongs to and when it was made (for the file's path)."""

    campaign_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewRecording:
    """An index row to add for an encrypted recording that is already in place."""

    attempt_id: uuid.UUID
    segment: int
    path: str
    duration_s: float
    size_bytes: int
    checksum: str
    key_id: str
    channels: int
    created_at: datetime
    node_id: str


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """An index row as the archive sees it."""

    id: int
    attempt_id: uuid.UUID | None
    segment: int
    path: str
    key_id: str | None
    checksum: str
    deleted: bool
    missing: bool


class RecordingIndex(Protocol):
    """The recordings table, as far as archiving, recovery and re-keying use it."""

    async def owner(self, attempt_id: uuid.UUID) -> AttemptOwner | None:
        """The attempt's campaign and creation time; None if the attempt is unknown."""
        ...

    async def find(self, attempt_id: uuid.UUID, segment: int) -> IndexedFile | None:
        """The row of one segment of an attempt's recording, if there is one."""
        ...

    async def index(self, recording: NewRecording) -> IndexedFile:
        """Add the row of a recording whose file is in place (the existing row if any)."""
        ...

    async def files_of_node(self, node_id: str, *, after_id: int,
                            limit: int) -> Sequence[IndexedFile]:
        """Rows written by a node (deleted ones too), by id after `after_id`."""
        ...

    async def mark_missing(self, recording_id: int, *, at: datetime, reason: str) -> None:
        """Flag a row whose file is gone (audited); the row itself is kept."""
        ...

    async def rekeyed(self, recording_id: int, *, old_key_id: str | None, key_id: str,
                      size_bytes: int) -> bool:
        """Record that a file now uses `key_id` (if the row still names `old_key_id`)."""
        ...
