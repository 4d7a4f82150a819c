"""Agents (PINs kept as salted scrypt hashes), their sessions and state timelines."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from dialer.errors import NotFound
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.enums import AgentState
from dialer.store.records import AgentInfo, AgentStateSpan
from dialer.store.schema import Agent, AgentSession, AgentStateChange

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES = 16
_DIGEST_BYTES = 32
# Checked when the agent does not exist, so an unknown id costs the same as a wrong PIN.
_DUMMY_HASH = ("scrypt$16384$8$1$sNUBfwJ+dfsvRNHNatf8IQ=="
               "$Zqupdb+Yz2PXKmnl6n/bAzTienGMVkUn3yKA+WYAk2k=")


def hash_pin(pin: str) -> str:
    """A salted scrypt hash of a PIN: `scrypt$N$r$p$salt$digest` (base64 parts)."""
    if not pin:
        raise ValueError("a PIN cannot be empty")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=_DIGEST_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def check_pin(pin: str, stored: str) -> bool:
    """True when `pin` matches a hash made by `hash_pin` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


def _agent(row: Any) -> AgentInfo:
    return AgentInfo(id=row.id, tenant_id=row.tenant_id, external_id=row.external_id,
                     name=row.name, active=row.active, created_at=row.created_at)


_AGENT_COLUMNS = (Agent.id, Agent.tenant_id, Agent.external_id, Agent.name, Agent.active,
                  Agent.created_at)


class Agents:
    """Agents, their sessions and their state changes."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def create(self, tenant_id: int, external_id: str, name: str, pin: str, *,
                     now: datetime, actor: str = "system") -> AgentInfo:
        """Add an active agent; the PIN is hashed off the event loop."""
        pin_hash = await asyncio.to_thread(hash_pin, pin)
        async with self._db.write() as conn:
            row = (await conn.execute(insert(Agent).values(
                tenant_id=tenant_id, external_id=external_id, name=name, pin_hash=pin_hash,
                active=True, created_at=now).returning(*_AGENT_COLUMNS))).one()
            await write_audit(conn, at=now, actor=actor, action="agent.create",
                              subject_type="agent", subject_id=row.id, node_id=self._node_id,
                              detail={"tenant_id": tenant_id, "external_id": external_id})
        return _agent(row)

    async def get(self, agent_id: int) -> AgentInfo:
        """One agent; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_AGENT_COLUMNS)
                                      .where(Agent.id == agent_id))).one_or_none()
        if row is None:
            raise NotFound("agent", agent_id)
        return _agent(row)

    async def by_external_id(self, tenant_id: int, external_id: str) -> AgentInfo:
        """A tenant's agent by the id it logs in with; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_AGENT_COLUMNS).where(
                Agent.tenant_id == tenant_id, Agent.external_id == external_id))).one_or_none()
        if row is None:
            raise NotFound("agent", external_id)
        return _agent(row)

    async def of_tenant(self, tenant_id: int) -> list[AgentInfo]:
        """A tenant's agents, by id."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(*_AGENT_COLUMNS).where(
                Agent.tenant_id == tenant_id).order_by(Agent.id))).all()
        return [_agent(r) for r in rows]

    async def authenticate(self, tenant_id: int, external_id: str, pin: str) -> AgentInfo | None:
        """The active agent with this id and PIN, or None (same work either way)."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_AGENT_COLUMNS, Agent.pin_hash).where(
                Agent.tenant_id == tenant_id, Agent.external_id == external_id))).one_or_none()
        stored = row.pin_hash if row is not None else _DUMMY_HASH
        ok = await asyncio.to_thread(check_pin, pin, stored)
        return _agent(row) if ok and row is not None and row.active else None

    async def set_pin(self, agent_id: int, pin: str, *, now: datetime, actor: str) -> None:
        """Replace an agent's PIN."""
        pin_hash = await asyncio.to_thread(hash_pin, pin)
        await self._change(agent_id, {"pin_hash": pin_hash}, now, actor, "agent.set_pin")

    async def set_active(self, agent_id: int, active: bool, *, now: datetime,
                         actor: str) -> None:
        """Enable or disable an agent's logins."""
        await self._change(agent_id, {"active": active}, now, actor,
                           "agent.enable" if active else "agent.disable")

    async def _change(self, agent_id: int, values: dict[str, Any], now: datetime, actor: str,
                      action: str) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(update(Agent).where(Agent.id == agent_id).values(**values))
            if result.rowcount == 0:
                raise NotFound("agent", agent_id)
            await write_audit(conn, at=now, actor=actor, action=action, subject_type="agent",
                              subject_id=agent_id, node_id=self._node_id)

    async def open_session(self, agent_id: int, *, at: datetime,
                           campaign_id: int | None = None) -> int:
        """Log an agent in on this node; returns the session id."""
        async with self._db.write() as conn:
            return int((await conn.execute(insert(AgentSession).values(
                agent_id=agent_id, node_id=self._node_id, campaign_id=campaign_id,
                login_at=at).returning(AgentSession.id))).scalar_one())

    async def change_state(self, session_id: int, state: AgentState, *, at: datetime) -> None:
        """Record that the agent of a session entered `state` at `at`."""
        await self.record_states([(session_id, state, at)])

    async def record_states(self, changes: Sequence[tuple[int, AgentState, datetime]]) -> None:
        """Record many (session id, state, at) changes in one transaction."""
        if not changes:
            return
        async with self._db.write() as conn:
            await conn.execute(insert(AgentStateChange), [
                {"session_id": session_id, "state": state, "at": at}
                for session_id, state, at in changes])

    async def close_session(self, session_id: int, *, at: datetime) -> None:
        """Log the agent of a session out."""
        async with self._db.write() as conn:
            result = await conn.execute(update(AgentSession).where(
                AgentSession.id == session_id, AgentSession.logout_at.is_(None))
                .values(logout_at=at))
        if result.rowcount == 0:
            raise NotFound("open agent session", session_id)

    async def timeline(self, session_id: int) -> list[AgentStateSpan]:
        """A session's state changes, in order."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(AgentStateChange.__table__).where(
                AgentStateChange.session_id == session_id)
                .order_by(AgentStateChange.at, AgentStateChange.id))).all()
        return [AgentStateSpan(session_id=r.session_id, at=r.at, state=r.state) for r in rows]

