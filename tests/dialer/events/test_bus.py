"""The in-process bus: topic filters, retained messages, bounded queues."""

from __future__ import annotations

import asyncio

import pytest

from dialer.events import InProcessBus, topic_matches


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), [
    ("dialer/+/health", "dialer/n1/health", True),
    ("dialer/+/health", "dialer/n1/campaign/health", False),
    ("dialer/#", "dialer/n1/call/x/state", True),
    ("dialer/dnc/added", "dialer/dnc/added", True),
    ("dialer/dnc/added", "dialer/dnc", False),
    ("dialer/+", "dialer/n1/x", False),
])
def test_topic_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


async def test_publish_reaches_matching_subscribers_and_retained_first() -> None:
    bus = InProcessBus()
    await bus.publish("dialer/n1/health", {"ok": True}, retain=True)
    async with bus.subscribe("dialer/+/health") as health, bus.subscribe("dialer/dnc/#") as dnc:
        first = await asyncio.wait_for(anext(health), 1)
        assert first.retain and first.payload == {"ok": True}
        await bus.publish("dialer/dnc/added", {"hash": "ab", "version": 3})
        await bus.publish("dialer/n1/health", {"ok": False})
        assert (await asyncio.wait_for(anext(dnc), 1)).payload["version"] == 3
        assert (await asyncio.wait_for(anext(health), 1)).payload == {"ok": False}


async def test_a_full_subscriber_drops_and_counts_instead_of_blocking() -> None:
    bus = InProcessBus()
    async with bus.subscribe("t") as _:
        for i in range(1005):
            await bus.publish("t", {"i": i})
        assert bus.dropped == 5
