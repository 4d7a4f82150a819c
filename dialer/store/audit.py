"""The audit log: who did what to which record. Never purged; never a plaintext number."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.store.database import Database
from dialer.store.records import AuditRecord
from dialer.store.schema import AuditEntry
from dnc import mask_numbers_in_text


def scrub(value: Any) -> Any:
    """A copy of a JSON-like value with every phone-number-like run of digits masked."""
    if isinstance(value, str):
        return mask_numbers_in_text(value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


async def write_audit(conn: AsyncConnection, *, at: datetime, actor: str, action: str,
                      subject_type: str | None = None, subject_id: object = None,
                      node_id: str | None = None,
                      detail: Mapping[str, Any] | None = None) -> None:
    """Add an entry inside the caller's transaction (so it commits with the action)."""
    await conn.execute(insert(AuditEntry).values(
        at=at, actor=actor, action=action, subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id), node_id=node_id,
        detail=scrub(dict(detail or {}))))


class AuditLog:
    """Reads and writes the audit log."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def record(self, actor: str, action: str, *, at: datetime,
                     subject_type: str | None = None, subject_id: object = None,
                     detail: Mapping[str, Any] | None = None) -> None:
        """Add an entry in its own transaction."""
        async with self._db.write() as conn:
            await write_audit(conn, at=at, actor=actor, action=action, subject_type=subject_type,
                              subject_id=subject_id, node_id=self._node_id, detail=detail)

    async def entries(self, *, action: str | None = None, subject_type: str | None = None,
                      subject_id: object = None, since: datetime | None = None,
                      limit: int = 1000) -> list[AuditRecord]:
        """Entries matching the filters, oldest first."""
        stmt = select(AuditEntry.__table__).order_by(AuditEntry.id).limit(limit)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        if subject_type is not None:
            stmt = stmt.where(AuditEntry.subject_type == subject_type)
        if subject_id is not None:
            stmt = stmt.where(AuditEntry.subject_id == str(subject_id))
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [AuditRecord(id=r.id, at=r.at, actor=r.actor, action=r.action,
                            subject_type=r.subject_type, subject_id=r.subject_id,
                            node_id=r.node_id, detail=r.detail) for r in rows]
