"""Per-number and per-lead attempt caps, checked on the history read at the instant of
dial (pure: the gate reads the history and the clock).

In order: the daily cap (attempts to the number in any campaign over the last 24 h,
rolling), the minimum gap since the number's last attempt, the longer gap after an
abandoned call where the profile sets one (72 h under `uk`), the lead's lifetime cap.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from dialer.compliance import AttemptCaps
from dialer.store import DialHistory

DAY = timedelta(hours=24)


class CapReason(enum.StrEnum):
    """Which cap stops an attempt."""

    DAILY_CAP = "daily_cap"
    MIN_GAP = "min_gap"
    ABANDON_GAP = "abandon_gap"
    LIFETIME_CAP = "lifetime_cap"


def history_start(caps: AttemptCaps, now: datetime) -> datetime:
    """How far back the caps look: the longest of a day and the two gaps."""
    hours = max(24.0, caps.min_gap_hours, caps.gap_after_abandon_hours)
    return now - timedelta(hours=hours)


def check_caps(history: DialHistory, caps: AttemptCaps,
               now: datetime) -> tuple[CapReason, datetime | None] | None:
    """The first cap the next attempt would break, with when it stops applying (None:
    never, for the lifetime cap); None when every cap allows the attempt."""
    in_day = sorted(at for at, _ in history.attempts if at > now - DAY)
    if len(in_day) >= caps.per_number_daily:
        return CapReason.DAILY_CAP, in_day[len(in_day) - caps.per_number_daily] + DAY
    if history.attempts:
        last = max(at for at, _ in history.attempts)
        gap = timedelta(hours=caps.min_gap_hours)
        if now < last + gap:
            return CapReason.MIN_GAP, last + gap
    abandons = [at for at, abandoned in history.attempts if abandoned]
    if abandons:
        gap = timedelta(hours=caps.gap_after_abandon_hours)
        last_abandon = max(abandons)
        if now < last_abandon + gap:
            return CapReason.ABANDON_GAP, last_abandon + gap
    if history.lead_attempts is not None and history.lead_attempts >= caps.per_lead_lifetime:
        return CapReason.LIFETIME_CAP, None
    return None
