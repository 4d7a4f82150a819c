"""Fixtures of the ari_bridge tests: a fake ARI server and recorded ARI events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fake_ari import FakeAri

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> list[dict[str, Any]]:
    """The events of one recorded session with the real Asterisk 22."""
    return list(json.loads((RECORDED / name).read_text()))


@pytest.fixture
async def fake_ari() -> AsyncIterator[FakeAri]:
    """A fake ARI server on a free port of 127.0.0.1; `fake_ari.url` is its base URL."""
    fake = FakeAri()
    app = web.Application()
    app.router.add_get("/ari/events", fake._events)
    app.router.add_route("*", "/ari/{tail:.*}", fake._rest)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        for ws in list(fake.sockets):
            await ws.close()
        await runner.cleanup()


@pytest.fixture
def bridged_call() -> list[dict[str, Any]]:
    """A recorded session: agent login with DTMF *9, a human call bridged to the agent
    with a playback and a bridge recording, then a busy call."""
    return recorded("bridged_call.json")
