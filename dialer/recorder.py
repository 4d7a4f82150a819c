"""The engine's recorder: records connected calls per campaign policy (a `CallHooks`).

    control = AriRecordingControl(ari)
    vault = Vault(settings.recordings_dir, settings.recording_spool_dir, keyring,
                  store.recordings, node_id=settings.node_id)
    recorder = Recorder(control, vault, profiles=profiles)
    await recorder.recover()               # at start, before any call
    ... the engine calls recorder.bridged / agent_code / ended ...
    await recorder.close()                 # at shutdown: lets archiving finish

Each recorded call has one owned task (its driver) that moves the call's recording
state towards what is wanted — `all`: recording from the bridge on; `on_demand`: the
agent's toggle code flips it — and ends it when the call ends. The consent
announcement (if the policy names one) plays to the bridge before the first segment;
if it cannot be played, the call is not recorded (fail closed). Every stopped segment
is archived (moved out of the spool, encrypted, indexed, plaintext removed) in its own
task; a crash at any point is repaired by `recover()` at the next start.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ari_bridge import AriError
from dialer.errors import DialerError
from dialer.keys import Keyring
from dialer.settings import Settings
from dialer.store import Store
from recordings import (
    ArchiveError,
    IndexedFile,
    Leg,
    PolicyError,
    RecordingControl,
    RecordingCryptoError,
    RecordingMode,
    RecordingPolicy,
    RecoveryReport,
    Segment,
    SpoolName,
    Vault,
    policy_of,
)

log = logging.getLogger(__name__)

PROFILE_FLAG = "recording_announcement_required"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CallRecordingState(enum.Enum):
    """Where one call's recording stands."""

    IDLE = "idle"
    ANNOUNCING = "announcing"
    RECORDING = "recording"
    ENDED = "ended"


@dataclass
class _Active:
    """The segment being recorded: its spool names started so far and its snoops."""

    segment: Segment
    names: list[str] = field(default_factory=list)
    snoops: list[str] = field(default_factory=list)


@dataclass
class _Call:
    attempt_id: uuid.UUID
    bridge_id: str
    customer: str
    agent: str
    policy: RecordingPolicy
    want: bool = False
    ended: bool = False
    announced: bool = False
    segments: int = 0
    state: CallRecordingState = CallRecordingState.IDLE
    active: _Active | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    archives: list[asyncio.Task[IndexedFile | None]] = field(default_factory=list)


def open_vault(settings: Settings, store: Store, keyring: Keyring | None = None) -> Vault:
    """The node's recording vault: its folder and spool from `settings`, the store's
    recordings table as index, the store's keyring unless another is given."""
    return Vault(settings.recordings_dir, settings.recording_spool_dir,
                 keyring or store.keyring, store.recordings, node_id=settings.node_id)


def recording_settings(campaign: Any) -> Any:
    """The `recording` settings of a campaign config (or of a wrapper's `.config`)."""
    found = getattr(campaign, "recording", None)
    if found is None and getattr(campaign, "config", None) is not None:
        found = getattr(campaign.config, "recording", None)
    return found


