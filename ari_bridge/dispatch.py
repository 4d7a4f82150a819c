"""Per-call event dispatch: each subscription has its own queue.

The client's event reader only appends to queues; it never awaits a consumer.
So a slow handler of one call delays nothing but its own call's events. An event
goes to every subscription holding one of its routing keys (a channel id, a
bridge id, a playback id, a recording name, `endpoint:<tech>/<res>`); an event
nobody owns goes to the application-wide stream (`Router.unowned`), e.g. the
StasisStart of an agent's login call.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self, TypeVar

from ari_bridge.events import ChannelDtmfReceived, Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

_DTMF_MEMORY = 4096


class SubscriptionClosed(Exception):
    """The subscription was closed (or its client shut down) and has no more events."""


class Subscription:
    """The events of a set of resource ids, in arrival order.

    Iterate it (`async for event in sub`) or `await sub.get()`; the iteration ends
    when the subscription is closed. Use it as a context manager to close it.
    `maxsize` > 0 bounds the queue: the oldest event is dropped (and counted in
    `dropped`) when a new one would not fit.
    """

    def __init__(self, router: Router, keys: Iterable[str], maxsize: int = 0) -> None:
        self._router = router
        self._keys: set[str] = set()
        self._queue: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._maxsize = maxsize
        self._closed = False
        self.dropped = 0
        self.add(*keys)

    @property
    def keys(self) -> frozenset[str]:
        """The resource ids this subscription receives events for."""
        return frozenset(self._keys)

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def add(self, *keys: str) -> None:
        """Also receive the events of these resource ids (e.g. a new bridge of the call)."""
        for key in keys:
            if key not in self._keys:
                self._keys.add(key)
                self._router._link(key, self)

    def discard(self, *keys: str) -> None:
        """Stop receiving the events of these resource ids."""
        for key in keys:
            if key in self._keys:
                self._keys.remove(key)
                self._router._unlink(key, self)

    def close(self) -> None:
        """Stop receiving events; a waiting `get` raises SubscriptionClosed."""
        if self._closed:
            return
        self.discard(*list(self._keys))
        self._closed = True
        self._wake()

    def __len__(self) -> int:
        return len(self._queue)

    def _put(self, event: Event) -> None:
        if self._closed:
            return
        if self._maxsize and len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("event queue full (%d): dropped %d oldest events so far",
                            self._maxsize, self.dropped)
        self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Event | None:
        """The next queued event, or None if the queue is empty."""
        return self._queue.popleft() if self._queue else None

    async def get(self, timeout: float | None = None) -> Event:
        """The next event; raises TimeoutError after `timeout` s, SubscriptionClosed when closed."""
        async with asyncio.timeout(timeout):
            while not self._queue:
                if self._closed:
                    raise SubscriptionClosed()
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            return self._queue.popleft()

    async def wait_for(self, kind: type[E], *, timeout: float,
                       where: Callable[[E], bool] | None = None) -> E:
        """Skip events until one of type `kind` (matching `where`) arrives; return it.

        The events skipped are gone: use this where only one kind matters.
        """
        async with asyncio.timeout(timeout):
            while True:
                event = await self.get()
                if isinstance(event, kind) and (where is None or where(event)):
                    return event

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Router:
    """Routes each event to the subscriptions of its resource ids, or to `unowned`."""

    def __init__(self, unowned_maxsize: int = 10_000) -> None:
        self._by_key: dict[str, set[Subscription]] = {}
        self._dtmf_seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self.unowned = Subscription(self, (), maxsize=unowned_maxsize)

    def subscribe(self, *keys: str) -> Subscription:
        """A new subscription to the events of these resource ids."""
        return Subscription(self, keys)

    def _link(self, key: str, sub: Subscription) -> None:
        self._by_key.setdefault(key, set()).add(sub)

    def _unlink(self, key: str, sub: Subscription) -> None:
        subs = self._by_key.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_key[key]

    def _is_duplicate_dtmf(self, event: ChannelDtmfReceived) -> bool:
        # A channel in the application and also under an endpoint subscription
        # delivers every digit twice, with the same timestamp.
        key = (event.channel.id, event.digit, event.timestamp)
        if key in self._dtmf_seen:
            return True
        self._dtmf_seen[key] = None
        if len(self._dtmf_seen) > _DTMF_MEMORY:
            self._dtmf_seen.popitem(last=False)
        return False

    def dispatch(self, event: Event) -> None:
        """Hand one event to its subscriptions (never blocks)."""
        if isinstance(event, ChannelDtmfReceived) and self._is_duplicate_dtmf(event):
            return
        keys = event.routing_keys()
        if len(keys) == 1:
            subs = self._by_key.get(keys[0])
            targets: Iterable[Subscription] = tuple(subs) if subs else ()
        else:
            found: set[Subscription] = set()
            for key in keys:
                subs = self._by_key.get(key)
                if subs:
                    found.update(subs)
            targets = found
        delivered = False
        for sub in targets:
            sub._put(event)
            delivered = True
        if not delivered:
            self.unowned._put(event)

    def close(self) -> None:
        """Close every subscription (their iterations end)."""
        for subs in list(self._by_key.values()):
            for sub in list(subs):
                sub.close()
        self.unowned.close()
