"""Compliance profiles: the rules, with their numbers, that a campaign dials under.

Built-in profiles `cn`, `us`, `uk`, `ca` carry the figures of docs/compliance.md. A custom
profile is a YAML file naming a `base` profile and overriding some of its values; it may
only tighten them (a lower abandon limit, narrower calling hours, a longer legal minimum
retention, a shorter maximum retention…). Loosening anything is a `ConfigError` naming
the file, line and field. Profiles are pure data with helpers; they read no clock.

    name: acme-uk
    base: uk
    abandon: {limit: 0.02}
    calling_hours: {sat: ["10:00-16:00"], sun: []}
    retention: {call_records: {days: 14, action: anonymise}}
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from dialer.errors import ConfigError
from dialer.yamlconf import Loc, line_of, read_yaml, validation_error

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
KEPT_FOREVER = ("audit_log", "dnc")  # never purged by any profile (seed R17)


class Tighter(enum.Enum):
    """Which direction of change makes a rule stricter (metadata on profile fields)."""

    LOWER = "lower"
    HIGHER = "higher"
    TRUE = "true"
    SUPERSET = "superset"


class DataClass(enum.StrEnum):
    """Kinds of stored data with their own retention rule."""

    CALL_RECORDS = "call_records"
    DIALLED_NUMBERS = "dialled_numbers"
    RECORDINGS = "recordings"


class RetentionAction(enum.StrEnum):
    """What a purge does to an expired record."""

    DELETE = "delete"
    ANONYMISE = "anonymise"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Model):
    """A range of local clock time `[start, end)` in minutes after midnight; "09:00-12:00"."""

    start: int = Field(ge=0, lt=MINUTES_PER_DAY)
    end: int = Field(gt=0, le=MINUTES_PER_DAY)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                start, end = (_minutes(part) for part in value.split("-"))
            except ValueError:
                raise ValueError(f"expected 'HH:MM-HH:MM', got {value!r}") from None
            return {"start": start, "end": end}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError("the range must end after it starts")
        return self

    @model_serializer
    def _serialise(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The range as written in profiles: `09:00-12:00`."""
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    def contains(self, minute: int) -> bool:
        """True when the minute of the day lies in the range."""
        return self.start <= minute < self.end


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    value = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60 and 0 <= value <= MINUTES_PER_DAY):
        raise ValueError(text)
    return value


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


Ranges = tuple[TimeRange, ...]


class CallingHours(_Model):
    """Allowed calling hours in the callee's local time, per weekday (empty: no calls)."""

    mon: Ranges
    tue: Ranges
    wed: Ranges
    thu: Ranges
    fri: Ranges
    sat: Ranges
    sun: Ranges

    @classmethod
    def same_every_day(cls, *ranges: str) -> CallingHours:
        """The same ranges on all seven days."""
        return cls.model_validate({day: list(ranges) for day in WEEKDAYS})

    def ranges_on(self, weekday: int) -> Ranges:
        """The ranges of a weekday (0 = Monday)."""
        ranges: Ranges = getattr(self, WEEKDAYS[weekday])
        return ranges

    def open_at(self, local: datetime) -> bool:
        """True when calls are allowed at this local wall-clock time."""
        minute = local.hour * 60 + local.minute
        return any(r.contains(minute) for r in self.ranges_on(local.weekday()))

    def loosening_from(self, base: CallingHours) -> list[tuple[Loc, str]]:
        """Where these hours allow a minute the base hours forbid."""
        problems: list[tuple[Loc, str]] = []
        for day in WEEKDAYS:
            allowed: Ranges = getattr(base, day)
            for i, r in enumerate(getattr(self, day)):
                if not _covered(r, allowed):
                    hours = ", ".join(a.text for a in allowed) or "none"
                    reason = f"{r.text} is outside the base profile's hours ({hours})"
                    problems.append(((day, i), reason))
        return problems


def _covered(r: TimeRange, allowed: Ranges) -> bool:
    minute = r.start
    while minute < r.end:
        holder = next((a for a in allowed if a.contains(minute)), None)
        if holder is None:
            return False
        minute = holder.end
    return True


