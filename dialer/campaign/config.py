"""The campaign YAML as pydantic models: every section, its defaults and its own checks.

This module checks what a file can get wrong on its own (types, ranges, unknown keys,
codes that clash). What depends on the compliance profile the campaign names (windows
that may only narrow, caps that may only tighten, a ring timeout above the profile's
minimum, consent the profile requires…) is checked by `dialer.campaign.rules` once the
profile is known. `None` in a field below means "the profile's value".
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from dialer.campaign.durations import Duration
from dialer.compliance import WEEKDAYS, CallingHours, TimeRange
from dnc import is_known_region
from recordings import DEFAULT_TOGGLE_CODE, RecordingMode


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: Any) -> Any:
    """YAML reads `9` or `8001` as numbers; codes and ids are text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
SoundName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./:-]{0,127}$")]
DtmfCode = Annotated[str, BeforeValidator(_text), StringConstraints(pattern=r"^[0-9*#]{1,4}$")]
DtmfKey = Annotated[str, BeforeValidator(_text), StringConstraints(pattern=r"^[0-9*#]$")]
AgentId = Annotated[str, BeforeValidator(_text), StringConstraints(pattern=r"^[0-9]{1,32}$")]
Ranges = tuple[TimeRange, ...]


def _region(value: str) -> str:
    if not is_known_region(value):
        raise ValueError(f"unknown region {value!r} (an ISO 3166 code such as CN, US, GB)")
    return value.upper()


Region = Annotated[str, AfterValidator(_region)]


class PacingMode(enum.StrEnum):
    """How the campaign dials (the values of `pacing.Mode`)."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"


class PacingConfig(_Section):
    """The `pacing:` section: mode and the pacing model's settings."""

    mode: PacingMode = PacingMode.PREDICTIVE
    target_abandon_rate: float | None = Field(default=None, gt=0, lt=1)
    abandon_limit: float | None = Field(default=None, gt=0, lt=1)
    confidence: float = Field(default=0.95, ge=0.5, lt=1)
    power_lines_per_agent: float = Field(default=1.5, ge=1)
    amd_overrun: float = Field(default=0.8, ge=0)
    amd_false_positive_estimate: float | None = Field(default=None, ge=0, lt=1)
    horizon_step: float = Field(default=0.5, ge=0.05, le=2.0)
    min_outcomes: int = Field(default=60, ge=0)
    min_answers: int = Field(default=10, ge=0)
    min_handles: int = Field(default=10, ge=0)


class HoursConfig(_Section):
    """`calling_hours:` ranges per day; a day's own key beats `weekdays`/`weekend`, which
    beat `daily`; a day named nowhere keeps the profile's hours. `[]` = no calls."""

    daily: Ranges | None = None
    weekdays: Ranges | None = None
    weekend: Ranges | None = None
    mon: Ranges | None = None
    tue: Ranges | None = None
    wed: Ranges | None = None
    thu: Ranges | None = None
    fri: Ranges | None = None
    sat: Ranges | None = None
    sun: Ranges | None = None

    def source_of(self, day: str) -> str | None:
        """The key whose ranges apply on `day` (None: the profile's hours)."""
        group = "weekend" if day in ("sat", "sun") else "weekdays"
        for key in (day, group, "daily"):
            if getattr(self, key) is not None:
                return key
        return None

    def resolve(self, base: CallingHours) -> CallingHours:
        """These hours on top of the profile's."""
        days = {}
        for day in WEEKDAYS:
            key = self.source_of(day)
            days[day] = getattr(base, day) if key is None else getattr(self, key)
        return CallingHours.model_validate(days)


class RetryRules(_Section):
    """`retries:` the wait before a lead is offered again, by outcome; `null` = never.

    The wait is never shorter than the gap the caps impose on the number (4 h by
    default; the abandon gap after an abandoned call, 72 h under `uk`).
    """

    busy: Duration | None = timedelta(minutes=30)
    no_answer: Duration | None = timedelta(hours=2)
    machine: Duration | None = timedelta(days=1)
    failed: Duration | None = timedelta(hours=1)
    abandoned: Duration | None = timedelta(days=1)
    cancelled: Duration | None = timedelta(minutes=30)
    connected: Duration | None = None
    declined: Duration | None = None
    invalid_number: Duration | None = None


class CapsConfig(_Section):
    """`caps:` attempt limits; each may only tighten the profile's."""

    per_number_daily: int | None = Field(default=None, ge=1)
    min_gap_hours: float | None = Field(default=None, ge=0)
    gap_after_abandon_hours: float | None = Field(default=None, ge=0)
    per_lead_lifetime: int | None = Field(default=None, ge=1)


class NumberFormat(enum.StrEnum):
    """How the callee's number is written in the SIP user part."""

    E164 = "e164"                # +8613812345678
    E164_DIGITS = "e164_digits"  # 8613812345678
    NATIONAL = "national"        # 13812345678 (the national form, digits only)


class TrunkConfig(_Section):
    """`trunk:` the endpoint template (`{number}` is replaced) and the number's format."""

    endpoint: str = Field(min_length=1, max_length=256)
    number_format: NumberFormat = NumberFormat.E164

    @model_validator(mode="after")
    def _one_placeholder(self) -> TrunkConfig:
        if self.endpoint.count("{number}") != 1:
            raise ValueError("endpoint must contain {number} exactly once, "
                             "e.g. PJSIP/{number}@customers")
        if not re.fullmatch(r"[A-Za-z0-9_]+/\S+", self.endpoint):
            raise ValueError("endpoint must look like TECH/resource, e.g. PJSIP/{number}@trunk")
        return self


