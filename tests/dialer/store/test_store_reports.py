"""Reports from the aggregates (which outlive purges) and the CSV export of CDRs."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import NOW

from dialer.compliance import BUILTIN_PROFILES
from dialer.errors import NotFound
from dialer.store import (
    AgentState,
    AmdResult,
    AttemptState,
    CampaignInfo,
    NewAttempt,
    Outcome,
    Purger,
    Store,
    TenantInfo,
    campaign_report,
    export_cdrs,
    neutralise,
    render_text,
)
from dialer.store.records import AgentStateSpan
from dialer.store.reports import state_seconds

NUMBER = "+447911123456"


async def call(store: Store, campaign: CampaignInfo, at_minutes_ago: int, outcome: Outcome,
               **fields: object) -> None:
    at = NOW - timedelta(minutes=at_minutes_ago)
    attempt = await store.create_attempt(NewAttempt(campaign.id, NUMBER, at))
    answered = at + timedelta(seconds=8) if outcome in (
        Outcome.CONNECTED, Outcome.ABANDONED, Outcome.MACHINE) else None
    store.update_attempt(attempt, outcome=outcome, answered_at=answered,
                         abandoned=outcome is Outcome.ABANDONED, ended_at=at + timedelta(
                             seconds=60), state=AttemptState.CLOSED, **fields)


async def test_report_counts_windows_and_occupancy(store: Store, tenant: TenantInfo,
                                                   campaign: CampaignInfo) -> None:
    agent = await store.agents.create(tenant.id, "A-1", "Li", "1234", now=NOW)
    for i in range(8):
        await call(store, campaign, 60 + i, Outcome.CONNECTED, agent_id=agent.id,
                   agent_connected_at=NOW - timedelta(minutes=60 + i, seconds=-10))
    for i in range(2):
        await call(store, campaign, 120 + i, Outcome.ABANDONED)
    for i in range(5):
        await call(store, campaign, 180 + i, Outcome.MACHINE, amd_result=AmdResult.MACHINE)
    await call(store, campaign, 200, Outcome.NO_ANSWER)
    await call(store, campaign, 60 * 24 * 40, Outcome.ABANDONED)  # 40 days ago
    await store.flush()
    session = await store.agents.open_session(agent.id, at=NOW - timedelta(minutes=45),
                                              campaign_id=campaign.id)
    for minutes_ago, state in ((45, AgentState.READY), (35, AgentState.TALKING),
                               (15, AgentState.WRAP_UP), (10, AgentState.PAUSED)):
        await store.agents.change_state(session, state, at=NOW - timedelta(minutes=minutes_ago))
    await store.agents.close_session(session, at=NOW - timedelta(minutes=5))
    await Purger(store, BUILTIN_PROFILES).run(NOW)  # the 40-day-old CDR goes; its counts stay

    report = await campaign_report(store, campaign.id, BUILTIN_PROFILES, NOW)
    assert (report.attempts, report.answers, report.live_answers, report.abandons) == \
        (17, 16, 11, 3)
    assert report.amd_machine == 5 and report.amd_share == pytest.approx(5 / 16)
    assert report.outcomes[Outcome.CONNECTED] == 8 and report.outcomes[Outcome.NO_ANSWER] == 1
    [day] = report.windows  # uk: 24 h, AMD false positives counted
    estimated = 0.01 * 5
    assert day.label == "24h" and (day.live_answers, day.abandons) == (10, 2)
    assert day.rate == pytest.approx((2 + estimated) / (10 + estimated))
    assert not day.within_limit
    [occupancy] = report.agents
    assert occupancy.calls == 8 and occupancy.logged_in_s == 40 * 60
    assert occupancy.seconds[AgentState.TALKING] == 20 * 60
    assert occupancy.occupancy == pytest.approx(25 / 35)
    text = render_text(report)
    assert "OVER LIMIT" in text and "A-1" in text and "71.43 %" in text
    data = report.to_json()
    assert json.loads(json.dumps(data))["windows"][0]["abandons"] == 2
    assert len(report.days) == 2


async def test_calendar_month_window_for_ca(store: Store, tenant: TenantInfo) -> None:
    campaign = await store.campaigns.create(tenant.id, "ca", "ca", now=NOW)
    await call(store, campaign, 60, Outcome.ABANDONED)
    await call(store, campaign, 60 * 24 * 12, Outcome.CONNECTED)  # 27 February
    await store.flush()
    report = await campaign_report(store, campaign.id, BUILTIN_PROFILES, NOW)
    [month] = report.windows
    assert month.label == "calendar month" and month.start == NOW.replace(day=1, hour=0)
    assert (month.live_answers, month.abandons, month.rate) == (1, 1, 1.0)


async def test_unknown_profile_in_a_report(store: Store, tenant: TenantInfo) -> None:
    campaign = await store.campaigns.create(tenant.id, "x", "custom-one", now=NOW)
    with pytest.raises(NotFound, match="custom-one"):
        await campaign_report(store, campaign.id, BUILTIN_PROFILES, NOW)


def test_state_time_runs_until_the_next_change_or_logout() -> None:
    spans = [AgentStateSpan(1, NOW, AgentState.READY),
             AgentStateSpan(1, NOW + timedelta(seconds=30), AgentState.TALKING)]
    assert state_seconds(NOW, NOW + timedelta(seconds=100), spans) == \
        {AgentState.READY: 30.0, AgentState.TALKING: 70.0}


@given(st.text())
def test_no_cell_can_start_a_formula(value: str) -> None:
    assert not neutralise(value).startswith(("=", "+", "-", "@", "\t", "\r"))


async def test_cdr_export_masks_neutralises_and_audits(store: Store, tmp_path: Path,
                                                       campaign: CampaignInfo) -> None:
    await call(store, campaign, 30, Outcome.CONNECTED, disposition='=HYPERLINK("x")')
    await call(store, campaign, 20, Outcome.BUSY, disposition="@SUM(A1)")
    await store.flush()
    masked = tmp_path / "masked.csv"
    assert await export_cdrs(store, campaign.id, masked, now=NOW, actor="sup") == 2
    rows = list(csv.DictReader(masked.open(encoding="utf-8")))
    assert [r["number"] for r in rows] == ["'+44791***3456"] * 2
    assert [r["disposition"] for r in rows] == ["'=HYPERLINK(\"x\")", "'@SUM(A1)"]
    assert rows[0]["outcome"] == "connected" and rows[1]["state"] == "closed"
    assert "7911123456" not in masked.read_text(encoding="utf-8")
    plain = tmp_path / "plain.csv"
    await export_cdrs(store, campaign.id, plain, now=NOW, actor="sup", unmasked=True)
    assert [r["number"] for r in csv.DictReader(plain.open())] == ["'+447911123456"] * 2
    [entry] = await store.audit_log.entries(action="cdr.export_unmasked")
    assert (entry.actor, entry.subject_id, entry.detail["rows"]) == ("sup", str(campaign.id), 2)
    assert len(await store.audit_log.entries(action="cdr.export")) == 1
