"""Recordings: segment, channels, node, number hash, missing flag

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment", sa.Integer(), server_default="1",
                                      nullable=False))
        batch_op.add_column(sa.Column("channels", sa.Integer(), server_default="1",
                                      nullable=False))
        batch_op.add_column(sa.Column("node_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("number_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("missing_at",
                                      dialer.store.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index("ix_recordings_node_id_id", ["node_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_number_hash"), ["number_hash"],
                              unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_recordings_attempt_id_segment"),
                                          ["attempt_id", "segment"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_recordings_attempt_id_segment"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_recordings_number_hash"))
        batch_op.drop_index("ix_recordings_node_id_id")
        batch_op.drop_column("missing_at")
        batch_op.drop_column("number_hash")
        batch_op.drop_column("node_id")
        batch_op.drop_column("channels")
        batch_op.drop_column("segment")
