"""What a campaign file may not do under its compliance profile, and codes that clash.

`problems(config, profile)` lists every violation as (field path, reason), so a loader
can name the line of each. A campaign may narrow the profile's calling hours, tighten
its caps, require consent it does not, lower the abandon limit; never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from pydantic import ValidationError

from dialer.campaign.config import CampaignConfig, MachineAction, PacingMode
from dialer.compliance import (
    AttemptCaps,
    ComplianceProfile,
    DataClass,
    loosenings,
)
from dialer.yamlconf import Loc
from dnc import normalize
from recordings import PolicyError, policy_of

Problem = tuple[Loc, str]

MIN_RING_S = 15.0  # never give up on a ringing phone sooner (US, UK; our floor everywhere)

# The region of numbers written without a country code, for the built-in profiles.
PROFILE_REGIONS = {"cn": "CN", "us": "US", "uk": "GB", "ca": "CA"}


def default_region(config: CampaignConfig, profile: ComplianceProfile) -> str | None:
    """The campaign's region: its own, else its profile's (or the profile's base's)."""
    if config.region is not None:
        return config.region
    return PROFILE_REGIONS.get(profile.name) or PROFILE_REGIONS.get(profile.base or "")


def effective_caps(config: CampaignConfig, profile: ComplianceProfile) -> AttemptCaps:
    """The profile's caps with the campaign's own on top (may raise ValidationError)."""
    given = config.caps.model_dump(exclude_none=True)
    return AttemptCaps.model_validate({**profile.caps.model_dump(), **given})


def ring_timeout(config: CampaignConfig, profile: ComplianceProfile) -> float:
    """Seconds an unanswered call rings: the campaign's, else the profile's timeout."""
    if config.ring_timeout is not None:
        return config.ring_timeout.total_seconds()
    return profile.ring.no_answer_timeout_s


def abandon_limit(config: CampaignConfig, profile: ComplianceProfile) -> float:
    """The campaign's abandon limit: its own if given, else the profile's."""
    return config.pacing.abandon_limit or profile.abandon.limit


def target_abandon_rate(config: CampaignConfig, profile: ComplianceProfile) -> float:
    """What predictive pacing aims at: the campaign's, else the profile's pacing target."""
    if config.pacing.target_abandon_rate is not None:
        return config.pacing.target_abandon_rate
    return min(profile.abandon.pacing_target, abandon_limit(config, profile))


def amd_false_positive_estimate(config: CampaignConfig, profile: ComplianceProfile) -> float:
    """The share of machine verdicts counted as abandoned humans: the campaign's, else
    the profile's rate where the profile counts them (uk), else none."""
    given = config.pacing.amd_false_positive_estimate
    if given is not None:
        return given
    abandon = profile.abandon
    return abandon.amd_false_positive_rate if abandon.count_amd_false_positives else 0.0


def problems(config: CampaignConfig, profile: ComplianceProfile) -> list[Problem]:
    """Every rule of the profile the campaign breaks, and every clash among its codes."""
    found: list[Problem] = []
    for check in (_hours, _caps, _ring, _consent, _caller_id, _messages, _pacing, _codes,
                  _retention, _recording):
        found.extend(check(config, profile))
    return found


