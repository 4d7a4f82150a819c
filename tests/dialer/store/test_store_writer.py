"""The attempt writer on its own (a fake database): batching, order, outages, shutdown."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from dialer.errors import StoreFault, StoreUnavailable
from dialer.store.writer import AttemptWriter

Batch = tuple[list[dict[str, Any]], list[tuple[uuid.UUID, dict[str, Any]]]]


class FakeDb:
    """Records every batch; can be told to be unavailable, or to break."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.down = False
        self.broken: Exception | None = None

    async def apply(self, creates: Sequence[dict[str, Any]],
                    updates: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        if self.broken is not None:
            raise self.broken
        if self.down:
            raise StoreUnavailable("connection refused", cause=StoreFault.CONNECTION_REFUSED)
        self.batches.append((list(creates), list(updates)))


async def test_updates_are_batched_in_order() -> None:
    db = FakeDb()
    writer = AttemptWriter(db.apply, max_batch=40, linger_s=5.0)
    writer.start()
    ids = [uuid.uuid4() for _ in range(100)]
    for i, attempt_id in enumerate(ids):
        writer.update(attempt_id, {"n": i})
    await writer.flush()
    written = [u for _, updates in db.batches for u in updates]
    assert [f["n"] for _, f in written] == list(range(100))
    assert len(db.batches) == 3
    await writer.flush()  # nothing queued: no empty transaction
    assert len(db.batches) == 3
    await writer.close()


async def test_an_outage_fails_waiters_and_keeps_updates() -> None:
    db = FakeDb()
    writer = AttemptWriter(db.apply, linger_s=0.001, retry_s=60)
    writer.start()
    first, second = uuid.uuid4(), uuid.uuid4()
    db.down = True
    writer.update(first, {"a": 1})
    with pytest.raises(StoreUnavailable):
        await writer.create({"id": second})
    writer.update(second, {"b": 2})
    with pytest.raises(StoreUnavailable):
        await writer.flush()
    assert writer.pending_updates == 2
    db.down = False
    await writer.flush()  # an urgent request retries at once, not after retry_s
    assert [u for _, updates in db.batches for u in updates] == [(first, {"a": 1}),
                                                                 (second, {"b": 2})]
    assert all(not creates for creates, _ in db.batches)  # the failed create is not retried
    await writer.close()


async def test_a_dead_writer_does_not_leave_callers_hanging() -> None:
    db = FakeDb()
    db.broken = RuntimeError("bug")
    writer = AttemptWriter(db.apply)
    writer.start()
    async with asyncio.timeout(5):
        with pytest.raises(RuntimeError, match="stopped"):
            await writer.create({"id": uuid.uuid4()})
        with pytest.raises(RuntimeError, match="not running"):
            await writer.flush()


async def test_close_writes_what_is_queued_then_refuses_more() -> None:
    db = FakeDb()
    writer = AttemptWriter(db.apply, linger_s=5.0)
    writer.start()
    writer.update(uuid.uuid4(), {"x": 1})
    await writer.close()
    assert len(db.batches) == 1
    with pytest.raises(RuntimeError, match="closed"):
        writer.update(uuid.uuid4(), {"x": 2})
