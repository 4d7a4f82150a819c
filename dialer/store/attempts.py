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
from typing import Any, TypeVar, cast

from sqlalchemy import Row, bindparam, func, insert, literal, null, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.crypto import FieldCipher
from dialer.errors import NotFound
from dialer.store.database import Database
from dialer.store.enums import AttemptState, LeadStatus
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

        In one write transaction, holding the number's lock (a PostgreSQL advisory lock
        on its hash; SQLite's write lock), read the number's attempts since `since` in
        every campaign and the lead's count and claim, and call `check` (pure, no I/O):
        None lets the attempt be written and committed (durable) before this returns its
        id; anything else is returned as it is and nothing is written. Two nodes or two
        campaigns dialling one number at once therefore never both pass a cap.
        """
        tenant_id = await self._tenant(attempt.campaign_id)
        attempt_id = attempt.id or new_attempt_id(attempt.created_at)
        row = self._new_row(attempt, attempt_id, tenant_id)
        async with self._db.write() as conn:
            if not self._db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": number_lock_key(row["number_hash"])})
            history = await self._history(conn, row["number_hash"], since, attempt.lead_id)
            verdict = check(history)
            if verdict is not None:
                return verdict
            await self._insert(conn, [row])
        return attempt_id

    async def _history(self, conn: AsyncConnection, number_hash: bytes, since: datetime,
                       lead_id: int | None) -> DialHistory:
        """The number's attempts and the lead's row in one statement (one round trip:
        this runs while the number's lock is held, before every originate)."""
        attempts = select(literal(0).label("kind"), NumberAttempt.at, NumberAttempt.abandoned,
                          null().label("lead_count"), null().label("lead_status"),
                          null().label("lead_claimer")).where(
            NumberAttempt.number_hash == number_hash, NumberAttempt.at >= since)
        lead = select(literal(1), null(), null(), Lead.attempt_count, Lead.status,
                      Lead.claimed_by).where(Lead.id == (-1 if lead_id is None else lead_id))
        rows = cast("Sequence[Row[Any]]", (await conn.execute(union_all(attempts, lead))).all())
        past = sorted(((r.at, bool(r.abandoned)) for r in rows if r.kind == 0), reverse=True)
        found = next((r for r in rows if r.kind == 1), None)
        if found is None:
            return DialHistory(tuple(past))
        return DialHistory(tuple(past), lead_attempts=int(found.lead_count),
                           lead_status=LeadStatus(found.lead_status),
                           lead_claimed_by=found.lead_claimer)

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
