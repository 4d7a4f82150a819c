"""Recording rows: where a call's recording file is, its checksum and key; deletion audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from dialer.errors import NotFound
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.records import RecordingInfo
from dialer.store.schema import Attempt, Recording


def _recording(row: Row[Any]) -> RecordingInfo:
    return RecordingInfo(id=row.id, attempt_id=row.attempt_id, tenant_id=row.tenant_id,
                         campaign_id=row.campaign_id, path=row.path, duration_s=row.duration_s,
                         size_bytes=row.size_bytes, checksum=row.checksum, key_id=row.key_id,
                         created_at=row.created_at, deleted_at=row.deleted_at)


class Recordings:
    """The recordings table (the files themselves belong to `recordings/`)."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def add(self, attempt_id: uuid.UUID, *, path: str, duration_s: float, size_bytes: int,
                  checksum: str, key_id: str | None, created_at: datetime) -> RecordingInfo:
        """Register the recording of an attempt (its campaign and tenant come from it)."""
        async with self._db.write() as conn:
            owner = (await conn.execute(select(Attempt.tenant_id, Attempt.campaign_id)
                                        .where(Attempt.id == attempt_id))).one_or_none()
            if owner is None:
                raise NotFound("attempt", attempt_id)
            row = (await conn.execute(insert(Recording).values(
                attempt_id=attempt_id, tenant_id=owner.tenant_id, campaign_id=owner.campaign_id,
                path=path, duration_s=duration_s, size_bytes=size_bytes, checksum=checksum,
                key_id=key_id, created_at=created_at).returning(Recording.__table__))).one()
        return _recording(row)

    async def for_attempt(self, attempt_id: uuid.UUID) -> list[RecordingInfo]:
        """The recordings of one attempt."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Recording.__table__).where(
                Recording.attempt_id == attempt_id).order_by(Recording.id))).all()
        return [_recording(r) for r in rows]

    async def get(self, recording_id: int) -> RecordingInfo:
        """One recording; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Recording.__table__)
                                      .where(Recording.id == recording_id))).one_or_none()
        if row is None:
            raise NotFound("recording", recording_id)
        return _recording(row)

    async def mark_deleted(self, recording_id: int, *, now: datetime, actor: str,
                           reason: str) -> None:
        """Record that a recording's file was deleted (e.g. on a complaint), audited."""
        async with self._db.write() as conn:
            result = await conn.execute(update(Recording).where(
                Recording.id == recording_id, Recording.deleted_at.is_(None))
                .values(deleted_at=now))
            if result.rowcount == 0:
                raise NotFound("undeleted recording", recording_id)
            await write_audit(conn, at=now, actor=actor, action="recording.delete",
                              subject_type="recording", subject_id=recording_id,
                              node_id=self._node_id, detail={"reason": reason})
