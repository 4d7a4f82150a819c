"""The engine's recorder: policies, the agent's toggle, consent, stereo, archiving, and the
store as the recordings' index (both databases)."""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.keys import Keyring, new_keyring
from dialer.recorder import PROFILE_FLAG, CallRecordingState, Recorder
from dialer.store import CampaignInfo, NewAttempt, Store
from dialer.store.recordings import indexed_file
from recordings import NewRecording, Vault

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NUMBER = "+8613812345678"


@dataclass
class FakeControl:
    """A RecordingControl that writes a WAV into the spool when a recording stops."""

    spool: Path
    calls: list[tuple[str, ...]] = field(default_factory=list)
    announce_ok: bool = True
    hold_announcement: asyncio.Event | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _log(self, *entry: str) -> None:
        async with self.changed:
            self.calls.append(entry)
            self.changed.notify_all()

    async def until(self, test: Callable[[list[tuple[str, ...]]], bool]) -> None:
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: test(self.calls))

    async def announce(self, target: str, media: str, *, playback_id: str,
                       timeout_s: float) -> bool:
        await self._log("announce", target, media)
        if self.hold_announcement is not None:
            await self.hold_announcement.wait()
        return self.announce_ok

    async def snoop(self, channel_id: str, snoop_id: str, *, attempt: str,
                    timeout_s: float) -> None:
        await self._log("snoop", channel_id)

    async def start(self, target: str, name: str) -> None:
        await self._log("start", target.split(":")[0], name)

    async def stop(self, name: str, *, timeout_s: float) -> bool:
        with wave.open(str(self.spool / f"{name}.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(b"\x01\x00" * 8000)
        await self._log("stop", name)
        return True

    async def hangup(self, channel_id: str, *, timeout_s: float) -> None:
        await self._log("hangup", channel_id)


@dataclass
class Campaign:
    recording: Any
    profile: str = "cn"


@dataclass
class Profile:
    recording_announcement_required: bool = False


@pytest.fixture
def keyring() -> Keyring:
    return new_keyring()


@pytest.fixture
async def store(db_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    opened = await Store.open(db_url, keyring, node_id="n1", linger_s=0.001)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def campaign(store: Store) -> CampaignInfo:
    tenant = await store.tenants.create("acme", now=NOW)
    return await store.campaigns.create(tenant.id, "spring", "cn", now=NOW)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


@pytest.fixture
def control(spool: Path) -> FakeControl:
    return FakeControl(spool)


@pytest.fixture
async def recorder(store: Store, keyring: Keyring, control: FakeControl, spool: Path,
                   tmp_path: Path) -> AsyncIterator[Recorder]:
    vault = Vault(tmp_path / "recordings", spool, keyring, store.recordings, node_id="n1")
    rec = Recorder(control, vault, profiles={"strict": Profile(True), "cn": Profile(False)})
    try:
        yield rec
    finally:
        await rec.close()


async def new_attempt(store: Store, campaign: CampaignInfo) -> uuid.UUID:
    return await store.create_attempt(NewAttempt(campaign.id, NUMBER, NOW))


async def test_mode_all_records_the_bridge_and_archives_it(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl,
        spool: Path, keyring: Keyring) -> None:
    attempt = await new_attempt(store, campaign)
    await recorder.bridged(attempt, "B1", "C1", "A1", Campaign({"mode": "all"}))
    await control.until(lambda calls: ("start", "bridge", f"dialer-{attempt}-1") in calls)
    assert recorder.state(attempt) is CallRecordingState.RECORDING
    await recorder.ended(attempt)
    await recorder.settled(attempt)
    [row] = await store.recordings.for_attempt(attempt)
    assert (row.segment, row.channels, row.node_id, row.key_id, row.duration_s) == \
        (1, 1, "n1", keyring.active, 1.0)
    assert row.path.endswith(f"/{campaign.id}/2026/03/{attempt}-1.wav.enc")
    assert list(spool.iterdir()) == []
    out = io.BytesIO()
    recorder_vault = Vault(Path(row.path).parents[3], spool, keyring, store.recordings,
                           node_id="n1")
    recorder_vault.decrypt_to(indexed_file(row), out)
    assert out.getvalue()[:4] == b"RIFF"
    assert (await store.recordings.search(number_hash=store.hasher.digest(NUMBER))) == [row]


async def test_mode_never_and_unknown_calls_are_left_alone(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl) -> None:
    attempt = await new_attempt(store, campaign)
    await recorder.bridged(attempt, "B1", "C1", "A1", Campaign({"mode": "never"}))
    assert recorder.state(attempt) is None
    assert not await recorder.agent_code(attempt, "*7")
    await recorder.ended(attempt)
    await recorder.bridged(attempt, "B1", "C1", "A1", Campaign(None))
    assert control.calls == []


async def test_on_demand_segments_start_and_stop_on_the_agents_code(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl) -> None:
    attempt = await new_attempt(store, campaign)
    policy = Campaign({"mode": "on_demand", "toggle_code": "*7"})
    await recorder.bridged(attempt, "B1", "C1", "A1", policy)
    assert recorder.state(attempt) is CallRecordingState.IDLE
    assert not await recorder.agent_code(attempt, "*9")       # a disposition, not ours
    for segment in (1, 2):
        assert await recorder.agent_code(attempt, "*7")
        await control.until(lambda c, s=segment: ("start", "bridge",
                                                  f"dialer-{attempt}-{s}") in c)
        assert await recorder.agent_code(attempt, "*7")
        await control.until(lambda c, s=segment: ("stop", f"dialer-{attempt}-{s}") in c)
    assert await recorder.agent_code(attempt, "*7")
    await control.until(lambda c: ("start", "bridge", f"dialer-{attempt}-3") in c)
    await recorder.ended(attempt)                               # stops segment 3
    await recorder.settled(attempt)
    rows = await store.recordings.for_attempt(attempt)
    assert [r.segment for r in rows] == [1, 2, 3]


async def test_the_consent_announcement_plays_to_the_bridge_before_recording(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl) -> None:
    attempt = await new_attempt(store, campaign)
    config = {"mode": "on_demand", "consent_announcement": "conf-now-recording"}
    await recorder.bridged(attempt, "B1", "C1", "A1", Campaign(config))
    for segment in (1, 2):                  # the announcement plays once per call
        await recorder.agent_code(attempt, "*7")
        await control.until(lambda c, s=segment: sum(e[0] == "start" for e in c) == s)
        await recorder.agent_code(attempt, "*7")
        await control.until(lambda c, s=segment: sum(e[0] == "stop" for e in c) == s)
    await recorder.ended(attempt)
    await recorder.settled(attempt)
    kinds = [c[0] for c in control.calls]
    assert kinds == ["announce", "start", "stop", "start", "stop"]
    assert control.calls[0] == ("announce", "bridge:B1", "sound:conf-now-recording")


async def test_no_recording_when_the_announcement_fails_or_the_call_ends_during_it(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl) -> None:
    config = Campaign({"mode": "all", "consent_announcement": "no-such-sound"})
    control.announce_ok = False
    failed = await new_attempt(store, campaign)
    await recorder.bridged(failed, "B1", "C1", "A1", config)
    await control.until(lambda c: len(c) == 1)
    await recorder.ended(failed)
    await recorder.settled(failed)
    control.announce_ok = True
    control.hold_announcement = asyncio.Event()
    hung_up = await new_attempt(store, campaign)
    await recorder.bridged(hung_up, "B2", "C2", "A2", config)
    await control.until(lambda c: len(c) == 2)
    assert recorder.state(hung_up) is CallRecordingState.ANNOUNCING
    await recorder.ended(hung_up)
    await recorder.settled(hung_up)
    assert [c[0] for c in control.calls] == ["announce", "announce"]
    assert await store.recordings.for_attempt(failed) == []
    assert await store.recordings.for_attempt(hung_up) == []


async def test_a_profile_requiring_consent_blocks_recording_without_an_announcement(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl) -> None:
    attempt = await new_attempt(store, campaign)
    await recorder.bridged(attempt, "B1", "C1", "A1",
                           Campaign({"mode": "all"}, profile="strict"))
    assert recorder.state(attempt) is None and control.calls == []
    assert PROFILE_FLAG == "recording_announcement_required"


async def test_stereo_snoops_each_leg_and_stores_one_two_channel_file(
        store: Store, campaign: CampaignInfo, recorder: Recorder, control: FakeControl) -> None:
    attempt = await new_attempt(store, campaign)
    await recorder.bridged(attempt, "B1", "C1", "A1", Campaign({"mode": "all", "stereo": True}))
    await control.until(lambda c: sum(e[0] == "start" for e in c) == 2)
    await recorder.ended(attempt)
    await recorder.settled(attempt)
    kinds = [c[:2] for c in control.calls]
    assert kinds[:4] == [("snoop", "C1"), ("start", "channel"), ("snoop", "A1"),
                         ("start", "channel")]
    assert [c[2] for c in control.calls if c[0] == "start"] == \
        [f"dialer-{attempt}-1-c", f"dialer-{attempt}-1-a"]
    assert sum(c[0] == "hangup" for c in control.calls) == 2
    [row] = await store.recordings.for_attempt(attempt)
    assert row.channels == 2


async def test_the_store_index_is_idempotent_audits_missing_files_and_rekeys(
        store: Store, campaign: CampaignInfo) -> None:
    attempt = await new_attempt(store, campaign)
    owner = await store.recordings.owner(attempt)
    assert owner is not None and owner.campaign_id == campaign.id
    assert await store.recordings.owner(uuid.uuid4()) is None
    new = NewRecording(attempt, 1, "/r/x.wav.enc", 3.0, 100, "ab" * 32, "k1", 1, NOW, "n1")
    first = await store.recordings.index(new)
    assert await store.recordings.index(new) == first
    assert await store.recordings.find(attempt, 1) == first
    assert await store.recordings.find(attempt, 2) is None
    assert [f.id for f in await store.recordings.files_of_node("n1", after_id=0, limit=10)] \
        == [first.id]
    assert await store.recordings.files_of_node("n2", after_id=0, limit=10) == []
    await store.recordings.mark_missing(first.id, at=NOW, reason="gone")
    await store.recordings.mark_missing(first.id, at=NOW, reason="gone")
    [audit] = await store.audit_log.entries(action="recording.missing")
    assert audit.subject_id == str(first.id) and audit.detail["reason"] == "gone"
    assert (await store.recordings.get(first.id)).state == "missing"
    assert not await store.recordings.rekeyed(first.id, old_key_id="k0", key_id="k2",
                                              size_bytes=5)
    assert await store.recordings.rekeyed(first.id, old_key_id="k1", key_id="k2",
                                          size_bytes=5)
    assert (await store.recordings.get(first.id)).key_id == "k2"


async def test_search_by_campaign_number_and_date_and_deletion_forgets_the_number(
        store: Store, campaign: CampaignInfo) -> None:
    other = await store.campaigns.create(campaign.tenant_id, "autumn", "cn", now=NOW)
    rows = []
    for camp, number, days in ((campaign, NUMBER, 0), (campaign, "+8613900000000", 2),
                               (other, NUMBER, 5)):
        attempt = await store.create_attempt(NewAttempt(camp.id, number, NOW))
        rows.append(await store.recordings.add(
            attempt, path=f"/r/{attempt}.wav.enc", duration_s=1, size_bytes=1, checksum="x",
            key_id="k1", created_at=NOW - timedelta(days=days)))
    digest = store.hasher.digest(NUMBER)
    assert [r.id for r in await store.recordings.search(number_hash=digest)] == \
        [rows[0].id, rows[2].id]
    assert [r.id for r in await store.recordings.search(campaign_id=campaign.id)] == \
        [rows[0].id, rows[1].id]
    assert [r.id for r in await store.recordings.search(since=NOW - timedelta(days=3),
                                                        until=NOW)] == [rows[1].id]
    await store.recordings.mark_deleted(rows[0].id, now=NOW, actor="sup", reason="complaint")
    assert [r.id for r in await store.recordings.search(number_hash=digest,
                                                        include_deleted=True)] == [rows[2].id]
    assert rows[0].segment == 1
    again = await store.recordings.add(rows[0].attempt_id or uuid.uuid4(), path="/r/2",
                                       duration_s=1, size_bytes=1, checksum="x", key_id="k1",
                                       created_at=NOW)
    assert again.segment == 2
