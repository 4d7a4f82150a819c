"""Attempts, the call detail records: created durably before the originate, then updated.

The row of a new attempt is committed before `create` returns (the engine sends the
originate only then). Later changes go through the batching writer. When an update
closes an attempt (`state=CLOSED`) its counts are added to the campaign's hourly
aggregates in the same transaction, once: set the outcome with or before closing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.crypto import FieldCipher
from dialer.errors import NotFound
from dialer.store.database import Database
from dialer.store.enums import AttemptState, LeadStatus
from dialer.store.guarded import Guarded, GuardedWriter
from dialer.store.ids import new_attempt_id
from dialer.store.records import AttemptRecord, DialHistory, NewAttempt
from dialer.store.schema import ATTEMPT_NUMBER, Attempt, Campaign, Lead, NumberAttempt
from dialer.store.stats import add_increments, total
from dialer.store.writer import AttemptWriter
from dnc import NumberHasher

# Fields `update` may change; the rest are fixed when the attempt is created.
UPDATABLE_FIELDS = frozenset({
    "channel_id", "gate_decision", "dnc_version", "state", "originated_at", "ringing_at",
    "answered_at", "amd_at", "amd_result", "amd_cause", "agent_connected_at", "ended_at",
    "hangup_cause", "outcome", "disposition", "abandoned", "agent_id",
})
T = TypeVar("T")


def number_lock_key(number_hash: bytes) -> int:
    """The PostgreSQL advisory-lock key of a number: its hash's first 8 bytes, signed."""
    return int.from_bytes(number_hash[:8], "big", signed=True)


_CLOSING_COLUMNS = (Attempt.id, Attempt.campaign_id, Attempt.created_at, Attempt.outcome,
                    Attempt.abandoned, Attempt.amd_result, Attempt.agent_connected_at,
                    Attempt.ended_at)


