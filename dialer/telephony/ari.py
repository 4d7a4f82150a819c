"""AriTelephony: the engine's `Telephony` on a real Asterisk, over an `ari_bridge.AriClient`.

The engine owns the client (it connects and closes it); `AriTelephony` only adds its
tasks and subscriptions, and `close()` removes those. Construct it inside the running
event loop.

Customer calls follow the dialplan contract of asterisk-conf/etc/extensions.conf:
`originate` subscribes to the channel id it chose, creates the channel straight into
`dialer-outbound,s,1` with `DIALER_ATTEMPT=<attempt id>` (and `DIALER_AMD=off` when AMD
is not wanted), a `X-Dialer-Attempt: <attempt id>` header on the INVITE, and then
subscribes the application to `channel:<id>` so the ChannelDestroyed of a call that is
never answered arrives too.

What the engine hears (one `asyncio.Queue`, fed by one pump task per owned channel and
one for the client's `unowned` stream):

    a customer's channel first seen Up (AMD is listening)     -> CallUp
    StasisStart(attempt, AMDSTATUS, AMDCAUSE) of a customer  -> CallAnswered
    ChannelDtmfReceived on an owned channel                   -> Dtmf
    ChannelDestroyed of an owned channel                      -> CallEnded(cause, answered)
    unowned StasisStart("agent-login", id, pin)               -> AgentLogin (the channel is
                                                                 owned from then on)
    client Connected(reconnected=True)                        -> Reconnected(restarted)

`answered` is whether the channel was seen Up at some point. StasisEnd is no end: a
channel ends only with its ChannelDestroyed, exactly once. Where that event cannot come,
the cause is inferred (Q.850):
- the channel was already gone when `channel:<id>` was subscribed (it failed within
  milliseconds of the originate): 38 (failure), or 16 if it had been Up;
- the events WebSocket dropped while the channel lived: after the reconnection (or at
  the next `live_channels()` if listing failed then), a channel Asterisk no longer has
  ends with 16 (normal) if it had been Up, else 19 (no answer: nothing was learnt about
  its ringing, so the call counts as one to try again; a callee who answered while
  the socket was down met a failing Stasis() and was hung up, unseen, and counts so
  too). These CallEnded come before the `Reconnected` that announces the reconnection.
  A channel still there is subscribed again and, if its StasisStart was lost with the
  socket, gets its CallAnswered then (from the Stasis() arguments Asterisk lists).

Owned channels are the ones `originate` created, agent logins, and dialer customer
channels found by `live_channels()` or entering Stasis without an owner (an earlier
engine process dialled them; the StasisStart gives their CallAnswered): from then on
they report Dtmf and one CallEnded too. One found already in Stasis gets no
CallAnswered: its `LiveChannel.in_application` says it.

`play` returns when Asterisk reports the playback finished, or when the channel ends:
no timer decides it.

Logs and errors name channel ids and attempt ids, never numbers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from ari_bridge import (
    MIXING_BRIDGE,
    ApplicationReplaced,
    AriClient,
    AriConnectionLost,
    AriError,
    AriRequestError,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelGone,
    Connected,
    Disconnected,
    Event,
    PlaybackFinished,
    StasisStart,
    Subscription,
    SubscriptionClosed,
)
from dialer.gate import DialTicket
from dialer.telephony.protocol import (
    CAUSE_FAILURE,
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    AgentLogin,
    CallAnswered,
    CallEnded,
    CallUp,
    Dtmf,
    LiveChannel,
    OriginateRequest,
    Reconnected,
    TelephonyError,
    TelephonyEvent,
)
from dnc import mask_numbers_in_text

log = logging.getLogger(__name__)

#: The channel variable carrying the attempt id (the dialplan contract).
ATTEMPT_VARIABLE = "DIALER_ATTEMPT"
#: The SIP header on the INVITE carrying the attempt id (SIPp traces are matched by it).
ATTEMPT_HEADER = "X-Dialer-Attempt"
AGENT_LOGIN = "agent-login"

_UP = "Up"
_GONE_STATUSES = (404, 422)      # "not found" / "event source does not exist"
_LEAVING_STASIS = 409            # "bridge not in Stasis application": being destroyed
_BRIDGE_TEARDOWN_S = 2.0         # how long a bridge being destroyed may stay listed
_BRIDGE_POLL_S = 0.02
_WATCH_RETRIES = (0.5, 2.0)      # pauses between attempts to subscribe channel:<id>
_LOOKUPS = 16                    # concurrent DIALER_ATTEMPT reads in live_channels()


@dataclass(eq=False)
class _Leg:
    """One channel the telephony owns and reports on."""

    channel_id: str
    attempt_id: uuid.UUID | None     # None: an agent's phone
    sub: Subscription
    answered: bool = False           # seen Up at some point
    announced: bool = False          # its CallAnswered is out (or is no longer due)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def saw(self, channel: Channel | None) -> bool:
        """Note the channel's state from an event's snapshot of it; True when this is
        the first sight of it Up."""
        if channel is not None and channel.id == self.channel_id and channel.state == _UP \
                and not self.answered:
            self.answered = True
            return True
        return False


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


class AriTelephony:
    """The `Telephony` protocol on a real Asterisk (see the module docstring)."""

    def __init__(self, ari: AriClient, *, context: str = "dialer-outbound",
                 extension: str = "s") -> None:
        self._ari = ari
        self._context = context
        self._extension = extension
        self._legs: dict[str, _Leg] = {}
        self._queue: asyncio.Queue[TelephonyEvent | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsure: set[str] = set()   # owned channels whose end may have been missed
        self._in_gap = not ari.is_connected
        self._consumed = False
        self._closing = asyncio.Event()
        self._spawn(self._pump_unowned(), "ari-telephony.unowned")

    # -- events ----------------------------------------------------------------------

    async def events(self) -> AsyncIterator[TelephonyEvent]:
        """Every event, in the order they were understood (one consumer; ends on close)."""
        if self._consumed:
            raise RuntimeError("AriTelephony.events() has a single consumer")
        self._consumed = True
        while (event := await self._queue.get()) is not None:
            yield event

    def _emit(self, event: TelephonyEvent) -> None:
        if not self._closing.is_set():
            self._queue.put_nowait(event)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=exc)

    # -- owned channels --------------------------------------------------------------

    def _own(self, channel_id: str, attempt_id: uuid.UUID | None) -> _Leg:
        leg = _Leg(channel_id, attempt_id, self._ari.subscribe(channel_id))
        self._legs[channel_id] = leg
        if self._in_gap:
            self._unsure.add(channel_id)
        return leg

    def _start_pump(self, leg: _Leg) -> None:
        self._spawn(self._pump(leg), f"ari-telephony.{leg.channel_id}")

    async def _pump(self, leg: _Leg) -> None:
        async for event in leg.sub:
            self._on_event(leg, event)

    def _on_event(self, leg: _Leg, event: Event) -> None:
        if leg.ended.is_set():
            return
        if leg.saw(getattr(event, "channel", None)) and leg.attempt_id is not None \
                and not leg.announced:
            self._emit(CallUp(leg.channel_id))
        if isinstance(event, StasisStart):
            self._answered(leg, event.args)
        elif isinstance(event, ChannelDtmfReceived):
            self._emit(Dtmf(leg.channel_id, event.digit))
        elif isinstance(event, ChannelDestroyed):
            self._end(leg, event.cause)

    def _answered(self, leg: _Leg, args: Sequence[str]) -> None:
        """A customer's StasisStart(attempt, AMDSTATUS, AMDCAUSE): its CallAnswered, once."""
        if leg.attempt_id is None or leg.announced:
            return
        leg.announced = True
        if not args or args[0] != str(leg.attempt_id):
            log.warning("channel %s of attempt %s entered Stasis with another attempt id",
                        leg.channel_id, leg.attempt_id)
        status = args[1] if len(args) > 1 and args[1] else "NOTSURE"
        cause = args[2] if len(args) > 2 else ""
        self._emit(CallAnswered(leg.channel_id, leg.attempt_id, status, cause))

    def _end(self, leg: _Leg, cause: int) -> None:
        """The channel is gone: its one CallEnded; stop owning it."""
        if leg.ended.is_set():
            return
        leg.ended.set()
        leg.sub.close()
        self._legs.pop(leg.channel_id, None)
        self._unsure.discard(leg.channel_id)
        self._emit(CallEnded(leg.channel_id, cause, answered=leg.answered))

    async def _watch(self, leg: _Leg) -> None:
        """Subscribe the application to `channel:<id>` (for its ChannelDestroyed); a
        channel already gone ends here. Never raises: when Asterisk cannot be asked, the
        channel is settled at the next reconnection or `live_channels()`."""
        for pause in (0.0, *_WATCH_RETRIES):
            if pause:
                await asyncio.sleep(pause)
            try:
                await self._ari.subscribe_source(f"channel:{leg.channel_id}")
                return
            except AriRequestError as exc:
                if exc.status in _GONE_STATUSES:
                    log.info("channel %s was gone before it could be watched",
                             leg.channel_id)
                    self._end(leg, CAUSE_NORMAL if leg.answered else CAUSE_FAILURE)
                    return
                failure: AriError = exc
            except AriConnectionLost as exc:
                failure = exc
        log.warning("channel %s: cannot watch it (%s); settled after reconnection",
                    leg.channel_id, failure)
        self._unsure.add(leg.channel_id)

    # -- the client's unowned stream -------------------------------------------------

    async def _pump_unowned(self) -> None:
        async for event in self._ari.unowned:
            try:
                await self._on_unowned(event)
            except AriError as exc:
                log.warning("handling %s: %s", type(event).__name__, exc)

    async def _on_unowned(self, event: Event) -> None:
        if isinstance(event, Disconnected):
            self._in_gap = True
            self._unsure.update(self._legs)
        elif isinstance(event, Connected):
            self._in_gap = False
            await self._reconcile()
            if event.reconnected:
                self._emit(Reconnected(restarted=event.asterisk_restarted))
        elif isinstance(event, StasisStart) and event.channel.id not in self._legs:
            await self._stasis_start(event)
        elif isinstance(event, ApplicationReplaced):
            log.error("another client took the ARI application %r: no more events",
                      self._ari.app)
        else:
            for key in event.routing_keys():
                if (leg := self._legs.get(key)) is not None:
                    # it came before the channel was owned
                    self._on_event(leg, event)

    async def _stasis_start(self, event: StasisStart) -> None:
        channel_id = event.channel.id
        args = event.args
        if len(args) >= 3 and args[0] == AGENT_LOGIN:
            leg = self._own(channel_id, None)
            leg.saw(event.channel)
            log.info("agent %s logging in on channel %s", args[1], channel_id)
            self._emit(AgentLogin(channel_id, args[1], args[2]))
        elif args and (attempt_id := _uuid(args[0])) is not None:
            leg = self._own(channel_id, attempt_id)
            log.info("adopting channel %s of attempt %s (it entered Stasis unowned)",
                     channel_id, attempt_id)
            self._on_event(leg, event)
        else:
            log.warning("channel %s entered Stasis with %d unexpected argument(s); ignored",
                        channel_id, len(args))
            return
        self._start_pump(leg)
        await self._watch(leg)

    async def _reconcile(self, channels: Sequence[Channel] | None = None) -> None:
        """Settle the owned channels whose end may have been missed (see the module
        docstring); keeps them unsure if Asterisk cannot be asked now."""
        if not self._unsure:
            return
        if channels is None:
            try:
                channels = await self._ari.list_channels()
            except AriError as exc:
                log.warning("reconciling after a gap: %s (retried at live_channels())", exc)
                return
        live = {c.id: c for c in channels}
        still: list[_Leg] = []
        for channel_id in list(self._unsure):
            leg = self._legs.get(channel_id)
            channel = live.get(channel_id)
            if leg is None:
                self._unsure.discard(channel_id)
            elif channel is None:
                cause = CAUSE_NORMAL if leg.answered else CAUSE_NO_ANSWER
                log.info("channel %s vanished during a gap in the events: ended as %d",
                         channel_id, cause)
                self._end(leg, cause)
            elif not self._in_gap:            # while the gap lasts it stays unsure
                self._unsure.discard(channel_id)
                still.append(leg)
        for leg in still:
            channel = live[leg.channel_id]
            leg.saw(channel)
            stasis = self._stasis_args(channel)
            if stasis is not None:
                self._answered(leg, stasis)
        await asyncio.gather(*[self._watch(leg) for leg in still])

    def _stasis_args(self, channel: Channel) -> list[str] | None:
        """The Stasis() arguments of a channel in this application now, else None."""
        where = channel.dialplan
        if where.app_name != "Stasis":
            return None
        app, *args = where.app_data.split(",")
        return args if app == self._ari.app else None

    # -- requests --------------------------------------------------------------------

    async def originate(self, ticket: DialTicket, request: OriginateRequest) -> None:
        """Start ringing the ticket's number; `TelephonyError` if it could not start
        (then nothing is ever reported for the channel)."""
        if self._closing.is_set():
            raise TelephonyError("the telephony is closed")
        attempt = str(ticket.attempt_id)
        variables = {**request.variables, ATTEMPT_VARIABLE: attempt,
                     f"PJSIP_HEADER(add,{ATTEMPT_HEADER})": attempt}
        if not request.amd:
            variables["DIALER_AMD"] = "off"
        assert variables[ATTEMPT_VARIABLE] == attempt, "the ticket names the attempt"
        channel_id = request.channel_id
        if channel_id in self._legs:
            raise TelephonyError(f"channel {channel_id} already exists")
        leg = self._own(channel_id, ticket.attempt_id)
        try:
            await self._ari.originate(
                request.endpoint, channel_id=channel_id, context=self._context,
                extension=self._extension, priority=1, variables=variables,
                timeout=math.ceil(request.ring_timeout), caller_id=request.caller_id)
        except AriError as exc:
            leg.sub.close()
            self._legs.pop(channel_id, None)
            self._unsure.discard(channel_id)
            if isinstance(exc, AriConnectionLost):
                await self._drop_unwatched(channel_id)
            raise TelephonyError(f"originate of channel {channel_id} (attempt {attempt}) "
                                 f"failed: {mask_numbers_in_text(str(exc))}") from exc
        log.debug("channel %s ringing for attempt %s", channel_id, attempt)
        self._start_pump(leg)
        await self._watch(leg)

    async def _drop_unwatched(self, channel_id: str) -> None:
        """After an originate that got no answer: hang the channel up in case it was
        made, since nobody would hear of it (best effort)."""
        try:
            await self._ari.hangup(channel_id)
        except AriError:
            pass

    async def hangup(self, channel_id: str, cause: int = CAUSE_NORMAL) -> None:
        """Hang a channel up; one already gone is no error."""
        try:
            await self._ari.hangup(channel_id, cause)
        except ChannelGone:
            pass
        except AriError as exc:
            raise TelephonyError(f"hangup of channel {channel_id}: {exc}") from exc

    async def answer(self, channel_id: str) -> None:
        """Answer a channel waiting in the application."""
        try:
            await self._ari.answer(channel_id)
        except AriError as exc:
            raise TelephonyError(f"answer of channel {channel_id}: {exc}") from exc

    async def create_bridge(self, bridge_id: str) -> None:
        """Create a mixing bridge that passes DTMF events."""
        try:
            await self._ari.create_bridge(bridge_id, bridge_type=MIXING_BRIDGE)
        except AriError as exc:
            raise TelephonyError(f"creating bridge {bridge_id}: {exc}") from exc

    async def add_to_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Put a channel in a bridge."""
        try:
            await self._ari.add_to_bridge(bridge_id, channel_id)
        except AriError as exc:
            raise TelephonyError(f"adding channel {channel_id} to bridge {bridge_id}: "
                                 f"{exc}") from exc

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Take a channel out of a bridge; gone channels or bridges are no error."""
        try:
            await self._ari.remove_from_bridge(bridge_id, channel_id)
        except ChannelGone:
            pass
        except AriRequestError as exc:
            if exc.status not in _GONE_STATUSES:
                raise TelephonyError(f"removing channel {channel_id} from bridge "
                                     f"{bridge_id}: {exc}") from exc
        except AriError as exc:
            raise TelephonyError(f"removing channel {channel_id} from bridge {bridge_id}: "
                                 f"{exc}") from exc

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge; a gone one, or one another request is destroying, is no error.
        On return the bridge is gone."""
        try:
            await self._ari.destroy_bridge(bridge_id)
        except AriRequestError as exc:
            if exc.status == _LEAVING_STASIS:
                await self._await_bridge_gone(bridge_id, exc)
            elif exc.status != 404:
                raise TelephonyError(f"destroying bridge {bridge_id}: {exc}") from exc
        except AriError as exc:
            raise TelephonyError(f"destroying bridge {bridge_id}: {exc}") from exc

    async def _await_bridge_gone(self, bridge_id: str, conflict: AriRequestError) -> None:
        """Asterisk drops a bridge being destroyed from Stasis before it drops its snapshot,
        and answers 409 in between: wait for the snapshot to go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _BRIDGE_TEARDOWN_S
        while True:
            try:
                listed = {b.id for b in await self._ari.list_bridges()}
            except AriError as exc:
                raise TelephonyError(f"destroying bridge {bridge_id}: {exc}") from exc
            if bridge_id not in listed:
                return
            if loop.time() >= deadline:
                raise TelephonyError(f"destroying bridge {bridge_id}: {conflict} (still "
                                     f"there after {_BRIDGE_TEARDOWN_S:g} s)") from conflict
            await asyncio.sleep(_BRIDGE_POLL_S)

    async def play(self, channel_id: str, media: str) -> bool:
        """Play `media` to a channel; True when it played to the end, False when it did
        not (the channel hung up or went away, or the media failed)."""
        playback_id = str(uuid.uuid4())
        leg = self._legs.get(channel_id)
        with self._ari.subscribe(playback_id) as sub:
            try:
                await self._ari.play(f"channel:{channel_id}", media, playback_id=playback_id)
            except ChannelGone:
                return False
            except AriError as exc:
                raise TelephonyError(f"playing to channel {channel_id}: {exc}") from exc
            finished = asyncio.ensure_future(_playback_finished(sub, playback_id))
            closing = asyncio.ensure_future(self._closing.wait())
            waits: set[asyncio.Future[Any]] = {finished, closing}
            if leg is not None:
                waits.add(asyncio.ensure_future(leg.ended.wait()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()
            if finished.done() and not finished.cancelled():
                state = finished.result()
                if state != "done":
                    log.debug("playback %s on channel %s ended %s", playback_id, channel_id,
                             state or "unseen")
                return state == "done"
            if self._closing.is_set():
                raise TelephonyError(f"playing to channel {channel_id}: telephony closed")
            return False

    async def live_channels(self) -> list[LiveChannel]:
        """The channels Asterisk has now. Dialer customer channels nobody owned are
        owned from now on (they report Dtmf and CallEnded); owned ones whose end may
        have been missed in a gap are settled first."""
        try:
            channels = await self._ari.list_channels()
        except AriError as exc:
            raise TelephonyError(f"listing channels: {exc}") from exc
        await self._reconcile(channels)
        gate = asyncio.Semaphore(_LOOKUPS)
        found = await asyncio.gather(*[self._live(channel, gate) for channel in channels])
        return [live for live in found if live is not None]

    async def _live(self, channel: Channel, gate: asyncio.Semaphore) -> LiveChannel | None:
        stasis = self._stasis_args(channel)
        leg = self._legs.get(channel.id)
        if leg is not None:
            attempt_id = leg.attempt_id
        elif stasis is not None:
            attempt_id = _uuid(stasis[0]) if stasis else None
        else:
            async with gate:
                try:
                    attempt_id = _uuid(await self._ari.get_variable(channel.id,
                                                                    ATTEMPT_VARIABLE))
                except ChannelGone:
                    return None
                except AriError as exc:
                    raise TelephonyError(f"reading channel {channel.id}: {exc}") from exc
        if leg is None and attempt_id is not None and channel.id not in self._legs:
            leg = self._own(channel.id, attempt_id)
            leg.saw(channel)
            leg.announced = stasis is not None
            log.info("adopting channel %s of attempt %s", channel.id, attempt_id)
            self._start_pump(leg)
            await self._watch(leg)
        return LiveChannel(channel.id, attempt_id, channel.state, stasis is not None)

    async def close(self) -> None:
        """Stop this telephony's tasks and subscriptions; channels stay as they are and
        the client stays open. `events()` ends."""
        if self._closing.is_set():
            return
        self._closing.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for leg in self._legs.values():
            leg.sub.close()
        self._legs.clear()
        self._queue.put_nowait(None)


async def _playback_finished(sub: Subscription, playback_id: str) -> str:
    """The final state of a playback ("done": played to the end); "" if the client
    closed first."""
    try:
        while True:
            event = await sub.get()
            if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
                return event.playback.state
    except SubscriptionClosed:
        return ""
