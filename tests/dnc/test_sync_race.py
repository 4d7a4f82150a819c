"""A refusal on this node while its own sync reads the store's version is no fault."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dnc import Dnc, Source

NodeFactory = Callable[..., Awaitable[Dnc]]  # the `open_node` fixture of tests/dnc/conftest.py


async def test_a_local_refusal_during_a_sync_read_is_not_a_restored_store(
        open_node: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    node = await open_node()
    real = node.registry.current_version
    read_done, go = asyncio.Event(), asyncio.Event()

    async def slow_read() -> int:
        version = await real()  # read before the refusal commits ...
        read_done.set()
        await go.wait()         # ... and returned after it is in the index
        return version

    monkeypatch.setattr(node.registry, "current_version", slow_read)
    sync = asyncio.create_task(node.sync())
    async with asyncio.timeout(10):
        await read_done.wait()
    outcome = await node.refuse("+8613812345678", Source.OPT_OUT_KEY)
    assert node.version == outcome.version
    go.set()
    async with asyncio.timeout(10):
        assert await sync == outcome.version
    assert not node.check("+8613812345678").allowed
