"""The persistent DNC registry: entries, the version counter and the change journal.

Every write bumps `dnc_state.version` as its first statement, so writers are ordered by
that row's lock and each commit's version is the next one (see `dnc.schema`). A write
that changes nothing rolls back, bump included. Database errors become `DncUnavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from dnc.errors import DncUnavailable, NotListed
from dnc.model import Change, Op, RefuseOutcome, Scope, ScopeKey, Source
from dnc.schema import STATE_ROW_ID, dnc_changes, dnc_entries, dnc_state

Clock = Callable[[], datetime]

# Rows per chunk when streaming the journal or the entries.
STREAM_CHUNK = 10_000


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def later_expiry(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two expiries, where None (never expires) is the latest."""
    if a is None or b is None:
        return None
    return max(a, b)


@dataclass(frozen=True, slots=True)
class Listing:
    """An active entry as an exact lookup finds it (no number, only its scope and history)."""

    key: ScopeKey
    source: Source
    added_version: int
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch of additions did: its version (None if nothing changed), the changes
    made, and how many of the given digests changed nothing (listed, or repeated)."""

    version: int | None
    changes: list[Change]
    already_listed: int


@dataclass(frozen=True, slots=True)
class ActiveEntry:
    """An entry as the index loader reads it."""

    digest: bytes
    key: ScopeKey
    expires_at: datetime | None


class DncRegistry:
    """Reads and writes the DNC tables; every write is one transaction with one version."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite has one writer at a time; this process's writers queue here, in order,
        # rather than polling the file lock (whose busy timeout starves some under load).
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @property
    def engine(self) -> AsyncEngine:
        """The engine the registry writes through."""
        return self._engine

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                yield conn
        except IntegrityError:
            raise
        except (DBAPIError, OSError) as exc:
            raise DncUnavailable(f"the DNC store is unavailable: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[tuple[AsyncConnection, AsyncTransaction]]:
        """A write transaction. It asks for `BEGIN IMMEDIATE` (the `begin_immediate`
        execution option, honoured by the dialer's SQLite engines) so that on SQLite the
        write lock is held from the start and concurrent refusals queue instead of
        failing on a stale snapshot; within this process they queue on an asyncio lock."""
        async with AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            conn = await stack.enter_async_context(self._connect())
            await conn.execution_options(begin_immediate=True)
            async with conn.begin() as tx:
                yield conn, tx

    async def _bump(self, conn: AsyncConnection) -> int:
        result = await conn.execute(
            update(dnc_state).where(dnc_state.c.id == STATE_ROW_ID)
            .values(version=dnc_state.c.version + 1).returning(dnc_state.c.version))
        version = result.scalar_one_or_none()
        if version is None:
            raise DncUnavailable("the DNC schema is not initialised (dnc_state has no row)")
        return int(version)

    async def current_version(self) -> int:
        """The latest committed DNC version."""
        async with self._connect() as conn:
            version = await conn.scalar(
                select(dnc_state.c.version).where(dnc_state.c.id == STATE_ROW_ID))
        if version is None:
            raise DncUnavailable("the DNC schema is not initialised (dnc_state has no row)")
        return int(version)

    async def add(self, digest: bytes, *, key: ScopeKey, source: Source,
                  reason: str | None = None, evidence: str | None = None,
                  expires_at: datetime | None = None,
                  actor: str | None = None) -> tuple[RefuseOutcome, list[Change]]:
        """List a number in a scope. Idempotent: an entry that already covers it (same
        scope, expiry no earlier) is returned unchanged, with its version."""
        batch, listed = await self._add_many([digest], key=key, source=source, reason=reason,
                                             evidence=evidence, expires_at=expires_at,
                                             actor=actor)
        if batch.version is None:
            return RefuseOutcome(digest, listed[digest], changed=False), []
        return RefuseOutcome(digest, batch.version, changed=True), batch.changes

    async def add_many(self, digests: Sequence[bytes], *, key: ScopeKey, source: Source,
                       reason: str | None = None, evidence: str | None = None,
                       expires_at: datetime | None = None,
                       actor: str | None = None) -> BatchOutcome:
        """List many numbers in one scope in one transaction (one version for the batch).

        Numbers already listed with an expiry no earlier are counted, not changed; a
        listing whose expiry would be extended is updated. Nothing changed: no version.
        """
        batch, _ = await self._add_many(digests, key=key, source=source, reason=reason,
                                        evidence=evidence, expires_at=expires_at, actor=actor)
        return batch

    async def _add_many(self, digests: Sequence[bytes], *, key: ScopeKey, source: Source,
                        reason: str | None, evidence: str | None, expires_at: datetime | None,
                        actor: str | None) -> tuple[BatchOutcome, dict[bytes, int]]:
        """`add_many`, plus the version of each entry that was already listed."""
        unique = list(dict.fromkeys(digests))
        now = self._clock()
        async with self._write() as (conn, tx):
            version = await self._bump(conn)
            existing = {row.hash: row for row in (await conn.execute(
                select(dnc_entries.c.id, dnc_entries.c.hash, dnc_entries.c.expires_at,
                       dnc_entries.c.added_version)
                .where(dnc_entries.c.hash.in_(unique), dnc_entries.c.scope == key.scope.value,
                       dnc_entries.c.scope_ref == key.ref, dnc_entries.c.removed_at.is_(None))))}
            inserts: list[dict[str, Any]] = []
            extends: list[dict[str, Any]] = []
            changed: list[bytes] = []
            for digest in unique:
                row = existing.get(digest)
                if row is None:
                    inserts.append({
                        "hash": digest, "scope": key.scope.value, "scope_ref": key.ref,
                        "source": source.value, "reason": reason, "evidence": evidence,
                        "created_by": actor, "created_at": now, "expires_at": expires_at,
                        "added_version": version})
                elif later_expiry(row.expires_at, expires_at) != row.expires_at:
                    extends.append({"entry_id": row.id, "new_expiry": expires_at})
                else:
                    continue
                changed.append(digest)
            listed = {d: int(row.added_version) for d, row in existing.items()}
            if not changed:
                await tx.rollback()
                return BatchOutcome(None, [], len(digests)), listed
            if inserts:
                await conn.execute(insert(dnc_entries), inserts)
            if extends:
                await conn.execute(
                    update(dnc_entries).where(dnc_entries.c.id == bindparam("entry_id"))
                    .values(expires_at=bindparam("new_expiry", type_=dnc_entries.c.expires_at.type)),
                    extends)
            await conn.execute(insert(dnc_changes), [
                {"version": version, "op": Op.ADD.value, "hash": d, "scope": key.scope.value,
                 "scope_ref": key.ref, "source": source.value, "reason": reason,
                 "evidence": evidence, "actor": actor, "expires_at": expires_at, "at": now}
                for d in changed])
        changes = [Change(version, Op.ADD, d, key, source, expires_at) for d in changed]
        return BatchOutcome(version, changes, len(digests) - len(changed)), listed

    async def remove(self, digest: bytes, *, key: ScopeKey, reason: str,
                     actor: str | None = None) -> Change:
        """Take a number off the list in one scope; needs a reason; journaled for audit."""
        if not reason or not reason.strip():
            raise ValueError("removing a DNC entry needs a reason")
        now = self._clock()
        async with self._write() as (conn, tx):
            version = await self._bump(conn)
            row = (await conn.execute(self._active(digest, key))).first()
            if row is None:
                await tx.rollback()
                raise NotListed(f"no active {key.scope.value} entry for this number")
            await conn.execute(
                update(dnc_entries).where(dnc_entries.c.id == row.id)
                .values(removed_at=now, removed_version=version, removal_reason=reason,
                        removed_by=actor))
            await conn.execute(insert(dnc_changes).values(
                version=version, op=Op.REMOVE.value, hash=digest, scope=key.scope.value,
                scope_ref=key.ref, reason=reason, actor=actor, at=now))
        return Change(version, Op.REMOVE, digest, key)

    @staticmethod
    def _active(digest: bytes, key: ScopeKey) -> Any:
        return (select(dnc_entries.c.id, dnc_entries.c.added_version, dnc_entries.c.expires_at)
                .where(dnc_entries.c.hash == digest, dnc_entries.c.scope == key.scope.value,
                       dnc_entries.c.scope_ref == key.ref, dnc_entries.c.removed_at.is_(None)))

    async def lookup(self, digest: bytes, keys: Sequence[ScopeKey],
                     now: datetime | None = None) -> Listing | None:
        """The entry that blocks this exact hash in any of `keys` at `now`, if any."""
        now = now or self._clock()
        scopes = or_(*(and_(dnc_entries.c.scope == k.scope.value, dnc_entries.c.scope_ref == k.ref)
                       for k in keys))
        query = (select(dnc_entries.c.scope, dnc_entries.c.scope_ref, dnc_entries.c.source,
                        dnc_entries.c.added_version, dnc_entries.c.created_at,
                        dnc_entries.c.expires_at)
                 .where(dnc_entries.c.hash == digest, dnc_entries.c.removed_at.is_(None), scopes,
                        or_(dnc_entries.c.expires_at.is_(None), dnc_entries.c.expires_at > now))
                 .order_by(dnc_entries.c.added_version).limit(1))
        async with self._connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return Listing(ScopeKey(Scope(row.scope), row.scope_ref), Source(row.source),
                       int(row.added_version), row.created_at, row.expires_at)

    async def changes_since(self, version: int) -> AsyncIterator[list[Change]]:
        """Every journal change after `version`, in order, in chunks that end on a
        version boundary."""
        query = (select(dnc_changes.c.version, dnc_changes.c.op, dnc_changes.c.hash,
                        dnc_changes.c.scope, dnc_changes.c.scope_ref, dnc_changes.c.source,
                        dnc_changes.c.expires_at)
                 .where(dnc_changes.c.version > version)
                 .order_by(dnc_changes.c.version, dnc_changes.c.seq))
        chunk: list[Change] = []
        async with self._connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=STREAM_CHUNK))
            async for row in result:
                change = _change(row)
                if len(chunk) >= STREAM_CHUNK and change.version != chunk[-1].version:
                    yield chunk
                    chunk = []
                chunk.append(change)
        if chunk:
            yield chunk

    async def active_entries(self, now: datetime | None = None,
                             key: ScopeKey | None = None) -> AsyncIterator[list[ActiveEntry]]:
        """Entries that block at `now` (in one scope, or all), in chunks."""
        now = now or self._clock()
        query = (select(dnc_entries.c.hash, dnc_entries.c.scope, dnc_entries.c.scope_ref,
                        dnc_entries.c.expires_at)
                 .where(dnc_entries.c.removed_at.is_(None),
                        or_(dnc_entries.c.expires_at.is_(None), dnc_entries.c.expires_at > now)))
        if key is not None:
            query = query.where(dnc_entries.c.scope == key.scope.value,
                                dnc_entries.c.scope_ref == key.ref)
        async with self._connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=STREAM_CHUNK))
            async for rows in result.partitions(STREAM_CHUNK):
                yield [ActiveEntry(r.hash, ScopeKey(Scope(r.scope), r.scope_ref), r.expires_at)
                       for r in rows]

    async def permanent_prefixes(self, key: ScopeKey) -> AsyncIterator[npt.NDArray[np.uint64]]:
        """The 64-bit index keys of the entries in one scope that never expire, in chunks
        (what the index loader reads: 8 bytes a row, no per-row objects kept)."""
        query = (select(func.substr(dnc_entries.c.hash, 1, 8))
                 .where(dnc_entries.c.scope == key.scope.value, dnc_entries.c.scope_ref == key.ref,
                        dnc_entries.c.removed_at.is_(None), dnc_entries.c.expires_at.is_(None)))
        async with self._connect() as conn:
            result = await conn.stream_scalars(query.execution_options(yield_per=STREAM_CHUNK))
            async for heads in result.partitions(STREAM_CHUNK):
                yield np.frombuffer(b"".join(heads), dtype=">u8").astype(np.uint64)

    async def expiring_entries(self, now: datetime | None = None) -> AsyncIterator[
            list[ActiveEntry]]:
        """The active entries that have an expiry still to come, in chunks."""
        now = now or self._clock()
        query = (select(dnc_entries.c.hash, dnc_entries.c.scope, dnc_entries.c.scope_ref,
                        dnc_entries.c.expires_at)
                 .where(dnc_entries.c.removed_at.is_(None), dnc_entries.c.expires_at > now))
        async with self._connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=STREAM_CHUNK))
            async for rows in result.partitions(STREAM_CHUNK):
                yield [ActiveEntry(r.hash, ScopeKey(Scope(r.scope), r.scope_ref), r.expires_at)
                       for r in rows]

    async def count_active(self) -> dict[ScopeKey, int]:
        """Active (not removed) entries per scope, expired ones included."""
        query = (select(dnc_entries.c.scope, dnc_entries.c.scope_ref, func.count())
                 .where(dnc_entries.c.removed_at.is_(None))
                 .group_by(dnc_entries.c.scope, dnc_entries.c.scope_ref))
        async with self._connect() as conn:
            rows = (await conn.execute(query)).all()
        return {ScopeKey(Scope(scope), ref): int(n) for scope, ref, n in rows}


def _change(row: Any) -> Change:
    return Change(int(row.version), Op(row.op), bytes(row.hash),
                  ScopeKey(Scope(row.scope), row.scope_ref),
                  Source(row.source) if row.source is not None else None, row.expires_at)
