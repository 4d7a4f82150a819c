"""Recording rows: where a call's recording file is, its checksum and key; deletion audited.

`Recordings` is also the `recordings.RecordingIndex` the archive writes through (the
files themselves belong to `recordings/`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.errors import NotFound
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.records import RecordingInfo
from dialer.store.schema import Attempt, Recording
from recordings import AttemptOwner, IndexedFile, NewRecording


def _recording(row: Row[Any]) -> RecordingInfo:
    return RecordingInfo(id=row.id, attempt_id=row.attempt_id, tenant_id=row.tenant_id,
                         campaign_id=row.campaign_id, path=row.path, duration_s=row.duration_s,
                         size_bytes=row.size_bytes, checksum=row.checksum, key_id=row.key_id,
                         created_at=row.created_at, deleted_at=row.deleted_at,
                         segment=row.segment, channels=row.channels, node_id=row.node_id,
                         missing_at=row.missing_at)


def _indexed(row: Row[Any]) -> IndexedFile:
    return IndexedFile(id=row.id, attempt_id=row.attempt_id, segment=row.segment,
                       path=row.path, key_id=row.key_id, checksum=row.checksum,
                       deleted=row.deleted_at is not None, missing=row.missing_at is not None)


def indexed_file(info: RecordingInfo) -> IndexedFile:
    """The archive's view of a stored recording (what `Vault.decrypt_to` takes)."""
    return IndexedFile(id=info.id, attempt_id=info.attempt_id, segment=info.segment,
                       path=info.path, key_id=info.key_id, checksum=info.checksum,
                       deleted=info.deleted_at is not None,
                       missing=info.missing_at is not None)