class Attempts:
    """The attempts table, with its batching writer."""

    def __init__(self, db: Database, cipher: FieldCipher, hasher: NumberHasher, node_id: str,
                 *, max_batch: int = 500, linger_s: float = 0.01, retry_s: float = 1.0) -> None:
        self._db = db
        self._cipher = cipher
        self._hasher = hasher
        self._node_id = node_id
        self._tenant_of: dict[int, int] = {}
        self.writer = AttemptWriter(self._apply, max_batch=max_batch, linger_s=linger_s,
                                    retry_s=retry_s)
        self.guard = GuardedWriter(self._apply_guarded)

    async def create(self, attempt: NewAttempt) -> uuid.UUID:
        """Record a new open attempt and return its id once it is committed (durable).

        Also counts the attempt on its lead (attempt count, last attempt time, in call)
        and in the per-number log the caps read.
        """
        tenant_id = await self._tenant(attempt.campaign_id)
        attempt_id = attempt.id or new_attempt_id(attempt.created_at)
        await self.writer.create(self._new_row(attempt, attempt_id, tenant_id))
        return attempt_id

    def _new_row(self, attempt: NewAttempt, attempt_id: uuid.UUID,
                 tenant_id: int) -> dict[str, Any]:
        return {
            "id": attempt_id, "tenant_id": tenant_id, "campaign_id": attempt.campaign_id,
            "lead_id": attempt.lead_id, "node_id": self._node_id,
            "number_enc": self._cipher.encrypt(attempt.number, ATTEMPT_NUMBER),
            "number_hash": self._hasher.digest(attempt.number),
            "key_id": self._cipher.active_key_id, "channel_id": attempt.channel_id,
            "dnc_version": attempt.dnc_version, "gate_decision": attempt.gate_decision,
            "state": AttemptState.OPEN, "created_at": attempt.created_at, "abandoned": False,
        }

    async def create_checked(self, attempt: NewAttempt, *, since: datetime,
                             check: Callable[[DialHistory], T | None]) -> uuid.UUID | T:
        """Record a new open attempt only if `check` allows it, atomically per number.

        In a write transaction holding the number's lock (a PostgreSQL advisory lock on
        its hash; SQLite's write lock), the number's attempts since `since` in every
        campaign and the lead's count and claim are read and `check` (pure, no I/O) is
        called: None lets the attempt be written and committed (durable) before this
        returns its id; anything else is returned as it is and nothing is written. Two
        nodes or two campaigns dialling one number at once never both pass a cap.
        Concurrent calls share a transaction (`dialer.store.guarded`).
        """
        tenant_id = await self._tenant(attempt.campaign_id)
        attempt_id = attempt.id or new_attempt_id(attempt.created_at)
        row = self._new_row(attempt, attempt_id, tenant_id)
        result: uuid.UUID | T = await self.guard.submit(row, since, check)
        return result

    async def _apply_guarded(self, batch: Sequence[Guarded]) -> list[Any]:
        """One transaction for a batch of guarded creates (see `dialer.store.guarded`)."""
        hashes = sorted({item.number_hash for item in batch})
        lead_ids = sorted({item.row["lead_id"] for item in batch
                           if item.row["lead_id"] is not None})
        results: list[Any] = []
        async with self._db.write() as conn:
            if not self._db.is_sqlite:
                await conn.execute(text(
                    "SELECT pg_advisory_xact_lock(k) FROM "
                    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS keys"),
                    {"keys": sorted({number_lock_key(h) for h in hashes})})
            past = await self._recent(conn, hashes, min(item.since for item in batch))
            leads = await self._lead_states(conn, lead_ids)
            admitted = []
            for item in batch:
                mine = past.setdefault(item.number_hash, [])
                lead = leads.get(item.row["lead_id"])
                verdict = item.check(DialHistory(
                    tuple(sorted((p for p in mine if p[0] >= item.since), reverse=True)),
                    *(lead if lead is not None else ())))
                if verdict is not None:
                    results.append(verdict)
                    continue
                admitted.append(item.row)
                results.append(item.row["id"])
                mine.append((item.row["created_at"], False))
                if lead is not None:  # a second create for this lead sees it in call
                    lead[0] += 1
                    lead[1] = LeadStatus.IN_CALL
            if admitted:
                await self._insert(conn, admitted)
        return results

    @staticmethod
    async def _recent(conn: AsyncConnection, hashes: Sequence[bytes],
                      since: datetime) -> dict[bytes, list[tuple[datetime, bool]]]:
        past: dict[bytes, list[tuple[datetime, bool]]] = {}
        rows = (await conn.execute(
            select(NumberAttempt.number_hash, NumberAttempt.at, NumberAttempt.abandoned)
            .where(NumberAttempt.number_hash.in_(hashes), NumberAttempt.at >= since))).all()
        for r in rows:
            past.setdefault(bytes(r.number_hash), []).append((r.at, bool(r.abandoned)))
        return past

    @staticmethod
    async def _lead_states(conn: AsyncConnection, lead_ids: Sequence[int]
                           ) -> dict[int, list[Any]]:
        """Lead id -> [attempt count, status, claimed by]."""
        if not lead_ids:
            return {}
        rows = (await conn.execute(select(Lead.id, Lead.attempt_count, Lead.status,
                                          Lead.claimed_by).where(Lead.id.in_(lead_ids)))).all()
        return {r.id: [int(r.attempt_count), LeadStatus(r.status), r.claimed_by] for r in rows}

    def update(self, attempt_id: uuid.UUID, **fields: Any) -> None:
        """Queue changes to an attempt (committed with the next batch; see `flush`)."""
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"attempt fields that cannot be updated: {sorted(unknown)}")
        if fields:
            self.writer.update(attempt_id, fields)

    async def flush(self) -> None:
        """Wait until every queued attempt change is committed."""
        await self.writer.flush()

    async def _tenant(self, campaign_id: int) -> int:
        if campaign_id not in self._tenant_of:
            async with self._db.read() as conn:
                tenant_id = (await conn.execute(select(Campaign.tenant_id)
                                                .where(Campaign.id == campaign_id))).scalar()
            if tenant_id is None:
                raise NotFound("campaign", campaign_id)
            self._tenant_of[campaign_id] = tenant_id
        return self._tenant_of[campaign_id]

    async def _apply(self, creates: Sequence[dict[str, Any]],
                     updates: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        async with self._db.write() as conn:
            if creates:
                await self._insert(conn, creates)
            if updates:
                await self._update(conn, updates)

    async def _insert(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        await conn.execute(insert(Attempt), list(rows))
        await conn.execute(insert(NumberAttempt), [
            {"attempt_id": r["id"], "number_hash": r["number_hash"], "at": r["created_at"],
             "campaign_id": r["campaign_id"], "abandoned": False} for r in rows])
        leads = [{"b_id": r["lead_id"], "b_at": r["created_at"]} for r in rows
                 if r["lead_id"] is not None]
        if leads:
            await conn.execute(
                update(Lead).where(Lead.id == bindparam("b_id"))
                .values(status=LeadStatus.IN_CALL, attempt_count=Lead.attempt_count + 1,
                        last_attempt_at=bindparam("b_at")), leads)

    async def _update(self, conn: AsyncConnection,
                      updates: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        merged: dict[uuid.UUID, dict[str, Any]] = {}
        for attempt_id, fields in updates:
            merged.setdefault(attempt_id, {}).update(fields)
        closing = [i for i, f in merged.items() if f.pop("state", None) == AttemptState.CLOSED]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for attempt_id, fields in merged.items():
            if fields:
                groups.setdefault(tuple(sorted(fields)), []).append(
                    {"b_id": attempt_id, **{f"b_{k}": v for k, v in fields.items()}})
        for names, params in groups.items():
            await conn.execute(update(Attempt).where(Attempt.id == bindparam("b_id"))
                               .values({n: bindparam(f"b_{n}") for n in names}), params)
        abandoned = [{"b_id": i, "b_abandoned": bool(f["abandoned"])}
                     for i, f in merged.items() if "abandoned" in f]
        if abandoned:
            await conn.execute(update(NumberAttempt)
                               .where(NumberAttempt.attempt_id == bindparam("b_id"))
                               .values(abandoned=bindparam("b_abandoned")), abandoned)
        if closing:
            closed = (await conn.execute(
                update(Attempt).where(Attempt.id.in_(closing), Attempt.state == AttemptState.OPEN)
                .values(state=AttemptState.CLOSED).returning(*_CLOSING_COLUMNS))).all()
            await add_increments(self._db, conn, total(closed))

    async def get(self, attempt_id: uuid.UUID, *, with_number: bool = False) -> AttemptRecord:
        """One attempt; its number decrypted only if `with_number`."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Attempt.__table__)
                                      .where(Attempt.id == attempt_id))).one_or_none()
        if row is None:
            raise NotFound("attempt", attempt_id)
        return self.record(row, with_number=with_number)

    def record(self, row: Row[Any], *, with_number: bool = False) -> AttemptRecord:
        """An AttemptRecord from a row of the attempts table."""
        number = (self._cipher.decrypt_str(row.number_enc, ATTEMPT_NUMBER)
                  if with_number and row.number_enc is not None else None)
        return AttemptRecord(
            id=row.id, tenant_id=row.tenant_id, campaign_id=row.campaign_id,
            lead_id=row.lead_id, node_id=row.node_id, channel_id=row.channel_id,
            dnc_version=row.dnc_version, gate_decision=row.gate_decision, state=row.state,
            created_at=row.created_at, originated_at=row.originated_at,
            ringing_at=row.ringing_at, answered_at=row.answered_at, amd_at=row.amd_at,
            amd_result=row.amd_result, amd_cause=row.amd_cause,
            agent_connected_at=row.agent_connected_at, ended_at=row.ended_at,
            hangup_cause=row.hangup_cause, outcome=row.outcome, disposition=row.disposition,
            abandoned=row.abandoned, agent_id=row.agent_id, anonymised_at=row.anonymised_at,
            key_id=row.key_id, number_hash=row.number_hash, number=number)

    async def open_attempts(self, node_id: str | None = None) -> list[AttemptRecord]:
        """Attempts still open (of one node, or all): what a restarted engine reconciles."""
        stmt = select(Attempt.__table__).where(Attempt.state == AttemptState.OPEN)
        if node_id is not None:
            stmt = stmt.where(Attempt.node_id == node_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.order_by(Attempt.created_at))).all()
        return [self.record(r) for r in rows]

    async def of_campaign(self, campaign_id: int, *, with_number: bool = False
                          ) -> list[AttemptRecord]:
        """Every attempt of a campaign, oldest first (reports, tests, reconciliation)."""
        stmt = (select(Attempt.__table__).where(Attempt.campaign_id == campaign_id)
                .order_by(Attempt.created_at, Attempt.id))
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [self.record(r, with_number=with_number) for r in rows]

    async def open_for_number(self, number_hash: bytes) -> list[uuid.UUID]:
        """Open attempts to a number, in every campaign (a refusal hangs them up)."""
        async with self._db.read() as conn:
            return list((await conn.execute(select(Attempt.id).where(
                Attempt.number_hash == number_hash,
                Attempt.state == AttemptState.OPEN))).scalars())

    async def count_for_number(self, number_hash: bytes, since: datetime) -> int:
        """Attempts to a number, in every campaign, created at or after `since`.

        Reads the per-number log, which keeps at least a week (see `number_log_cutoff`).
        """
        async with self._db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(NumberAttempt)
                                           .where(NumberAttempt.number_hash == number_hash,
                                                  NumberAttempt.at >= since))).scalar_one())

    async def history_for_number(self, number_hash: bytes,
                                 since: datetime) -> list[tuple[datetime, bool]]:
        """(created at, abandoned) of a number's attempts since `since`, newest first:
        what the minimum-gap rules (4 h; 72 h after an abandon under `uk`) read."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(NumberAttempt.at, NumberAttempt.abandoned).where(
                NumberAttempt.number_hash == number_hash, NumberAttempt.at >= since)
                .order_by(NumberAttempt.at.desc()))).all()
        return [(r.at, bool(r.abandoned)) for r in rows]