class Recorder:
    """Records calls as their campaigns say; implements `dialer.call_hooks.CallHooks`."""

    def __init__(self, control: RecordingControl, vault: Vault, *,
                 profiles: Mapping[str, Any] | None = None,
                 clock: Callable[[], datetime] = _utc_now,
                 announcement_timeout_s: float = 120.0, stop_timeout_s: float = 10.0,
                 snoop_timeout_s: float = 5.0) -> None:
        self._control = control
        self._vault = vault
        self._profiles = dict(profiles or {})
        self._clock = clock
        self._announce_timeout = announcement_timeout_s
        self._stop_timeout = stop_timeout_s
        self._snoop_timeout = snoop_timeout_s
        self._calls: dict[uuid.UUID, _Call] = {}
        self._drivers: dict[uuid.UUID, asyncio.Task[list[IndexedFile]]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"Recorder(calls={len(self._calls)}, drivers={len(self._drivers)})"

    # -- the CallHooks protocol ------------------------------------------------------------

    async def bridged(self, attempt_id: uuid.UUID, bridge_id: str, customer_channel: str,
                      agent_channel: str, campaign: Any) -> None:
        """Start following a connected call; record it at once if its mode is `all`."""
        if self._closed or attempt_id in self._calls:
            return
        try:
            policy = policy_of(recording_settings(campaign),
                               announcement_required=self._announcement_required(campaign))
        except PolicyError as exc:
            log.error("attempt %s: not recorded: %s", attempt_id, exc)
            return
        if not policy.records:
            return
        call = _Call(attempt_id, bridge_id, customer_channel, agent_channel, policy,
                     want=policy.mode is RecordingMode.ALL)
        self._calls[attempt_id] = call
        self._drivers[attempt_id] = asyncio.create_task(self._drive(call),
                                                        name=f"recorder[{attempt_id}]")
        call.changed.set()

    async def agent_code(self, attempt_id: uuid.UUID, code: str) -> bool:
        """The toggle code of an `on_demand` call starts or stops recording (consumed)."""
        call = self._calls.get(attempt_id)
        if call is None or call.policy.mode is not RecordingMode.ON_DEMAND \
                or code != call.policy.toggle_code:
            return False
        call.want = not call.want
        log.info("attempt %s: agent %s recording", attempt_id,
                 "starts" if call.want else "stops")
        call.changed.set()
        return True

    async def ended(self, attempt_id: uuid.UUID) -> None:
        """The customer left: stop recording; archiving goes on in the call's task."""
        call = self._calls.pop(attempt_id, None)
        if call is not None:
            call.ended = True
            call.changed.set()

    # -- waiting, recovery, shutdown -------------------------------------------------------

    def state(self, attempt_id: uuid.UUID) -> CallRecordingState | None:
        """The recording state of a call being followed (None: not followed)."""
        call = self._calls.get(attempt_id)
        return None if call is None else call.state

    async def settled(self, attempt_id: uuid.UUID, timeout: float = 60.0) -> None:
        """Wait until an ended call's recording is stopped and its segments archived
        (at once if the call is not followed or already done)."""
        driver = self._drivers.get(attempt_id)
        if driver is not None:
            async with asyncio.timeout(timeout):
                await asyncio.shield(driver)

    async def recover(self, **options: Any) -> RecoveryReport:
        """Repair what a crash left in the spool and the recordings folder."""
        busy = {name for call in self._calls.values() if call.active
                for name in call.active.names}
        return await self._vault.recover(busy=busy, **options)

    async def close(self, timeout: float = 30.0) -> None:
        """End every followed call's recording and wait for the archives (then cancel)."""
        self._closed = True
        for attempt_id in list(self._calls):
            await self.ended(attempt_id)
        drivers = list(self._drivers.values())
        if not drivers:
            return
        _, pending = await asyncio.wait(drivers, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _announcement_required(self, campaign: Any) -> bool:
        profile = getattr(campaign, "profile", None)
        if isinstance(profile, str):
            profile = self._profiles.get(profile)
        return bool(getattr(profile, PROFILE_FLAG, False))

    # -- one call's driver -----------------------------------------------------------------

    def _set_state(self, call: _Call, state: CallRecordingState) -> None:
        if call.state is not state:
            log.debug("attempt %s: recording %s -> %s", call.attempt_id, call.state.value,
                      state.value)
            call.state = state

    async def _drive(self, call: _Call) -> list[IndexedFile]:
        try:
            try:
                while not call.ended:
                    await call.changed.wait()
                    call.changed.clear()
                    if call.ended:
                        break
                    if call.want and call.active is None:
                        await self._start(call)
                    elif not call.want and call.active is not None:
                        await self._stop(call)
            finally:
                if call.active is not None:
                    await self._stop(call)
                self._set_state(call, CallRecordingState.ENDED)
                self._calls.pop(call.attempt_id, None)
            results = await asyncio.gather(*call.archives, return_exceptions=True)
            return [r for r in results if isinstance(r, IndexedFile)]
        finally:
            self._drivers.pop(call.attempt_id, None)

    async def _start(self, call: _Call) -> None:
        media = call.policy.announcement_media
        if media is not None and not call.announced:
            self._set_state(call, CallRecordingState.ANNOUNCING)
            played = await self._announce(call, media)
            self._set_state(call, CallRecordingState.IDLE)
            if not played:
                return
            call.announced = True
        if call.ended or not call.want:
            return
        call.segments += 1
        segment = Segment(SpoolName(call.attempt_id, call.segments), stereo=call.policy.stereo,
                          started_at=self._clock())
        active = call.active = _Active(segment)
        self._set_state(call, CallRecordingState.RECORDING)
        try:
            if segment.stereo:
                for leg, channel in ((Leg.CUSTOMER, call.customer), (Leg.AGENT, call.agent)):
                    snoop_id = str(uuid.uuid4())
                    await self._control.snoop(channel, snoop_id, attempt=str(call.attempt_id),
                                              timeout_s=self._snoop_timeout)
                    active.snoops.append(snoop_id)
                    name = SpoolName(call.attempt_id, segment.name.segment, leg).stem
                    await self._control.start(f"channel:{snoop_id}", name)
                    active.names.append(name)
            else:
                await self._control.start(f"bridge:{call.bridge_id}", segment.name.stem)
                active.names.append(segment.name.stem)
        except (AriError, TimeoutError) as exc:
            log.error("attempt %s: recording segment %d could not start: %s",
                      call.attempt_id, segment.name.segment, exc)
            call.want = False
            await self._stop(call)

    async def _announce(self, call: _Call, media: str) -> bool:
        """Play the consent announcement; False if it failed or the call moved on (the
        agent toggled off, the customer left) before it ended."""
        playing = asyncio.create_task(self._control.announce(
            f"bridge:{call.bridge_id}", media, playback_id=str(uuid.uuid4()),
            timeout_s=self._announce_timeout), name=f"recorder[{call.attempt_id}].announce")
        try:
            while not playing.done():
                changed = asyncio.create_task(call.changed.wait())
                try:
                    await asyncio.wait({playing, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if not playing.done() and (call.ended or not call.want):
                    playing.cancel()
                    await asyncio.gather(playing, return_exceptions=True)
                    return False
                if not playing.done():
                    call.changed.clear()
            played = playing.result()
        except (AriError, TimeoutError) as exc:
            log.error("attempt %s: consent announcement failed (%s): not recording",
                      call.attempt_id, exc)
            played = False
        finally:
            if not playing.done():
                playing.cancel()
                await asyncio.gather(playing, return_exceptions=True)
        if not played:
            log.error("attempt %s: consent announcement %s did not play to the end: not "
                      "recording", call.attempt_id, media)
            call.want = False
        return played

    async def _stop(self, call: _Call) -> None:
        active, call.active = call.active, None
        self._set_state(call, CallRecordingState.IDLE)
        if active is None:
            return
        for name in active.names:
            try:
                await self._control.stop(name, timeout_s=self._stop_timeout)
            except AriError as exc:
                log.error("attempt %s: stopping recording %s failed: %s", call.attempt_id,
                          name, exc)
        for snoop_id in active.snoops:
            try:
                await self._control.hangup(snoop_id, timeout_s=self._snoop_timeout)
            except AriError as exc:
                log.warning("attempt %s: snoop %s hang-up failed: %s", call.attempt_id,
                            snoop_id, exc)
        if active.names:
            call.archives.append(self._spawn_archive(call, active.segment))

    def _spawn_archive(self, call: _Call,
                       segment: Segment) -> asyncio.Task[IndexedFile | None]:
        return asyncio.create_task(self._archive(call.attempt_id, segment),
                                   name=f"recorder[{call.attempt_id}].archive{segment.name.segment}")

    async def _archive(self, attempt_id: uuid.UUID, segment: Segment) -> IndexedFile | None:
        try:
            row = await self._vault.archive(segment)
        except (OSError, ArchiveError, RecordingCryptoError, DialerError) as exc:
            log.error("attempt %s: segment %d not archived (recovery will retry): %s",
                      attempt_id, segment.name.segment, exc)
            return None
        if row is not None:
            log.info("attempt %s: segment %d archived as recording %d", attempt_id,
                     segment.name.segment, row.id)
        return row

