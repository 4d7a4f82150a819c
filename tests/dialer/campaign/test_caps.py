"""The per-number and per-lead caps on a history: what they allow never breaks them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaign.caps import DAY, CapReason, check_caps, history_start
from dialer.compliance import AttemptCaps
from dialer.store import DialHistory

NOW = datetime(2025, 3, 12, 2, 30, tzinfo=UTC)


def history(*ago: tuple[float, bool], lead_attempts: int | None = None) -> DialHistory:
    """Attempts `hours` ago (with their abandoned flag), newest first."""
    items = sorted(((NOW - timedelta(hours=h), a) for h, a in ago), reverse=True)
    return DialHistory(tuple(items), lead_attempts=lead_attempts)


CAPS = AttemptCaps()  # 3 a day, 4 h apart, 4 h after an abandon, 6 a lead
UK = AttemptCaps(gap_after_abandon_hours=72)


def test_an_unknown_number_passes() -> None:
    assert check_caps(history(), CAPS, NOW) is None


def test_minimum_gap_and_when_it_ends() -> None:
    assert check_caps(history((3, False)), CAPS, NOW) == (CapReason.MIN_GAP,
                                                         NOW + timedelta(hours=1))
    assert check_caps(history((4, False)), CAPS, NOW) is None


def test_daily_cap_is_a_rolling_day_and_says_when_a_slot_frees() -> None:
    found = check_caps(history((5, False), (10, False), (20, False)), CAPS, NOW)
    assert found == (CapReason.DAILY_CAP, NOW + timedelta(hours=4))
    assert check_caps(history((5, False), (10, False), (24, False)), CAPS, NOW) is None


def test_abandon_gap_under_uk() -> None:
    assert check_caps(history((30, True)), UK, NOW) == (CapReason.ABANDON_GAP,
                                                       NOW + timedelta(hours=42))
    assert check_caps(history((30, True)), CAPS, NOW) is None
    assert check_caps(history((72, True)), UK, NOW) is None


def test_lifetime_cap() -> None:
    assert check_caps(history(lead_attempts=6), CAPS, NOW) == (CapReason.LIFETIME_CAP, None)
    assert check_caps(history(lead_attempts=5), CAPS, NOW) is None


def test_a_clock_behind_another_nodes_still_sees_the_gap() -> None:
    assert check_caps(history((-0.5, False)), CAPS, NOW)[0] is CapReason.MIN_GAP  # type: ignore[index]


def test_history_reaches_back_far_enough() -> None:
    assert history_start(CAPS, NOW) == NOW - DAY
    assert history_start(UK, NOW) == NOW - timedelta(hours=72)


caps_strategy = st.builds(
    lambda daily, gap, extra, life: AttemptCaps(per_number_daily=daily, min_gap_hours=gap,
                                                gap_after_abandon_hours=gap + extra,
                                                per_lead_lifetime=life),
    st.integers(1, 5), st.sampled_from([0.0, 0.5, 4.0]), st.sampled_from([0.0, 20.0, 68.0]),
    st.integers(1, 8))


@settings(max_examples=300, deadline=None)
@given(caps_strategy, st.lists(st.tuples(st.integers(0, 96 * 60), st.booleans()), max_size=8),
       st.integers(0, 10))
def test_an_allowed_attempt_breaks_no_cap(caps: AttemptCaps, past: list[tuple[int, bool]],
                                          lead_attempts: int) -> None:
    items = tuple(sorted(((NOW - timedelta(minutes=m), a) for m, a in past), reverse=True))
    found = check_caps(DialHistory(items, lead_attempts=lead_attempts), caps, NOW)
    if found is None:
        assert sum(at > NOW - DAY for at, _ in items) + 1 <= caps.per_number_daily
        assert all(NOW - at >= timedelta(hours=caps.min_gap_hours) for at, _ in items)
        assert all(NOW - at >= timedelta(hours=caps.gap_after_abandon_hours)
                   for at, abandoned in items if abandoned)
        assert lead_attempts < caps.per_lead_lifetime
    else:
        reason, until = found
        if reason is CapReason.LIFETIME_CAP:
            assert until is None and lead_attempts >= caps.per_lead_lifetime
            return
        assert until is not None and until > NOW  # at `until` that cap no longer stops it
        if reason is CapReason.DAILY_CAP:
            assert sum(at > until - DAY for at, _ in items) < caps.per_number_daily
            assert sum(at > until - DAY - timedelta(seconds=1) for at, _ in items) \
                >= caps.per_number_daily  # and not a second earlier
        elif reason is CapReason.MIN_GAP:
            assert until == max(at for at, _ in items) + timedelta(hours=caps.min_gap_hours)
        else:
            assert until == max(at for at, a in items if a) + \
                timedelta(hours=caps.gap_after_abandon_hours)
