"""The event bus interface and its in-process implementation.

Publishers call `publish(topic, payload)`; payloads are JSON-ready dicts that never
carry a plaintext phone number (`dnc.mask_number`, or the keyed hash). Subscribers get
an async iterator of `Message`s for an MQTT-style topic filter (`+` one level, `#` the
rest). Without a broker the engine uses `InProcessBus`; an MQTT implementation has the
same interface.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT_QUEUE = 1000


@dataclass(frozen=True)
class Message:
    """One event as delivered: topic, decoded payload, and whether it was retained."""

    topic: str
    payload: dict[str, Any]
    retain: bool = False


class EventBus(Protocol):
    """Where the engine's events go and its commands come from."""

    async def publish(self, topic: str, payload: dict[str, Any], *, retain: bool = False,
                      qos: int = 0) -> None:
        """Send one event; never blocks on a slow subscriber or a missing broker."""
        ...

    def subscribe(self, topic_filter: str) -> Any:
        """An async context manager yielding an async iterator of matching `Message`s."""
        ...


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching: `+` matches one level, a final `#` the rest."""
    f_parts, t_parts = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return i == len(f_parts) - 1
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


@dataclass
class _Subscriber:
    topic_filter: str
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE))
    dropped: int = 0


class InProcessBus:
    """A bus inside one process: bounded queue per subscriber, retained messages kept."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self._retained: dict[str, Message] = {}
        self.dropped = 0

    async def publish(self, topic: str, payload: dict[str, Any], *, retain: bool = False,
                      qos: int = 0) -> None:
        """Deliver to every matching subscriber; a full queue drops (and counts) the event."""
        message = Message(topic, payload, retain=False)
        if retain:
            self._retained[topic] = Message(topic, payload, retain=True)
        for sub in self._subscribers:
            if topic_matches(sub.topic_filter, topic):
                try:
                    sub.queue.put_nowait(message)
                except asyncio.QueueFull:
                    sub.dropped += 1
                    self.dropped += 1

    @asynccontextmanager
    async def subscribe(self, topic_filter: str) -> AsyncIterator[AsyncIterator[Message]]:
        """Receive matching messages (retained ones first) while the context is open."""
        sub = _Subscriber(topic_filter)
        for message in self._retained.values():
            if topic_matches(topic_filter, message.topic):
                sub.queue.put_nowait(message)
        self._subscribers.append(sub)
        try:
            yield _drain(sub.queue)
        finally:
            self._subscribers.remove(sub)
            if sub.dropped:
                log.warning("subscriber to %s dropped %d events", topic_filter, sub.dropped)


async def _drain(queue: asyncio.Queue[Message]) -> AsyncIterator[Message]:
    while True:
        yield await queue.get()
