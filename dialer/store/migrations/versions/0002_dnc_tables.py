"""The DNC's own tables (dnc.metadata) and its version row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 17:29:46.606583
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dnc.schema

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "dnc_changes",
        sa.Column("seq", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_ref", sa.String(length=128), server_default="", nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence", sa.String(length=128), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("expires_at", dnc.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("at", dnc.schema.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_dnc_changes")),
    )
    with op.batch_alter_table("dnc_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dnc_changes_version"), ["version"], unique=False)

    op.create_table(
        "dnc_entries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_ref", sa.String(length=128), server_default="", nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence", sa.String(length=128), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", dnc.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", dnc.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("added_version", sa.BigInteger(), nullable=False),
        sa.Column("removed_at", dnc.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("removed_version", sa.BigInteger(), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.Column("removed_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_entries")),
    )
    with op.batch_alter_table("dnc_entries", schema=None) as batch_op:
        batch_op.create_index("ix_dnc_entries_scope", ["scope", "scope_ref"], unique=False)
        batch_op.create_index("uq_dnc_entries_active", ["hash", "scope", "scope_ref"],
                              unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)

    state = op.create_table(
        "dnc_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_state")),
    )
    op.bulk_insert(state, [{"id": dnc.schema.STATE_ROW_ID, "version": 0}])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("dnc_state")
    with op.batch_alter_table("dnc_entries", schema=None) as batch_op:
        batch_op.drop_index("uq_dnc_entries_active", sqlite_where=_ACTIVE,
                            postgresql_where=_ACTIVE)
        batch_op.drop_index("ix_dnc_entries_scope")
    op.drop_table("dnc_entries")
    with op.batch_alter_table("dnc_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dnc_changes_version"))
    op.drop_table("dnc_changes")
