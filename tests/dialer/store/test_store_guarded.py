"""Guarded attempt creates: batched, each check sees what its batch already admitted, a
bad row fails only its caller, an outage fails the batch, a cancelled caller is skipped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from store_helpers import NOW, numbers

from dialer.errors import StoreFault, StoreUnavailable
from dialer.store import CampaignInfo, DialHistory, NewAttempt, NewLead, Store
from dialer.store.guarded import Guarded, GuardedWriter

SINCE = NOW - timedelta(days=1)


def first_only(history: DialHistory) -> str | None:
    """Admit a number only if it has no recent attempt."""
    return "capped" if history.attempts else None


async def test_concurrent_creates_share_batches_and_see_each_other(
        store: Store, campaign: CampaignInfo) -> None:
    number, other, warm = numbers(3)
    await store.attempts.create_checked(NewAttempt(campaign.id, warm, NOW), since=SINCE,
                                        check=first_only)  # the campaign's tenant is cached
    before = store.attempts.guard.batches
    calls = [store.attempts.create_checked(NewAttempt(campaign.id, n, NOW), since=SINCE,
                                           check=first_only)
             for n in [number] * 6 + [other] * 4]
    results = await asyncio.gather(*calls)
    admitted = [r for r in results if isinstance(r, uuid.UUID)]
    assert len(admitted) == 2 and results.count("capped") == 8
    assert store.attempts.guard.batches == before + 1  # all ten were queued together
    history = await store.attempts.history_for_number(store.hasher.digest(number), SINCE)
    assert len(history) == 1


async def test_a_lead_admitted_in_the_batch_is_in_call_for_the_next_check(
        store: Store, campaign: CampaignInfo) -> None:
    number, warm = numbers(2)
    await store.attempts.create_checked(NewAttempt(campaign.id, warm, NOW), since=SINCE,
                                        check=first_only)  # the campaign's tenant is cached
    await store.leads.add(campaign.id, [NewLead(number, "t")], now=NOW)
    (lead,) = await store.claim_leads(campaign.id, "n1", 1, NOW)
    seen: list[DialHistory] = []

    def claimed_only(history: DialHistory) -> str | None:
        seen.append(history)
        return None if history.lead_status == "claimed" else "not claimed"

    attempt = NewAttempt(campaign.id, number, NOW, lead_id=lead.id)
    results = await asyncio.gather(*(store.attempts.create_checked(
        attempt, since=SINCE, check=claimed_only) for _ in range(3)))
    assert sum(isinstance(r, uuid.UUID) for r in results) == 1
    assert [h.lead_attempts for h in seen] == [0, 1, 1]


async def test_a_bad_row_fails_only_its_caller(store: Store, campaign: CampaignInfo) -> None:
    taken = uuid.uuid4()
    good, dup = numbers(2)
    await store.attempts.create_checked(NewAttempt(campaign.id, good, NOW, id=taken),
                                        since=SINCE, check=lambda h: None)
    clash = store.attempts.create_checked(NewAttempt(campaign.id, dup, NOW, id=taken),
                                          since=SINCE, check=lambda h: None)
    fine = store.attempts.create_checked(NewAttempt(campaign.id, dup, NOW), since=SINCE,
                                         check=lambda h: None)
    results = await asyncio.gather(clash, fine, return_exceptions=True)
    assert not isinstance(results[0], uuid.UUID) and isinstance(results[0], Exception)
    assert isinstance(results[1], uuid.UUID)


async def test_an_outage_fails_the_whole_batch_and_the_writer_goes_on() -> None:
    calls: list[int] = []

    async def apply(batch: Sequence[Guarded]) -> list[Any]:
        calls.append(len(batch))
        if len(calls) == 2:
            raise StoreUnavailable("down", cause=StoreFault.CONNECTION_LOST)
        return ["ok"] * len(batch)

    writer = GuardedWriter(apply)
    writer.start()
    try:
        row = {"number_hash": b"x" * 32}
        assert await writer.submit(row, NOW, first_only) == "ok"
        failing = [asyncio.create_task(writer.submit(row, NOW, first_only)) for _ in range(3)]
        results = await asyncio.gather(*failing, return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert await writer.submit(row, NOW, first_only) == "ok"
        assert calls == [1, 3, 1]
    finally:
        await writer.close()
    with pytest.raises(RuntimeError, match="not running"):
        await writer.submit(row, NOW, first_only)


async def test_a_caller_cancelled_while_queued_is_not_written() -> None:
    written: list[dict[str, Any]] = []
    started, gate = asyncio.Event(), asyncio.Event()

    async def apply(batch: Sequence[Guarded]) -> list[Any]:
        started.set()
        await gate.wait()
        written.extend(item.row for item in batch)
        return [None] * len(batch)

    writer = GuardedWriter(apply)
    writer.start()
    try:
        first = asyncio.create_task(writer.submit({"n": 1}, NOW, first_only))
        async with asyncio.timeout(5):
            await started.wait()  # the first batch is being written
        second = asyncio.create_task(writer.submit({"n": 2}, NOW, first_only))
        await asyncio.sleep(0)  # one loop step: the second create is queued
        second.cancel()
        gate.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await second
    finally:
        await writer.close()
    assert written == [{"n": 1}]
