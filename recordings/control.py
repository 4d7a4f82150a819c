"""The telephony side of recording: announce, record, snoop, stop — over ARI.

`RecordingControl` is what the recorder needs; `AriRecordingControl` implements it with
`ari_bridge.AriClient`. Every wait has a timeout. A recording's events are subscribed
to before it is started, so its `RecordingFinished` cannot be missed even when the
recording ends by itself (a snoop channel hung up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from ari_bridge import (
    AriClient,
    AriError,
    AriRequestError,
    ChannelGone,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
    Subscription,
)

log = logging.getLogger(__name__)

SNOOP_APP_TAG = "dialer-recording"


class RecordingControl(Protocol):
    """The operations a call's recorder performs on Asterisk."""

    async def announce(self, target: str, media: str, *, playback_id: str,
                       timeout_s: float) -> bool:
        """Play `media` to `target` (`bridge:<id>`/`channel:<id>`) and wait until it
        ends; True if it played to the end. Cancelling stops the playback."""
        ...

    async def snoop(self, channel_id: str, snoop_id: str, *, attempt: str,
                    timeout_s: float) -> None:
        """Create a snoop channel hearing what `channel_id` sends, and wait until it is
        in the application (ready to be recorded)."""
        ...

    async def start(self, target: str, name: str) -> None:
        """Start recording `target` into the spool as `<name>.wav`."""
        ...

    async def stop(self, name: str, *, timeout_s: float) -> bool:
        """Stop a recording and wait until its file is complete; False if it failed or
        the end was not confirmed in time."""
        ...

    async def hangup(self, channel_id: str, *, timeout_s: float) -> None:
        """Hang up a (snoop) channel; already gone is fine."""
        ...


class AriRecordingControl:
    """`RecordingControl` over an `AriClient` (its application receives the snoops)."""

    def __init__(self, ari: AriClient) -> None:
        self._ari = ari
        self._recordings: dict[str, Subscription] = {}
        self._snoops: dict[str, Subscription] = {}

    def __repr__(self) -> str:
        return f"AriRecordingControl(live={sorted(self._recordings)})"

    async def announce(self, target: str, media: str, *, playback_id: str,
                       timeout_s: float) -> bool:
        """Play and wait for `PlaybackFinished` (state `done`); stop it if cancelled."""
        with self._ari.subscribe(playback_id) as sub:
            await self._ari.play(target, media, playback_id=playback_id)
            try:
                finished = await sub.wait_for(PlaybackFinished, timeout=timeout_s)
            except (asyncio.CancelledError, TimeoutError):
                with contextlib.suppress(AriError):
                    await asyncio.shield(self._ari.stop_playback(playback_id))
                raise
        if finished.playback.state != "done":
            log.warning("announcement %s on %s ended %s", media, target,
                        finished.playback.state or "without a state")
        return finished.playback.state == "done"

    async def snoop(self, channel_id: str, snoop_id: str, *, attempt: str,
                    timeout_s: float) -> None:
        """Snoop on what the channel sends (`spy=in`); keep its events until hung up."""
        sub = self._ari.subscribe(snoop_id)
        self._snoops[snoop_id] = sub
        try:
            await self._ari.snoop(channel_id, snoop_id=snoop_id, spy="in",
                                  app_args=(SNOOP_APP_TAG, attempt))
            await sub.wait_for(StasisStart, timeout=timeout_s)
        except BaseException:
            self._snoops.pop(snoop_id, None)
            sub.close()
            raise

    async def start(self, target: str, name: str) -> None:
        """Start recording (format wav; an existing file of that name is an error)."""
        sub = self._ari.subscribe(name)
        self._recordings[name] = sub
        try:
            await self._ari.record(target, name, fmt="wav", if_exists="fail")
        except BaseException:
            self._recordings.pop(name, None)
            sub.close()
            raise

    async def stop(self, name: str, *, timeout_s: float) -> bool:
        """Stop (404: it already ended by itself) and wait for its final event."""
        sub = self._recordings.pop(name, None)
        if sub is None:
            raise KeyError(f"recording {name} was not started here")
        with sub:
            try:
                await self._ari.stop_recording(name)
            except AriRequestError as exc:
                if exc.status != 404:
                    raise
            try:
                end = await sub.wait_for(RecordingFinished | RecordingFailed,  # type: ignore[arg-type]
                                         timeout=timeout_s)
            except TimeoutError:
                log.warning("recording %s: no RecordingFinished within %.0f s", name,
                            timeout_s)
                return False
        if isinstance(end, RecordingFailed):
            log.error("recording %s failed: %s", name, end.recording.cause or "no cause given")
            return False
        return True

    async def hangup(self, channel_id: str, *, timeout_s: float) -> None:
        """Hang up and wait for the channel to leave the application."""
        sub = self._snoops.pop(channel_id, None)
        try:
            with contextlib.suppress(ChannelGone):
                await self._ari.hangup(channel_id)
            if sub is not None:
                with contextlib.suppress(TimeoutError):
                    await sub.wait_for(StasisEnd, timeout=timeout_s)
        finally:
            if sub is not None:
                sub.close()

    def live(self) -> Sequence[str]:
        """Names of the recordings started and not yet stopped through this object."""
        return sorted(self._recordings)