class Recordings:
    """The recordings table (the files themselves belong to `recordings/`)."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def add(self, attempt_id: uuid.UUID, *, path: str, duration_s: float, size_bytes: int,
                  checksum: str, key_id: str | None, created_at: datetime,
                  segment: int | None = None, channels: int = 1,
                  node_id: str | None = None) -> RecordingInfo:
        """Register the recording of an attempt (its campaign, tenant and number hash come
        from it); `segment` defaults to the attempt's next one."""
        async with self._db.write() as conn:
            return await self._insert(conn, attempt_id, path=path, duration_s=duration_s,
                                      size_bytes=size_bytes, checksum=checksum, key_id=key_id,
                                      created_at=created_at, segment=segment,
                                      channels=channels, node_id=node_id or self._node_id)

    async def _insert(self, conn: AsyncConnection, attempt_id: uuid.UUID, *,
                      segment: int | None, **values: Any) -> RecordingInfo:
        owner = (await conn.execute(select(Attempt.tenant_id, Attempt.campaign_id,
                                           Attempt.number_hash)
                                    .where(Attempt.id == attempt_id))).one_or_none()
        if owner is None:
            raise NotFound("attempt", attempt_id)
        if segment is None:
            last = (await conn.execute(select(func.max(Recording.segment))
                                       .where(Recording.attempt_id == attempt_id))).scalar()
            segment = int(last or 0) + 1
        row = (await conn.execute(insert(Recording).values(
            attempt_id=attempt_id, tenant_id=owner.tenant_id, campaign_id=owner.campaign_id,
            number_hash=owner.number_hash, segment=segment, **values)
            .returning(Recording.__table__))).one()
        return _recording(row)

    async def for_attempt(self, attempt_id: uuid.UUID) -> list[RecordingInfo]:
        """The recordings of one attempt, by segment."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Recording.__table__).where(
                Recording.attempt_id == attempt_id)
                .order_by(Recording.segment, Recording.id))).all()
        return [_recording(r) for r in rows]

    async def get(self, recording_id: int) -> RecordingInfo:
        """One recording; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Recording.__table__)
                                      .where(Recording.id == recording_id))).one_or_none()
        if row is None:
            raise NotFound("recording", recording_id)
        return _recording(row)

    async def search(self, *, campaign_id: int | None = None, number_hash: bytes | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     include_deleted: bool = False, limit: int = 1000) -> list[RecordingInfo]:
        """Recordings by campaign, number (keyed hash) and creation time, newest first."""
        stmt = select(Recording.__table__).order_by(Recording.created_at.desc(),
                                                    Recording.id.desc()).limit(limit)
        if campaign_id is not None:
            stmt = stmt.where(Recording.campaign_id == campaign_id)
        if number_hash is not None:
            stmt = stmt.where(Recording.number_hash == number_hash)
        if since is not None:
            stmt = stmt.where(Recording.created_at >= since)
        if until is not None:
            stmt = stmt.where(Recording.created_at < until)
        if not include_deleted:
            stmt = stmt.where(Recording.deleted_at.is_(None))
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_recording(r) for r in rows]

    async def mark_deleted(self, recording_id: int, *, now: datetime, actor: str,
                           reason: str) -> None:
        """Record that a recording's file is deleted (e.g. on a complaint), audited; its
        number hash goes with it."""
        async with self._db.write() as conn:
            result = await conn.execute(update(Recording).where(
                Recording.id == recording_id, Recording.deleted_at.is_(None))
                .values(deleted_at=now, number_hash=None))
            if result.rowcount == 0:
                raise NotFound("undeleted recording", recording_id)
            await write_audit(conn, at=now, actor=actor, action="recording.delete",
                              subject_type="recording", subject_id=recording_id,
                              node_id=self._node_id, detail={"reason": reason})

    # -- recordings.RecordingIndex --------------------------------------------------------

    async def owner(self, attempt_id: uuid.UUID) -> AttemptOwner | None:
        """The attempt's campaign and creation time (None: no such attempt)."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Attempt.campaign_id, Attempt.created_at)
                                      .where(Attempt.id == attempt_id))).one_or_none()
        return None if row is None else AttemptOwner(row.campaign_id, row.created_at)

    async def find(self, attempt_id: uuid.UUID, segment: int) -> IndexedFile | None:
        """The row of one segment of an attempt's recording, if any."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Recording.__table__).where(
                Recording.attempt_id == attempt_id,
                Recording.segment == segment))).one_or_none()
        return None if row is None else _indexed(row)

    async def index(self, recording: NewRecording) -> IndexedFile:
        """Add the row of an archived segment (or return the one already there)."""
        async with self._db.write() as conn:
            row = (await conn.execute(select(Recording.__table__).where(
                Recording.attempt_id == recording.attempt_id,
                Recording.segment == recording.segment))).one_or_none()
            if row is not None:
                return _indexed(row)
            info = await self._insert(
                conn, recording.attempt_id, segment=recording.segment, path=recording.path,
                duration_s=recording.duration_s, size_bytes=recording.size_bytes,
                checksum=recording.checksum, key_id=recording.key_id,
                created_at=recording.created_at, channels=recording.channels,
                node_id=recording.node_id)
        return indexed_file(info)

    async def files_of_node(self, node_id: str, *, after_id: int,
                            limit: int) -> Sequence[IndexedFile]:
        """A node's rows (deleted ones too) with ids after `after_id`, by id."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Recording.__table__).where(
                Recording.node_id == node_id, Recording.id > after_id)
                .order_by(Recording.id).limit(limit))).all()
        return [_indexed(r) for r in rows]

    async def mark_missing(self, recording_id: int, *, at: datetime, reason: str) -> None:
        """Flag a recording whose file is gone; audited, the row kept."""
        async with self._db.write() as conn:
            path = (await conn.execute(update(Recording).where(
                Recording.id == recording_id, Recording.missing_at.is_(None),
                Recording.deleted_at.is_(None)).values(missing_at=at)
                .returning(Recording.path))).scalar_one_or_none()
            if path is not None:
                await write_audit(conn, at=at, actor=f"node:{self._node_id}",
                                  action="recording.missing", subject_type="recording",
                                  subject_id=recording_id, node_id=self._node_id,
                                  detail={"reason": reason, "path": path})

    async def rekeyed(self, recording_id: int, *, old_key_id: str | None, key_id: str,
                      size_bytes: int) -> bool:
        """Note a file's new key and size, if the row still names `old_key_id`."""
        async with self._db.write() as conn:
            stmt = update(Recording).where(Recording.id == recording_id)
            stmt = stmt.where(Recording.key_id.is_(None) if old_key_id is None
                              else Recording.key_id == old_key_id)
            result = await conn.execute(stmt.values(key_id=key_id, size_bytes=size_bytes))
        return bool(result.rowcount)
