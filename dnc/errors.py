"""The do-not-call package's exception tree.

    DncError
     ├── InvalidNumber      a number cannot be normalised (carries the reason)
     ├── NotListed          a removal names an entry that is not on the list
     ├── DncUnavailable     the registry's store cannot be read or written (fail closed)
     └── ImportFileError    an import file cannot be read at all (names file, line, field)

A bad line inside an import file is not an error: it is reported and skipped, and
every good line is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnc.normalize import RejectReason


class DncError(Exception):
    """Base of every error the DNC package raises on purpose."""


class InvalidNumber(DncError):
    """A number cannot be normalised to E.164; `reason` says why."""

    def __init__(self, reason: RejectReason, masked: str) -> None:
        self.reason = reason
        self.masked = masked
        super().__init__(f"not a valid phone number ({reason.value}): {masked}")


class NotListed(DncError):
    """A removal was asked for an entry that is not on the do-not-call list."""


class DncUnavailable(DncError):
    """The DNC store cannot be reached or read; no call may start until it is back."""


class ImportFileError(DncError):
    """An import file cannot be read at all; names the file, and line and field if known."""

    def __init__(self, message: str, *, file: str | Path, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.reason = message
        where = ":".join(str(p) for p in (self.file, line) if p is not None)
        parts = [p for p in (where, f"field '{field}'" if field else None, message) if p]
        super().__init__(": ".join(parts))
