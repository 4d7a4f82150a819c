"""Attempt ids: UUIDv7 (RFC 9562), ordered by creation time.

Time-ordered keys keep the attempts' primary-key index in insertion order, so a
retention purge (which deletes the oldest rows) rewrites few index pages; random
UUIDv4 keys scatter every batch over the whole index.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime


def new_attempt_id(at: datetime) -> uuid.UUID:
    """A UUIDv7 whose 48-bit millisecond timestamp is `at` (aware) and the rest random."""
    millis = int(at.timestamp() * 1000)
    if not 0 <= millis < 1 << 48:
        raise ValueError("time outside the UUIDv7 range")
    rand = secrets.randbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | \
        (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)
