"""Per-call dispatch: own queues, unowned events, DTMF de-duplication, closing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_bridge import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    StasisStart,
    SubscriptionClosed,
    parse_event,
)
from ari_bridge.dispatch import Router


def _event(kind: str, channel_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "application": "dialer", "timestamp": extra.pop("ts", "t0"),
            "channel": {"id": channel_id, "name": f"PJSIP/x-{channel_id}", "state": "Up"},
            **extra}


async def test_each_call_gets_its_own_events_and_the_rest_goes_unowned() -> None:
    router = Router()
    a, b = router.subscribe("A"), router.subscribe("B")
    router.dispatch(parse_event(_event("StasisStart", "A", args=["1", "HUMAN", ""])))
    router.dispatch(parse_event(_event("StasisStart", "B", args=["2", "MACHINE", ""])))
    router.dispatch(parse_event(_event("StasisStart", "agent", args=["agent-login", "8001"])))
    got_a = await a.get(timeout=1)
    got_b = await b.get(timeout=1)
    assert isinstance(got_a, StasisStart) and got_a.args[0] == "1"
    assert isinstance(got_b, StasisStart) and got_b.args[0] == "2"
    unowned = await router.unowned.get(timeout=1)
    assert isinstance(unowned, StasisStart) and unowned.channel.id == "agent"
    assert len(a) == len(b) == len(router.unowned) == 0


async def test_a_consumer_that_never_reads_delays_no_other_call() -> None:
    router = Router()
    stuck = router.subscribe("slow")          # never read: its events only pile up
    fast = router.subscribe("fast")
    for i in range(1000):
        router.dispatch(parse_event(_event("ChannelDtmfReceived", "slow", digit="1", ts=str(i))))
    router.dispatch(parse_event(_event("ChannelDestroyed", "fast", cause=16)))
    event = await fast.get(timeout=0.5)
    assert isinstance(event, ChannelDestroyed) and event.cause == 16
    assert len(stuck) == 1000


async def test_an_event_for_two_owned_resources_reaches_each_once() -> None:
    router = Router()
    call = router.subscribe("chan-1", "bridge-1")
    other = router.subscribe("chan-2")
    router.dispatch(parse_event({
        "type": "ChannelEnteredBridge", "application": "dialer", "timestamp": "t",
        "bridge": {"id": "bridge-1"}, "channel": {"id": "chan-2", "name": "n", "state": "Up"}}))
    assert len(call) == 1 and len(other) == 1
    assert len(router.unowned) == 0


async def test_duplicate_dtmf_from_endpoint_and_app_subscriptions_is_dropped() -> None:
    router = Router()
    sub = router.subscribe("c")
    twice = _event("ChannelDtmfReceived", "c", digit="9", duration_ms=200, ts="12:00:00.100")
    router.dispatch(parse_event(twice))
    router.dispatch(parse_event(dict(twice)))
    later = _event("ChannelDtmfReceived", "c", digit="9", duration_ms=200, ts="12:00:01.300")
    router.dispatch(parse_event(later))
    digits = [sub.get_nowait(), sub.get_nowait(), sub.get_nowait()]
    assert [isinstance(d, ChannelDtmfReceived) for d in digits] == [True, True, False]


async def test_subscriptions_can_grow_shrink_and_close() -> None:
    router = Router()
    sub = router.subscribe("c1")
    sub.add("b1")
    sub.discard("c1")
    router.dispatch(parse_event(_event("StasisEnd", "c1")))
    assert len(sub) == 0 and len(router.unowned) == 1
    assert sub.keys == frozenset({"b1"})
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(waiter, 1)
    assert [e async for e in sub] == []
    with router.subscribe("c2") as scoped:
        assert scoped.keys == frozenset({"c2"})
    assert scoped.closed


async def test_a_bounded_queue_drops_its_oldest_events() -> None:
    router = Router(unowned_maxsize=3)
    for i in range(5):
        router.dispatch(parse_event(_event("StasisStart", f"x{i}")))
    kept = [router.unowned.get_nowait() for _ in range(3)]
    assert [e.channel.id for e in kept if isinstance(e, StasisStart)] == ["x2", "x3", "x4"]
    assert router.unowned.dropped == 2


async def test_wait_for_skips_other_events_and_times_out() -> None:
    router = Router()
    sub = router.subscribe("c")
    router.dispatch(parse_event(_event("ChannelStateChange", "c")))
    router.dispatch(parse_event(_event("ChannelDestroyed", "c", cause=17)))
    event = await sub.wait_for(ChannelDestroyed, timeout=1, where=lambda e: e.cause == 17)
    assert event.cause == 17
    with pytest.raises(TimeoutError):
        await sub.wait_for(StasisStart, timeout=0.05)
