"""AriClient: one aiohttp session for ARI's REST calls and its events WebSocket."""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp

from ari_bridge.dispatch import Router, Subscription
from ari_bridge.errors import AriConnectionLost, AriError, AriRequestError, AriTimeout, ChannelGone
from ari_bridge.events import Connected, Disconnected, parse_event
from ari_bridge.models import Bridge, Channel, Endpoint, LiveRecording, Playback

log = logging.getLogger(__name__)

#: Events the application asks Asterisk for (its event filter). ChannelVarset and
#: ChannelDialplan are left out: they are most of what Asterisk would send.
DEFAULT_EVENT_TYPES: tuple[str, ...] = (
    "ApplicationReplaced", "BridgeDestroyed", "ChannelDestroyed", "ChannelDtmfReceived",
    "ChannelEnteredBridge", "ChannelHangupRequest", "ChannelLeftBridge", "ChannelStateChange",
    "Dial", "EndpointStateChange", "PlaybackFinished", "PlaybackStarted", "RecordingFailed",
    "RecordingFinished", "RecordingStarted", "StasisEnd", "StasisStart",
)

#: Bridges that deliver DTMF events from their members (plain "mixing" may go native RTP).
MIXING_BRIDGE = "mixing,dtmf_events"

#: `on_request(method, path_template, seconds, status)`: called after every REST call;
#: status is None when no answer came (timeout, connection lost). Must be quick.
RequestHook = Callable[[str, str, float, int | None], None]

# The words of ARI's REST paths. `path_template` keeps these and replaces every other
# segment (ids, names, endpoint resources — possibly numbers) by `{id}`.
_ARI_WORDS = frozenset({
    "addChannel", "answer", "applications", "asterisk", "bridges", "channels", "config",
    "continue", "control", "copy", "create", "deviceStates", "dial", "dtmf", "dynamic",
    "endpoints", "eventFilter", "events", "externalMedia", "file", "hold", "info", "live",
    "logging", "mailboxes", "modules", "moh", "move", "mute", "ping", "play", "playbacks",
    "record", "recordings", "redirect", "refer", "referTo", "reload", "removeChannel", "ring",
    "rotate", "rtp_statistics", "sendMessage", "silence", "snoop", "sounds", "stop", "stored",
    "subscription", "transfer", "unmute", "unhold", "user", "variable", "videoSource",
    "DAHDI", "IAX2", "Local", "PJSIP", "SIP",
})


def path_template(path: str) -> str:
    """A REST path with its ids replaced: `/channels/<uuid>/dial` -> `/channels/{id}/dial`
    (fit for a metric label: no id, name or number survives)."""
    return "/".join(part if part in _ARI_WORDS or not part else "{id}"
                    for part in path.split("/"))


