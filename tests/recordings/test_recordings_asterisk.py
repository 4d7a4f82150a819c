"""Recording real calls: the local Asterisk 22, SIPp customers and agent phones.

Each test drives a call as the engine would — originate to a SIPp customer, bridge it
with a logged-in SIPp agent — and calls the recorder's hooks (`bridged`, `agent_code`,
`ended`) at the moments the engine does.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rig

from ari_bridge import AriClient, ChannelDtmfReceived, Connected, StasisStart, Subscription
from dialer.compliance import BUILTIN_PROFILES
from dialer.keys import Keyring, new_keyring
from dialer.recorder import CallRecordingState, Recorder
from dialer.store import CampaignInfo, NewAttempt, Purger, Store
from dialer.store.recordings import indexed_file
from recordings import AriRecordingControl, RecordingTampered, Vault

pytestmark = pytest.mark.asterisk

NUMBER = "+8613812345678"


@dataclass
class CampaignConfig:
    recording: dict[str, Any]
    profile: str = "uk"


@dataclass
class Rig:
    ari: AriClient
    store: Store
    campaign: CampaignInfo
    vault: Vault
    recorder: Recorder
    keyring: Keyring
    asterisk: rig.AsteriskInstance


@pytest.fixture
async def setup(asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess,
                tmp_path: Path) -> AsyncIterator[Rig]:
    keyring = new_keyring()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}", keyring,
                             node_id="n1", linger_s=0.001)
    now = datetime.now(UTC)
    tenant = await store.tenants.create("acme", now=now)
    campaign = await store.campaigns.create(tenant.id, "spring", "uk", now=now,
                                            retention_overrides={"recordings": 1})
    try:
        async with AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password,
                             "dialer") as ari:
            assert isinstance(await ari.unowned.get(timeout=5), Connected)
            vault = Vault(tmp_path / "recordings", asterisk.recording_dir, keyring,
                          store.recordings, node_id="n1")
            recorder = Recorder(AriRecordingControl(ari), vault)
            try:
                yield Rig(ari, store, campaign, vault, recorder, keyring, asterisk)
            finally:
                await recorder.close()
    finally:
        await store.close()


async def login(setup: Rig, start_agent: Callable[..., rig.SippProcess], agent_id: str,
                dtmf: list[tuple[float, str]] | None = None) -> tuple[str, Subscription]:
    """Start an agent phone and wait until its login call is in the application."""
    await setup.ari.subscribe_source(f"endpoint:PJSIP/{agent_id}")
    start_agent(agent_id, "1357", dtmf=dtmf or [])
    event = await setup.ari.unowned.wait_for(
        StasisStart, timeout=15, where=lambda e: e.args[:2] == ("agent-login", agent_id))
    return event.channel.id, setup.ari.subscribe(event.channel.id)


async def connect(setup: Rig, agent_channel: str) -> tuple[uuid.UUID, str, str]:
    """Originate to a SIPp human, wait for the answer, bridge it with the agent."""
    attempt = await setup.store.create_attempt(NewAttempt(setup.campaign.id, NUMBER,
                                                          datetime.now(UTC)))
    customer = str(uuid.uuid4())
    call = setup.ari.subscribe(customer)
    user = f"1{uuid.uuid4().int % 10**9:09d}"
    await setup.ari.originate(f"PJSIP/{user}@{setup.asterisk.trunk}", channel_id=customer,
                              context="dialer-outbound", extension="s", priority=1,
                              variables={"DIALER_ATTEMPT": str(attempt), "DIALER_AMD": "off"},
                              timeout=20)
    await call.wait_for(StasisStart, timeout=20)
    call.close()
    bridge = str(uuid.uuid4())
    await setup.ari.create_bridge(bridge)
    await setup.ari.add_to_bridge(bridge, agent_channel)
    await setup.ari.add_to_bridge(bridge, customer)
    return attempt, bridge, customer


async def hang_up(setup: Rig, bridge: str, *channels: str) -> None:
    for channel in channels:
        await setup.ari.hangup(channel)
    await setup.ari.destroy_bridge(bridge)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll a condition every 20 ms until it holds (TimeoutError after `timeout`)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def spool_leftovers(setup: Rig, attempt: uuid.UUID) -> list[Path]:
    return [p for p in setup.asterisk.recording_dir.iterdir() if str(attempt) in p.name] + \
        [p for p in setup.vault.layout.incoming.iterdir()]


def decrypt(setup: Rig, row: Any, out: Path) -> wave.Wave_read:
    with out.open("wb") as dst:
        setup.vault.decrypt_to(indexed_file(row), dst)
    return wave.open(str(out))


async def test_a_recorded_call_is_encrypted_decrypts_to_its_length_and_expires(
        setup: Rig, sipp_agents: Callable[..., rig.SippProcess], tmp_path: Path) -> None:
    agent, _ = await login(setup, sipp_agents, "8011")
    attempt, bridge, customer = await connect(setup, agent)
    bridged = time.monotonic()
    await setup.recorder.bridged(attempt, bridge, customer, agent,
                                 CampaignConfig({"mode": "all"}))
    await asyncio.sleep(3.0)        # the call's length is what the recording must match
    ended = time.monotonic()
    await setup.recorder.ended(attempt)
    await hang_up(setup, bridge, customer)
    await setup.recorder.settled(attempt)
    [row] = await setup.store.recordings.for_attempt(attempt)
    path = Path(row.path)
    assert path.is_relative_to(setup.vault.layout.root) and path.read_bytes()[:4] == b"DREC"
    assert spool_leftovers(setup, attempt) == []              # no plaintext anywhere
    with decrypt(setup, row, tmp_path / "call.wav") as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
    assert abs(seconds - (ended - bridged)) <= 0.5, (seconds, ended - bridged)
    assert abs(row.duration_s - seconds) < 0.01

    tampered = bytearray(path.read_bytes())
    tampered[len(tampered) // 2] ^= 0x40
    path.write_bytes(bytes(tampered))
    with pytest.raises(RecordingTampered, match="authentication failed"):
        setup.vault.decrypt_to(indexed_file(row), io.BytesIO())

    purger = Purger(setup.store, BUILTIN_PROFILES)
    [early] = await purger.run(row.created_at + timedelta(hours=23))
    assert ("recordings", "delete") not in early.counts and path.exists()
    [due] = await purger.run(row.created_at + timedelta(days=1, minutes=1))
    assert due.counts[("recordings", "delete")] == 1 and not path.exists()
    assert (await setup.store.recordings.get(row.id)).state == "deleted"
    await setup.ari.hangup(agent)


async def test_on_demand_recording_starts_and_stops_on_the_agents_dtmf(
        setup: Rig, sipp_agents: Callable[..., rig.SippProcess], tmp_path: Path) -> None:
    agent, keys = await login(setup, sipp_agents, "8012", dtmf=[(7.0, "*7"), (11.0, "*7")])
    attempt, bridge, customer = await connect(setup, agent)
    await setup.recorder.bridged(attempt, bridge, customer, agent,
                                 CampaignConfig({"mode": "on_demand", "toggle_code": "*7"}))
    assert setup.recorder.state(attempt) is CallRecordingState.IDLE
    toggled = []
    while len(toggled) < 2:          # the engine's part: digits → codes → the hooks
        star = await keys.wait_for(ChannelDtmfReceived, timeout=20, where=lambda e: e.digit == "*")
        digit = await keys.wait_for(ChannelDtmfReceived, timeout=5)
        assert await setup.recorder.agent_code(attempt, "*" + digit.digit)
        toggled.append(time.monotonic())
        assert star.channel.id == agent
    await setup.recorder.ended(attempt)
    await hang_up(setup, bridge, customer, agent)
    await setup.recorder.settled(attempt)
    [row] = await setup.store.recordings.for_attempt(attempt)
    assert row.segment == 1
    with decrypt(setup, row, tmp_path / "segment.wav") as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert abs(seconds - (toggled[1] - toggled[0])) <= 0.5, (seconds, toggled)
    assert spool_leftovers(setup, attempt) == []


async def test_stereo_records_each_leg_after_the_consent_announcement(
        setup: Rig, sipp_agents: Callable[..., rig.SippProcess], tmp_path: Path) -> None:
    agent, _ = await login(setup, sipp_agents, "8013")
    attempt, bridge, customer = await connect(setup, agent)
    bridged = time.monotonic()
    config = {"mode": "all", "stereo": True, "consent_announcement": "conf-now-recording"}
    await setup.recorder.bridged(attempt, bridge, customer, agent, CampaignConfig(config))
    await until(lambda: setup.recorder.state(attempt) is CallRecordingState.ANNOUNCING)
    await until(lambda: setup.recorder.state(attempt) is CallRecordingState.RECORDING)
    recording = time.monotonic()
    assert recording - bridged > 1.0          # "conf-now-recording" played first
    await asyncio.sleep(2.0)        # the recording's length is what is measured here
    ended = time.monotonic()
    await setup.recorder.ended(attempt)
    await hang_up(setup, bridge, customer, agent)
    await setup.recorder.settled(attempt)
    [row] = await setup.store.recordings.for_attempt(attempt)
    assert row.channels == 2
    with decrypt(setup, row, tmp_path / "stereo.wav") as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 2
    assert abs(seconds - (ended - recording)) <= 0.5, (seconds, ended - recording)
    assert spool_leftovers(setup, attempt) == []
