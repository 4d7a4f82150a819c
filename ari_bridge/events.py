"""Typed ARI events, and the client's own connection events.

`parse_event(data)` turns one decoded WebSocket message into an event object; a
type this module does not know becomes `UnknownEvent` with the raw dict. Every
event has `routing_keys()`: the ids of the resources it concerns (channels,
bridges, playbacks, recordings, endpoints), which the client uses to hand it to
the subscriptions that own those ids.

`Connected` and `Disconnected` are not Asterisk's: the client emits them on the
application-wide stream when its events WebSocket comes up or goes down, so the
engine can reconcile its calls after a gap (`Connected.asterisk_restarted` says
whether every channel of before is certainly gone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ari_bridge.models import Bridge, Channel, Endpoint, LiveRecording, Playback, target_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events: the application, Asterisk's timestamp, the raw message."""

    type: ClassVar[str] = ""
    application: str = ""
    timestamp: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def routing_keys(self) -> tuple[str, ...]:
        """Ids of the resources this event concerns (none: it goes to the app stream)."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(Event):
    """An event about one channel."""

    channel: Channel

    def routing_keys(self) -> tuple[str, ...]:
        """The channel's id."""
        return (self.channel.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(ChannelEvent):
    """A channel entered the application; `args` are the Stasis() arguments."""

    type: ClassVar[str] = "StasisStart"
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(ChannelEvent):
    """A channel left the application (hung up, or continued in the dialplan)."""

    type: ClassVar[str] = "StasisEnd"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(ChannelEvent):
    """A channel was created."""

    type: ClassVar[str] = "ChannelCreated"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    """A channel's state changed (e.g. Ringing, Up)."""

    type: ClassVar[str] = "ChannelStateChange"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    """A DTMF digit was received from a channel (duplicates already removed)."""

    type: ClassVar[str] = "ChannelDtmfReceived"
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    """A hang-up was requested on a channel; `cause` is the Q.850 cause if known."""

    type: ClassVar[str] = "ChannelHangupRequest"
    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    """A channel is gone; `cause` is its Q.850 hang-up cause (16 normal, 17 busy, ...)."""

    type: ClassVar[str] = "ChannelDestroyed"
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(Event):
    """A channel (or global, when `channel` is None) variable was set."""

    type: ClassVar[str] = "ChannelVarset"
    variable: str
    value: str
    channel: Channel | None = None

    def routing_keys(self) -> tuple[str, ...]:
        """The channel's id, if the variable belongs to a channel."""
        return (self.channel.id,) if self.channel is not None else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialplan(ChannelEvent):
    """A channel moved to another dialplan application."""

    type: ClassVar[str] = "ChannelDialplan"
    dialplan_app: str = ""
    dialplan_app_data: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(Event):
    """Progress of a dial: `dialstatus` is "" at start, then RINGING, ANSWER, BUSY, ..."""

    type: ClassVar[str] = "Dial"
    peer: Channel
    caller: Channel | None = None
    dialstatus: str = ""
    dialstring: str = field(default="", repr=False)
    forward: str = ""

    def routing_keys(self) -> tuple[str, ...]:
        """The dialled channel and, if any, the calling one."""
        if self.caller is None:
            return (self.peer.id,)
        return (self.peer.id, self.caller.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEvent(Event):
    """An event about a bridge."""

    bridge: Bridge

    def routing_keys(self) -> tuple[str, ...]:
        """The bridge's id."""
        return (self.bridge.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeCreated(BridgeEvent):
    """A bridge was created."""

    type: ClassVar[str] = "BridgeCreated"


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(BridgeEvent):
    """A bridge was destroyed."""

    type: ClassVar[str] = "BridgeDestroyed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(BridgeEvent):
    """A channel joined a bridge."""

    type: ClassVar[str] = "ChannelEnteredBridge"
    channel: Channel

    def routing_keys(self) -> tuple[str, ...]:
        """The bridge's and the channel's ids."""
        return (self.bridge.id, self.channel.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(BridgeEvent):
    """A channel left a bridge."""

    type: ClassVar[str] = "ChannelLeftBridge"
    channel: Channel

    def routing_keys(self) -> tuple[str, ...]:
        """The bridge's and the channel's ids."""
        return (self.bridge.id, self.channel.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackEvent(Event):
    """An event about a playback."""

    playback: Playback

    def routing_keys(self) -> tuple[str, ...]:
        """The playback's id and its target's (channel or bridge) id."""
        return (self.playback.id, target_id(self.playback.target_uri))


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    """A playback started."""

    type: ClassVar[str] = "PlaybackStarted"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """A playback ended (done, stopped, or failed: see `playback.state`)."""

    type: ClassVar[str] = "PlaybackFinished"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingEvent(Event):
    """An event about a live recording."""

    recording: LiveRecording

    def routing_keys(self) -> tuple[str, ...]:
        """The recording's name and its target's (channel or bridge) id."""
        return (self.recording.name, target_id(self.recording.target_uri))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(RecordingEvent):
    """A recording started."""

    type: ClassVar[str] = "RecordingStarted"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFinished(RecordingEvent):
    """A recording ended and its file is complete."""

    type: ClassVar[str] = "RecordingFinished"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFailed(RecordingEvent):
    """A recording failed; `recording.cause` says why."""

    type: ClassVar[str] = "RecordingFailed"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStateChange(Event):
    """An endpoint (e.g. an agent phone) changed state."""

    type: ClassVar[str] = "EndpointStateChange"
    endpoint: Endpoint

    def routing_keys(self) -> tuple[str, ...]:
        """The endpoint's event source, e.g. `endpoint:PJSIP/8001`."""
        return (self.endpoint.source,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another client connected with this application's name and took its events."""

    type: ClassVar[str] = "ApplicationReplaced"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An event type this module does not model; `raw` has everything."""

    event_type: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Event):
    """The client's events WebSocket is up (again): emitted by the client.

    `reconnected` is False the first time. `asterisk_restarted` is True when
    Asterisk's start-up time changed since the previous connection: every
    channel and bridge of before is gone.
    """

    type: ClassVar[str] = "Connected"
    reconnected: bool = False
    asterisk_restarted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(Event):
    """The client's events WebSocket went down; events may be missed until Connected."""

    type: ClassVar[str] = "Disconnected"
    reason: str = ""


def _channel(data: dict[str, Any], key: str) -> Channel | None:
    value = data.get(key)
    return Channel.from_json(value) if value else None


def _base(data: dict[str, Any]) -> dict[str, Any]:
    return {"application": data.get("application", ""), "timestamp": data.get("timestamp", ""),
            "raw": data}


def _cause(value: Any) -> int | None:
    return None if value is None else int(value)


_PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "StasisStart": lambda d: StasisStart(
        channel=Channel.from_json(d["channel"]), args=tuple(d.get("args", ())),
        replace_channel=_channel(d, "replace_channel"), **_base(d)),
    "StasisEnd": lambda d: StasisEnd(channel=Channel.from_json(d["channel"]), **_base(d)),
    "ChannelCreated": lambda d: ChannelCreated(channel=Channel.from_json(d["channel"]), **_base(d)),
    "ChannelStateChange": lambda d: ChannelStateChange(
        channel=Channel.from_json(d["channel"]), **_base(d)),
    "ChannelDtmfReceived": lambda d: ChannelDtmfReceived(
        channel=Channel.from_json(d["channel"]), digit=d["digit"],
        duration_ms=int(d.get("duration_ms", 0)), **_base(d)),
    "ChannelHangupRequest": lambda d: ChannelHangupRequest(
        channel=Channel.from_json(d["channel"]), cause=_cause(d.get("cause")),
        soft=bool(d.get("soft", False)), **_base(d)),
    "ChannelDestroyed": lambda d: ChannelDestroyed(
        channel=Channel.from_json(d["channel"]), cause=int(d.get("cause", 0)),
        cause_txt=d.get("cause_txt", ""), **_base(d)),
    "ChannelVarset": lambda d: ChannelVarset(
        variable=d["variable"], value=d.get("value", ""), channel=_channel(d, "channel"),
        **_base(d)),
    "ChannelDialplan": lambda d: ChannelDialplan(
        channel=Channel.from_json(d["channel"]), dialplan_app=d.get("dialplan_app", ""),
        dialplan_app_data=d.get("dialplan_app_data", ""), **_base(d)),
    "Dial": lambda d: Dial(
        peer=Channel.from_json(d["peer"]), caller=_channel(d, "caller"),
        dialstatus=d.get("dialstatus", ""), dialstring=d.get("dialstring", ""),
        forward=d.get("forward", ""), **_base(d)),
    "BridgeCreated": lambda d: BridgeCreated(bridge=Bridge.from_json(d["bridge"]), **_base(d)),
    "BridgeDestroyed": lambda d: BridgeDestroyed(bridge=Bridge.from_json(d["bridge"]), **_base(d)),
    "ChannelEnteredBridge": lambda d: ChannelEnteredBridge(
        bridge=Bridge.from_json(d["bridge"]), channel=Channel.from_json(d["channel"]), **_base(d)),
    "ChannelLeftBridge": lambda d: ChannelLeftBridge(
        bridge=Bridge.from_json(d["bridge"]), channel=Channel.from_json(d["channel"]), **_base(d)),
    "PlaybackStarted": lambda d: PlaybackStarted(
        playback=Playback.from_json(d["playback"]), **_base(d)),
    "PlaybackFinished": lambda d: PlaybackFinished(
        playback=Playback.from_json(d["playback"]), **_base(d)),
    "RecordingStarted": lambda d: RecordingStarted(
        recording=LiveRecording.from_json(d["recording"]), **_base(d)),
    "RecordingFinished": lambda d: RecordingFinished(
        recording=LiveRecording.from_json(d["recording"]), **_base(d)),
    "RecordingFailed": lambda d: RecordingFailed(
        recording=LiveRecording.from_json(d["recording"]), **_base(d)),
    "EndpointStateChange": lambda d: EndpointStateChange(
        endpoint=Endpoint.from_json(d["endpoint"]), **_base(d)),
    "ApplicationReplaced": lambda d: ApplicationReplaced(**_base(d)),
}

#: The Asterisk event types `parse_event` turns into typed objects.
KNOWN_EVENT_TYPES: tuple[str, ...] = tuple(sorted(_PARSERS))


def parse_event(data: dict[str, Any]) -> Event:
    """The typed event for one decoded ARI event message.

    A message of an unknown type, or a known type missing a required field,
    becomes an `UnknownEvent` carrying the raw dict: one odd message never
    stops the event stream.
    """
    kind = data.get("type", "")
    parser = _PARSERS.get(kind)
    if parser is not None:
        try:
            return parser(data)
        except (KeyError, TypeError, ValueError):
            pass
    return UnknownEvent(event_type=str(kind), **_base(data))