class ClientState(enum.Enum):
    """Where the client is in its life."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


def _params(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset (None) parameters; ARI wants booleans as "true"/"false" in queries."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


class AriClient:
    """An asyncio ARI client for one Stasis application.

    Use it as `async with AriClient(url, user, password, "dialer") as ari:`. Entering
    connects the events WebSocket (raising AriConnectionLost if that does not work
    within `connect_timeout`); from then on a background task keeps it connected,
    reconnecting with capped exponential backoff and full jitter, and on every
    (re)connection sets the event filter and re-subscribes the event sources added
    with `subscribe_source`. Leaving unsubscribes those sources and closes
    everything the client opened (not a session passed in). `on_request`, if
    given, learns each REST call's method, path template, duration and status.
    """

    def __init__(self, base_url: str, user: str, password: str, app: str, *,
                 session: aiohttp.ClientSession | None = None, request_timeout: float = 10.0,
                 connect_timeout: float = 10.0, pool_size: int = 64,
                 event_types: Sequence[str] = DEFAULT_EVENT_TYPES, heartbeat: float = 10.0,
                 backoff_min: float = 0.2, backoff_max: float = 10.0,
                 unowned_maxsize: int = 10_000, rng: random.Random | None = None,
                 on_request: RequestHook | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        self._api = self.base_url + "/ari"
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._auth = {"Authorization": f"Basic {token}"}
        self._session = session
        self._own_session = session is None
        self._request_timeout = request_timeout
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._connect_timeout = connect_timeout
        self._pool_size = pool_size
        self._event_types = tuple(event_types)
        self._heartbeat = heartbeat
        self._backoff = (backoff_min, backoff_max)
        self._rng = rng or random.Random()
        self._on_request = on_request
        self._router = Router(unowned_maxsize)
        self._sources: set[str] = set()
        self._state = ClientState.NEW
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._startup_time: str | None = None
        self.connections = 0

    def __repr__(self) -> str:
        return f"AriClient({self.base_url!r}, app={self.app!r}, state={self._state.value})"

    # -- life cycle --------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """The client's state (connected, reconnecting, ...)."""
        return self._state

    @property
    def is_connected(self) -> bool:
        """True while the events WebSocket is up."""
        return self._connected.is_set()

    def _set_state(self, state: ClientState) -> None:
        if state is not self._state:
            log.info("ari[%s]: %s -> %s", self.app, self._state.value, state.value)
            self._state = state

    async def __aenter__(self) -> Self:
        if self._state is not ClientState.NEW:
            raise AriError("an AriClient can be entered only once")
        self._set_state(ClientState.CONNECTING)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, force_close=False))
        self._runner = asyncio.create_task(self._run(), name=f"ari[{self.app}]")
        try:
            await self.wait_connected(self._connect_timeout)
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._shutdown()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the events WebSocket is up; AriConnectionLost after `timeout` s."""
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            pending: set[asyncio.Future[Any]] = {waiter}
            if self._runner is not None:
                pending.add(self._runner)
            done, _ = await asyncio.wait(pending, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self._connected.is_set():
            return
        if self._runner is not None and self._runner in done:
            self._runner.result()
        raise AriConnectionLost(f"ARI events WebSocket of {self.base_url} not up "
                                f"within {timeout} s")

    async def _shutdown(self) -> None:
        if self._state is ClientState.CLOSED:
            return
        if self._sources and self._connected.is_set():
            try:
                await self._request("DELETE", f"/applications/{self.app}/subscription",
                                    params={"eventSource": ",".join(sorted(self._sources))})
            except AriError as exc:
                log.warning("ari[%s]: unsubscribing on exit failed: %s", self.app, exc)
        self._set_state(ClientState.CLOSED)
        self._connected.clear()
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        self._router.close()
        if self._own_session and self._session is not None:
            await self._session.close()

    # -- events ------------------------------------------------------------------------

    def subscribe(self, *ids: str) -> Subscription:
        """A queue of the events about these resources (channel/bridge/playback ids ...).

        Subscribe to a channel id *before* creating the channel with that id, and
        no event of it is missed. Close the subscription when the call is over.
        """
        return self._router.subscribe(*ids)

    @property
    def unowned(self) -> Subscription:
        """Events no subscription owns (e.g. agents' login StasisStart), and
        the client's own Connected/Disconnected events, in order."""
        return self._router.unowned

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._events_loop(), name=f"ari[{self.app}].events")

    def _delay(self, failures: int) -> float:
        low, high = self._backoff
        return self._rng.uniform(low, min(high, low * 2 ** failures))

    async def _events_loop(self) -> None:
        failures = 0
        while True:
            try:
                ws = await self._open_websocket()
            except (aiohttp.ClientError, OSError, TimeoutError, AriError) as exc:
                failures += 1
                delay = self._delay(failures)
                log.warning("ari[%s]: events WebSocket: %s; retrying in %.2f s",
                            self.app, _describe(exc), delay)
                await asyncio.sleep(delay)
                continue
            reason = "closed by Asterisk"
            try:
                await self._on_connected()
                failures = 0
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        self._on_message(message.data)
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        reason = _describe(ws.exception())
                        break
            except (aiohttp.ClientError, OSError, TimeoutError, AriError) as exc:
                reason = _describe(exc)
            finally:
                self._connected.clear()
                await ws.close()
            if self._state is ClientState.CLOSED:
                return
            self._set_state(ClientState.RECONNECTING)
            self._router.unowned._put(Disconnected(application=self.app, reason=reason))
            failures += 1
            delay = self._delay(failures)
            log.warning("ari[%s]: events WebSocket lost (%s); reconnecting in %.2f s",
                        self.app, reason, delay)
            await asyncio.sleep(delay)

    async def _open_websocket(self) -> aiohttp.ClientWebSocketResponse:
        assert self._session is not None
        url = self._api.replace("http", "ws", 1) + "/events"
        async with asyncio.timeout(self._request_timeout):
            return await self._session.ws_connect(
                url, params={"app": self.app, "subscribeAll": "false"}, headers=self._auth,
                heartbeat=self._heartbeat, max_msg_size=16 * 1024 * 1024)

    async def _on_connected(self) -> None:
        await self.set_event_filter(self._event_types)
        if self._sources:
            await self._request("POST", f"/applications/{self.app}/subscription",
                                params={"eventSource": ",".join(sorted(self._sources))})
        info = await self._request("GET", "/asterisk/info", params={"only": "status"})
        startup = (info or {}).get("status", {}).get("startup_time")
        restarted = self._startup_time is not None and startup != self._startup_time
        self._startup_time = startup
        self.connections += 1
        self._set_state(ClientState.CONNECTED)
        self._connected.set()
        self._router.unowned._put(Connected(application=self.app,
                                            reconnected=self.connections > 1,
                                            asterisk_restarted=restarted))

    def _on_message(self, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("ari[%s]: an event that is not JSON was dropped", self.app)
            return
        if isinstance(data, dict):
            self._router.dispatch(parse_event(data))

    # -- HTTP --------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                       body: Any = None, channel_id: str | None = None,
                       creates: bool = False) -> Any:
        """One REST call. GET parameters go in the query; all others in the JSON body,
        so numbers and variables never appear in a URL.

        Errors carry `channel_id`; a 404/422 about an existing channel (not one
        this request `creates`) raises ChannelGone."""
        if self._session is None or self._session.closed:
            raise AriConnectionLost("the client is not open")
        query = None
        payload = body
        if params:
            clean = _params(params)
            if method == "GET":
                query = clean
            else:
                payload = {**clean, **(body or {})}
        status: int | None = None
        started = time.perf_counter()
        try:
            async with self._session.request(method, self._api + path, params=query,
                                             json=payload, headers=self._auth,
                                             timeout=self._timeout) as resp:
                data = await resp.read()
                status = resp.status
        except TimeoutError as exc:
            raise AriTimeout(method, path, self._request_timeout) from exc
        except aiohttp.ClientError as exc:
            raise AriConnectionLost(f"{method} {path}: {_describe(exc)}") from exc
        finally:
            if self._on_request is not None:
                self._on_request(method, path_template(path), time.perf_counter() - started,
                                 status)
        if status >= 400:
            raise _request_error(method, path, status, data, channel_id, creates)
        if not data:
            return None
        return json.loads(data)

    async def asterisk_info(self) -> dict[str, Any]:
        """Asterisk's build, system, config and status information."""
        return dict(await self._request("GET", "/asterisk/info"))

    async def set_event_filter(self, event_types: Iterable[str]) -> None:
        """Ask Asterisk to send this application only these event types."""
        await self._request("PUT", f"/applications/{self.app}/eventFilter",
                            body={"allowed": [{"type": t} for t in event_types]})

    async def subscribe_source(self, *sources: str) -> None:
        """Subscribe the application to event sources (`endpoint:PJSIP/x`, `channel:<id>`,
        `bridge:<id>`); endpoint sources are re-subscribed after every reconnection."""
        await self._request("POST", f"/applications/{self.app}/subscription",
                            params={"eventSource": ",".join(sources)})
        self._sources.update(s for s in sources if s.startswith(("endpoint:", "deviceState:")))

    async def unsubscribe_source(self, *sources: str) -> None:
        """Undo `subscribe_source`."""
        self._sources.difference_update(sources)
        await self._request("DELETE", f"/applications/{self.app}/subscription",
                            params={"eventSource": ",".join(sources)})

    # -- channels ----------------------------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        """Every live channel on this Asterisk (for reconciliation after a gap)."""
        return [Channel.from_json(c) for c in await self._request("GET", "/channels")]

    async def get_channel(self, channel_id: str) -> Channel:
        """A channel's current snapshot; ChannelGone if it no longer exists."""
        return Channel.from_json(await self._request("GET", f"/channels/{channel_id}",
                                                     channel_id=channel_id))

    async def originate(self, endpoint: str, *, channel_id: str, context: str | None = None,
                        extension: str | None = None, priority: int | None = None,
                        app: str | None = None, app_args: Sequence[str] | None = None,
                        variables: Mapping[str, str] | None = None, timeout: int | None = None,
                        caller_id: str | None = None, other_channel_id: str | None = None,
                        originator: str | None = None) -> Channel:
        """Create a channel and dial it, into a dialplan context or into `app`.

        `channel_id` must be a fixed-length id (a UUID): Asterisk refuses `X-3`
        while `X-30` exists. `timeout` is the ring time in seconds.
        """
        params = {"endpoint": endpoint, "channelId": channel_id, "context": context,
                  "extension": extension, "priority": priority, "app": app,
                  "appArgs": ",".join(app_args) if app_args else None, "timeout": timeout,
                  "callerId": caller_id, "otherChannelId": other_channel_id,
                  "originator": originator}
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self._request("POST", "/channels", params=params, body=body,
                                                     channel_id=channel_id, creates=True))

    async def create_channel(self, endpoint: str, *, channel_id: str, app: str | None = None,
                             app_args: Sequence[str] | None = None,
                             variables: Mapping[str, str] | None = None,
                             other_channel_id: str | None = None,
                             originator: str | None = None) -> Channel:
        """Create a channel in the application without dialling it (see `dial`)."""
        params = {"endpoint": endpoint, "channelId": channel_id, "app": app or self.app,
                  "appArgs": ",".join(app_args) if app_args else None,
                  "otherChannelId": other_channel_id, "originator": originator}
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self._request("POST", "/channels/create", params=params,
                                                     body=body, channel_id=channel_id,
                                                     creates=True))

    async def dial(self, channel_id: str, *, caller: str | None = None,
                   timeout: int | None = None) -> None:
        """Dial a channel made by `create_channel`; `timeout` is the ring time in s."""
        await self._request("POST", f"/channels/{channel_id}/dial",
                            params={"caller": caller, "timeout": timeout}, channel_id=channel_id)

    async def answer(self, channel_id: str) -> None:
        """Answer a channel."""
        await self._request("POST", f"/channels/{channel_id}/answer", channel_id=channel_id)

    async def hangup(self, channel_id: str, cause: int | None = None) -> None:
        """Hang a channel up, with a Q.850 cause (e.g. 16 normal, 21 rejected)."""
        await self._request("DELETE", f"/channels/{channel_id}",
                            params={"reason_code": None if cause is None else str(cause)},
                            channel_id=channel_id)

    async def continue_in_dialplan(self, channel_id: str, *, context: str | None = None,
                                   extension: str | None = None, priority: int | None = None,
                                   label: str | None = None) -> None:
        """Send a channel out of the application, back into the dialplan."""
        await self._request("POST", f"/channels/{channel_id}/continue",
                            params={"context": context, "extension": extension,
                                    "priority": priority, "label": label},
                            channel_id=channel_id)

    async def get_variable(self, channel_id: str, name: str) -> str:
        """A channel variable (or dialplan function, e.g. `CHANNEL(rtpqos)`)."""
        data = await self._request("GET", f"/channels/{channel_id}/variable",
                                   params={"variable": name}, channel_id=channel_id)
        return str(data.get("value", ""))

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        """Set a channel variable."""
        await self._request("POST", f"/channels/{channel_id}/variable",
                            params={"variable": name, "value": value}, channel_id=channel_id)

    async def send_dtmf(self, channel_id: str, digits: str, *, duration_ms: int | None = None,
                        between_ms: int | None = None) -> None:
        """Send DTMF digits to a channel."""
        await self._request("POST", f"/channels/{channel_id}/dtmf",
                            params={"dtmf": digits, "duration": duration_ms,
                                    "between": between_ms}, channel_id=channel_id)

    async def snoop(self, channel_id: str, *, snoop_id: str, spy: str = "both",
                    whisper: str = "none", app: str | None = None,
                    app_args: Sequence[str] | None = None) -> Channel:
        """A snoop channel on `channel_id` (spy/whisper: none, in, out, both), in the app."""
        params = {"snoopId": snoop_id, "spy": spy, "whisper": whisper, "app": app or self.app,
                  "appArgs": ",".join(app_args) if app_args else None}
        return Channel.from_json(await self._request("POST", f"/channels/{channel_id}/snoop",
                                                     params=params, channel_id=channel_id))

    # -- bridges -----------------------------------------------------------------------

    async def create_bridge(self, bridge_id: str, *, bridge_type: str = MIXING_BRIDGE,
                            name: str | None = None) -> Bridge:
        """Create a bridge (mixing with DTMF events by default)."""
        return Bridge.from_json(await self._request(
            "POST", "/bridges", params={"bridgeId": bridge_id, "type": bridge_type, "name": name}))

    async def add_to_bridge(self, bridge_id: str, channel_id: str, *,
                            role: str | None = None) -> None:
        """Put a channel into a bridge; ChannelGone if the channel is not there."""
        await self._request("POST", f"/bridges/{bridge_id}/addChannel",
                            params={"channel": channel_id, "role": role}, channel_id=channel_id)

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Take a channel out of a bridge."""
        await self._request("POST", f"/bridges/{bridge_id}/removeChannel",
                            params={"channel": channel_id}, channel_id=channel_id)

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge (its channels stay up)."""
        await self._request("DELETE", f"/bridges/{bridge_id}")

    async def list_bridges(self) -> list[Bridge]:
        """Every bridge on this Asterisk."""
        return [Bridge.from_json(b) for b in await self._request("GET", "/bridges")]

    # -- media -------------------------------------------------------------------------

    async def play(self, target: str, media: str | Sequence[str], *, playback_id: str,
                   lang: str | None = None) -> Playback:
        """Play media (`sound:x`, `recording:x`, `tone:x`, ...) to `channel:<id>` or
        `bridge:<id>`."""
        kind, _, resource = target.partition(":")
        media_list = [media] if isinstance(media, str) else list(media)
        data = await self._request("POST", f"/{_collection(kind)}/{resource}/play",
                                   params={"media": ",".join(media_list),
                                           "playbackId": playback_id, "lang": lang},
                                   channel_id=resource if kind == "channel" else None)
        return Playback.from_json(data)

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback."""
        await self._request("DELETE", f"/playbacks/{playback_id}")

    async def record(self, target: str, name: str, *, fmt: str = "wav",
                     max_duration_s: int | None = None, max_silence_s: int | None = None,
                     if_exists: str = "fail", beep: bool = False,
                     terminate_on: str = "none") -> LiveRecording:
        """Record `channel:<id>` or `bridge:<id>` into the spool's recording/<name>.<fmt>."""
        kind, _, resource = target.partition(":")
        params = {"name": name, "format": fmt, "maxDurationSeconds": max_duration_s,
                  "maxSilenceSeconds": max_silence_s, "ifExists": if_exists, "beep": beep,
                  "terminateOn": terminate_on}
        data = await self._request("POST", f"/{_collection(kind)}/{resource}/record",
                                   params=params,
                                   channel_id=resource if kind == "channel" else None)
        return LiveRecording.from_json(data)

    async def stop_recording(self, name: str) -> None:
        """Stop a live recording and keep its file."""
        await self._request("POST", f"/recordings/live/{name}/stop")

    async def delete_stored_recording(self, name: str) -> None:
        """Delete a finished recording's file from Asterisk's spool."""
        await self._request("DELETE", f"/recordings/stored/{name}")

    # -- endpoints ---------------------------------------------------------------------

    async def list_endpoints(self, technology: str | None = None) -> list[Endpoint]:
        """Endpoints (all, or of one technology such as PJSIP) and their states."""
        path = "/endpoints" if technology is None else f"/endpoints/{technology}"
        return [Endpoint.from_json(e) for e in await self._request("GET", path)]

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        """One endpoint's state and channels."""
        return Endpoint.from_json(await self._request("GET",
                                                      f"/endpoints/{technology}/{resource}"))


def _collection(kind: str) -> str:
    if kind not in ("channel", "bridge"):
        raise ValueError(f"target must be channel:<id> or bridge:<id>, not {kind}:…")
    return kind + "s"


def _request_error(method: str, path: str, status: int, data: bytes,
                   channel_id: str | None, creates: bool) -> AriRequestError:
    try:
        message = str(json.loads(data).get("message", ""))
    except (ValueError, AttributeError):
        message = data[:200].decode("utf-8", "replace")
    gone = (channel_id is not None and not creates
            and (status in (404, 422) or "Channel not found" in message))
    cls = ChannelGone if gone else AriRequestError
    return cls(method, path, status, message, channel_id)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
