"""Calling windows in the callee's local time: open in every zone of a number, and when
they next open.

A number whose region spans several time zones may be called only while the window is
open in all of them. Local times come from `zoneinfo`, so daylight-saving changes are
honoured. `next_opening` only proposes instants at which the window is open everywhere;
around a daylight-saving change it may propose one up to an hour late, never early.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialer.compliance import CallingHours
from dnc import time_zones

HORIZON = timedelta(days=8)  # a weekly window opens within a week; one spare day


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def number_zones(e164: str, stored: Sequence[str] = ()) -> tuple[str, ...]:
    """The time zones a number rings in: those stored with the lead, else its prefix's."""
    return tuple(stored) if stored else time_zones(e164)


def open_everywhere(hours: CallingHours, zones: Iterable[str], now: datetime) -> bool:
    """True when `now` is inside the calling hours in every one of `zones` (at least one)."""
    names = tuple(zones)
    if not names:
        raise ValueError("a number needs at least one time zone")
    return all(hours.open_at(now.astimezone(_zone(z))) for z in names)


def next_opening(hours: CallingHours, zones: Sequence[str], now: datetime,
                 horizon: timedelta = HORIZON) -> datetime | None:
    """The first instant at or after `now` when the window is open in every zone;
    None if it does not open within `horizon`."""
    if open_everywhere(hours, zones, now):
        return now
    candidates = sorted({start for z in zones for start in _range_starts(hours, z, now, horizon)})
    return next((at for at in candidates if open_everywhere(hours, zones, at)), None)


def _range_starts(hours: CallingHours, zone: str, now: datetime,
                  horizon: timedelta) -> Iterable[datetime]:
    tz = _zone(zone)
    today = now.astimezone(tz).date()
    end = now + horizon
    for offset in range(-1, horizon.days + 2):
        day = today + timedelta(days=offset)
        for r in hours.ranges_on(day.weekday()):
            local = datetime.combine(day, time(r.start // 60, r.start % 60), tzinfo=tz)
            at = local.astimezone(UTC)
            if now < at <= end:
                yield at

