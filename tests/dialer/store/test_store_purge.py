"""Retention purges: per data class and profile, CRM exemption, legal minimums, tenant
destruction, dry runs, idempotence, and resuming after a crash without double counting."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from store_helpers import NOW, numbers

from dialer.compliance import BUILTIN_PROFILES, ComplianceProfile, load_profile
from dialer.store import (
    AttemptState,
    CampaignInfo,
    LeadStatus,
    NewAttempt,
    NewLead,
    Outcome,
    Purger,
    PurgeStatus,
    Store,
    TenantStatus,
)
from dialer.store.purge import BatchSizer
from dialer.store.schema import (
    Agent,
    Attempt,
    Campaign,
    CampaignHourlyStats,
    Lead,
    NumberAttempt,
    PurgeRun,
    Recording,
)

OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=3)


async def dial(store: Store, campaign: CampaignInfo, n: int, at: datetime, *,
               prefix: str = "+86138", outcome: Outcome = Outcome.NO_ANSWER) -> list[int]:
    """Import `n` leads at `at`, call each once then, close; returns the lead ids."""
    await store.leads.add(campaign.id, [NewLead(x, "t") for x in numbers(n, prefix)], now=at)
    leads = await store.claim_leads(campaign.id, "n1", n, at)
    for lead in leads:
        attempt = await store.create_attempt(NewAttempt(campaign.id, lead.number, at,
                                                        lead_id=lead.id))
        store.update_attempt(attempt, outcome=outcome, ended_at=at, state=AttemptState.CLOSED)
        await store.leads.finish(lead.id, LeadStatus.DONE, now=at, outcome=outcome)
    await store.flush()
    return [lead.id for lead in leads]


async def count(store: Store, model: object, *where: object) -> int:
    async with store.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(model)  # type: ignore[arg-type]
                                       .where(*where))).scalar_one())  # type: ignore[arg-type]


def purger(store: Store, profiles: dict[str, ComplianceProfile] | None = None,
           **kw: object) -> Purger:
    return Purger(store, profiles or dict(BUILTIN_PROFILES), batch_size=7,
                  clock=lambda: NOW, **kw)  # type: ignore[arg-type]


async def test_expired_data_goes_recent_data_stays(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    await dial(store, campaign, 20, OLD)
    await dial(store, campaign, 5, RECENT, prefix="+86139")
    [report] = await purger(store).run(NOW)
    assert report.counts == {("call_records", "delete"): 20, ("dialled_numbers", "delete"): 20,
                             ("number_attempts", "delete"): 20}
    assert await count(store, Attempt) == 5 and await count(store, Lead) == 5
    [hour_old, hour_recent] = await store.stats.hourly(campaign.id)
    assert (hour_old.attempts, hour_recent.attempts) == (20, 5)  # aggregates survive
    [again] = await purger(store).run(NOW)
    assert again.counts == {} and again.run_id == report.run_id + 1


async def test_dry_run_only_counts_and_is_recorded(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    await dial(store, campaign, 9, OLD)
    [dry] = await purger(store).run(NOW, dry_run=True, actor="ops")
    assert dry.dry_run and dry.counts == {("call_records", "delete"): 9,
                                          ("dialled_numbers", "delete"): 9,
                                          ("number_attempts", "delete"): 9}
    assert await count(store, Attempt) == 9
    [entry] = await store.audit_log.entries(action="purge.dry_run")
    assert entry.actor == "ops" and entry.detail["counts"]["call_records/delete"] == 9
    assert await count(store, PurgeRun, PurgeRun.dry_run.is_(True),
                       PurgeRun.status == PurgeStatus.DONE) == 1


async def test_anonymise_keeps_the_rows_without_the_number(store: Store,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "anon.yaml"
    path.write_text("name: anon\nbase: uk\nretention:\n  call_records: {action: anonymise}\n"
                    "  dialled_numbers: {action: anonymise}\n")
    profiles = {**BUILTIN_PROFILES, "anon": load_profile(path)}
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "anon", now=OLD)
    await dial(store, campaign, 16, OLD)
    [report] = await purger(store, profiles).run(NOW)
    assert report.counts == {("call_records", "anonymise"): 16,
                             ("dialled_numbers", "anonymise"): 16,
                             ("number_attempts", "delete"): 16}
    assert await count(store, Attempt) == 16
    assert await count(store, Attempt, Attempt.number_enc.is_not(None)) == 0
    assert await count(store, Attempt, Attempt.number_hash.is_not(None)) == 0
    assert await count(store, Attempt, Attempt.outcome == Outcome.NO_ANSWER) == 16
    assert await count(store, Lead, Lead.number_enc.is_(None), Lead.purged_at == NOW) == 16
    [again] = await purger(store, profiles).run(NOW)
    assert again.counts == {}


async def test_leads_moved_to_crm_are_exempt(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    lead_ids = await dial(store, campaign, 4, OLD)
    await store.leads.move_to_crm(lead_ids[0], now=OLD, actor="crm")
    [report] = await purger(store).run(NOW)
    assert report.counts[("dialled_numbers", "delete")] == 3
    assert report.counts[("call_records", "delete")] == 3
    assert (await store.leads.get(lead_ids[0], decrypt=True)).number is not None
    assert await count(store, Attempt, Attempt.lead_id == lead_ids[0]) == 1


async def test_us_call_records_keep_their_legal_minimum(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "us", now=OLD,
                                            retention_overrides={"call_records": 7})
    await dial(store, campaign, 6, OLD)
    [report] = await purger(store).run(NOW)
    assert report.counts == {("dialled_numbers", "delete"): 6, ("number_attempts", "delete"): 6}
    assert await count(store, Attempt) == 6
    [later] = await purger(store).run(OLD + timedelta(days=5 * 365 + 1))
    assert later.counts == {("call_records", "delete"): 6}


async def test_recordings_follow_the_campaign_override(store: Store, tmp_path: Path) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    short = await store.campaigns.create(tenant.id, "short", "uk", now=OLD,
                                         retention_overrides={"recordings": 10})
    long = await store.campaigns.create(tenant.id, "long", "uk", now=OLD,
                                        retention_overrides={"recordings": 90})
    files = []
    for campaign in (short, long):
        attempt = await store.create_attempt(NewAttempt(campaign.id, "+8613812345678",
                                                        NOW - timedelta(days=20)))
        path = tmp_path / f"{campaign.name}.wav"
        path.write_bytes(b"RIFF")
        files.append(path)
        await store.recordings.add(attempt, path=str(path), duration_s=1, size_bytes=4,
                                   checksum="x", key_id="k1", created_at=NOW - timedelta(days=20))
    [report] = await purger(store).run(NOW)
    assert report.counts == {("recordings", "delete"): 1, ("number_attempts", "delete"): 2}
    assert not files[0].exists() and files[1].exists()


async def test_a_recording_that_cannot_be_deleted_is_retried(store: Store,
                                                             tmp_path: Path) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    attempt = await store.create_attempt(NewAttempt(campaign.id, "+8613812345678", OLD))
    for name in ("stuck.wav", "ok.wav"):
        await store.recordings.add(attempt, path=str(tmp_path / name), duration_s=1,
                                   size_bytes=4, checksum="x", key_id="k1", created_at=OLD)
    deleted: list[str] = []

    async def delete_file(path: str) -> None:
        if path.endswith("stuck.wav"):
            raise PermissionError(13, "Permission denied", path)
        deleted.append(path)

    [report] = await purger(store, delete_file=delete_file).run(NOW)
    assert report.counts[("recordings", "delete")] == 1 and len(deleted) == 1
    assert await count(store, Recording, Recording.deleted_at.is_(None)) == 1
    [retry] = await purger(store).run(NOW)
    assert retry.counts[("recordings", "delete")] == 1


async def test_terminated_tenant_is_destroyed_after_seven_days(store: Store,
                                                               tmp_path: Path) -> None:
    tenant = await store.tenants.create("gone", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    await dial(store, campaign, 5, NOW - timedelta(days=1))
    attempt = await store.create_attempt(NewAttempt(campaign.id, "+8613812345678",
                                                    NOW - timedelta(days=1)))
    wav = tmp_path / "call.wav"
    wav.write_bytes(b"RIFF")
    await store.recordings.add(attempt, path=str(wav), duration_s=1, size_bytes=4,
                               checksum="x", key_id="k1", created_at=NOW - timedelta(days=1))
    agent = await store.agents.create(tenant.id, "A1", "Li", "1234", now=OLD)
    session = await store.agents.open_session(agent.id, at=OLD, campaign_id=campaign.id)
    await store.agents.close_session(session, at=OLD + timedelta(hours=1))
    await store.tenants.terminate(tenant.id, now=NOW, actor="ops")
    [early] = await purger(store).run(NOW + timedelta(days=6))
    assert early.counts == {}
    [report] = await purger(store).run(NOW + timedelta(days=7))
    assert report.counts[("attempts", "destroy")] == 6
    assert report.counts[("recordings", "destroy")] == 1 and not wav.exists()
    assert report.counts[("leads", "destroy")] == 5
    assert report.counts[("campaigns", "destroy")] == 1
    assert report.counts[("agents", "destroy")] == 1
    assert report.counts[("number_attempts", "destroy")] == 6
    assert (await store.tenants.get(tenant.id)).status is TenantStatus.DESTROYED
    for model in (Attempt, Lead, Campaign, Agent, CampaignHourlyStats, NumberAttempt, Recording):
        assert await count(store, model) == 0
    assert [e.subject_id for e in await store.audit_log.entries(action="tenant.destroy")] == \
        [str(tenant.id)]
    [after] = await purger(store).run(NOW + timedelta(days=8))
    assert after.counts == {}


async def test_destruction_keeps_what_a_legal_minimum_protects(store: Store) -> None:
    tenant = await store.tenants.create("us-gone", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "us", now=OLD)
    await dial(store, campaign, 3, OLD)
    await store.tenants.terminate(tenant.id, now=NOW, actor="ops")
    [report] = await purger(store).run(NOW + timedelta(days=8))
    assert report.counts[("leads", "destroy")] == 3 and ("attempts", "destroy") not in report.counts
    assert await count(store, Attempt) == 3
    assert (await store.tenants.get(tenant.id)).status is TenantStatus.TERMINATED


async def test_unknown_profile_is_skipped_not_guessed(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "mystery", now=OLD)
    await dial(store, campaign, 2, OLD)
    [report] = await purger(store).run(NOW)
    assert report.counts == {("number_attempts", "delete"): 2}  # the log is not per profile
    assert "mystery" in report.skipped[0]
    assert await count(store, Attempt) == 2


async def test_number_log_is_kept_only_as_long_as_the_caps_need(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    await dial(store, campaign, 3, NOW - timedelta(days=8))
    await dial(store, campaign, 2, NOW - timedelta(days=2), prefix="+86139")
    [report] = await purger(store).run(NOW)
    assert report.counts == {("number_attempts", "delete"): 3}
    assert await count(store, NumberAttempt) == 2


class Crash(Exception):
    """Stands for the process dying between two batches."""


async def test_a_crashed_run_is_resumed_and_counted_once(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    await dial(store, campaign, 30, OLD)
    batches: list[tuple[str, str, int]] = []

    def crash_after_two(data_class: str, action: str, n: int) -> None:
        batches.append((data_class, action, n))
        if len(batches) == 2:
            raise Crash

    with pytest.raises(Crash):
        await purger(store, on_batch=crash_after_two).run(NOW)
    assert await count(store, Attempt) == 30 - 7 - 7
    assert await count(store, PurgeRun, PurgeRun.status == PurgeStatus.FAILED) == 1
    reports = await purger(store).run(NOW + timedelta(hours=1))
    resumed, fresh = reports
    assert resumed.resumed and resumed.as_of == NOW and fresh.run_id == resumed.run_id + 1
    assert resumed.counts == {("call_records", "delete"): 30, ("dialled_numbers", "delete"): 30,
                              ("number_attempts", "delete"): 30}
    assert fresh.counts == {}
    assert await count(store, PurgeRun, PurgeRun.status == PurgeStatus.DONE) == 2
    assert [e.detail["resumed"] for e in await store.audit_log.entries(action="purge.run")] == \
        [True, False]


async def test_busy_leads_wait_for_the_next_run(store: Store) -> None:
    tenant = await store.tenants.create("t", now=OLD)
    campaign = await store.campaigns.create(tenant.id, "c", "uk", now=OLD)
    await store.leads.add(campaign.id, [NewLead(x, "t") for x in numbers(2)], now=OLD)
    await store.claim_leads(campaign.id, "n1", 1, OLD)
    [report] = await purger(store).run(NOW)
    assert report.counts == {("dialled_numbers", "delete"): 1}
    assert await count(store, Lead, Lead.status == LeadStatus.CLAIMED) == 1



def test_batches_are_sized_to_the_time_target() -> None:
    sizer = BatchSizer(target_s=0.02, smallest=100, largest=10_000, first=1000)
    sizer.took(1000, 0.005)  # fast: grows, at most doubling
    assert sizer.size == 2000
    sizer.took(2000, 0.08)  # slow: shrinks in proportion
    assert sizer.size == 500
    sizer.took(10, 0.5)  # a partial batch says nothing
    assert sizer.size == 500
    for _ in range(20):
        sizer.took(sizer.size, 0.000001)
    assert sizer.size == 10_000
    fixed = BatchSizer(7)
    fixed.took(7, 10.0)
    assert fixed.size == 7
