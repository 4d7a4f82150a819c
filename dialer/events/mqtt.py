"""MqttBus: the event bus over an MQTT broker (aiomqtt), with its own reconnect loop.

    async with MqttBus(MqttConfig.from_url("mqtt://127.0.0.1"), node_id="n1") as bus:
        await bus.publish("dialer/n1/health", {...}, retain=True, qos=1)   # never waits
        async with bus.subscribe("dialer/n1/cmd") as messages:
            async for message in messages: ...

Decisions:
- Entering starts one task that owns a TaskGroup running the connection loop; it does
  not wait for the broker (the engine runs the same without one). Each connection is a
  fresh aiomqtt client: connect, announce health, re-subscribe every open subscription,
  then a receiver and a publisher run until the link drops; then a pause with capped
  exponential backoff and full jitter, and again.
- Outbound events wait in a bounded buffer (`MqttConfig.buffer`). `publish` serialises
  the payload, appends it and returns: it never waits for the broker. When the buffer
  is full the **oldest** event is dropped and counted (`stats.dropped`): a newer
  snapshot or state is worth more than an older one. The event being sent when the
  link drops stays at the head and is sent again after the reconnection.
- Health: a last will `{"node": …, "status": "offline"}` (retained, QoS 1) on
  `dialer/<node>/health`; at every connection the last health the node published
  (retained) or else a retained `online`; a clean exit publishes `offline` itself.
- Subscriptions (QoS 1) are remembered and re-made after every reconnection. Incoming
  payloads must be JSON objects; anything else is dropped, logged with its topic only,
  and counted (`stats.invalid`). A full subscriber queue drops and counts too.
- The password never appears in logs, reprs or errors; only `mqtt[s]://host:port` does.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import random
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiomqtt

from dialer.events.bus import DEFAULT_QUEUE, Message, topic_matches
from dialer.events.errors import BusClosed
from dialer.events.mqtt_config import MqttConfig
from dialer.events.topics import NodeStatus, health_topic, node_health

log = logging.getLogger(__name__)

_SUBSCRIBE_QOS = 1
_LINK_ERRORS = (aiomqtt.MqttError, OSError, TimeoutError)


class BusState(enum.Enum):
    """Where an MqttBus is in its life."""

    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class BusStats:
    """Counters of a bus since it was made (read by the metrics exporter)."""

    published: int = 0      # events the broker took (QoS 0: written; QoS 1: acknowledged)
    dropped: int = 0        # outbound events dropped: buffer full, or still queued at exit
    invalid: int = 0        # incoming messages that were not JSON objects
    undelivered: int = 0    # incoming messages a full subscriber queue could not take
    connections: int = 0    # successful connections to the broker
    link_failures: int = 0  # failed connection attempts and lost connections


@dataclass(frozen=True, eq=False)
class _Outgoing:
    topic: str
    data: bytes
    qos: int
    retain: bool


@dataclass(eq=False)
class _Subscriber:
    topic_filter: str
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE))


class MqttBus:
    """An `EventBus` on an MQTT broker; see the module docstring for its behaviour.

    `announce=False` makes an observer (the CLI, a dashboard): no health, no last will.
    """

    def __init__(self, config: MqttConfig, *, node_id: str, keepalive: int = 30,
                 op_timeout: float = 10.0, flush_timeout: float = 2.0,
                 backoff_min: float = 0.2, backoff_max: float = 30.0,
                 rng: random.Random | None = None, announce: bool = True) -> None:
        self.config = config
        self.node_id = node_id
        self.announce = announce
        self.stats = BusStats()
        self._health_topic = health_topic(node_id)
        self._health = _encode(node_health(node_id, NodeStatus.ONLINE).payload)
        self._will = _encode(node_health(node_id, NodeStatus.OFFLINE).payload)
        self._keepalive = keepalive
        self._op_timeout = op_timeout
        self._flush_timeout = flush_timeout
        self._backoff = (backoff_min, backoff_max)
        self._rng = rng or random.Random()
        self._queue: collections.deque[_Outgoing] = collections.deque()
        self._wakeup = asyncio.Event()
        self._subscribers: list[_Subscriber] = []
        self._filters: collections.Counter[str] = collections.Counter()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._state = BusState.NEW
        self._runner: asyncio.Task[None] | None = None
        self._dropping = False

    def __repr__(self) -> str:
        return (f"MqttBus({self.config.address}, node={self.node_id!r}, "
                f"state={self._state.value}, connected={self.is_connected})")

    # -- life cycle --------------------------------------------------------------------

    @property
    def state(self) -> BusState:
        """The bus's state (new, open, closing, closed)."""
        return self._state

    @property
    def is_connected(self) -> bool:
        """True while a connection to the broker is up."""
        return self._connected.is_set()

    @property
    def queued(self) -> int:
        """Outbound events waiting for the broker."""
        return len(self._queue)

    def _set_state(self, state: BusState) -> None:
        if state is not self._state:
            log.info("mqtt[%s]: %s -> %s", self.node_id, self._state.value, state.value)
            self._state = state

    async def __aenter__(self) -> Self:
        if self._state is not BusState.NEW:
            raise BusClosed("an MqttBus can be entered only once")
        ssl_context = self.config.ssl_context()
        self._set_state(BusState.OPEN)
        self._runner = asyncio.create_task(self._run(ssl_context), name=f"mqtt[{self.node_id}]")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Send what is queued (for up to `flush_timeout` s if connected, then announce
        `offline`), stop, and count what could not be sent as dropped."""
        if self._state in (BusState.CLOSING, BusState.CLOSED):
            return
        self._set_state(BusState.CLOSING)
        self._wakeup.set()
        runner = self._runner
        try:
            if runner is not None:
                if self.is_connected:
                    await asyncio.wait({runner}, timeout=self._flush_timeout + self._op_timeout)
                if not runner.done():
                    runner.cancel()
                try:
                    await runner
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise
        finally:
            if self._queue:
                log.warning("mqtt[%s]: %d events not sent before closing", self.node_id,
                            len(self._queue))
                self.stats.dropped += len(self._queue)
                self._queue.clear()
            self._set_state(BusState.CLOSED)

    async def wait_connected(self, timeout: float) -> None:
        """Wait until connected to the broker; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # -- publishing --------------------------------------------------------------------

    async def publish(self, topic: str, payload: dict[str, Any], *, retain: bool = False,
                      qos: int = 0) -> None:
        """Queue one event for the broker and return at once (drop-oldest when full)."""
        if self._state is not BusState.OPEN:
            raise BusClosed(f"the bus is {self._state.value}")
        _check_topic(topic)
        if qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")
        data = _encode(payload)
        if retain and topic == self._health_topic:
            self._health = data
        if len(self._queue) >= self.config.buffer:
            self._queue.popleft()
            self.stats.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("mqtt[%s]: outbound buffer full (%d); dropping the oldest events",
                            self.node_id, self.config.buffer)
        self._queue.append(_Outgoing(topic, data, qos, retain))
        self._wakeup.set()

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish queued events in order; returns once closing and the queue is empty."""
        while True:
            if not self._queue:
                if self._state is not BusState.OPEN:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self._queue[0]
            await client.publish(self._wire(item.topic), item.data, qos=item.qos,
                                 retain=item.retain, timeout=self._op_timeout)
            if self._queue and self._queue[0] is item:
                self._queue.popleft()
            self.stats.published += 1
            if self._dropping and len(self._queue) < self.config.buffer // 2:
                self._dropping = False

    # -- subscribing -------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self, topic_filter: str) -> AsyncIterator[AsyncIterator[Message]]:
        """Receive messages matching `topic_filter` while the context is open; the
        subscription is re-made after every reconnection."""
        if self._state is not BusState.OPEN:
            raise BusClosed(f"the bus is {self._state.value}")
        _check_filter(topic_filter)
        sub = _Subscriber(topic_filter)
        self._subscribers.append(sub)
        self._filters[topic_filter] += 1
        client = self._client
        if client is not None:
            try:
                await self._broker_subscribe(client, topic_filter)
            except _LINK_ERRORS as exc:
                log.info("mqtt[%s]: subscribing to %s failed (%s); the reconnection will",
                         self.node_id, topic_filter, _describe(exc))
        try:
            yield _drain(sub.queue)
        finally:
            self._subscribers.remove(sub)
            self._filters[topic_filter] -= 1
            if self._filters[topic_filter] == 0:
                del self._filters[topic_filter]
                client = self._client
                if client is not None:
                    try:
                        await client.unsubscribe(self._wire(topic_filter),
                                                 timeout=self._op_timeout)
                    except _LINK_ERRORS as exc:
                        log.info("mqtt[%s]: unsubscribing from %s failed: %s", self.node_id,
                                 topic_filter, _describe(exc))

    async def _broker_subscribe(self, client: aiomqtt.Client, topic_filter: str) -> None:
        granted = await client.subscribe(self._wire(topic_filter), qos=_SUBSCRIBE_QOS,
                                         timeout=self._op_timeout)
        if any(_code(granted_qos) >= 0x80 for granted_qos in granted):
            log.warning("mqtt[%s]: the broker refused the subscription to %s",
                        self.node_id, topic_filter)

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Hand incoming messages to matching subscribers; raises when the link drops."""
        async for incoming in client.messages:
            topic = self._unwire(str(incoming.topic))
            if topic is None:
                continue
            try:
                payload = json.loads(incoming.payload)
            except (TypeError, ValueError):
                payload = None
            if not isinstance(payload, dict):
                self.stats.invalid += 1
                log.warning("mqtt[%s]: dropped a message on %s that is not a JSON object",
                            self.node_id, topic)
                continue
            message = Message(topic, payload, retain=bool(incoming.retain))
            for sub in self._subscribers:
                if topic_matches(sub.topic_filter, topic):
                    try:
                        sub.queue.put_nowait(message)
                    except asyncio.QueueFull:
                        self.stats.undelivered += 1

    # -- the connection loop -----------------------------------------------------------

    async def _run(self, ssl_context: ssl.SSLContext | None) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._connect_loop(ssl_context),
                               name=f"mqtt[{self.node_id}].link")
        except Exception:
            # not a broker problem (those are retried): say so now, not only at close
            log.exception("mqtt[%s]: the connection loop failed; events are no longer sent",
                          self.node_id)
            raise

    async def _connect_loop(self, ssl_context: ssl.SSLContext | None) -> None:
        failures = 0
        while self._state is BusState.OPEN:
            connected_before = self.stats.connections
            try:
                await self._session(ssl_context)
            except* _LINK_ERRORS as group:
                reason = _describe(group)
            else:
                return
            if self._state is not BusState.OPEN:
                return
            self.stats.link_failures += 1
            failures = 1 if self.stats.connections > connected_before else failures + 1
            delay = self._delay(failures)
            log.warning("mqtt[%s]: %s: %s; retrying in %.2f s (%d events queued)",
                        self.node_id, self.config.address, reason, delay, len(self._queue))
            await asyncio.sleep(delay)

    def _delay(self, failures: int) -> float:
        low, high = self._backoff
        return self._rng.uniform(low, min(high, low * 2 ** failures))

    async def _session(self, ssl_context: ssl.SSLContext | None) -> None:
        """One connection: announce, re-subscribe, then receive and send until it drops."""
        will = (aiomqtt.Will(self._wire(self._health_topic), self._will, qos=1, retain=True)
                if self.announce else None)
        client = aiomqtt.Client(
            self.config.host, self.config.port, username=self.config.username,
            password=self.config.password, identifier=self.config.client_id, will=will,
            keepalive=self._keepalive, timeout=self._op_timeout, tls_context=ssl_context,
            clean_session=True, logger=logging.getLogger(f"{__name__}.paho"))
        async with client:
            self.stats.connections += 1
            log.info("mqtt[%s]: connected to %s (%d events queued)", self.node_id,
                     self.config.address, len(self._queue))
            self._client = client
            try:
                if self.announce:
                    await client.publish(self._wire(self._health_topic), self._health, qos=1,
                                         retain=True, timeout=self._op_timeout)
                for topic_filter in list(self._filters):
                    await self._broker_subscribe(client, topic_filter)
                self._connected.set()
                async with asyncio.TaskGroup() as tg:
                    receiver = tg.create_task(self._receive(client),
                                              name=f"mqtt[{self.node_id}].receive")
                    await self._send(client)
                    receiver.cancel()
            finally:
                self._client = None
                self._connected.clear()
            if self.announce:
                await client.publish(self._wire(self._health_topic), self._will, qos=1,
                                     retain=True, timeout=self._op_timeout)

    def _wire(self, topic: str) -> str:
        return self.config.topic_prefix + topic

    def _unwire(self, topic: str) -> str | None:
        prefix = self.config.topic_prefix
        return topic[len(prefix):] if topic.startswith(prefix) else None


def _code(granted: object) -> int:
    """A SUBACK entry as a number: an int (MQTT 3.1.1) or a paho ReasonCode (MQTT 5)."""
    value = getattr(granted, "value", granted)
    return value if isinstance(value, int) else 0


def _encode(payload: dict[str, Any]) -> bytes:
    if not isinstance(payload, dict):
        raise TypeError("an event payload is a dict (a JSON object)")
    # ASCII with \u escapes: any str (even a lone surrogate) encodes, and stays valid UTF-8
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("ascii")


def _check_topic(topic: str) -> None:
    if not topic or any(c in topic for c in "+#\0"):
        raise ValueError(f"{topic!r} is not a topic to publish to")


def _check_filter(topic_filter: str) -> None:
    parts = topic_filter.split("/")
    bad = (not topic_filter or "\0" in topic_filter
           or any(("+" in p and p != "+") or ("#" in p and p != "#") for p in parts)
           or "#" in parts[:-1])
    if bad:
        raise ValueError(f"{topic_filter!r} is not a valid topic filter")


async def _drain(queue: asyncio.Queue[Message]) -> AsyncIterator[Message]:
    while True:
        yield await queue.get()


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
