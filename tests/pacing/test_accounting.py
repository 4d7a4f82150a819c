"""Abandon accounting over windows given as data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pacing import AbandonAccounting, InvalidSettings, Window, month_start

HOUR = 3600.0


def test_rolling_windows_count_and_expire() -> None:
    acc = AbandonAccounting((Window("1h", seconds=HOUR), Window("24h", seconds=24 * HOUR)))
    acc.record_answers(np.arange(0.0, 100.0), np.zeros(100, dtype=bool))
    acc.record_answer(120.0, abandoned=True)
    b = acc.budget(200.0)
    assert b.windows == ("1h", "24h")
    assert list(b.answers) == [101, 101] and list(b.abandons) == [1, 1]
    later = acc.budget(2 * HOUR + 200.0)
    assert list(later.answers) == [0, 101] and list(later.abandons) == [0, 1]


def test_bucket_edges_lean_to_the_safe_side() -> None:
    acc = AbandonAccounting((Window("1h", seconds=HOUR),), resolution=60.0)
    acc.record_answer(30.0, abandoned=True)    # bucket [0, 60)
    b = acc.budget(HOUR + 30.0)                # window starts inside that bucket
    assert b.answers[0] == 0 and b.abandons[0] == 1


def test_budget_accrues_with_answers_only() -> None:
    acc = AbandonAccounting((Window("24h", seconds=24 * HOUR),))
    assert acc.budget(0.0).allowed(0.03)[0] == 0.0
    acc.record_answers(np.full(100, 10.0), np.zeros(100, dtype=bool))
    acc.record_answer(11.0, abandoned=True)
    b = acc.budget(20.0)
    assert b.allowed(0.03)[0] == pytest.approx(0.03 * 101 - 1)
    assert b.allowed(0.03, expected_answers=9.0)[0] == pytest.approx(0.03 * 110 - 1)
    assert b.rates()[0] == pytest.approx(1 / 101)


def test_amd_false_positive_estimate_is_added() -> None:
    acc = AbandonAccounting((Window("24h", seconds=24 * HOUR),), amd_false_positive_rate=0.05)
    acc.record_answers(np.full(100, 1.0), np.zeros(100, dtype=bool))
    acc.record_machine_verdicts(np.full(40, 2.0))
    b = acc.budget(10.0)
    assert b.abandons[0] == pytest.approx(2.0) and b.answers[0] == pytest.approx(102.0)


def test_calendar_month_window() -> None:
    utc = dt.UTC
    for y, m, d in [(2026, 1, 31), (2024, 2, 29), (2023, 12, 1), (1999, 3, 15)]:
        now = dt.datetime(y, m, d, 13, 5, tzinfo=utc).timestamp()
        assert month_start(now) == dt.datetime(y, m, 1, tzinfo=utc).timestamp()
    # Toronto in winter: UTC-5; 03:00 UTC on 1 March is still February there
    now = dt.datetime(2026, 3, 1, 3, 0, tzinfo=utc).timestamp()
    assert month_start(now, -5 * HOUR) == dt.datetime(2026, 2, 1, 5, 0, tzinfo=utc).timestamp()
    acc = AbandonAccounting((Window("month", calendar_month=True),))
    feb = dt.datetime(2026, 2, 27, tzinfo=utc).timestamp()
    acc.record_answer(feb, abandoned=True)
    march = dt.datetime(2026, 3, 2, tzinfo=utc).timestamp()
    acc.record_answer(march)
    b = acc.budget(march + 60)
    assert b.answers[0] == 1 and b.abandons[0] == 0


def test_window_definition_is_validated() -> None:
    with pytest.raises(InvalidSettings):
        Window("bad")
    with pytest.raises(InvalidSettings):
        Window("both", seconds=10.0, calendar_month=True)
