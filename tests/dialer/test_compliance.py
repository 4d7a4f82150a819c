"""Compliance profiles: the documented numbers, calling windows, tightening-only custom files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.compliance import (
    BUILTIN_PROFILES,
    CALENDAR_MONTH,
    ROLLING_24H,
    ROLLING_30D,
    DataClass,
    RetentionAction,
    load_profile,
    load_profiles,
)
from dialer.errors import ConfigError

cn, us, uk, ca = (BUILTIN_PROFILES[n] for n in ("cn", "us", "uk", "ca"))


def test_builtin_numbers_from_the_compliance_table() -> None:
    assert [p.abandon.limit for p in (cn, us, uk, ca)] == [0.03, 0.03, 0.03, 0.05]
    assert cn.abandon.windows == (ROLLING_24H, ROLLING_30D)
    assert us.abandon.windows == (ROLLING_30D,)
    assert uk.abandon.windows == (ROLLING_24H,)
    assert ca.abandon.windows == (CALENDAR_MONTH,)
    for p in (cn, us, uk, ca):
        assert p.abandon.pacing_target == 0.02
        assert p.abandon.connect_within_s == 2.0
        assert p.ring.min_ring_s == 15.0
        assert p.caps.per_number_daily == 3
        assert p.caps.min_gap_hours == 4.0
        assert p.caps.per_lead_lifetime == 6
        assert p.caller_id_required
        assert p.retention.tenant_destruction_days == 7
        assert p.retention.dialled_numbers.days == 30
    assert uk.caps.gap_after_abandon_hours == 72.0 and us.caps.gap_after_abandon_hours == 4.0
    assert uk.abandon.count_amd_false_positives and not us.abandon.count_amd_false_positives
    assert us.abandon.automated_opt_out
    assert cn.consent_required and not us.consent_required
    assert cn.sip_decline_is_refusal and not uk.sip_decline_is_refusal
    assert us.retention.call_records.minimum_days == 5 * 365
    assert cn.retention.call_records.minimum_days == 30
    assert uk.retention.call_records.days == 30


def at(day: int, hh: int, mm: int = 0) -> datetime:
    """A local wall-clock time in the week of Monday 2025-03-10."""
    return datetime(2025, 3, 10 + day, hh, mm)


@pytest.mark.parametrize(("profile", "moment", "open_"), [
    (cn, at(0, 8, 59), False), (cn, at(0, 9, 0), True), (cn, at(0, 11, 59), True),
    (cn, at(0, 12, 0), False), (cn, at(0, 13, 30), False), (cn, at(0, 14, 0), True),
    (cn, at(6, 19, 59), True), (cn, at(6, 20, 0), False),
    (ca, at(4, 21, 29), True), (ca, at(4, 21, 30), False), (ca, at(5, 9, 30), False),
    (ca, at(5, 10, 0), True), (ca, at(6, 17, 59), True), (ca, at(6, 18, 0), False),
    (us, at(2, 7, 59), False), (us, at(2, 8, 0), True), (us, at(2, 20, 59), True),
    (us, at(2, 21, 0), False), (uk, at(5, 8, 0), True),
])
def test_calling_windows(profile: object, moment: datetime, open_: bool) -> None:
    assert profile.calling_window_open(moment) is open_  # type: ignore[attr-defined]


def test_window_must_be_open_in_every_zone_with_dst() -> None:
    zones = ["America/New_York", "America/Los_Angeles"]
    # 2025-03-09 is the US switch to daylight time: 15:30 UTC = 11:30 EDT = 08:30 PDT.
    assert us.calling_window_open_everywhere(datetime(2025, 3, 10, 15, 30, tzinfo=UTC), zones)
    # A week earlier, still standard time: 15:30 UTC = 10:30 EST = 07:30 PST, closed in LA.
    assert not us.calling_window_open_everywhere(datetime(2025, 3, 3, 15, 30, tzinfo=UTC),
                                                 zones)
    with pytest.raises(ValueError):
        us.calling_window_open_everywhere(datetime(2025, 3, 3, tzinfo=UTC), [])


def test_window_starts() -> None:
    now = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
    assert ROLLING_24H.start(now) == now - timedelta(hours=24)
    assert CALENDAR_MONTH.start(now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert (ROLLING_24H.label, ROLLING_30D.label, CALENDAR_MONTH.label) == \
        ("24h", "30d", "calendar month")


def test_retention_overrides_never_undercut_the_legal_minimum() -> None:
    now = datetime(2025, 3, 10, tzinfo=UTC)
    assert us.retention_days(DataClass.CALL_RECORDS) == 5 * 365
    assert us.retention_days(DataClass.CALL_RECORDS, override=10) == 5 * 365
    assert uk.retention_days(DataClass.CALL_RECORDS, override=10) == 10
    assert uk.retention_days(DataClass.CALL_RECORDS, override=90) == 30  # only shortens
    assert uk.retention_days(DataClass.RECORDINGS, override=90) == 90  # set per campaign
    assert cn.retention_cutoff(DataClass.CALL_RECORDS, now, override=1) == \
        now - timedelta(days=30)


@given(st.sampled_from(list(BUILTIN_PROFILES.values())), st.sampled_from(list(DataClass)),
       st.one_of(st.none(), st.integers(min_value=0, max_value=5000)))
def test_effective_retention_is_never_under_the_minimum(profile: object, data_class: DataClass,
                                                        override: int | None) -> None:
    days = profile.retention_days(data_class, override)  # type: ignore[attr-defined]
    minimum = profile.retention.rule(data_class).minimum_days  # type: ignore[attr-defined]
    assert days is None or days >= minimum


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_profile_may_tighten(tmp_path: Path) -> None:
    path = write(tmp_path, """\
