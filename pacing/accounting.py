"""Abandon accounting per campaign over regulatory windows given as data.

A window is rolling (the last `seconds`) or a calendar month (in a fixed UTC offset).
Answers and abandons are kept in buckets of `resolution` seconds. At a bucket edge
the count leans to the safe side: a bucket's abandons count while any part of it is
inside the window, its answers only while all of it is.

UK-style AMD false positives: with `amd_false_positive_rate = f`, every machine verdict
adds `f` estimated humans who were hung up on, to the abandons and to the answers.

The budget of a window (`AbandonBudget.allowed`) is `rate * (answers + expected) -
abandons`: it accrues with answers only, so a window with few answers allows nothing,
and an abandon at the first answers is never "within budget".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pacing.errors import InvalidSettings
from pacing.types import AbandonBudget, FloatArray

DAY = 86400.0


@dataclass(frozen=True)
class Window:
    """One regulatory window: rolling `seconds`, or the calendar month at `utc_offset`."""

    name: str
    seconds: float | None = None
    calendar_month: bool = False
    utc_offset: float = 0.0   # seconds east of UTC; calendar months only

    def __post_init__(self) -> None:
        if self.calendar_month == (self.seconds is not None):
            raise InvalidSettings(f"window {self.name}", "give seconds or calendar_month")
        if self.seconds is not None and not self.seconds > 0:
            raise InvalidSettings(f"window {self.name}.seconds", self.seconds)

    def start(self, now: float) -> float:
        """Where the window begins for an instant `now` (epoch seconds)."""
        if self.seconds is not None:
            return now - self.seconds
        return month_start(now, self.utc_offset)

    @property
    def span(self) -> float:
        """The longest this window can be, in seconds."""
        return self.seconds if self.seconds is not None else 31 * DAY


PROFILE_WINDOWS: dict[str, tuple[Window, ...]] = {
    "cn": (Window("24h", seconds=DAY), Window("30d", seconds=30 * DAY)),
    "us": (Window("30d", seconds=30 * DAY),),
    "uk": (Window("24h", seconds=DAY),),
    "ca": (Window("month", calendar_month=True),),
}
DEFAULT_WINDOWS = PROFILE_WINDOWS["cn"]


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def month_start(now: float, utc_offset: float = 0.0) -> float:
    """Epoch seconds of midnight on the first day of the month containing `now`."""
    local_day = math.floor((now + utc_offset) / DAY)
    y, m, _ = _civil_from_days(local_day)
    return _days_from_civil(y, m, 1) * DAY - utc_offset


class AbandonAccounting:
    """Answers and abandons of one campaign, summed over each window on demand."""

    def __init__(self, windows: tuple[Window, ...] = DEFAULT_WINDOWS, *,
                 resolution: float = 60.0, amd_false_positive_rate: float = 0.0) -> None:
        if not windows:
            raise InvalidSettings("windows", windows)
        if not resolution > 0:
            raise InvalidSettings("resolution", resolution)
        if not 0.0 <= amd_false_positive_rate < 1.0:
            raise InvalidSettings("amd_false_positive_rate", amd_false_positive_rate)
        self.windows = tuple(windows)
        self.resolution = float(resolution)
        self.fp_rate = float(amd_false_positive_rate)
        self._keep = math.ceil(max(w.span for w in self.windows) / self.resolution) + 2
        self._base: int | None = None      # bucket number of index 0
        self._answers = np.zeros(0)
        self._abandons = np.zeros(0)

    def record_answer(self, now: float, abandoned: bool = False) -> None:
        """Count one live answer, abandoned or connected in time."""
        self._add(np.array([now]), np.array([1.0]), np.array([1.0 if abandoned else 0.0]))

    def record_answers(self, times: FloatArray, abandoned: np.ndarray) -> None:
        """Count many live answers at once."""
        times = np.asarray(times, dtype=np.float64)
        ab = np.asarray(abandoned, dtype=np.float64)
        self._add(times, np.ones_like(times), ab)

    def record_totals(self, times: FloatArray, answers: FloatArray,
                      abandons: FloatArray) -> None:
        """Count answers and abandons already totalled per instant (e.g. hourly records
        read back at start)."""
        self._add(np.asarray(times, dtype=np.float64), np.asarray(answers, dtype=np.float64),
                  np.asarray(abandons, dtype=np.float64))

    def record_machine_verdicts(self, times: FloatArray | float) -> None:
        """Count AMD machine verdicts; adds the estimated false positives, if configured."""
        if self.fp_rate == 0.0:
            return
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        est = np.full_like(t, self.fp_rate)
        self._add(t, est, est)

    def budget(self, now: float) -> AbandonBudget:
        """Answers and abandons (false-positive estimate included) in each window."""
        n = len(self.windows)
        answers = np.zeros(n)
        abandons = np.zeros(n)
        if self._base is not None:
            end = math.floor(now / self.resolution) - self._base + 1
            for i, w in enumerate(self.windows):
                start = w.start(now) / self.resolution - self._base
                full = max(0, math.ceil(start))      # buckets wholly inside
                part = max(0, math.floor(start))     # buckets touching the window
                if end > full:
                    answers[i] = self._answers[full:end].sum()
                if end > part:
                    abandons[i] = self._abandons[part:end].sum()
        return AbandonBudget(tuple(w.name for w in self.windows), answers, abandons)

    def _add(self, times: FloatArray, answers: FloatArray, abandons: FloatArray) -> None:
        if times.size == 0:
            return
        buckets = np.floor(times / self.resolution).astype(np.int64)
        if self._base is None:
            self._base = int(buckets.min())
        lo = int(buckets.min())
        if lo < self._base:
            pad = self._base - lo
            self._answers = np.concatenate((np.zeros(pad), self._answers))
            self._abandons = np.concatenate((np.zeros(pad), self._abandons))
            self._base = lo
        idx = buckets - self._base
        size = int(idx.max()) + 1
        if size > self._answers.size:
            grow = max(size, 2 * self._answers.size, 64)
            self._answers = np.concatenate((self._answers, np.zeros(grow - self._answers.size)))
            self._abandons = np.concatenate((self._abandons,
                                             np.zeros(grow - self._abandons.size)))
        np.add.at(self._answers, idx, answers)
        np.add.at(self._abandons, idx, abandons)
        self._trim(int(buckets.max()))

    def _trim(self, newest: int) -> None:
        assert self._base is not None
        drop = newest - self._keep - self._base
        if drop > self._keep:  # trim rarely: once the stale part outgrows the kept part
            self._answers = self._answers[drop:].copy()
            self._abandons = self._abandons[drop:].copy()
            self._base += drop
