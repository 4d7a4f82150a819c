"""Campaign files: defaults from the profile, tighten-only rules, errors at file:line:field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from campaign_support import MINIMAL, WriteFile

import pacing
from dialer.campaign import (
    Campaign,
    CampaignConfig,
    NumberFormat,
    PacingMode,
    format_duration,
    load_campaign,
    parse_duration,
)
from dialer.compliance import BUILTIN_PROFILES, load_profiles
from dialer.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "campaigns"


@pytest.mark.parametrize("name", ["cn-predictive", "us-progressive", "demo"])
def test_the_examples_load(name: str) -> None:
    campaign = load_campaign(EXAMPLES / f"{name}.yaml")
    assert campaign.source == (EXAMPLES / f"{name}.yaml").resolve()
    assert campaign.config.safe_harbour.message is not None


def test_the_cn_example_resolves_to_the_profile_narrowed() -> None:
    campaign = load_campaign(EXAMPLES / "cn-predictive.yaml")
    assert [r.text for r in campaign.calling_hours.mon] == ["09:30-12:00", "14:00-19:30"]
    assert [r.text for r in campaign.calling_hours.sat] == ["10:00-12:00"]
    assert campaign.calling_hours.sun == ()
    assert (campaign.caps.per_number_daily, campaign.caps.min_gap_hours,
            campaign.caps.per_lead_lifetime) == (2, 4.0, 5)
    assert campaign.consent_required and campaign.region == "CN"
    assert campaign.ring_timeout_s == 25.0 and campaign.caller_id == "+861058000000"
    assert campaign.config.pacing.mode is PacingMode.PREDICTIVE
    assert campaign.config.disposition("*9").refusal  # type: ignore[union-attr]
    assert campaign.config.disposition("callback").retry_after == timedelta(days=1)  # type: ignore[union-attr]
    assert campaign.config.pause_code("*8").name == "training"  # type: ignore[union-attr]
    assert campaign.config.agent_codes()["*7"] == "recording toggle"
    assert campaign.config.retention.overrides() == {"recordings": 90}
    assert campaign.serves("8001") and not campaign.serves("8009")


def test_defaults_come_from_the_profile(write: WriteFile) -> None:
    campaign = load_campaign(write(MINIMAL))
    cn = BUILTIN_PROFILES["cn"]
    assert campaign.config.name == "spring" and campaign.tenant == "default"
    assert campaign.calling_hours == cn.calling_hours and campaign.caps == cn.caps
    assert campaign.ring_timeout_s == cn.ring.no_answer_timeout_s
    assert campaign.consent_required is True and campaign.region == "CN"
    assert campaign.target_abandon_rate == cn.abandon.pacing_target
    assert campaign.abandon_limit == cn.abandon.limit
    assert [d.code for d in campaign.config.dispositions] == ["*9", "*1", "*2", "*3"]
    assert campaign.config.opt_out_key == "9" and campaign.config.amd.enabled
    assert campaign.serves("8009")  # no agents list: every agent of the tenant


def test_uk_defaults(write: WriteFile) -> None:
    body = MINIMAL.replace("id: spring", "id: spring\nprofile: uk") \
        .replace("+861012345678", "+442079460000")
    campaign = load_campaign(write(body))
    assert campaign.region == "GB" and not campaign.consent_required
    assert campaign.caps.gap_after_abandon_hours == 72


def test_a_custom_profile_file_relative_to_the_campaign(write: WriteFile) -> None:
    write("name: acme-cn\nbase: cn\ncaps: {per_number_daily: 2}\n",
          name="acme-cn.yaml")
    campaign = load_campaign(write(MINIMAL + "profile: acme-cn\nprofile_file: acme-cn.yaml\n"))
    assert campaign.profile.name == "acme-cn" and campaign.caps.per_number_daily == 2
    assert campaign.region == "CN"  # from the custom profile's base


def test_a_loaded_custom_profile_by_name(tmp_path: Path, write: WriteFile) -> None:
    profile = write("name: acme-cn\nbase: cn\n", name="p.yaml")
    campaign = load_campaign(write(MINIMAL + "profile: acme-cn\n"), load_profiles([profile]))
    assert campaign.profile.name == "acme-cn"


@pytest.mark.parametrize(("extra", "line", "field", "reason"), [
    ("colour: blue\n", 7, "colour", "Extra inputs are not permitted"),
    ("ring_timeout: 10s\n", 7, "ring_timeout", "shorter than the minimum ring time of 15 s"),
    ("ring_timeout: soon\n", 7, "ring_timeout", "expected a duration"),
    ("caps:\n  per_number_daily: 5\n", 8, "caps.per_number_daily", "may only lower it"),
    ("caps:\n  min_gap_hours: 1\n", 8, "caps.min_gap_hours", "may only raise it"),
    ("calling_hours:\n  daily: [\"08:00-12:00\"]\n", 8, "calling_hours.daily.0",
     "may only narrow"),
    ("calling_hours:\n  sat: [\"09:00-13:00\"]\n", 8, "calling_hours.sat.0", "outside"),
    ("calling_hours:\n  mon: [\"9-12\"]\n", 8, "calling_hours.mon.0", "HH:MM-HH:MM"),
    ("consent:\n  required: false\n", 8, "consent.required", "cannot be switched off"),
    ("pacing:\n  target_abandon_rate: 0.04\n", 8, "pacing.target_abandon_rate",
     "above the abandon limit"),
    ("pacing:\n  abandon_limit: 0.05\n", 8, "pacing.abandon_limit", "above profile cn"),
    ("pacing:\n  mode: turbo\n", 8, "pacing.mode", "Input should be"),
    ("pacing:\n  amd_overrun: 2.5\n", 8, "pacing.amd_overrun", "must be shorter"),
    ("pacing:\n  mode: power\n  power_lines_per_agent: 4\n", 9,
     "pacing.power_lines_per_agent", "above lines.lines_per_agent"),
    ("amd:\n  machine_action: leave_message\n", 7, "amd.message", "needs a message"),
    ("opt_out_key: \"99\"\n", 7, "opt_out_key", "String should match"),
    ("retention:\n  call_records: 10\n", 8, "retention.call_records", "legal minimum of 30"),
    ("region: XX\n", 7, "region", "unknown region"),
    ("dispositions:\n  - {code: \"*1\", name: sale, final: true}\n", 7, "dispositions",
     "needs a refusal disposition"),
    (("dispositions:\n  - {code: \"*9\", name: nope, refusal: true}\n"
     "  - {code: \"*91\", name: other}\n"), 9, "dispositions.1.code", "prefix"),
    (("dispositions:\n  - {code: \"*9\", name: nope, refusal: true}\n"
     "  - {code: \"*8\", name: nope}\n"), 9, "dispositions.1.name", "used twice"),
    ("dispositions:\n  - {code: \"*9\", name: nope, refusal: true, retry_after: 2h}\n", 8,
     "dispositions.0.retry_after", "makes no sense"),
    ("dispositions:\n  - {code: \"*9\", name: no, refusal: true}\n", 8,
     "dispositions.0.name", "valid string"),
    ("pause_codes:\n  - {code: \"*9\", name: lunch}\n", 8, "pause_codes.0.code",
     "already used at dispositions.0.code"),
    ("recording:\n  toggle_code: \"*1\"\n", 8, "recording.toggle_code", "already used"),
    ("agents: [\"8001\", \"x\"]\n", 7, "agents.1", "String should match"),
])
def test_errors_name_the_file_line_and_field(write: WriteFile, extra: str, line: int,
                                             field: str, reason: str) -> None:
    path = write(MINIMAL + extra)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), line, field)
    assert reason in info.value.reason


@pytest.mark.parametrize(("body", "line", "field", "reason"), [
    ("id: x\ncaller_id: \"+861012345678\"\nsafe_harbour: {message: m}\n", 1, "trunk",
     "Field required"),
    ("id: x\ntrunk: {endpoint: \"PJSIP/{number}@t\"}\nsafe_harbour: {message: m}\n", 1,
     "caller_id", "required by profile cn"),
    (("id: x\ncaller_id: \"12345\"\ntrunk: {endpoint: \"PJSIP/{number}@t\"}\n"
     "safe_harbour: {message: m}\n"), 2, "caller_id", "not a valid phone number"),
    ("id: x\ncaller_id: \"+861012345678\"\ntrunk: {endpoint: \"PJSIP/{number}@t\"}\n", 1,
     "safe_harbour.message", "required by profile cn"),
    (("id: x\ncaller_id: \"+861012345678\"\ntrunk: {endpoint: \"PJSIP/@t\"}\n"
     "safe_harbour: {message: m}\n"), 3, "trunk", "{number} exactly once"),
    (("id: x\nprofile: us\ncaller_id: \"+12015550123\"\nopt_out_key: null\n"
     "trunk: {endpoint: \"PJSIP/{number}@t\"}\nsafe_harbour: {message: m}\n"), 4,
     "opt_out_key", "required by profile us"),
    ("id: x\nprofile: zz\n", 2, "profile", "unknown profile 'zz'"),
    ("- just\n- a list\n", 1, None, "must be a mapping"),
])
def test_whole_file_errors(write: WriteFile, body: str, line: int, field: str | None,
                           reason: str) -> None:
    path = write(body)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    assert (info.value.line, info.value.field) == (line, field)
    assert reason in info.value.reason


def test_every_problem_is_listed_not_only_the_first(write: WriteFile) -> None:
    path = write(MINIMAL + "ring_timeout: 5\ncaps: {per_lead_lifetime: 9}\n")
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    assert info.value.field == "caps.per_lead_lifetime"
    assert f"{path}:7: field 'ring_timeout'" in str(info.value)


def test_a_profile_file_naming_another_profile(write: WriteFile) -> None:
    write("name: acme-cn\nbase: cn\n", name="acme.yaml")
    path = write(MINIMAL + "profile: other\nprofile_file: acme.yaml\n")
    with pytest.raises(ConfigError, match="defines 'acme-cn'") as info:
        load_campaign(path)
    assert (info.value.line, info.value.field) == (7, "profile")


def test_a_looser_custom_profile_is_refused_in_its_own_file(write: WriteFile) -> None:
    profile = write("name: loose\nbase: cn\ncaps: {per_number_daily: 9}\n", name="loose.yaml")
    with pytest.raises(ConfigError) as info:
        load_campaign(write(MINIMAL + "profile_file: loose.yaml\n"))
    assert (info.value.file, info.value.line) == (str(profile), 3)


def test_a_required_recording_announcement(write: WriteFile) -> None:
    write("name: strict\nbase: us\nrecording_announcement_required: true\n", name="s.yaml")
    body = MINIMAL.replace("+861012345678", "+12015550123") + \
        "profile_file: s.yaml\nrecording: {mode: all}\n"
    with pytest.raises(ConfigError, match="requires a consent announcement") as info:
        load_campaign(write(body))
    assert (info.value.line, info.value.field) == (8, "recording.consent_announcement")
    ok = body.replace("{mode: all}", "{mode: all, consent_announcement: beep}")
    assert load_campaign(write(ok)).config.recording.consent_announcement == "beep"


@pytest.mark.parametrize(("fmt", "number", "user"), [
    ("e164", "+8613812345678", "+8613812345678"),
    ("e164_digits", "+8613812345678", "8613812345678"),
    ("national", "+8613812345678", "13812345678"),
    ("national", "+861012345678", "01012345678"),
    ("national", "+12015550123", "2015550123"),
])
def test_dial_strings(write: WriteFile, fmt: str, number: str, user: str) -> None:
    body = MINIMAL.replace('endpoint: "PJSIP/{number}@customers"',
                           f'endpoint: "PJSIP/{{number}}@customers"\n  number_format: {fmt}')
    campaign = load_campaign(write(body))
    assert campaign.config.trunk.number_format is NumberFormat(fmt)
    assert campaign.dial_string(number) == f"PJSIP/{user}@customers"


def test_the_snapshot_rebuilds_the_same_campaign() -> None:
    campaign = load_campaign(EXAMPLES / "cn-predictive.yaml")
    again = Campaign.from_snapshot(campaign.snapshot())
    assert again == campaign
    assert again.config.retries.machine == timedelta(days=1)


def test_a_bad_snapshot_is_a_config_error() -> None:
    campaign = load_campaign(EXAMPLES / "cn-predictive.yaml")
    with pytest.raises(ConfigError, match="version"):
        Campaign.from_snapshot({**campaign.snapshot(), "version": 99}, where="campaign 3")
    broken = campaign.snapshot()
    broken["config"]["ring_timeout"] = "1s"
    with pytest.raises(ConfigError, match="minimum ring time") as info:
        Campaign.from_snapshot(broken, where="campaign 3")
    assert info.value.file == "campaign 3"


def test_codes_read_as_numbers_become_text(write: WriteFile) -> None:
    campaign = load_campaign(write(MINIMAL + "opt_out_key: 9\nagents: [8001, 8002]\n"))
    assert campaign.config.opt_out_key == "9" and campaign.config.agents == ("8001", "8002")


def test_an_unknown_simulation_section_is_kept_for_the_simulator(write: WriteFile) -> None:
    campaign = load_campaign(write(MINIMAL + "simulation:\n  agents: {count: 5}\n"))
    assert campaign.config.simulation == {"agents": {"count": 5}}


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
    ("1.5h", 5400), (45, 45), ("PT2H", 7200), ("1w", 604800)])
def test_durations(text: str | int, seconds: int) -> None:
    parsed = CampaignConfig.model_validate(
        {"id": "x", "trunk": {"endpoint": "PJSIP/{number}@t"}, "ring_timeout": text}).ring_timeout
    assert parsed == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == \
        timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "2x", "h", True, "-5m"])
def test_bad_durations(text: str | bool) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_pacing_settings_from_the_file_and_profile() -> None:
    campaign = load_campaign(EXAMPLES / "cn-predictive.yaml")
    settings = campaign.pacing_settings()
    assert settings == pacing.PacingSettings(
        mode=pacing.Mode.PREDICTIVE, target_abandon_rate=0.02, abandon_limit=0.03,
        confidence=0.95, lines_per_agent=1.5, max_lines_per_agent=3.0, max_lines=40,
        connect_within=2.0, amd_overrun=0.8, ring_timeout=25.0)
    progressive = load_campaign(EXAMPLES / "us-progressive.yaml").pacing_settings()
    assert progressive.mode is pacing.Mode.PROGRESSIVE
    assert progressive.lines_per_agent == progressive.max_lines_per_agent == 1.0


@pytest.mark.parametrize(("profile", "caller", "windows", "estimate"), [
    ("cn", "+861012345678", [("24h", 86400.0), ("30d", 2592000.0)], 0.0),
    ("us", "+12015550123", [("30d", 2592000.0)], 0.0),
    ("uk", "+442079460000", [("24h", 86400.0)], 0.01),
    ("ca", "+16135550123", [("calendar month", None)], 0.0)])
def test_abandon_windows_and_accounting(write: WriteFile, profile: str, caller: str,
                                        windows: list[tuple[str, float | None]],
                                        estimate: float) -> None:
    body = MINIMAL.replace("+861012345678", caller) + f"profile: {profile}\n"
    campaign = load_campaign(write(body))
    assert [(w.name, w.seconds) for w in campaign.abandon_windows()] == windows
    assert campaign.amd_false_positive_estimate == estimate
    accounting = campaign.abandon_accounting()
    assert accounting.fp_rate == estimate and len(accounting.windows) == len(windows)


def test_the_false_positive_estimate_may_only_rise_under_uk(write: WriteFile) -> None:
    body = MINIMAL.replace("+861012345678", "+442079460000") + "profile: uk\n"
    raised = load_campaign(write(body + "pacing: {amd_false_positive_estimate: 0.04}\n"))
    assert raised.amd_false_positive_estimate == 0.04
    with pytest.raises(ConfigError, match="may only raise it") as info:
        load_campaign(write(body + "pacing: {amd_false_positive_estimate: 0.001}\n"))
    assert info.value.field == "pacing.amd_false_positive_estimate"