name: acme-uk
base: uk
abandon:
  limit: 0.02
  pacing_target: 0.015
  windows:
    - {kind: rolling, hours: 24}
    - {kind: rolling, hours: 720}
calling_hours:
  sat: ["10:00-16:00"]
  sun: []
caps:
  per_number_daily: 2
retention:
  call_records: {days: 14, action: anonymise}
  recordings: {minimum_days: 10}
consent_required: true
recording_announcement_required: true
""")
    profile = load_profile(path)
    assert profile.name == "acme-uk" and profile.base == "uk"
    assert profile.abandon.limit == 0.02 and profile.caps.per_number_daily == 2
    assert profile.caps.gap_after_abandon_hours == 72.0  # inherited
    assert profile.retention.call_records.action is RetentionAction.ANONYMISE
    assert not profile.calling_window_open(at(6, 12))
    assert profile.calling_window_open(at(5, 12)) and not profile.calling_window_open(at(5, 17))
    assert load_profiles([path])["acme-uk"] == profile
    assert profile.recording_announcement_required


@pytest.mark.parametrize(("body", "field", "line", "reason"), [
    ("abandon:\n  limit: 0.04\n", "abandon.limit", 4, "may only lower"),
    ("caps:\n  min_gap_hours: 2\n", "caps.min_gap_hours", 4, "may only raise"),
    ("calling_hours:\n  mon: [\"07:00-21:00\"]\n", "calling_hours.mon.0", 4, "outside"),
    ("consent_required: false\n", "consent_required", 3, "cannot be switched off"),
    ("abandon:\n  windows: [{kind: rolling, hours: 24}]\n", "abandon.windows", 4, "30d"),
    ("retention:\n  call_records: {days: 100}\n", "retention.call_records.days", 4,
     "may only lower"),
    ("retention:\n  call_records: {days: 30}\n", "retention.call_records", 4,
     "legal minimum"),
    ("retention:\n  dnc: {days: 30}\n", "retention", 3, "never purged"),
    ("ring:\n  min_ring_s: 10\n", "ring.min_ring_s", 4, "may only raise"),
])
def test_loosening_is_an_error_naming_file_line_field(tmp_path: Path, body: str, field: str,
                                                      line: int, reason: str) -> None:
    base = "us" if "call_records: {days: 30}" in body else "cn"
    path = write(tmp_path, f"name: custom\nbase: {base}\n{body}")
    with pytest.raises(ConfigError, match=reason) as info:
        load_profile(path)
    assert (info.value.file, info.value.field, info.value.line) == (str(path), field, line)


def test_a_required_recording_announcement_cannot_be_waived(tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text("name: strict\nbase: us\nrecording_announcement_required: true\n")
    lax = tmp_path / "lax.yaml"
    lax.write_text("name: lax\nbase: strict\nrecording_announcement_required: false\n")
    with pytest.raises(ConfigError, match="cannot be switched off") as info:
        load_profiles([strict, lax])
    assert (info.value.file, info.value.field, info.value.line) == (
        str(lax), "recording_announcement_required", 3)


def test_unknown_base_and_name_clash(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown base profile 'xx'") as info:
        load_profile(write(tmp_path, "name: a\nbase: xx\n"))
    assert info.value.line == 2 and info.value.field == "base"
    with pytest.raises(ConfigError, match="already exists"):
        load_profile(write(tmp_path, "name: uk\nbase: cn\n"))
    with pytest.raises(ConfigError, match="required"):
        load_profile(write(tmp_path, "base: cn\n"))


def test_a_custom_profile_can_build_on_another(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text("name: a\nbase: uk\ncaps: {per_number_daily: 2}\n")
    second = tmp_path / "b.yaml"
    second.write_text("name: b\nbase: a\ncaps: {per_number_daily: 3}\n")
    with pytest.raises(ConfigError, match="may only lower"):
        load_profiles([first, second])
    second.write_text("name: b\nbase: a\ncaps: {per_lead_lifetime: 4}\n")
    profiles = load_profiles([first, second])
    assert profiles["b"].caps.per_number_daily == 2 and profiles["b"].caps.per_lead_lifetime == 4
