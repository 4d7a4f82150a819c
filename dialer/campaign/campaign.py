"""A campaign: its validated file bound to the compliance profile it names.

    campaign = load_campaign("examples/campaigns/cn-predictive.yaml")
    campaign.calling_hours      # the profile's hours, narrowed by the file
    campaign.caps               # the profile's caps, tightened by the file
    campaign.dial_string("+8613812345678")  # "PJSIP/8613812345678@customers"

Every error names the file, the line and the field. A campaign stored by
`dialer campaign load` keeps a snapshot (`Campaign.snapshot()`: the file's settings and
the whole profile), from which `Campaign.from_snapshot` rebuilds it without the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from pydantic import ValidationError

import pacing
from dialer.campaign import rules
from dialer.campaign.config import CampaignConfig, NumberFormat
from dialer.compliance import (
    BUILTIN_PROFILES,
    AbandonWindow,
    AttemptCaps,
    CallingHours,
    ComplianceProfile,
    load_profile,
)
from dialer.errors import ConfigError
from dialer.yamlconf import Loc, line_of, read_yaml, validation_error
from dnc import normalize

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign's configuration, its profile, and the values resolved from both."""

    config: CampaignConfig
    profile: ComplianceProfile
    calling_hours: CallingHours
    caps: AttemptCaps
    ring_timeout_s: float
    consent_required: bool
    region: str
    caller_id: str | None
    abandon_limit: float
    target_abandon_rate: float
    amd_false_positive_estimate: float
    source: Path | None = None

    @classmethod
    def build(cls, config: CampaignConfig, profile: ComplianceProfile, *,
              source: Path | None = None) -> Campaign:
        """Check `config` against `profile` and resolve it; `CampaignRuleError` if it breaks
        a rule (with every problem)."""
        found = rules.problems(config, profile)
        if found:
            raise CampaignRuleError(found)
        region = rules.default_region(config, profile)
        assert region is not None  # rules.problems reports a missing region
        caller_id = None
        if config.caller_id is not None:
            caller_id = normalize(config.caller_id, region).e164
        consent = config.consent.required
        return cls(
            config=config, profile=profile,
            calling_hours=config.calling_hours.resolve(profile.calling_hours),
            caps=rules.effective_caps(config, profile),
            ring_timeout_s=rules.ring_timeout(config, profile),
            consent_required=profile.consent_required if consent is None else consent,
            region=region, caller_id=caller_id,
            abandon_limit=rules.abandon_limit(config, profile),
            target_abandon_rate=rules.target_abandon_rate(config, profile),
            amd_false_positive_estimate=rules.amd_false_positive_estimate(config, profile),
            source=source)

    @property
    def id(self) -> str:
        """The campaign's name in its tenant (the file's `id`)."""
        return self.config.id

    @property
    def tenant(self) -> str:
        """The tenant's name."""
        return self.config.tenant

    def pacing_settings(self) -> pacing.PacingSettings:
        """The pacing model's settings: the file's `pacing:` section with the profile's
        abandon limit and connect time, the ring timeout and the line limits."""
        config = self.config
        return pacing.PacingSettings(
            mode=pacing.Mode(config.pacing.mode.value),
            target_abandon_rate=self.target_abandon_rate, abandon_limit=self.abandon_limit,
            confidence=config.pacing.confidence,
            lines_per_agent=min(config.pacing.power_lines_per_agent,
                                config.lines.lines_per_agent),
            max_lines_per_agent=config.lines.lines_per_agent,
            max_lines=config.lines.max_lines,
            connect_within=self.profile.abandon.connect_within_s,
            amd_overrun=config.pacing.amd_overrun, ring_timeout=self.ring_timeout_s,
            horizon_step=config.pacing.horizon_step, min_outcomes=config.pacing.min_outcomes,
            min_answers=config.pacing.min_answers, min_handles=config.pacing.min_handles)

    def abandon_windows(self) -> tuple[pacing.Window, ...]:
        """The profile's abandon-rate windows as `pacing.Window`s (calendar months in UTC)."""
        return tuple(_window(w) for w in self.profile.abandon.windows)

    def abandon_accounting(self) -> pacing.AbandonAccounting:
        """A fresh `pacing.AbandonAccounting` over the profile's windows, counting AMD
        false positives where the profile (or the file) says so."""
        return pacing.AbandonAccounting(
            self.abandon_windows(), amd_false_positive_rate=self.amd_false_positive_estimate)

    def serves(self, agent_id: str) -> bool:
        """True when the agent (its login id) may take this campaign's calls."""
        agents = self.config.agents
        return agents is None or agent_id in agents

    def dial_string(self, e164: str) -> str:
        """The endpoint to originate to for a number: the trunk template, filled in."""
        return self.config.trunk.endpoint.replace("{number}", self.sip_user(e164))

    def sip_user(self, e164: str) -> str:
        """The number as the trunk wants it in the SIP user part."""
        fmt = self.config.trunk.number_format
        if fmt is NumberFormat.E164:
            return e164
        if fmt is NumberFormat.E164_DIGITS:
            return e164.lstrip("+")
        national = phonenumbers.format_number(phonenumbers.parse(e164, None),
                                              phonenumbers.PhoneNumberFormat.NATIONAL)
        return "".join(c for c in national if c.isdigit())

    def snapshot(self) -> dict[str, Any]:
        """What the store keeps: the settings as loaded and the whole profile."""
        return {"version": SNAPSHOT_VERSION,
                "config": self.config.model_dump(mode="json"),
                "profile": self.profile.model_dump(mode="json"),
                "source": str(self.source) if self.source is not None else None}

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any], *, where: str = "stored campaign"
                      ) -> Campaign:
        """Rebuild a campaign from `snapshot()` (no file is read)."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ConfigError(f"not a campaign snapshot of version {SNAPSHOT_VERSION} "
                              "(load the campaign file again)", file=where)
        try:
            profile = ComplianceProfile.model_validate(snapshot["profile"])
            config = CampaignConfig.model_validate(snapshot["config"])
            source = snapshot.get("source")
            return cls.build(config, profile, source=Path(source) if source else None)
        except ValidationError as exc:
            raise validation_error(where, {}, exc) from exc
        except CampaignRuleError as exc:
            raise exc.config_error(where, {}) from exc


class CampaignRuleError(ValueError):
    """A campaign breaks its profile's rules; `problems` lists (field path, reason)."""

    def __init__(self, problems: list[rules.Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{_dotted(loc)}: {why}" for loc, why in problems))

    def config_error(self, path: str | Path, lines: dict[Loc, int]) -> ConfigError:
        """The first problem as a ConfigError naming its line, the others listed after."""
        (loc, reason), rest = self.problems[0], self.problems[1:]
        more = "".join(f"\n  {path}:{line_of(lines, sub)}: field '{_dotted(sub)}': {why}"
                       for sub, why in rest)
        return ConfigError(reason + more, file=path, line=line_of(lines, loc),
                           field=_dotted(loc))


def _window(window: AbandonWindow) -> pacing.Window:
    if window.hours is None:
        return pacing.Window(window.label, calendar_month=True)
    return pacing.Window(window.label, seconds=window.hours * 3600.0)


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def resolve_profile(data: Mapping[str, Any], lines: dict[Loc, int], path: Path,
                    profiles: Mapping[str, ComplianceProfile]) -> ComplianceProfile:
    """The profile a campaign file names: built-in or loaded, or its own `profile_file`
    (a custom profile YAML, relative to the campaign file)."""
    name = data.get("profile", "cn")
    if not isinstance(name, str):
        raise ConfigError("must be a profile name", file=path,
                          line=line_of(lines, ("profile",)), field="profile")
    profile_file = data.get("profile_file")
    if profile_file is not None:
        if not isinstance(profile_file, str):
            raise ConfigError("must be a file name", file=path,
                              line=line_of(lines, ("profile_file",)), field="profile_file")
        custom = load_profile(path.parent / profile_file, profiles)
        if "profile" in data and name != custom.name:
            raise ConfigError(f"names profile {name!r} but profile_file defines "
                              f"{custom.name!r}", file=path,
                              line=line_of(lines, ("profile",)), field="profile")
        return custom
    profile = profiles.get(name)
    if profile is None:
        raise ConfigError(f"unknown profile {name!r} (known: {', '.join(sorted(profiles))}; "
                          "a custom one needs profile_file)", file=path,
                          line=line_of(lines, ("profile",)) or 1, field="profile")
    return profile


def load_campaign(path: str | Path,
                  profiles: Mapping[str, ComplianceProfile] = BUILTIN_PROFILES) -> Campaign:
    """Read, validate and resolve a campaign file; ConfigError names file:line:field."""
    path = Path(path)
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a campaign file must be a mapping", file=path, line=1)
    profile = resolve_profile(data, lines, path, profiles)
    data = {**data, "profile": profile.name}
    # a section the file leaves out is reported at the top of the file
    lines = {**{(name,): 1 for name in CampaignConfig.model_fields}, **lines}
    try:
        config = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_error(path, lines, exc) from exc
    try:
        return Campaign.build(config, profile, source=path.resolve())
    except CampaignRuleError as exc:
        raise exc.config_error(path, lines) from exc