class AbandonWindow(_Model):
    """A period over which the abandon rate is measured: rolling hours or a calendar month."""

    kind: Literal["rolling", "calendar_month"]
    hours: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _hours_iff_rolling(self) -> AbandonWindow:
        if (self.kind == "rolling") != (self.hours is not None):
            raise ValueError("a rolling window needs `hours`; a calendar month takes none")
        return self

    @property
    def label(self) -> str:
        """A short name: `24h`, `30d`, `calendar month`."""
        if self.hours is None:
            return "calendar month"
        return f"{self.hours // 24}d" if self.hours % 24 == 0 and self.hours > 24 else \
            f"{self.hours}h"

    def start(self, now: datetime) -> datetime:
        """Where the window that ends at `now` begins (a calendar month in `now`'s zone)."""
        if self.hours is not None:
            return now - timedelta(hours=self.hours)
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


ROLLING_24H = AbandonWindow(kind="rolling", hours=24)
ROLLING_30D = AbandonWindow(kind="rolling", hours=30 * 24)
CALENDAR_MONTH = AbandonWindow(kind="calendar_month")


class AbandonRules(_Model):
    """The abandoned-call limit, its windows, and what counts as an abandon."""

    limit: Annotated[float, Tighter.LOWER] = Field(gt=0, lt=1)
    windows: Annotated[tuple[AbandonWindow, ...], Tighter.SUPERSET] = Field(min_length=1)
    pacing_target: Annotated[float, Tighter.LOWER] = Field(default=0.02, gt=0, lt=1)
    connect_within_s: Annotated[float, Tighter.LOWER] = Field(default=2.0, gt=0)
    amd_false_positive_rate: Annotated[float, Tighter.HIGHER] = Field(default=0.01, ge=0, lt=1)
    count_amd_false_positives: Annotated[bool, Tighter.TRUE] = False
    information_message: Annotated[bool, Tighter.TRUE] = True
    automated_opt_out: Annotated[bool, Tighter.TRUE] = False

    @model_validator(mode="after")
    def _target_under_limit(self) -> AbandonRules:
        if self.pacing_target > self.limit:
            raise ValueError(f"pacing_target {self.pacing_target} is above the limit {self.limit}")
        return self


class RingRules(_Model):
    """How long an unanswered call rings before the dialler gives up."""

    min_ring_s: Annotated[float, Tighter.HIGHER] = Field(default=15.0, gt=0)
    no_answer_timeout_s: float = Field(default=25.0, gt=0)

    @model_validator(mode="after")
    def _timeout_after_minimum(self) -> RingRules:
        if self.no_answer_timeout_s < self.min_ring_s:
            raise ValueError(f"no_answer_timeout_s {self.no_answer_timeout_s} is shorter than "
                             f"min_ring_s {self.min_ring_s}")
        return self


class AttemptCaps(_Model):
    """Limits on attempts per number (across all campaigns) and per lead."""

    per_number_daily: Annotated[int, Tighter.LOWER] = Field(default=3, ge=1)
    min_gap_hours: Annotated[float, Tighter.HIGHER] = Field(default=4.0, ge=0)
    gap_after_abandon_hours: Annotated[float, Tighter.HIGHER] = Field(default=4.0, ge=0)
    per_lead_lifetime: Annotated[int, Tighter.LOWER] = Field(default=6, ge=1)

    @model_validator(mode="after")
    def _abandon_gap_not_shorter(self) -> AttemptCaps:
        if self.gap_after_abandon_hours < self.min_gap_hours:
            raise ValueError("gap_after_abandon_hours is shorter than min_gap_hours")
        return self


class RetentionRule(_Model):
    """How long one data class is kept: `days` is a maximum (None: kept), `minimum_days`
    a legal minimum that no purge and no override may undercut."""

    days: Annotated[int | None, Tighter.LOWER] = Field(default=30, ge=0)
    minimum_days: Annotated[int, Tighter.HIGHER] = Field(default=0, ge=0)
    action: RetentionAction = RetentionAction.DELETE

    @model_validator(mode="after")
    def _not_under_minimum(self) -> RetentionRule:
        if self.days is not None and self.days < self.minimum_days:
            raise ValueError(f"days {self.days} undercuts the legal minimum of "
                             f"{self.minimum_days} days")
        return self


