"""The DNC's tables (its own `MetaData`), on SQLite and PostgreSQL. Never a plaintext number.

- `dnc_entries`: one row per listing (keyed hash, scope, source, reason, evidence, expiry,
  the version that added it; removal fields once removed — rows are never deleted).
- `dnc_state`: one row (`id` = 1) holding the current DNC version.
- `dnc_changes`: the append-only journal (audit trail, and how nodes catch up: every
  change with version > v). One version may cover several changes (an import batch).

These tables are kept (R17): no retention purge may touch them; removal is only ever
`DncRegistry.remove`, which needs a reason and is journaled.

Writers bump `dnc_state.version` first in their transaction; its row lock orders them,
so versions become visible in commit order and committed versions have no gaps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from dnc.hashing import DIGEST_BYTES

STATE_ROW_ID = 1

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


dnc_entries = Table(
    "dnc_entries", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("hash", LargeBinary(DIGEST_BYTES), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("scope_ref", String(128), nullable=False, server_default=""),
    Column("source", String(32), nullable=False),
    Column("reason", Text),
    Column("evidence", String(128)),
    Column("created_by", String(128)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("added_version", BigInteger, nullable=False),
    Column("removed_at", UtcDateTime()),
    Column("removed_version", BigInteger),
    Column("removal_reason", Text),
    Column("removed_by", String(128)),
)
# At most one active (not removed) entry per number and scope.
Index("uq_dnc_entries_active", dnc_entries.c.hash, dnc_entries.c.scope, dnc_entries.c.scope_ref,
      unique=True, sqlite_where=dnc_entries.c.removed_at.is_(None),
      postgresql_where=dnc_entries.c.removed_at.is_(None))
Index("ix_dnc_entries_scope", dnc_entries.c.scope, dnc_entries.c.scope_ref)

dnc_state = Table(
    "dnc_state", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

dnc_changes = Table(
    "dnc_changes", metadata,
    Column("seq", _BigId, primary_key=True, autoincrement=True),
    Column("version", BigInteger, nullable=False, index=True),
    Column("op", String(8), nullable=False),
    Column("hash", LargeBinary(DIGEST_BYTES), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("scope_ref", String(128), nullable=False, server_default=""),
    Column("source", String(32)),
    Column("reason", Text),
    Column("evidence", String(128)),
    Column("actor", String(128)),
    Column("expires_at", UtcDateTime()),
    Column("at", UtcDateTime(), nullable=False),
)


async def create_schema(engine: AsyncEngine) -> None:
    """Create the DNC tables and seed the version row without the store's migrations.

    For using `dnc` on its own (and its tests); a dialer database gets these tables
    from `dialer.store.ensure_schema`, which must be the only way used on it.
    """
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        async with engine.begin() as conn:
            seeded = await conn.scalar(select(dnc_state.c.id).where(dnc_state.c.id == STATE_ROW_ID))
            if seeded is None:
                await conn.execute(insert(dnc_state).values(id=STATE_ROW_ID, version=0))
    except IntegrityError:
        pass  # another process seeded it between our read and our insert

