"""Key rotation: re-encrypt every encrypted column under the keyring's active data key.

Rows are walked in primary-key order, a batch per transaction; a row is rewritten only
if it still names the key it was read with, so a rerun after a crash (or a second
node doing the same) simply finishes the job. The counts per key id say when an old
key is no longer used by any row and may be pruned from the key file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from dialer.crypto import FieldCipher
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.schema import ENCRYPTED_COLUMNS, Attempt, Lead, Recording
from dialer.store.store import Store

DEFAULT_BATCH = 1000
_MODELS: dict[str, Any] = {"leads": Lead, "attempts": Attempt}
OnBatch = Callable[[str, int], None]


async def key_usage(db: Database) -> dict[str, dict[str, int]]:
    """Rows per data key id, per table (recordings: files neither deleted nor missing)."""
    usage: dict[str, dict[str, int]] = {}
    async with db.read() as conn:
        for name, model in (*_MODELS.items(), ("recordings", Recording)):
            stmt = (select(model.key_id, func.count()).where(model.key_id.is_not(None))
                    .group_by(model.key_id))
            if model is Recording:
                stmt = stmt.where(Recording.deleted_at.is_(None), Recording.missing_at.is_(None))
            usage[name] = {k: int(n) for k, n in (await conn.execute(stmt)).all()}
    return usage


def unused_keys(usage: Mapping[str, Mapping[str, int]], key_ids: list[str],
                active: str) -> list[str]:
    """Key ids that no row of any table uses and that are not active."""
    used = {k for counts in usage.values() for k, n in counts.items() if n}
    return sorted(k for k in key_ids if k != active and k not in used)


class KeyRotator:
    """Re-encrypts a store's rows under the active key of `cipher` (default: the store's)."""

    def __init__(self, store: Store, *, cipher: FieldCipher | None = None,
                 batch_size: int = DEFAULT_BATCH, on_batch: OnBatch | None = None) -> None:
        self._store = store
        self._db = store.db
        self._cipher = cipher or store.cipher
        self._batch = batch_size
        self._on_batch = on_batch

    async def reencrypt(self, *, now: datetime, actor: str) -> dict[str, int]:
        """Rewrite every value not under the active key; returns rows rewritten per table."""
        done = {table: await self._table(table) for table in ENCRYPTED_COLUMNS}
        async with self._db.write() as conn:
            await write_audit(conn, at=now, actor=actor, action="keys.reencrypt",
                              node_id=self._store.node_id,
                              detail={"active": self._cipher.active_key_id,
                                      "rows": done})
        return done

    async def _table(self, table: str) -> int:
        model = _MODELS[table]
        columns = ENCRYPTED_COLUMNS[table]
        pk = model.__table__.primary_key.columns.values()[0]
        active = self._cipher.active_key_id
        cipher = self._cipher
        last: Any = None
        total = 0
        while True:
            stmt = (select(pk, model.key_id, *(getattr(model, c) for c in columns))
                    .order_by(pk).limit(self._batch))
            if last is not None:
                stmt = stmt.where(pk > last)
            async with self._db.write() as conn:
                rows = (await conn.execute(stmt)).all()
                stale = [r for r in rows if r.key_id is not None and r.key_id != active]
                params = [{"b_pk": r[0], "b_old": r.key_id, "b_key_id": active,
                           **{f"b_{c}": (None if getattr(r, c) is None else
                                         cipher.reencrypt(getattr(r, c), f"{table}.{c}"))
                              for c in columns}} for r in stale]
                if params:
                    await conn.execute(
                        update(model).where(pk == bindparam("b_pk"),
                                            model.key_id == bindparam("b_old"))
                        .values(key_id=bindparam("b_key_id"),
                                **{c: bindparam(f"b_{c}") for c in columns}), params)
            total += len(params)
            if params and self._on_batch is not None:
                self._on_batch(table, len(params))
            if len(rows) < self._batch:
                return total
            last = rows[-1][0]
