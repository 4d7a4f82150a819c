"""Values and builders shared by the store tests (imported by name; not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.store import NewLead

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def numbers(n: int, prefix: str = "+86138") -> list[str]:
    """`n` distinct E.164 numbers."""
    return [f"{prefix}{i:08d}" for i in range(n)]


def new_leads(n: int, prefix: str = "+86138") -> list[NewLead]:
    """`n` leads with distinct numbers."""
    return [NewLead(number, "test") for number in numbers(n, prefix)]