class MachineAction(enum.StrEnum):
    """What happens when AMD says an answering machine picked up."""

    HANGUP = "hangup"
    LEAVE_MESSAGE = "leave_message"


class AmdConfig(_Section):
    """`amd:` answering-machine detection and what a machine gets."""

    enabled: bool = True
    machine_action: MachineAction = MachineAction.HANGUP
    message: SoundName | None = None
    notsure: Literal["human", "machine"] = "human"


class SafeHarbourConfig(_Section):
    """`safe_harbour:` the information message an abandoned callee hears (who called,
    a number to call back, no marketing)."""

    message: SoundName | None = None


class Disposition(_Section):
    """An agent's DTMF code for how a call ended: a refusal (DNC at once), final (the
    lead is done) or a retry after a while (a callback)."""

    code: DtmfCode
    name: Slug
    refusal: bool = False
    final: bool = False
    retry_after: Duration | None = None

    @property
    def ends_lead(self) -> bool:
        """True when the lead is never dialled again after this disposition."""
        return self.refusal or self.final


class PauseCode(_Section):
    """An agent's DTMF code to pause (with a reason) and resume."""

    code: DtmfCode
    name: Slug


DEFAULT_DISPOSITIONS = (
    Disposition(code="*9", name="refused", refusal=True),
    Disposition(code="*1", name="sale", final=True),
    Disposition(code="*2", name="callback", retry_after=timedelta(hours=4)),
    Disposition(code="*3", name="wrong_party", final=True),
)
DEFAULT_PAUSE_CODES = (PauseCode(code="*0", name="break"),)


class ConsentConfig(_Section):
    """`consent:` whether leads need a consent flag (None: as the profile says), and
    whether the import also needs evidence of it."""

    required: bool | None = None
    evidence_required: bool = False


class RecordingConfig(_Section):
    """`recording:` the policy `recordings.policy_of` reads (never, on demand with the
    agent's toggle code, or every connected call; an announcement played first)."""

    mode: RecordingMode = RecordingMode.NEVER
    consent_announcement: SoundName | None = None
    stereo: bool = False
    toggle_code: DtmfCode = DEFAULT_TOGGLE_CODE


class LinesConfig(_Section):
    """`lines:` hard limits on simultaneous calls, whatever pacing says."""

    max_lines: int | None = Field(default=None, ge=1)
    lines_per_agent: float = Field(default=3.0, ge=1)


class RetentionConfig(_Section):
    """`retention:` days per data class (never below the profile's legal minimum)."""

    call_records: int | None = Field(default=None, ge=0)
    dialled_numbers: int | None = Field(default=None, ge=0)
    recordings: int | None = Field(default=None, ge=0)

    def overrides(self) -> dict[str, int]:
        """The days given, by data class name (the store's retention overrides)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class CampaignConfig(_Section):
    """One campaign file. `id` names the campaign in its tenant (the store's name)."""

    id: Slug
    name: str = Field(default="", max_length=128)
    tenant: Slug = "default"
    profile: str = Field(default="cn", min_length=1, max_length=64)
    profile_file: str | None = None
    region: Region | None = None
    pacing: PacingConfig = PacingConfig()
    calling_hours: HoursConfig = HoursConfig()
    retries: RetryRules = RetryRules()
    caps: CapsConfig = CapsConfig()
    caller_id: str | None = None
    trunk: TrunkConfig
    ring_timeout: Duration | None = None
    amd: AmdConfig = AmdConfig()
    safe_harbour: SafeHarbourConfig = SafeHarbourConfig()
    opt_out_key: DtmfKey | None = "9"
    opt_out_confirmation: SoundName | None = None
    wrap_up_seconds: float = Field(default=10.0, ge=0, le=3600)
    dispositions: tuple[Disposition, ...] = DEFAULT_DISPOSITIONS
    pause_codes: tuple[PauseCode, ...] = DEFAULT_PAUSE_CODES
    consent: ConsentConfig = ConsentConfig()
    recording: RecordingConfig = RecordingConfig()
    lines: LinesConfig = LinesConfig()
    agents: tuple[AgentId, ...] | None = None
    retention: RetentionConfig = RetentionConfig()
    simulation: dict[str, Any] | None = None  # read by `dialer simulate` only

    @model_validator(mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value.get("name") and "id" in value:
            return {**value, "name": str(value["id"])}
        return value

    def agent_codes(self) -> dict[str, str]:
        """Every DTMF code an agent may key, mapped to what it is ('disposition refused')."""
        codes = {d.code: f"disposition {d.name}" for d in self.dispositions}
        codes.update({p.code: f"pause code {p.name}" for p in self.pause_codes})
        codes[self.recording.toggle_code] = "recording toggle"
        return codes

    def disposition(self, code_or_name: str) -> Disposition | None:
        """The disposition with this DTMF code or name, if any."""
        return next((d for d in self.dispositions if code_or_name in (d.code, d.name)), None)

    def pause_code(self, code: str) -> PauseCode | None:
        """The pause code keyed as `code`, if any."""
        return next((p for p in self.pause_codes if p.code == code), None)
