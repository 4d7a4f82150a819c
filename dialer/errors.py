"""The dialer's exception tree.

    DialerError
     ├── ConfigError        bad configuration: names the file, line and field
     └── StoreUnavailable   the store cannot be read or written (the engine fails closed)
"""

from __future__ import annotations

from pathlib import Path


class DialerError(Exception):
    """Base of every error the dialer raises on purpose."""


class ConfigError(DialerError):
    """A configuration file or value is invalid; carries where and what."""

    def __init__(self, message: str, *, file: str | Path | None = None,
                 line: int | None = None, field: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = ":".join(str(p) for p in (self.file, line) if p is not None)
        parts = [p for p in (where, f"field '{field}'" if field else None, message) if p]
        super().__init__(": ".join(parts))


class StoreUnavailable(DialerError):
    """The SQL store cannot be reached or read; no call may start until it is back."""
