"""Pacing's exception tree.

    PacingError
     ├── InvalidSettings    a pacing or simulation setting is out of range (names it)
     └── InvalidSnapshot    a snapshot is inconsistent (e.g. arrays of different length)
"""

from __future__ import annotations


class PacingError(Exception):
    """Base of every error pacing raises on purpose."""


class InvalidSettings(PacingError, ValueError):
    """A setting is out of range; `name` and `value` say which."""

    def __init__(self, name: str, value: object) -> None:
        self.name = name
        self.value = value
        super().__init__(f"{name}: invalid value {value!r}")


class InvalidSnapshot(PacingError, ValueError):
    """A snapshot does not describe a possible campaign state."""
