"""Fixtures of the event tests: a topic prefix per test on the shared broker, private
brokers a test may kill and restart, and a throw-away TLS certificate authority."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
import pytest
from mqtt_broker import PrivateBroker
from tls_certs import TlsFiles, make_tls_files


@pytest.fixture
async def mqtt_prefix(mqtt_url: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A topic prefix of this test alone on the shared broker; the retained messages
    left under it are cleared afterwards."""
    prefix = f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
    prefix = "".join(c if c.isalnum() or c in "-_" else "_" for c in prefix)
    yield prefix
    await clear_retained(mqtt_url, prefix)


async def clear_retained(url: str, prefix: str) -> None:
    """Delete every retained message under `prefix/` (an empty retained publish each)."""
    parts = urlsplit(url)
    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
        # the broker sends the retained messages right after SUBACK, before this marker
        marker = f"{prefix}/end-of-retained-{uuid.uuid4().hex}"
        await client.publish(marker, b"", qos=1)
        topics: set[str] = set()
        async with asyncio.timeout(5):
            async for message in client.messages:
                if str(message.topic) == marker:
                    break
                if message.retain:
                    topics.add(str(message.topic))
        for topic in topics:
            await client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[PrivateBroker]]]:
    """Start private Mosquittos: `await private_broker(extra_config)`; killed afterwards."""
    started: list[PrivateBroker] = []

    async def start(extra: str = "", *, run: bool = True) -> PrivateBroker:
        folder = tmp_path / f"broker{len(started)}"
        folder.mkdir()
        broker = PrivateBroker(folder, extra)
        started.append(broker)
        if run:
            await broker.start()
        return broker

    try:
        yield start
    finally:
        for broker in started:
            await broker.kill()


@pytest.fixture
def tls_files(tmp_path: Path) -> Iterator[TlsFiles]:
    """A fresh CA with a server certificate for 127.0.0.1 and a client certificate."""
    folder = tmp_path / "tls"
    folder.mkdir()
    yield make_tls_files(folder)
