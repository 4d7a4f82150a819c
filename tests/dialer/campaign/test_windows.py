"""Calling windows across daylight-saving changes, checked against an independent oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tz_oracle import RULES, TRANSITIONS, VALID_FROM, VALID_UNTIL, open_in

from dialer.campaign.windows import HORIZON, next_opening, number_zones, open_everywhere
from dialer.compliance import WEEKDAYS, CallingHours

ZONES = sorted(RULES)
STEP = timedelta(minutes=10)


@st.composite
def hours(draw: st.DrawFn) -> CallingHours:
    """Up to two ranges a day, starting at 04:00 or later (after every DST change)."""
    days = {}
    for day in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.integers(4 * 4, 24 * 4), max_size=4)))
        pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
        days[day] = [f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}"
                     for a, b in pairs if a < b]
    return CallingHours.model_validate(days)


instants_near_changes = st.builds(
    lambda edge, seconds: edge + timedelta(seconds=seconds),
    st.sampled_from(TRANSITIONS), st.integers(-3 * 86400, 3 * 86400))
instants_any = st.builds(
    lambda seconds: VALID_FROM + timedelta(seconds=seconds),
    st.integers(0, int((VALID_UNTIL - VALID_FROM - HORIZON).total_seconds())))
instants = st.one_of(instants_near_changes, instants_any)
zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=4, unique=True)


@settings(max_examples=400, deadline=None)
@given(hours(), zone_sets, instants)
def test_open_everywhere_agrees_with_the_oracle(h: CallingHours, zones: list[str],
                                                at: datetime) -> None:
    assert open_everywhere(h, zones, at) == all(open_in(h, z, at) for z in zones)


@settings(max_examples=150, deadline=None)
@given(hours(), zone_sets, instants)
def test_next_opening_is_the_first_open_instant(h: CallingHours, zones: list[str],
                                               at: datetime) -> None:
    found = next_opening(h, zones, at)

    def everywhere(t: datetime) -> bool:
        return all(open_in(h, z, t) for z in zones)

    end = found if found is not None else at + HORIZON
    t = at
    while t < end:
        assert not everywhere(t), f"open at {t} before the proposed {found}"
        t += STEP
    if found is not None:
        assert found >= at and everywhere(found)
        if found > at:
            assert not everywhere(found - timedelta(minutes=1))


def test_a_spring_forward_day_is_honoured() -> None:
    daily = CallingHours.same_every_day("08:00-21:00")
    # 2025-03-09: New York moves from UTC-5 to UTC-4 at 07:00 UTC
    assert not open_everywhere(daily, ["America/New_York"], datetime(2025, 3, 9, 11, 59,
                                                                      tzinfo=UTC))
    assert open_everywhere(daily, ["America/New_York"], datetime(2025, 3, 9, 12, 0, tzinfo=UTC))
    assert next_opening(daily, ["America/New_York"],
                        datetime(2025, 3, 9, 3, tzinfo=UTC)) == datetime(2025, 3, 9, 12,
                                                                        tzinfo=UTC)


def test_several_zones_open_only_where_all_are_open() -> None:
    daily = CallingHours.same_every_day("08:00-21:00")
    at = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)  # 09:30 New York, 06:30 Los Angeles
    assert open_everywhere(daily, ["America/New_York"], at)
    assert not open_everywhere(daily, ["America/New_York", "America/Los_Angeles"], at)
    assert next_opening(daily, ["America/New_York", "America/Los_Angeles"], at) == \
        datetime(2025, 6, 2, 15, 0, tzinfo=UTC)


def test_a_window_that_never_opens() -> None:
    closed = CallingHours.model_validate({day: [] for day in WEEKDAYS})
    assert next_opening(closed, ["Asia/Shanghai"], VALID_FROM) is None


def test_zones_of_a_number() -> None:
    assert number_zones("+8613812345678") == ("Asia/Shanghai",)
    assert number_zones("+8613812345678", ("Asia/Urumqi",)) == ("Asia/Urumqi",)
    assert number_zones("+881612345678") == ()
    with pytest.raises(ValueError, match="at least one time zone"):
        open_everywhere(CallingHours.same_every_day("08:00-21:00"), [], VALID_FROM)
