"""Guarded attempt creates: check a number's caps and write its attempt atomically, in
batches (group commit), so concurrent dial decisions share one transaction.

Each create carries a pure `check` of the number's history. One task takes every create
queued while the previous batch was being written and, in one write transaction:
locks the batch's numbers (PostgreSQL advisory locks, taken in key order so two nodes
never deadlock; SQLite's write lock holds the whole database), reads their recent
attempts and their leads in two statements, runs each check in arrival order — each
seeing the attempts the batch already admitted for its number and lead — writes the
admitted rows, and commits. Only then does a caller get its attempt id (durable) or its
check's verdict (nothing written). A store outage fails the whole batch; a bad row
(say, an unknown campaign) fails only its own caller. A caller cancelled while its
create is queued is not written; one cancelled mid-transaction may be (the engine's
reconciliation closes an attempt that was never originated).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dialer.errors import StoreUnavailable
from dialer.store.records import DialHistory

log = logging.getLogger(__name__)

_ROW_ERRORS = (SQLAlchemyError, ValueError, TypeError)

Check = Callable[[DialHistory], Any]


@dataclass(slots=True)
class Guarded:
    """One create waiting for its batch: the row, how far back the check looks, the
    check, and the caller's future (attempt id, or the check's verdict)."""

    row: dict[str, Any]
    since: datetime
    check: Check
    done: asyncio.Future[Any] = field(repr=False)

    @property
    def number_hash(self) -> bytes:
        """The keyed hash of the attempt's number."""
        hashed: bytes = self.row["number_hash"]
        return hashed


ApplyGuarded = Callable[[Sequence[Guarded]], Awaitable[list[Any]]]


class GuardedWriter:
    """Owns the task that writes guarded creates in batches; `start`, then `close`."""

    def __init__(self, apply: ApplyGuarded, *, max_batch: int = 256) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._queue: deque[Guarded] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store.guarded-writer")

    async def submit(self, row: dict[str, Any], since: datetime, check: Check) -> Any:
        """Queue a guarded create; returns its attempt id once committed, or the verdict."""
        if self._closed or self._task is None or self._task.done():
            raise RuntimeError("the guarded attempt writer is not running")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(Guarded(row, since, check, done))
        self._wake.set()
        return await done

    async def close(self) -> None:
        """Write what is queued, then stop the task."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [item for item in self._take() if not item.done.done()]
                if batch:
                    await self._write(batch)
            if self._closed:
                return

    def _take(self) -> list[Guarded]:
        n = min(self._max_batch, len(self._queue))
        return [self._queue.popleft() for _ in range(n)]

    async def _write(self, batch: list[Guarded]) -> None:
        try:
            results = await self._apply(batch)
        except StoreUnavailable as exc:
            for item in batch:
                _settle(item, exc)
            return
        except _ROW_ERRORS as exc:
            if len(batch) == 1:
                log.warning("a guarded attempt create failed: %s", exc)
                _settle(batch[0], exc)
                return
            log.warning("a batch of %d guarded creates failed; retrying one by one",
                        len(batch), exc_info=True)
            for item in batch:
                await self._write([item])
            return
        self.batches += 1
        for item, result in zip(batch, results, strict=True):
            if not item.done.done():
                item.done.set_result(result)


def _settle(item: Guarded, exc: BaseException) -> None:
    if not item.done.done():
        item.done.set_exception(exc)

