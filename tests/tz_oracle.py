"""An oracle for local time in a few zones during 2025 (for the calling-window tests), written from the published rules
(not from zoneinfo), so the window checks are tested against an independent source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.compliance import CallingHours

VALID_FROM = datetime(2025, 1, 2, tzinfo=UTC)
VALID_UNTIL = datetime(2025, 12, 30, tzinfo=UTC)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# zone -> (standard offset h, daylight offset h, [(daylight starts, daylight ends) in UTC])
RULES: dict[str, tuple[int, int, list[tuple[datetime, datetime]]]] = {
    "America/New_York": (-5, -4, [(_utc(2025, 3, 9, 7), _utc(2025, 11, 2, 6))]),
    "America/Chicago": (-6, -5, [(_utc(2025, 3, 9, 8), _utc(2025, 11, 2, 7))]),
    "America/Los_Angeles": (-8, -7, [(_utc(2025, 3, 9, 10), _utc(2025, 11, 2, 9))]),
    "America/Phoenix": (-7, -7, []),
    "Europe/London": (0, 1, [(_utc(2025, 3, 30, 1), _utc(2025, 10, 26, 1))]),
    "Australia/Sydney": (10, 11, [(_utc(2024, 10, 5, 16), _utc(2025, 4, 5, 16)),
                                  (_utc(2025, 10, 4, 16), _utc(2026, 4, 4, 16))]),
    "Asia/Shanghai": (8, 8, []),
}
TRANSITIONS = sorted({edge for _, _, spans in RULES.values() for span in spans
                      for edge in span if VALID_FROM <= edge <= VALID_UNTIL})


def local_wall(zone: str, at: datetime) -> datetime:
    """The wall-clock time in `zone` at the instant `at` (naive)."""
    standard, daylight, spans = RULES[zone]
    offset = daylight if any(start <= at < end for start, end in spans) else standard
    return (at + timedelta(hours=offset)).replace(tzinfo=None)


def open_in(hours: CallingHours, zone: str, at: datetime) -> bool:
    """True when `at` falls inside the hours on the zone's wall clock."""
    wall = local_wall(zone, at)
    minute = wall.hour * 60 + wall.minute
    return any(r.start <= minute < r.end for r in hours.ranges_on(wall.weekday()))
