"""The retention purge: batched, idempotent, resumable, recorded and audited.

A run has a row in `purge_runs` (its `as_of` instant fixes every cutoff) and counters
in `purge_run_counts`. Each batch is one small transaction that changes at most
`batch_size` rows and adds what it changed to the run's counters, so the event loop is
never held, a crash loses at most one uncommitted batch, and the counts are exact.
A run left unfinished (crash, lost database) is resumed by the next purge, which then
starts its own. A dry run only counts. DNC entries and the audit log are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    any_,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.compliance import ComplianceProfile, DataClass, RetentionAction
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.enums import DIALLABLE_LEAD_STATUSES, LeadStatus, PurgeStatus, TenantStatus
from dialer.store.records import CampaignInfo, TenantInfo
from dialer.store.retention import (
    CampaignPlan,
    ClassPlan,
    number_log_cutoff,
    plan_campaign,
    tenant_destruction_days,
)
from dialer.store.schema import (
    Agent,
    AgentSession,
    AgentStateChange,
    Attempt,
    Campaign,
    CampaignHourlyStats,
    Lead,
    NumberAttempt,
    PurgeRun,
    PurgeRunCount,
    Recording,
    Tenant,
)
from dialer.store.store import Store

log = logging.getLogger(__name__)

DeleteFile = Callable[[str], Awaitable[None]]
OnBatch = Callable[[str, str, int], None]
RECORDING_BATCH = 100  # files are deleted one by one between transactions
DESTROY = "destroy"
_BUSY_LEAD_STATUSES = (LeadStatus.CLAIMED, LeadStatus.IN_CALL)


async def unlink_file(path: str) -> None:
    """Delete a recording file (already gone is fine), off the event loop."""
    await asyncio.to_thread(Path(path).unlink, missing_ok=True)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """One purge run: what it changed (or, dry, would change) per (data class, action)."""

    run_id: int
    as_of: datetime
    dry_run: bool
    resumed: bool
    counts: Mapping[tuple[str, str], int]
    skipped: Sequence[str] = field(default=())

    @property
    def total(self) -> int:
        """Rows changed over all data classes."""
        return sum(self.counts.values())


class Purger:
    """Runs retention purges against a store under the given compliance profiles."""

    def __init__(self, store: Store, profiles: Mapping[str, ComplianceProfile], *,
                 batch_size: int | None = None, delete_file: DeleteFile = unlink_file,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_batch: OnBatch | None = None) -> None:
        self._store = store
        self._db: Database = store.db
        self._profiles = profiles
        self._batch = batch_size
        self._delete_file = delete_file
        self._clock = clock
        self._on_batch = on_batch

    async def run(self, as_of: datetime | None = None, *, dry_run: bool = False,
                  trigger: str = "manual", actor: str = "system") -> list[PurgeReport]:
        """Finish any unfinished run, then purge what has expired at `as_of` (default: now)."""
        reports = []
        if not dry_run:
            for run_id, old_as_of in await self._unfinished():
                log.info("resuming purge run %d (as of %s)", run_id, old_as_of.isoformat())
                reports.append(await self._execute(run_id, old_as_of, False, True, actor))
        as_of = as_of or self._clock()
        run_id = await self._start(as_of, dry_run, trigger)
        reports.append(await self._execute(run_id, as_of, dry_run, False, actor))
        return reports

    async def _unfinished(self) -> list[tuple[int, datetime]]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(PurgeRun.id, PurgeRun.as_of).where(
                PurgeRun.status != PurgeStatus.DONE, PurgeRun.dry_run.is_(False))
                .order_by(PurgeRun.id))).all()
        return [(r.id, r.as_of) for r in rows]

    async def _start(self, as_of: datetime, dry_run: bool, trigger: str) -> int:
        async with self._db.write() as conn:
            return int((await conn.execute(insert(PurgeRun).values(
                as_of=as_of, started_at=self._clock(), status=PurgeStatus.RUNNING,
                dry_run=dry_run, trigger=trigger, node_id=self._store.node_id)
                .returning(PurgeRun.id))).scalar_one())

    async def _execute(self, run_id: int, as_of: datetime, dry_run: bool, resumed: bool,
                       actor: str) -> PurgeReport:
        sweep = _Sweep(self._store, self._profiles, run_id, dry_run, batch_size=self._batch,
                       delete_file=self._delete_file, on_batch=self._on_batch)
        try:
            skipped = await sweep.everything(as_of)
        except Exception as exc:
            await self._mark_failed(run_id, exc)
            raise
        async with self._db.write() as conn:
            await conn.execute(update(PurgeRun).where(PurgeRun.id == run_id).values(
                status=PurgeStatus.DONE, finished_at=self._clock(), error=None))
            counts = await _counts(conn, run_id)
            await write_audit(conn, at=self._clock(), actor=actor,
                              action="purge.dry_run" if dry_run else "purge.run",
                              subject_type="purge_run", subject_id=run_id,
                              node_id=self._store.node_id,
                              detail={"as_of": as_of.isoformat(), "resumed": resumed,
                                      "counts": {f"{c}/{a}": n for (c, a), n in counts.items()},
                                      "skipped": skipped})
        return PurgeReport(run_id=run_id, as_of=as_of, dry_run=dry_run, resumed=resumed,
                           counts=counts, skipped=tuple(skipped))

    async def _mark_failed(self, run_id: int, exc: Exception) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(update(PurgeRun).where(PurgeRun.id == run_id).values(
                    status=PurgeStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]))
        except Exception:
            log.warning("purge run %d failed and could not be marked so", run_id, exc_info=True)


async def _counts(conn: AsyncConnection, run_id: int) -> dict[tuple[str, str], int]:
    rows = (await conn.execute(select(PurgeRunCount.data_class, PurgeRunCount.action,
                                      PurgeRunCount.rows)
                               .where(PurgeRunCount.run_id == run_id))).all()
    return {(r.data_class, r.action): int(r.rows) for r in rows if r.rows}


class BatchSizer:
    """Sizes purge batches so a transaction takes about `target_s` (a fixed size if given).

    Short transactions keep every other writer's wait (an attempt before its
    originate) short; large enough ones keep the purge fast on any machine.
    """

    def __init__(self, fixed: int | None = None, *, target_s: float = 0.04,
                 smallest: int = 200, largest: int = 50_000, first: int = 2000) -> None:
        self.size = fixed or first
        self._fixed = fixed is not None
        self._target = target_s
        self._bounds = (smallest, largest)

    def took(self, rows: int, seconds: float) -> None:
        """Learn from a batch of `rows` that took `seconds` (partial batches teach nothing)."""
        if self._fixed or rows < self.size or seconds <= 0:
            return
        scaled = int(self.size * min(2.0, self._target / seconds))
        self.size = max(self._bounds[0], min(self._bounds[1], scaled))


class _Sweep:
    """One execution of one run: walks every campaign and tenant, batch by batch."""

    def __init__(self, store: Store, profiles: Mapping[str, ComplianceProfile], run_id: int,
                 dry_run: bool, *, batch_size: int | None, delete_file: DeleteFile,
                 on_batch: OnBatch | None) -> None:
        self._store = store
        self._db = store.db
        self._profiles = profiles
        self._run_id = run_id
        self._dry = dry_run
        self._sizer = BatchSizer(batch_size)
        self._delete_file = delete_file
        self._on_batch = on_batch

    async def everything(self, as_of: datetime) -> list[str]:
        """Apply every campaign's plan, then destroy due tenants' own data; returns skips."""
        tenants = {t.id: t for t in await self._store.tenants.list_all()}
        profiles_of: dict[int, list[ComplianceProfile]] = defaultdict(list)
        skipped: list[str] = []
        blocked: set[int] = set()
        for campaign in await self._store.campaigns.list_all():
            profile = self._profiles.get(campaign.profile)
            if profile is None:
                skipped.append(f"campaign {campaign.id}: unknown compliance profile "
                               f"{campaign.profile!r}; nothing purged")
                blocked.add(campaign.tenant_id)
                continue
            profiles_of[campaign.tenant_id].append(profile)
            plan = plan_campaign(campaign, tenants[campaign.tenant_id], profile, as_of)
            if plan.destroy:
                await self._destroy_campaign(plan, as_of)
            else:
                for class_plan in plan.classes:
                    await self._purge_class(campaign, class_plan, as_of)
        for tenant in tenants.values():
            if tenant.id not in blocked:
                await self._destroy_tenant(tenant, profiles_of[tenant.id], as_of)
        cutoff = number_log_cutoff(self._profiles.values(), as_of)
        await self._delete(NumberAttempt, [NumberAttempt.at < cutoff], "number_attempts",
                           RetentionAction.DELETE.value)
        return skipped

    # -- counting and batching -------------------------------------------------------------

    async def _add(self, conn: AsyncConnection, data_class: str, action: str, n: int) -> None:
        stmt = self._db.insert(PurgeRunCount).values(run_id=self._run_id, data_class=data_class,
                                                     action=action, rows=n)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["run_id", "data_class", "action"],
            set_={"rows": PurgeRunCount.rows + stmt.excluded.rows}))

    def _progress(self, data_class: str, action: str, n: int) -> None:
        """Tell the caller about a committed batch."""
        if n and self._on_batch is not None:
            self._on_batch(data_class, action, n)

    async def _count_only(self, table: FromClause, where: list[ColumnElement[bool]],
                          data_class: str, action: str) -> None:
        async with self._db.read() as conn:
            n = int((await conn.execute(select(func.count()).select_from(table)
                                        .where(*where))).scalar_one())
        if n:
            async with self._db.write() as conn:
                await self._add(conn, data_class, action, n)
            self._progress(data_class, action, n)

    def _matching(self, table: Any, where: list[ColumnElement[bool]], size: int,
                  order: Any = None) -> ColumnElement[bool]:
        """Rows of the next batch, addressed physically (rowid / ctid): no key lookups."""
        address: ColumnElement[Any] = literal_column("rowid" if self._db.is_sqlite else "ctid")
        batch = select(address).select_from(table).where(*where).limit(size)
        if order is not None:
            batch = batch.order_by(order)
        if self._db.is_sqlite:
            return address.in_(batch.scalar_subquery())
        return address == any_(func.array(batch.scalar_subquery()))

    async def _delete(self, model: Any, where: list[ColumnElement[bool]], data_class: str,
                      action: str) -> None:
        """Delete matching rows, one batch per transaction, until none is left."""
        table = model.__table__
        if self._dry:
            return await self._count_only(table, where, data_class, action)
        while True:
            size = self._sizer.size
            async with self._db.write() as conn:
                started = time.perf_counter()
                n = int((await conn.execute(delete(table).where(
                    self._matching(table, where, size)))).rowcount)
                if n:
                    await self._add(conn, data_class, action, n)
            self._sizer.took(n, time.perf_counter() - started)
            self._progress(data_class, action, n)
            if n < size:
                return

    async def _anonymise(self, model: Any, time_col: Any, where: list[ColumnElement[bool]],
                         values: Mapping[str, Any], data_class: str) -> None:
        """Blank the personal columns of matching rows, walking forward in `time_col`."""
        table = model.__table__
        action = RetentionAction.ANONYMISE.value
        if self._dry:
            return await self._count_only(table, where, data_class, action)
        low: datetime | None = None
        while True:
            bounded = where if low is None else [*where, time_col >= low]
            size = self._sizer.size
            async with self._db.write() as conn:
                started = time.perf_counter()
                times = (await conn.execute(update(table).where(
                    self._matching(table, bounded, size, time_col)).values(**values)
                    .returning(time_col))).scalars().all()
                if times:
                    await self._add(conn, data_class, action, len(times))
            self._sizer.took(len(times), time.perf_counter() - started)
            self._progress(data_class, action, len(times))
            if len(times) < size:
                return
            low = max(times)

    # -- retention of live campaigns -------------------------------------------------------

    async def _purge_class(self, campaign: CampaignInfo, plan: ClassPlan,
                           as_of: datetime) -> None:
        if plan.data_class is DataClass.RECORDINGS:
            await self._purge_recordings(campaign.id, plan.cutoff, as_of, destroy=False)
        elif plan.data_class is DataClass.CALL_RECORDS:
            await self._purge_attempts(campaign.id, plan, as_of)
        else:
            await self._purge_leads(campaign.id, plan, as_of)

    async def _purge_attempts(self, campaign_id: int, plan: ClassPlan, as_of: datetime) -> None:
        crm_leads = select(Lead.id).where(Lead.campaign_id == campaign_id,
                                          Lead.moved_to_crm_at.is_not(None))
        where = [Attempt.campaign_id == campaign_id, Attempt.created_at < plan.cutoff,
                 or_(Attempt.lead_id.is_(None), Attempt.lead_id.not_in(crm_leads))]
        name = plan.data_class.value
        if plan.action is RetentionAction.DELETE:
            await self._delete(Attempt, where, name, plan.action.value)
        else:
            await self._anonymise(Attempt, Attempt.created_at,
                                  [*where, Attempt.anonymised_at.is_(None)],
                                  {"number_enc": None, "number_hash": None, "key_id": None,
                                   "lead_id": None, "anonymised_at": as_of}, name)

    async def _purge_leads(self, campaign_id: int, plan: ClassPlan, as_of: datetime) -> None:
        where = [Lead.campaign_id == campaign_id, Lead.created_at < plan.cutoff,
                 Lead.moved_to_crm_at.is_(None), Lead.status.not_in(_BUSY_LEAD_STATUSES),
                 or_(Lead.last_attempt_at.is_(None), Lead.last_attempt_at < plan.cutoff)]
        name = plan.data_class.value
        if plan.action is RetentionAction.DELETE:
            await self._delete(Lead, where, name, plan.action.value)
        else:
            status = case((Lead.status.in_(DIALLABLE_LEAD_STATUSES), LeadStatus.CANCELLED.value),
                          else_=Lead.status)
            await self._anonymise(Lead, Lead.created_at, [*where, Lead.purged_at.is_(None)],
                                  {"number_enc": None, "number_hash": None, "key_id": None,
                                   "custom_enc": None, "consent_evidence": None,
                                   "status": status, "purged_at": as_of}, name)

    async def _purge_recordings(self, campaign_id: int, cutoff: datetime, as_of: datetime, *,
                                destroy: bool) -> None:
        """Delete expired recording files and mark their rows; destroy also drops the rows."""
        name = DESTROY if destroy else RetentionAction.DELETE.value
        data_class = "recordings" if destroy else DataClass.RECORDINGS.value
        where = [Recording.campaign_id == campaign_id, Recording.created_at < cutoff]
        pending = [*where, Recording.deleted_at.is_(None)]
        if self._dry:
            return await self._count_only(Recording.__table__, where if destroy else pending,
                                          data_class, name)
        failed: set[int] = set()
        while True:
            async with self._db.read() as conn:
                rows = (await conn.execute(select(Recording.id, Recording.path).where(
                    *pending, *([Recording.id.not_in(failed)] if failed else []))
                    .limit(RECORDING_BATCH))).all()
            done = []
            for row in rows:
                try:
                    await self._delete_file(row.path)
                except OSError as exc:
                    log.error("recording %d: cannot delete its file: %s", row.id, exc.strerror)
                    failed.add(row.id)
                else:
                    done.append(row.id)
            if done:
                async with self._db.write() as conn:
                    n = int((await conn.execute(update(Recording).where(
                        Recording.id.in_(done), Recording.deleted_at.is_(None))
                        .values(deleted_at=as_of, number_hash=None))).rowcount)
                    if n and not destroy:
                        await self._add(conn, data_class, name, n)
                if not destroy:
                    self._progress(data_class, name, n)
            if len(rows) < RECORDING_BATCH:
                break
        if destroy:
            await self._delete(Recording, [*where, Recording.deleted_at.is_not(None)],
                               data_class, name)

    # -- destruction of terminated tenants ---------------------------------------------------

    async def _destroy_campaign(self, plan: CampaignPlan, as_of: datetime) -> None:
        cid = plan.campaign_id
        await self._purge_recordings(cid, plan.keep_after[DataClass.RECORDINGS], as_of,
                                     destroy=True)
        await self._delete(Attempt, [Attempt.campaign_id == cid,
                                     Attempt.created_at < plan.keep_after[DataClass.CALL_RECORDS]],
                           "attempts", DESTROY)
        await self._delete(Lead, [Lead.campaign_id == cid,
                                  Lead.created_at < plan.keep_after[DataClass.DIALLED_NUMBERS]],
                           "leads", DESTROY)
        await self._delete(NumberAttempt, [NumberAttempt.campaign_id == cid],
                           "number_attempts", DESTROY)
        sessions = select(AgentSession.id).where(AgentSession.campaign_id == cid)
        await self._delete(AgentStateChange, [AgentStateChange.session_id.in_(sessions)],
                           "agent_state_changes", DESTROY)
        await self._delete(AgentSession, [AgentSession.campaign_id == cid],
                           "agent_sessions", DESTROY)
        await self._delete(CampaignHourlyStats, [CampaignHourlyStats.campaign_id == cid],
                           "campaign_hourly_stats", DESTROY)
        if self._dry:
            return
        held = [exists().where(t.campaign_id == cid) for t in (Attempt, Lead, Recording)]
        async with self._db.write() as conn:
            n = int((await conn.execute(delete(Campaign).where(
                Campaign.id == cid, *[~h for h in held]))).rowcount)
            if n:
                await self._add(conn, "campaigns", DESTROY, n)
        self._progress("campaigns", DESTROY, n)

    async def _destroy_tenant(self, tenant: TenantInfo, profiles: list[ComplianceProfile],
                              as_of: datetime) -> None:
        if tenant.status is not TenantStatus.TERMINATED or tenant.terminated_at is None:
            return
        days = tenant_destruction_days(profiles)
        if as_of < tenant.terminated_at + timedelta(days=days):
            return
        agents = select(Agent.id).where(Agent.tenant_id == tenant.id)
        sessions = select(AgentSession.id).where(AgentSession.agent_id.in_(agents))
        await self._delete(AgentStateChange, [AgentStateChange.session_id.in_(sessions)],
                           "agent_state_changes", DESTROY)
        await self._delete(AgentSession, [AgentSession.agent_id.in_(agents)],
                           "agent_sessions", DESTROY)
        await self._delete(Agent, [Agent.tenant_id == tenant.id], "agents", DESTROY)
        if self._dry:
            return
        async with self._db.write() as conn:
            left = (await conn.execute(select(func.count()).select_from(Campaign).where(
                Campaign.tenant_id == tenant.id))).scalar_one()
            if left:
                log.info("tenant %d: %d campaigns kept for legal minimums", tenant.id, left)
                return
            await conn.execute(update(Tenant).where(Tenant.id == tenant.id).values(
                status=TenantStatus.DESTROYED, destroyed_at=as_of))
            await write_audit(conn, at=as_of, actor="purge", action="tenant.destroy",
                              subject_type="tenant", subject_id=tenant.id,
                              node_id=self._store.node_id,
                              detail={"terminated_at": tenant.terminated_at.isoformat(),
                                      "purge_run": self._run_id})