class Retention(_Model):
    """Retention per data class, and the destruction deadline after a tenant ends."""

    dialled_numbers: RetentionRule = RetentionRule()
    call_records: RetentionRule = RetentionRule()
    recordings: RetentionRule = RetentionRule()
    tenant_destruction_days: Annotated[int, Tighter.LOWER] = Field(default=7, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _never_purged(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for name in KEPT_FOREVER:
                if name in value:
                    raise ValueError(f"{name} is never purged and takes no retention rule")
        return value

    def rule(self, data_class: DataClass) -> RetentionRule:
        """The rule of one data class."""
        rule: RetentionRule = getattr(self, data_class.value)
        return rule


class ComplianceProfile(_Model):
    """Every rule a campaign dials under; see docs/compliance.md for the sources."""

    name: str = Field(min_length=1, max_length=64)
    base: str | None = None
    description: str = ""
    abandon: AbandonRules
    ring: RingRules = RingRules()
    calling_hours: CallingHours
    caps: AttemptCaps = AttemptCaps()
    consent_required: Annotated[bool, Tighter.TRUE] = False
    sip_decline_is_refusal: Annotated[bool, Tighter.TRUE] = False
    caller_id_required: Annotated[bool, Tighter.TRUE] = True
    # A recorded call first plays the campaign's consent announcement to the customer
    # (two-party-consent jurisdictions); a custom profile can require it, never waive it.
    recording_announcement_required: Annotated[bool, Tighter.TRUE] = False
    retention: Retention = Retention()

    def calling_window_open(self, local: datetime) -> bool:
        """True when the callee's local wall-clock time is inside the calling hours."""
        return self.calling_hours.open_at(local)

    def calling_window_open_everywhere(self, now: datetime, zones: Iterable[str]) -> bool:
        """True when the window is open in every one of a number's time zones at `now`."""
        names = list(zones)
        if not names:
            raise ValueError("a number needs at least one time zone")
        return all(self.calling_hours.open_at(now.astimezone(ZoneInfo(z))) for z in names)

    def retention_days(self, data_class: DataClass, override: int | None = None) -> int | None:
        """Days a record of `data_class` is kept (None: forever), with a campaign override.

        An override may shorten any class and lengthen recordings (kept per campaign);
        nothing goes below the class's legal minimum.
        """
        rule = self.retention.rule(data_class)
        days = rule.days
        if override is not None:
            if data_class is DataClass.RECORDINGS or days is None:
                days = override
            else:
                days = min(days, override)
        return None if days is None else max(days, rule.minimum_days)

    def retention_cutoff(self, data_class: DataClass, now: datetime,
                         override: int | None = None) -> datetime | None:
        """Records of `data_class` created before this instant are expired (None: never)."""
        days = self.retention_days(data_class, override)
        return None if days is None else now - timedelta(days=days)


def _builtin(**values: Any) -> ComplianceProfile:
    return ComplianceProfile.model_validate(values)


_US_CALL_RECORDS = RetentionRule(days=5 * 365, minimum_days=5 * 365)

BUILTIN_PROFILES: Mapping[str, ComplianceProfile] = MappingProxyType({
    "cn": _builtin(
        name="cn", description="China: seed rules R1-R18; consent per lead; rest hours avoided",
        abandon=AbandonRules(limit=0.03, windows=(ROLLING_24H, ROLLING_30D)),
        calling_hours=CallingHours.same_every_day("09:00-12:00", "14:00-20:00"),
        consent_required=True, sip_decline_is_refusal=True,
        retention=Retention(call_records=RetentionRule(days=30, minimum_days=30))),
    "us": _builtin(
        name="us", description="United States: FCC 47 CFR 64.1200, FTC TSR 16 CFR 310",
        abandon=AbandonRules(limit=0.03, windows=(ROLLING_30D,), automated_opt_out=True),
        calling_hours=CallingHours.same_every_day("08:00-21:00"),
        retention=Retention(call_records=_US_CALL_RECORDS)),
    "uk": _builtin(
        name="uk", description="United Kingdom: Ofcom persistent-misuse statement (2016)",
        abandon=AbandonRules(limit=0.03, windows=(ROLLING_24H,), count_amd_false_positives=True),
        calling_hours=CallingHours.same_every_day("08:00-21:00"),
        caps=AttemptCaps(gap_after_abandon_hours=72.0)),
    "ca": _builtin(
        name="ca", description="Canada: CRTC Unsolicited Telecommunications Rules",
        abandon=AbandonRules(limit=0.05, windows=(CALENDAR_MONTH,)),
        calling_hours=CallingHours.model_validate(
            {**{d: ["09:00-21:30"] for d in WEEKDAYS[:5]}, "sat": ["10:00-18:00"],
             "sun": ["10:00-18:00"]})),
})


def loosenings(base: BaseModel, custom: BaseModel, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """Every place where `custom` is less strict than `base`, as (field path, reason)."""
    problems: list[tuple[Loc, str]] = []
    for name, info in type(base).model_fields.items():
        old, new = getattr(base, name), getattr(custom, name)
        direction = next((m for m in info.metadata if isinstance(m, Tighter)), None)
        here = loc + (name,)
        if isinstance(old, CallingHours):
            problems += [(here + sub, msg) for sub, msg in new.loosening_from(old)]
        elif isinstance(old, BaseModel):
            problems += loosenings(old, new, here)
        elif direction is not None and (reason := _looser(direction, old, new)):
            problems.append((here, reason))
    return problems


def _looser(direction: Tighter, old: Any, new: Any) -> str | None:
    if direction is Tighter.TRUE and old and not new:
        return "cannot be switched off: the base profile requires it"
    if direction is Tighter.SUPERSET and not set(old) <= set(new):
        missing = ", ".join(w.label for w in old if w not in new)
        return f"must keep the base profile's entries ({missing})"
    infinite = float("inf")
    old_n = infinite if old is None else old
    new_n = infinite if new is None else new
    if direction is Tighter.LOWER and new_n > old_n:
        return f"{_show(new)} is looser than the base profile's {_show(old)} (may only lower it)"
    if direction is Tighter.HIGHER and new_n < old_n:
        return f"{_show(new)} is looser than the base profile's {_show(old)} (may only raise it)"
    return None


def _show(value: Any) -> str:
    return "no limit" if value is None else str(value)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {k: _merge(base[k], v) if k in base else v for k, v in {**base, **over}.items()}
    return over


def load_profile(path: str | Path,
                 known: Mapping[str, ComplianceProfile] = BUILTIN_PROFILES) -> ComplianceProfile:
    """Read a custom profile from YAML on top of its `base` (a name in `known`)."""
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a profile file must be a mapping", file=path, line=1)
    for key in ("name", "base"):
        if not isinstance(data.get(key), str):
            raise ConfigError("required (a string)", file=path,
                              line=line_of(lines, (key,)) or 1, field=key)
    if data["name"] in known:
        raise ConfigError(f"profile {data['name']!r} already exists", file=path,
                          line=line_of(lines, ("name",)), field="name")
    base = known.get(data["base"])
    if base is None:
        raise ConfigError(f"unknown base profile {data['base']!r} (known: "
                          f"{', '.join(sorted(known))})", file=path,
                          line=line_of(lines, ("base",)), field="base")
    merged = _merge(base.model_dump(mode="json"), data)
    try:
        profile = ComplianceProfile.model_validate(merged)
    except ValidationError as exc:
        raise validation_error(path, lines, exc) from exc
    problems = loosenings(base, profile)
    if problems:
        (loc, reason), rest = problems[0], problems[1:]
        more = "".join(f"\n  {path}:{line_of(lines, sub)}: field '{_dotted(sub)}': {why}"
                       for sub, why in rest)
        raise ConfigError(reason + more, file=path, line=line_of(lines, loc),
                          field=_dotted(loc))
    return profile


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def load_profiles(paths: Sequence[str | Path] = ()) -> dict[str, ComplianceProfile]:
    """The built-in profiles plus custom ones; a file may build on one loaded before it."""
    profiles = dict(BUILTIN_PROFILES)
    for path in paths:
        profile = load_profile(path, profiles)
        profiles[profile.name] = profile
    return profiles
