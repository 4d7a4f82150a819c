"""Recording policy from campaign config, spool names and paths, WAV handling."""

from __future__ import annotations

import struct
import uuid
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from recording_support import write_wav

from recordings import (
    Layout,
    Leg,
    PolicyError,
    RecordingMode,
    SpoolName,
    merge_to_stereo,
    parse_spool_name,
    policy_of,
    repair_header,
    wav_info,
)


@dataclass
class RecordingConfig:
    mode: str = "all"
    consent_announcement: str | None = None
    stereo: bool = False
    toggle_code: str = "*7"


def test_policy_reads_objects_and_mappings_with_defaults() -> None:
    assert policy_of(None).mode is RecordingMode.NEVER
    assert not policy_of({"mode": "never"}).records
    policy = policy_of(RecordingConfig("on_demand", "conf-now-recording", True, "*8"))
    assert (policy.mode, policy.announcement_media, policy.stereo, policy.toggle_code) == \
        (RecordingMode.ON_DEMAND, "sound:conf-now-recording", True, "*8")
    assert policy_of({"mode": "all"}).toggle_code == "*7"
    assert policy_of({"mode": "all", "consent_announcement": "recording:consent"}) \
        .announcement_media == "recording:consent"


@pytest.mark.parametrize(("config", "field"), [
    ({"mode": "sometimes"}, "mode"),
    ({"mode": "all", "toggle_code": "*7x"}, "toggle_code"),
    ({"mode": "all", "consent_announcement": "a b"}, "consent_announcement"),
])
def test_a_bad_policy_names_its_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_of(config)
    assert info.value.field == field and str(info.value).startswith(f"recording.{field}:")


def test_a_profile_that_requires_the_announcement_refuses_a_policy_without_one() -> None:
    with pytest.raises(PolicyError, match="requires a consent announcement"):
        policy_of(RecordingConfig("all"), announcement_required=True)
    assert policy_of(RecordingConfig("never"), announcement_required=True).mode \
        is RecordingMode.NEVER
    assert policy_of(RecordingConfig("all", "conf-now-recording"),
                     announcement_required=True).records


def test_spool_names_round_trip_and_foreign_names_are_ignored() -> None:
    attempt = uuid.uuid4()
    for name in (SpoolName(attempt, 1), SpoolName(attempt, 12, Leg.AGENT)):
        assert parse_spool_name(name.stem) == name
    assert SpoolName(attempt, 3, Leg.CUSTOMER).whole == SpoolName(attempt, 3)
    for foreign in ("greeting", f"dialer-{attempt}", f"dialer-{attempt}-0",
                    f"dialer-{attempt}-1-x", f"dialer-{attempt}-1.wav"):
        assert parse_spool_name(foreign) is None


def test_final_paths_follow_campaign_and_the_attempts_month_in_utc(tmp_path: Path) -> None:
    attempt = uuid.uuid4()
    layout = Layout(tmp_path)
    late = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert layout.final_path(4, late, SpoolName(attempt, 2)) == \
        tmp_path / "4" / "2026" / "01" / f"{attempt}-2.wav.enc"


def test_a_header_left_unfinished_by_a_crash_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    write_wav(path, 1.0)
    raw = bytearray(path.read_bytes())
    raw[4:8] = struct.pack("<I", 0)
    raw[40:44] = struct.pack("<I", 0)                 # Asterisk died before closing it
    path.write_bytes(bytes(raw) + b"\x01")            # and half a sample at the end
    assert wav_info(path).duration_s == 1.0
    repair_header(path)
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 8000


def test_legs_of_different_lengths_merge_into_stereo(tmp_path: Path) -> None:
    left, right, out = tmp_path / "l.wav", tmp_path / "r.wav", tmp_path / "o.wav"
    write_wav(left, 0.5, tone_hz=300)
    write_wav(right, 0.25, tone_hz=500)
    info = merge_to_stereo(left, right, out)
    assert (info.channels, info.frames) == (2, 4000)
    with wave.open(str(out)) as wav:
        frames = wav.readframes(4000)
    samples = struct.unpack(f"<{8000}h", frames)
    assert samples[1::2][2000:] == (0,) * 2000            # the short leg is padded
    assert samples[0::2][:4000] == struct.unpack("<4000h",
                                                 left.read_bytes()[44:44 + 8000])
