"""Leads: import (encrypted, de-duplicated), claiming without duplicates, release, refusal.

Claiming is one UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING: on PostgreSQL the
subquery takes `FOR UPDATE SKIP LOCKED`, so concurrent claimers skip each other's rows;
on SQLite the transaction begins IMMEDIATE, so claimers (threads or processes) run one
at a time. Either way a lead is claimed by exactly one node. A claim is a lease: a
dead node's claims are released by `release_expired_claims`, and a restarted node
hands back its own at once (`release_own_claims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update

from dialer.crypto import FieldCipher
from dialer.errors import NotFound
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.enums import DIALLABLE_LEAD_STATUSES, FINAL_LEAD_STATUSES, LeadStatus, Outcome
from dialer.store.records import ClaimedLead, LeadImportResult, LeadRecord, NewLead
from dialer.store.schema import LEAD_CUSTOM, LEAD_NUMBER, Campaign, Lead
from dnc import NumberHasher

IMPORT_CHUNK = 1000


class Leads:
    """The leads table."""

    def __init__(self, db: Database, cipher: FieldCipher, hasher: NumberHasher,
                 node_id: str) -> None:
        self._db = db
        self._cipher = cipher
        self._hasher = hasher
        self._node_id = node_id

    def _row(self, campaign_id: int, tenant_id: int, lead: NewLead, now: datetime,
             import_batch: str | None) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id, "campaign_id": campaign_id,
            "number_enc": self._cipher.encrypt(lead.number, LEAD_NUMBER),
            "number_hash": self._hasher.digest(lead.number), "key_id": self._cipher.active_key_id,
            "region": lead.region, "time_zones": list(lead.time_zones) or None,
            "custom_enc": (self._cipher.encrypt_json(dict(lead.custom), LEAD_CUSTOM)
                           if lead.custom else None),
            "source": lead.source, "consent": lead.consent,
            "consent_evidence": lead.consent_evidence, "priority": lead.priority,
            "status": lead.status, "attempt_count": 0,
            "next_attempt_at": lead.next_attempt_at, "created_at": now,
            "import_batch": import_batch,
        }

    async def add(self, campaign_id: int, leads: Iterable[NewLead], *, now: datetime,
                  import_batch: str | None = None) -> LeadImportResult:
        """Add leads to a campaign; a number already in the campaign is skipped, not an error."""
        async with self._db.read() as conn:
            tenant_id = (await conn.execute(select(Campaign.tenant_id)
                                            .where(Campaign.id == campaign_id))).scalar()
        if tenant_id is None:
            raise NotFound("campaign", campaign_id)
        inserted = total = 0
        chunk: list[NewLead] = []
        for lead in leads:
            chunk.append(lead)
            if len(chunk) == IMPORT_CHUNK:
                inserted += await self._insert(campaign_id, tenant_id, chunk, now, import_batch)
                total += len(chunk)
                chunk = []
        if chunk:
            inserted += await self._insert(campaign_id, tenant_id, chunk, now, import_batch)
            total += len(chunk)
        return LeadImportResult(inserted=inserted, duplicates=total - inserted)

    async def _insert(self, campaign_id: int, tenant_id: int, chunk: Sequence[NewLead],
                      now: datetime, import_batch: str | None) -> int:
        ids = await self._insert_rows(campaign_id, tenant_id, chunk, now, import_batch)
        return sum(i is not None for i in ids)

    async def insert_batch(self, campaign_id: int, leads: Sequence[NewLead], *,
                           now: datetime, import_batch: str | None = None) -> list[int | None]:
        """Add leads in one transaction; per lead, its new id or None if its number is
        already in the campaign (what a per-row import report needs)."""
        async with self._db.read() as conn:
            tenant_id = (await conn.execute(select(Campaign.tenant_id)
                                            .where(Campaign.id == campaign_id))).scalar()
        if tenant_id is None:
            raise NotFound("campaign", campaign_id)
        return await self._insert_rows(campaign_id, tenant_id, leads, now, import_batch)

    async def _insert_rows(self, campaign_id: int, tenant_id: int, chunk: Sequence[NewLead],
                           now: datetime, import_batch: str | None) -> list[int | None]:
        if not chunk:
            return []
        rows = [self._row(campaign_id, tenant_id, lead, now, import_batch) for lead in chunk]
        stmt = self._db.insert(Lead).on_conflict_do_nothing(
            index_elements=["campaign_id", "number_hash"]).returning(Lead.id, Lead.number_hash)
        async with self._db.write() as conn:
            added = {bytes(r.number_hash): r.id for r in (await conn.execute(stmt, rows)).all()}
        out: list[int | None] = []
        for row in rows:  # a number twice in one chunk: the first row gets the id
            out.append(added.pop(row["number_hash"], None))
        return out

    async def claim(self, campaign_id: int, node_id: str, n: int,
                    now: datetime) -> list[ClaimedLead]:
        """Claim up to `n` diallable leads (due, highest priority first) for this node."""
        if n <= 0:
            return []
        due = (select(Lead.id)
               .where(Lead.campaign_id == campaign_id,
                      Lead.status.in_(DIALLABLE_LEAD_STATUSES),
                      Lead.number_enc.is_not(None),
                      or_(Lead.next_attempt_at.is_(None), Lead.next_attempt_at <= now))
               .order_by(Lead.priority.desc(), Lead.next_attempt_at.asc().nulls_first(),
                         Lead.id)
               .limit(n)
               .with_for_update(skip_locked=True))
        stmt = (update(Lead).where(Lead.id.in_(due.scalar_subquery()))
                .values(status=LeadStatus.CLAIMED, claimed_by=node_id, claimed_at=now)
                .returning(Lead.__table__))
        async with self._db.write() as conn:
            rows = (await conn.execute(stmt)).all()
            rows.sort(key=lambda r: (-r.priority, r.next_attempt_at is not None,
                                     r.next_attempt_at or now, r.id))
            return [self._claimed(r) for r in rows]  # a key error rolls the claim back

    def _claimed(self, row: Row[Any]) -> ClaimedLead:
        custom = (self._cipher.decrypt_json(row.custom_enc, LEAD_CUSTOM)
                  if row.custom_enc is not None else {})
        return ClaimedLead(
            id=row.id, campaign_id=row.campaign_id, tenant_id=row.tenant_id,
            number=self._cipher.decrypt_str(row.number_enc, LEAD_NUMBER),
            number_hash=row.number_hash, region=row.region,
            time_zones=tuple(row.time_zones or ()), custom=custom, consent=row.consent,
            priority=row.priority, attempt_count=row.attempt_count,
            last_outcome=row.last_outcome, last_attempt_at=row.last_attempt_at,
            claimed_at=row.claimed_at, next_attempt_at=row.next_attempt_at)

    async def finish(self, lead_id: int, status: LeadStatus, *, now: datetime,
                     next_attempt_at: datetime | None = None,
                     outcome: Outcome | None = None) -> LeadStatus:
        """Release a lead after its attempt (or without one) with its next status.

        A final status set meanwhile by someone else (a refusal's DNC) is never
        overwritten; the status the lead ends with is returned.
        """
        values: dict[str, Any] = {"status": status, "next_attempt_at": next_attempt_at,
                                  "claimed_by": None, "claimed_at": None}
        if outcome is not None:
            values["last_outcome"] = outcome
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Lead).where(Lead.id == lead_id,
                                   Lead.status.not_in(FINAL_LEAD_STATUSES))
                .values(**values).returning(Lead.status))
            final = result.scalar()
            if final is None:
                final = (await conn.execute(select(Lead.status)
                                            .where(Lead.id == lead_id))).scalar()
        if final is None:
            raise NotFound("lead", lead_id)
        return LeadStatus(final)

    async def finish_many(self, settlements: Sequence[tuple[int, LeadStatus, datetime | None,
                                                            Outcome | None]]) -> None:
        """`finish` for many leads in one transaction: (lead id, status, next attempt,
        outcome) each; a final status set meanwhile (a refusal's DNC) is kept."""
        if not settlements:
            return
        params = [{"b_id": lead_id, "b_status": status, "b_next": next_at, "b_outcome": outcome}
                  for lead_id, status, next_at, outcome in settlements]
        async with self._db.write() as conn:
            await conn.execute(
                update(Lead).where(Lead.id == bindparam("b_id"),
                                   *(Lead.status != final for final in FINAL_LEAD_STATUSES))
                .values(status=bindparam("b_status"), next_attempt_at=bindparam("b_next"),
                        claimed_by=None, claimed_at=None,
                        last_outcome=func.coalesce(bindparam("b_outcome", type_=Lead.last_outcome.type),
                                                   Lead.last_outcome)),
                params)

    async def release_claims(self, lead_ids: Sequence[int]) -> int:
        """Hand this node's claimed leads back undialled (e.g. a draining node's hopper);
        a lead another node claimed since (after this node's lease ran out) is kept."""
        if not lead_ids:
            return 0
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Lead).where(Lead.id.in_(list(lead_ids)),
                                   Lead.status == LeadStatus.CLAIMED,
                                   Lead.claimed_by == self._node_id)
                .values(status=LeadStatus.READY, claimed_by=None, claimed_at=None))
        return int(result.rowcount)

    async def release_own_claims(self, *, keep: Iterable[int] = ()) -> int:
        """Hand back every lead this node has claimed, except `keep`: a restarted node's
        claims died with its previous process's hopper. Returns how many."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Lead).where(Lead.status == LeadStatus.CLAIMED,
                                   Lead.claimed_by == self._node_id,
                                   Lead.id.not_in(list(keep)))
                .values(status=LeadStatus.READY, claimed_by=None, claimed_at=None))
        return int(result.rowcount)

    async def release_expired_claims(self, now: datetime, lease: timedelta) -> int:
        """Make leads claimed longer than `lease` ago diallable again; returns how many."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(Lead).where(Lead.status == LeadStatus.CLAIMED,
                                   Lead.claimed_at < now - lease)
                .values(status=LeadStatus.READY, claimed_by=None, claimed_at=None))
        return int(result.rowcount)

    async def mark_dnc(self, number_hash: bytes, *, now: datetime,
                       actor: str) -> list[tuple[int, int]]:
        """Refusal: every lead of this number, in every campaign, becomes DNC.

        Returns (lead id, campaign id) of the leads changed, so the caller can drop
        them from hoppers; audited without the number.
        """
        async with self._db.write() as conn:
            rows = (await conn.execute(
                update(Lead).where(Lead.number_hash == number_hash,
                                   Lead.status != LeadStatus.DNC)
                .values(status=LeadStatus.DNC, next_attempt_at=None)
                .returning(Lead.id, Lead.campaign_id))).all()
            if rows:
                await write_audit(conn, at=now, actor=actor, action="lead.dnc",
                                  subject_type="number_hash", subject_id=number_hash.hex()[:16],
                                  node_id=self._node_id,
                                  detail={"leads": [r.id for r in rows]})
        return [(r.id, r.campaign_id) for r in rows]

    async def move_to_crm(self, lead_id: int, *, now: datetime, actor: str) -> None:
        """Mark a lead as moved to the CRM: exempt from the dialled-number purge."""
        async with self._db.write() as conn:
            result = await conn.execute(update(Lead).where(Lead.id == lead_id)
                                        .values(moved_to_crm_at=now))
            if result.rowcount == 0:
                raise NotFound("lead", lead_id)
            await write_audit(conn, at=now, actor=actor, action="lead.move_to_crm",
                              subject_type="lead", subject_id=lead_id, node_id=self._node_id)

    async def get(self, lead_id: int, *, decrypt: bool = False) -> LeadRecord:
        """One lead; its number and custom fields only if `decrypt`."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Lead.__table__)
                                      .where(Lead.id == lead_id))).one_or_none()
        if row is None:
            raise NotFound("lead", lead_id)
        number = custom = None
        if decrypt and row.number_enc is not None:
            number = self._cipher.decrypt_str(row.number_enc, LEAD_NUMBER)
            custom = (self._cipher.decrypt_json(row.custom_enc, LEAD_CUSTOM)
                      if row.custom_enc is not None else {})
        return LeadRecord(
            id=row.id, campaign_id=row.campaign_id, tenant_id=row.tenant_id, status=row.status,
            attempt_count=row.attempt_count, next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at, last_outcome=row.last_outcome,
            claimed_by=row.claimed_by, claimed_at=row.claimed_at,
            moved_to_crm_at=row.moved_to_crm_at, consent=row.consent, priority=row.priority,
            source=row.source, region=row.region, time_zones=tuple(row.time_zones or ()),
            created_at=row.created_at, purged_at=row.purged_at, key_id=row.key_id,
            number_hash=row.number_hash, number=number, custom=custom)

    async def ids_for_number(self, number_hash: bytes) -> list[int]:
        """Ids of every lead with this number, in every campaign."""
        async with self._db.read() as conn:
            return list((await conn.execute(select(Lead.id).where(
                Lead.number_hash == number_hash).order_by(Lead.id))).scalars())

    async def count_by_status(self, campaign_id: int) -> dict[LeadStatus, int]:
        """How many leads of a campaign are in each status."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Lead.status, func.count()).where(
                Lead.campaign_id == campaign_id).group_by(Lead.status))).all()
        return {LeadStatus(s): int(n) for s, n in rows}