def _hours(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    hours = config.calling_hours.resolve(profile.calling_hours)
    seen: set[Loc] = set()
    for (day, i), reason in hours.loosening_from(profile.calling_hours):
        loc: Loc = ("calling_hours", config.calling_hours.source_of(str(day)) or str(day), i)
        if loc not in seen:
            seen.add(loc)
            yield loc, f"{reason}: a campaign may only narrow its profile's hours"


def _caps(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    try:
        caps = effective_caps(config, profile)
    except ValidationError as exc:
        yield ("caps",), exc.errors()[0]["msg"]
        return
    yield from loosenings(profile.caps, caps, ("caps",))


def _ring(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    floor = max(MIN_RING_S, profile.ring.min_ring_s)
    seconds = ring_timeout(config, profile)
    if seconds < floor:
        yield ("ring_timeout",), (f"{seconds:g} s is shorter than the minimum ring time of "
                                  f"{floor:g} s (profile {profile.name})")


def _consent(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    if profile.consent_required and config.consent.required is False:
        yield ("consent", "required"), (f"profile {profile.name} requires consent per lead; "
                                        "it cannot be switched off")


def _caller_id(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    if config.caller_id is None:
        if profile.caller_id_required:
            yield ("caller_id",), (f"required by profile {profile.name}: every call presents "
                                   "a real, returnable number")
        return
    number = normalize(config.caller_id, default_region(config, profile))
    if number.e164 is None:
        yield ("caller_id",), f"not a valid phone number ({number.reason})"


def _messages(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    if profile.abandon.information_message and config.safe_harbour.message is None:
        yield ("safe_harbour", "message"), (
            f"required by profile {profile.name}: a callee who is not connected within "
            f"{profile.abandon.connect_within_s:g} s hears who called and a number to call back")
    if profile.abandon.automated_opt_out and config.opt_out_key is None:
        yield ("opt_out_key",), (f"required by profile {profile.name}: the callee can opt out "
                                 "with a key press")
    if config.amd.machine_action is MachineAction.LEAVE_MESSAGE and config.amd.message is None:
        yield ("amd", "message"), "machine_action leave_message needs a message (a sound name)"
    if default_region(config, profile) is None:
        yield ("region",), (f"required: profile {profile.name} implies no region for numbers "
                            "written without a country code")


def _pacing(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    pacing = config.pacing
    limit = abandon_limit(config, profile)
    if pacing.abandon_limit is not None and pacing.abandon_limit > profile.abandon.limit:
        yield ("pacing", "abandon_limit"), (f"{pacing.abandon_limit} is above profile "
                                            f"{profile.name}'s limit {profile.abandon.limit}")
    if target_abandon_rate(config, profile) > limit:
        yield ("pacing", "target_abandon_rate"), (
            f"{pacing.target_abandon_rate} is above the abandon limit {limit}")
    estimate = pacing.amd_false_positive_estimate
    if profile.abandon.count_amd_false_positives and estimate is not None and \
            estimate < profile.abandon.amd_false_positive_rate:
        yield ("pacing", "amd_false_positive_estimate"), (
            f"{estimate} is below profile {profile.name}'s estimate "
            f"{profile.abandon.amd_false_positive_rate} (may only raise it)")
    if pacing.amd_overrun >= profile.abandon.connect_within_s:
        yield ("pacing", "amd_overrun"), (
            f"must be shorter than the {profile.abandon.connect_within_s:g} s in which a live "
            "callee must reach an agent")
    if pacing.mode is PacingMode.POWER and \
            pacing.power_lines_per_agent > config.lines.lines_per_agent:
        yield ("pacing", "power_lines_per_agent"), (
            f"{pacing.power_lines_per_agent} is above lines.lines_per_agent "
            f"{config.lines.lines_per_agent}")


def _codes(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    owners: list[tuple[str, Loc]] = [(d.code, ("dispositions", i, "code"))
                                     for i, d in enumerate(config.dispositions)]
    owners += [(p.code, ("pause_codes", i, "code")) for i, p in enumerate(config.pause_codes)]
    owners.append((config.recording.toggle_code, ("recording", "toggle_code")))
    for i, (code, loc) in enumerate(owners):
        for other, other_loc in owners[:i]:
            if code == other:
                yield loc, f"code {code!r} is already used at {_dotted(other_loc)}"
            elif code.startswith(other) or other.startswith(code):
                yield loc, (f"code {code!r} and {other!r} ({_dotted(other_loc)}) cannot be "
                            "told apart as they are keyed (one is a prefix of the other)")
    names: dict[str, int] = {}
    for i, d in enumerate(config.dispositions):
        if d.retry_after is not None and d.ends_lead:
            yield ("dispositions", i, "retry_after"), ("makes no sense on a refusal or final "
                                                       "disposition")
        if d.name in names:
            yield ("dispositions", i, "name"), f"name {d.name!r} is used twice"
        names.setdefault(d.name, i)
    if not any(d.refusal for d in config.dispositions):
        yield ("dispositions",), ("needs a refusal disposition (refusal: true): an agent "
                                  "must be able to record that the callee refused")


def _retention(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    for name, days in config.retention.overrides().items():
        minimum = profile.retention.rule(DataClass(name)).minimum_days
        if days < minimum:
            yield ("retention", name), (f"{days} days is below profile {profile.name}'s legal "
                                        f"minimum of {minimum} days")


def _recording(config: CampaignConfig, profile: ComplianceProfile) -> Iterator[Problem]:
    try:
        policy_of(config.recording,
                  announcement_required=profile.recording_announcement_required)
    except PolicyError as exc:
        yield ("recording", exc.field or "mode"), f"{exc.reason} (profile {profile.name})"


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def min_gap(caps: AttemptCaps, *, abandoned: bool) -> timedelta:
    """The shortest wait before a number is dialled again (after an abandon if so)."""
    hours = caps.gap_after_abandon_hours if abandoned else caps.min_gap_hours
    return timedelta(hours=hours)
