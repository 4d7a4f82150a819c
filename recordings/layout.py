"""Where recording files live: names in Asterisk's spool and the encrypted store.

Asterisk records into its spool (`<spool>/<name>.wav`) under a name made from the
attempt id, the segment number and, for stereo, the leg::

    dialer-<attempt uuid>-<segment>.wav          the customer–agent bridge
    dialer-<attempt uuid>-<segment>-c.wav        stereo: the customer's leg (snoop)
    dialer-<attempt uuid>-<segment>-a.wav        stereo: the agent's leg (snoop)

The dialer's own folder (`recordings_dir`, owner-only) holds::

    .incoming/                           plaintext taken from the spool, and files being
                                         encrypted (*.part, *.enc.tmp): only while archiving
    <campaign id>/<yyyy>/<mm>/<attempt>-<segment>.wav.enc     the encrypted recordings
    orphans/<spool name>.wav.enc         recordings whose attempt the store does not know

Year and month are the attempt's (UTC), so a retried archive writes the same path.
`.incoming` is on the same file system as the store, so the last step is a rename.
"""

from __future__ import annotations

import enum
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SPOOL_PREFIX = "dialer-"
ENCRYPTED_SUFFIX = ".wav.enc"
_SPOOL_NAME = re.compile(
    r"^dialer-(?P<attempt>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"-(?P<segment>[1-9][0-9]{0,5})(?:-(?P<leg>[ca]))?$")
DIR_MODE = 0o700


class Leg(enum.StrEnum):
    """One side of a stereo recording."""

    CUSTOMER = "c"
    AGENT = "a"


@dataclass(frozen=True, slots=True, order=True)
class SpoolName:
    """The name Asterisk records one segment (or one leg of it) under."""

    attempt_id: uuid.UUID
    segment: int
    leg: Leg | None = None

    @property
    def stem(self) -> str:
        """The recording name given to ARI (no extension)."""
        tail = f"-{self.leg.value}" if self.leg is not None else ""
        return f"{SPOOL_PREFIX}{self.attempt_id}-{self.segment}{tail}"

    @property
    def whole(self) -> SpoolName:
        """The name of the segment this leg belongs to."""
        return SpoolName(self.attempt_id, self.segment)

    @property
    def label(self) -> str:
        """What an encrypted file of this segment is labelled with: `<attempt>/<segment>`."""
        return recording_label(self.attempt_id, self.segment)


def recording_label(attempt_id: uuid.UUID, segment: int) -> str:
    """The label an encrypted recording carries in its header."""
    return f"{attempt_id}/{segment}"


def parse_spool_name(stem: str) -> SpoolName | None:
    """The SpoolName of a file stem, or None if it is not one of the dialer's."""
    match = _SPOOL_NAME.match(stem)
    if match is None:
        return None
    leg = match["leg"]
    return SpoolName(uuid.UUID(match["attempt"]), int(match["segment"]),
                     Leg(leg) if leg else None)


@dataclass(frozen=True, slots=True)
class Layout:
    """The encrypted store's folders under one root."""

    root: Path

    @property
    def incoming(self) -> Path:
        """Plaintext and temporary files while archiving."""
        return self.root / ".incoming"

    @property
    def orphans(self) -> Path:
        """Encrypted recordings with no known attempt."""
        return self.root / "orphans"

    def final_path(self, campaign_id: int, attempt_created: datetime, name: SpoolName) -> Path:
        """Where the encrypted recording of one segment lives."""
        when = attempt_created.astimezone(UTC)
        return (self.root / str(campaign_id) / f"{when.year:04d}" / f"{when.month:02d}"
                / f"{name.attempt_id}-{name.segment}{ENCRYPTED_SUFFIX}")

    def orphan_path(self, name: SpoolName) -> Path:
        """Where a recording of an unknown attempt is kept (encrypted)."""
        return self.orphans / f"{name.stem}{ENCRYPTED_SUFFIX}"

    def ensure(self) -> None:
        """Create the root and `.incoming`, readable by the owner only."""
        for folder in (self.root, self.incoming):
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(folder, DIR_MODE)
