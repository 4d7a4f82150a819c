"""Nodes: each engine's heartbeat and the drain requests it reads every tick.

`dialer drain` (any host) writes `drain_requested_at` for a node; the node reads its row
each tick (`drain_requested`, one primary-key lookup), stops starting calls, lets live
ones finish and records `drained_at`. Cancelling clears the request. Requests and
cancellations are audited; heartbeats are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.records import NodeInfo
from dialer.store.schema import Node


def _node(row: Row[Any]) -> NodeInfo:
    return NodeInfo(id=row.id, started_at=row.started_at, heartbeat_at=row.heartbeat_at,
                    drain_requested_at=row.drain_requested_at,
                    drain_requested_by=row.drain_requested_by, drained_at=row.drained_at)


class Nodes:
    """The nodes table."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def _upsert(self, node_id: str, values: Mapping[str, Any]) -> NodeInfo:
        stmt = self._db.insert(Node).values(id=node_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=dict(values))
        async with self._db.write() as conn:
            row = (await conn.execute(stmt.returning(Node.__table__))).one()
        return _node(row)

    async def started(self, node_id: str, *, now: datetime) -> NodeInfo:
        """A node (re)starts: its start and heartbeat are now; a drain request stays."""
        return await self._upsert(node_id, {"started_at": now, "heartbeat_at": now,
                                            "drained_at": None})

    async def heartbeat(self, node_id: str, *, now: datetime) -> NodeInfo:
        """A node is alive at `now`; returns its row (with any drain request)."""
        return await self._upsert(node_id, {"heartbeat_at": now})

    async def request_drain(self, node_id: str, *, now: datetime, actor: str) -> NodeInfo:
        """Ask a node to stop starting calls and let live ones finish (audited)."""
        async with self._db.write() as conn:
            stmt = self._db.insert(Node).values(id=node_id, drain_requested_at=now,
                                                drain_requested_by=actor)
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={"drain_requested_at": now, "drain_requested_by": actor, "drained_at": None})
            row = (await conn.execute(stmt.returning(Node.__table__))).one()
            await write_audit(conn, at=now, actor=actor, action="node.drain",
                              subject_type="node", subject_id=node_id, node_id=self._node_id)
        return _node(row)

    async def cancel_drain(self, node_id: str, *, now: datetime, actor: str) -> NodeInfo | None:
        """Withdraw a drain request (audited); None if the node is unknown."""
        async with self._db.write() as conn:
            row = (await conn.execute(
                update(Node).where(Node.id == node_id)
                .values(drain_requested_at=None, drain_requested_by=None, drained_at=None)
                .returning(Node.__table__))).one_or_none()
            if row is not None:
                await write_audit(conn, at=now, actor=actor, action="node.drain_cancel",
                                  subject_type="node", subject_id=node_id,
                                  node_id=self._node_id)
        return None if row is None else _node(row)

    async def mark_drained(self, node_id: str, *, now: datetime) -> NodeInfo | None:
        """The node has no live call left after a drain request; None if unknown."""
        async with self._db.write() as conn:
            row = (await conn.execute(
                update(Node).where(Node.id == node_id, Node.drain_requested_at.is_not(None))
                .values(drained_at=now).returning(Node.__table__))).one_or_none()
        return None if row is None else _node(row)

    async def get(self, node_id: str) -> NodeInfo | None:
        """One node's row, or None if it never reported and was never asked to drain."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Node.__table__)
                                      .where(Node.id == node_id))).one_or_none()
        return None if row is None else _node(row)

    async def drain_requested(self, node_id: str) -> bool:
        """True while a drain of this node is requested (what the engine reads each tick)."""
        async with self._db.read() as conn:
            at = (await conn.execute(select(Node.drain_requested_at)
                                     .where(Node.id == node_id))).scalar()
        return at is not None

    async def list_all(self) -> list[NodeInfo]:
        """Every node, by id."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Node.__table__).order_by(Node.id))).all()
        return [_node(r) for r in rows]
