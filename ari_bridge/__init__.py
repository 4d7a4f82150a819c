"""An asyncio client for Asterisk's REST Interface (REST + events WebSocket), and FastAGI.

    async with AriClient("http://127.0.0.1:28088", "dialer", password, "dialer") as ari:
        call = ari.subscribe(channel_id)            # subscribe first: no event is missed
        await ari.originate("PJSIP/1555@customers", channel_id=channel_id,
                            context="dialer-outbound", extension="s", priority=1,
                            variables={"DIALER_ATTEMPT": attempt_id}, timeout=30)
        await ari.subscribe_source(f"channel:{channel_id}")   # ringing/busy before Stasis
        async for event in call:                    # StasisStart(args=(attempt, AMDSTATUS, cause)), …
            ...

Decisions the engine relies on:
- One aiohttp `ClientSession` carries the REST calls (a pool of `pool_size`, 64 by
  default; keep http.conf `sessionlimit` above it plus one per events socket) and the
  events WebSocket. Credentials travel in an Authorization header, never in a URL;
  POST/PUT/DELETE parameters travel in the JSON body, so numbers stay out of URLs.
- Every request has a timeout (`request_timeout`); errors are `AriError`s
  (errors.py): `AriConnectionLost`/`AriTimeout`, `AriRequestError` with `status` and
  `channel_id`, and `ChannelGone` when the channel a request named no longer exists.
- Events are typed (events.py); an unknown type is `UnknownEvent` with the raw dict.
  The application's event filter is set on every connection (`DEFAULT_EVENT_TYPES`).
- Per-call dispatch: `subscribe(*ids)` gives a queue of the events about those
  resources (channel, bridge, playback, recording ids; `endpoint:PJSIP/x`); the reader
  only appends to queues, so a slow consumer delays only its own call. Events nobody
  owns (agents' login StasisStart) and the client's own `Connected`/`Disconnected`
  events go to `unowned`. Duplicate DTMF (channel, digit, timestamp) is dropped.
- The client reconnects by itself (capped exponential backoff, full jitter), then
  re-sets the filter and re-subscribes endpoint sources; `Connected.reconnected` and
  `.asterisk_restarted` tell the engine to reconcile with `list_channels()`.
- A channel that entered the application through `Stasis()` ends with `StasisEnd`;
  its `ChannelDestroyed` (with the cause) arrives only if the application is also
  subscribed to `channel:<id>` (`subscribe_source`), as the outbound flow above is.
- Bridges are `mixing,dtmf_events` (`MIXING_BRIDGE`): plain mixing may go native RTP
  and then no DTMF events arrive. Channel ids must be fixed-length (UUIDs).
- `on_request(method, path_template, seconds, status)` (optional) learns every REST
  call; `path_template` replaces ids and names by `{id}`, so metric labels carry none.
- `FastAgiServer` (fastagi.py) answers dialplan `AGI(agi://host:port/<route>,…)` calls
  with async handlers that return the channel variables to set.
"""

from ari_bridge.client import (
    DEFAULT_EVENT_TYPES,
    MIXING_BRIDGE,
    AriClient,
    ClientState,
    RequestHook,
    path_template,
)
from ari_bridge.dispatch import Subscription, SubscriptionClosed
from ari_bridge.errors import (
    AgiError,
    AriConnectionLost,
    AriError,
    AriRequestError,
    AriTimeout,
    ChannelGone,
)
from ari_bridge.events import (
    KNOWN_EVENT_TYPES,
    ApplicationReplaced,
    BridgeCreated,
    BridgeDestroyed,
    ChannelCreated,
    ChannelDestroyed,
    ChannelDialplan,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelEvent,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    Connected,
    Dial,
    Disconnected,
    EndpointStateChange,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)
from ari_bridge.fastagi import AgiHandler, AgiProtocolError, AgiRequest, FastAgiServer
from ari_bridge.models import Bridge, CallerId, Channel, Endpoint, LiveRecording, Playback

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "AgiError", "AgiHandler", "AgiProtocolError", "AgiRequest", "ApplicationReplaced",
    "AriClient", "AriConnectionLost", "AriError", "AriRequestError", "AriTimeout", "Bridge",
    "BridgeCreated", "BridgeDestroyed", "CallerId", "Channel", "ChannelCreated",
    "ChannelDestroyed", "ChannelDialplan", "ChannelDtmfReceived", "ChannelEnteredBridge",
    "ChannelEvent", "ChannelGone", "ChannelHangupRequest", "ChannelLeftBridge",
    "ChannelStateChange", "ChannelVarset", "ClientState", "Connected", "DEFAULT_EVENT_TYPES",
    "Dial", "Disconnected", "Endpoint", "EndpointStateChange", "Event", "FastAgiServer",
    "KNOWN_EVENT_TYPES", "LiveRecording", "MIXING_BRIDGE", "Playback", "PlaybackFinished",
    "PlaybackStarted", "RecordingFailed", "RecordingFinished", "RecordingStarted", "RequestHook",
    "StasisEnd", "StasisStart", "Subscription", "SubscriptionClosed", "UnknownEvent",
    "parse_event", "path_template",
]
