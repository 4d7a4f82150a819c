"""The store: one object that opens the database, migrates it, and holds the repositories.

    async with await Store.open(url, keyring, node_id="n1") as store:
        campaign = await store.campaigns.create(tenant.id, "spring", "cn", now=now)
        leads = await store.claim_leads(campaign.id, "n1", 10, now)
        attempt_id = await store.create_attempt(NewAttempt(campaign.id, lead.number, now,
                                                           lead_id=lead.id))
        # ... only now send the originate ...
        store.update_attempt(attempt_id, originated_at=now)

Every method raises `StoreUnavailable` (with its cause) when the database cannot be
used; the engine then starts no call until a later call succeeds again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy.engine import make_url

from dialer.crypto import FieldCipher
from dialer.db import PG_COMMAND_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_MS, create_engine
from dialer.errors import StoreFault, StoreUnavailable
from dialer.keys import Keyring, load_keyring
from dialer.settings import Settings
from dialer.store.agents import Agents
from dialer.store.attempts import Attempts
from dialer.store.audit import AuditLog
from dialer.store.database import Database
from dialer.store.faults import describe_url
from dialer.store.leads import Leads
from dialer.store.migrate import current_revision, ensure_schema, head_revision
from dialer.store.nodes import Nodes
from dialer.store.recordings import Recordings
from dialer.store.records import ClaimedLead, NewAttempt
from dialer.store.stats import Stats
from dialer.store.tenants import Campaigns, Tenants
from dnc import NumberHasher


def _check_sqlite_directory(url: str) -> None:
    """Fail clearly (before the driver tries) when a SQLite file's folder is missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    folder = Path(parsed.database).parent
    if not folder.is_dir():
        raise StoreUnavailable(f"folder {folder} does not exist", cause=StoreFault.CANNOT_OPEN,
                               where=describe_url(url))


class Store:
    """The dialer's SQL store (SQLite or PostgreSQL) and its repositories."""

    def __init__(self, db: Database, keyring: Keyring, *, node_id: str,
                 max_batch: int = 500, linger_s: float = 0.01, retry_s: float = 1.0) -> None:
        self.db = db
        self.node_id = node_id
        self.keyring = keyring
        self.cipher = FieldCipher(keyring)
        self.hasher = NumberHasher(keyring.hash_key)
        self.tenants = Tenants(db, node_id)
        self.campaigns = Campaigns(db, node_id)
        self.leads = Leads(db, self.cipher, self.hasher, node_id)
        self.attempts = Attempts(db, self.cipher, self.hasher, node_id, max_batch=max_batch,
                                 linger_s=linger_s, retry_s=retry_s)
        self.agents = Agents(db, node_id)
        self.nodes = Nodes(db, node_id)
        self.recordings = Recordings(db, node_id)
        self.audit_log = AuditLog(db, node_id)
        self.stats = Stats(db)

    @classmethod
    async def open(cls, url: str, keyring: Keyring, *, node_id: str = "local",
                   migrate: bool = True,
                   sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                   pg_command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
                   **options: Any) -> Self:
        """Connect, bring the schema to head (or check it is there), start the writer."""
        _check_sqlite_directory(url)
        engine = create_engine(url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms,
                               pg_command_timeout_s=pg_command_timeout_s)
        db = Database(engine, lock_timeout_s=sqlite_busy_timeout_ms / 1000)
        try:
            if migrate:
                await ensure_schema(engine)
            elif (found := await current_revision(engine)) != head_revision():
                raise StoreUnavailable(f"schema is at {found}, the code needs {head_revision()} "
                                       "(run any dialer command to migrate)",
                                       cause=StoreFault.SCHEMA_MISMATCH, where=db.where)
            await db.ping()
        except BaseException:
            await engine.dispose()
            raise
        store = cls(db, keyring, node_id=node_id, **options)
        store.attempts.writer.start()
        store.attempts.guard.start()
        return store

    @classmethod
    async def from_settings(cls, settings: Settings, **options: Any) -> Self:
        """Open the store a node's settings name, with the keyring they point to."""
        return await cls.open(settings.db_url, load_keyring(settings.key_file),
                              node_id=settings.node_id, **options)

    async def close(self) -> None:
        """Write what is queued, then close every connection."""
        try:
            await self.attempts.guard.close()
            await self.attempts.writer.close()
        finally:
            await self.db.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers now."""
        await self.db.ping()

    async def create_attempt(self, attempt: NewAttempt) -> uuid.UUID:
        """Record an attempt durably; send its originate only after this returns."""
        return await self.attempts.create(attempt)

    def update_attempt(self, attempt_id: uuid.UUID, **fields: Any) -> None:
        """Queue changes to an attempt (batched; `flush` waits for them)."""
        self.attempts.update(attempt_id, **fields)

    async def flush(self) -> None:
        """Wait until every queued attempt change is committed."""
        await self.attempts.flush()

    async def claim_leads(self, campaign_id: int, node_id: str, n: int,
                          now: datetime) -> list[ClaimedLead]:
        """Claim up to `n` due leads of a campaign for a node; none is claimed twice."""
        return await self.leads.claim(campaign_id, node_id, n, now)

    async def release_expired_claims(self, now: datetime, lease: timedelta) -> int:
        """Release leads claimed more than `lease` ago (their node died)."""
        return await self.leads.release_expired_claims(now, lease)

    async def count_attempts_for_number(self, number_hash: bytes, since: datetime) -> int:
        """Attempts to a number in every campaign since `since` (the per-number caps)."""
        return await self.attempts.count_for_number(number_hash, since)

    async def audit(self, actor: str, action: str, *, at: datetime,
                    subject_type: str | None = None, subject_id: object = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Add an audit entry (numbers in `detail` are masked)."""
        await self.audit_log.record(actor, action, at=at, subject_type=subject_type,
                                    subject_id=subject_id, detail=detail)
