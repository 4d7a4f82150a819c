"""The attempt writer: one task that commits attempt rows and their changes in batches.

`create` returns only once its row is committed (group commit: creates arriving
together share one transaction, hence one fsync). `update` returns at once; updates
wait up to `linger_s` to be batched, and `flush` waits until everything queued before
it is committed. If the store is unavailable, waiting creates and flushes fail with
`StoreUnavailable` while queued updates are kept, in order, and retried; a row that
is bad on its own (say, an unknown campaign) fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dialer.errors import StoreUnavailable

log = logging.getLogger(__name__)

# What a bad row (not an unavailable store) raises: a constraint, a wrong type or value.
_ROW_ERRORS = (SQLAlchemyError, ValueError, TypeError)

Row = dict[str, Any]
Update = tuple[uuid.UUID, dict[str, Any]]
ApplyBatch = Callable[[Sequence[Row], Sequence[Update]], Awaitable[None]]


@dataclass(slots=True)
class _Create:
    row: Row
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Update:
    attempt_id: uuid.UUID
    fields: dict[str, Any]


@dataclass(slots=True)
class _Flush:
    done: asyncio.Future[None]


_Op = _Create | _Update | _Flush


class AttemptWriter:
    """Owns the writer task; `start` it, then `close` it (flushes what is queued)."""

    def __init__(self, apply: ApplyBatch, *, max_batch: int = 500, linger_s: float = 0.01,
                 retry_s: float = 1.0) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._retry_s = retry_s
        self._ops: deque[_Op] = deque()
        self._in_flight: list[_Op] = []
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet committed."""
        return sum(isinstance(op, _Update) for op in self._ops)

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store.attempt-writer")
            self._task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """If the task ended while callers wait, fail them instead of leaving them hanging."""
        cause = None if task.cancelled() else task.exception()
        for op in [*self._in_flight, *self._ops]:
            if isinstance(op, _Create | _Flush) and not op.done.done():
                error = RuntimeError("the attempt writer stopped")
                error.__cause__ = cause
                op.done.set_exception(error)

    async def close(self) -> None:
        """Commit what is queued (if the store allows), then stop the task."""
        if self._closed:
            return
        try:
            if self._task is not None and not self._task.done():
                await self.flush()
        except StoreUnavailable as exc:
            log.error("closing with %d attempt updates not written: %s",
                      self.pending_updates, exc)
        finally:
            self._closed = True
            self._ops.clear()
            self._wake.set()
            self._urgent.set()
            if self._task is not None:
                await self._task

    async def create(self, row: Row) -> None:
        """Queue a new attempt row and wait until it is committed."""
        done = self._enqueue_waiting(lambda fut: _Create(row, fut))
        await done

    def update(self, attempt_id: uuid.UUID, fields: dict[str, Any]) -> None:
        """Queue a change to an attempt; it is committed with the next batch."""
        self._check_open()
        self._ops.append(_Update(attempt_id, fields))
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every create and update queued before this call is committed."""
        await self._enqueue_waiting(_Flush)

    def _enqueue_waiting(self, make: Callable[[asyncio.Future[None]], _Op]) -> \
            asyncio.Future[None]:
        self._check_open()
        if self._task is None or self._task.done():
            raise RuntimeError("the attempt writer is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ops.append(make(done))
        self._wake.set()
        self._urgent.set()
        return done

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the attempt writer is closed")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._closed and not self._ops:
                return
            if not self._urgent.is_set():
                await self._wait_urgent(self._linger_s)
            self._wake.clear()
            self._urgent.clear()
            while self._ops:
                self._in_flight = self._take()
                written = await self._write_batch(self._in_flight)
                self._in_flight = []
                if not written:
                    await self._wait_urgent(self._retry_s)
                    self._urgent.clear()

    async def _wait_urgent(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._urgent.wait()
        except TimeoutError:
            pass

    def _take(self) -> list[_Op]:
        n = min(self._max_batch, len(self._ops))
        return [self._ops.popleft() for _ in range(n)]

    async def _write_batch(self, batch: list[_Op]) -> bool:
        creates = [op for op in batch if isinstance(op, _Create)]
        updates = [op for op in batch if isinstance(op, _Update)]
        if not creates and not updates:
            self._resolve(batch)
            return True
        try:
            await self._apply([c.row for c in creates],
                              [(u.attempt_id, u.fields) for u in updates])
        except StoreUnavailable as exc:
            self._fail_waiters(exc, batch, updates)
            return False
        except _ROW_ERRORS:
            log.warning("a batch of %d attempt changes failed; retrying one by one",
                        len(batch), exc_info=True)
            try:
                await self._write_one_by_one(creates, updates)
            except StoreUnavailable as exc:
                self._fail_waiters(exc, batch, updates)
                return False
        self._resolve(batch)
        return True

    @staticmethod
    def _resolve(batch: list[_Op]) -> None:
        for op in batch:
            if isinstance(op, _Create | _Flush) and not op.done.done():
                op.done.set_result(None)

    async def _write_one_by_one(self, creates: list[_Create], updates: list[_Update]) -> None:
        for create in creates:
            try:
                await self._apply([create.row], [])
            except StoreUnavailable:
                raise
            except _ROW_ERRORS as exc:
                if not create.done.done():
                    create.done.set_exception(exc)
        for upd in updates:
            try:
                await self._apply([], [(upd.attempt_id, upd.fields)])
            except StoreUnavailable:
                raise
            except _ROW_ERRORS:
                log.exception("attempt %s: update %s dropped", upd.attempt_id,
                              sorted(upd.fields))

    def _fail_waiters(self, exc: StoreUnavailable, batch: list[_Op],
                      updates: list[_Update]) -> None:
        """Fail every waiting create and flush (queued or in the batch); keep the updates."""
        log.warning("attempt writer: %s; %d updates kept for retry", exc,
                    len(updates) + self.pending_updates)
        for op in [*batch, *self._ops]:
            if isinstance(op, _Create | _Flush) and not op.done.done():
                op.done.set_exception(exc)
        self._ops = deque([*updates, *(op for op in self._ops if isinstance(op, _Update))])
