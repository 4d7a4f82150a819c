"""Per-campaign hourly aggregates: counted when an attempt closes, kept through purges.

The abandon accounting (24 h, 30 days, a calendar month) and the reports read these,
not the CDRs, which retention may already have deleted or anonymised.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.store.database import Database
from dialer.store.enums import ANSWERED_OUTCOMES, LIVE_OUTCOMES, AmdResult, Outcome
from dialer.store.records import HourlyStats
from dialer.store.schema import OUTCOME_COLUMNS, CampaignHourlyStats

COUNTER_COLUMNS = ("attempts", "answers", "live_answers", "abandons", "amd_machine",
                   *OUTCOME_COLUMNS.values(), "talk_seconds")
Key = tuple[int, datetime]


def hour_of(at: datetime) -> datetime:
    """The start of the (UTC) hour an instant falls in."""
    return at.replace(minute=0, second=0, microsecond=0)


def increments(row: Row[Any] | Any) -> tuple[Key, dict[str, float]]:
    """What one closed attempt adds to its campaign's hour (by its creation time)."""
    outcome = Outcome(row.outcome) if row.outcome is not None else None
    counts: dict[str, float] = dict.fromkeys(COUNTER_COLUMNS, 0)
    counts["attempts"] = 1
    counts["answers"] = int(outcome in ANSWERED_OUTCOMES)
    counts["live_answers"] = int(outcome in LIVE_OUTCOMES)
    counts["abandons"] = int(bool(row.abandoned) or outcome is Outcome.ABANDONED)
    counts["amd_machine"] = int(row.amd_result == AmdResult.MACHINE)
    if outcome is not None and outcome in OUTCOME_COLUMNS:
        counts[OUTCOME_COLUMNS[outcome]] = 1
    if row.agent_connected_at is not None and row.ended_at is not None:
        counts["talk_seconds"] = max(0.0, (row.ended_at - row.agent_connected_at).total_seconds())
    return (row.campaign_id, hour_of(row.created_at)), counts


def total(rows: Iterable[Row[Any] | Any]) -> dict[Key, dict[str, float]]:
    """Increments of many closed attempts, summed per campaign and hour."""
    sums: dict[Key, dict[str, float]] = {}
    for row in rows:
        key, counts = increments(row)
        into = sums.setdefault(key, dict.fromkeys(COUNTER_COLUMNS, 0))
        for name, value in counts.items():
            into[name] += value
    return sums


async def add_increments(db: Database, conn: AsyncConnection,
                         sums: dict[Key, dict[str, float]]) -> None:
    """Add the sums to the hourly rows, creating missing ones (inside the caller's transaction)."""
    if not sums:
        return
    table = CampaignHourlyStats.__table__
    stmt = db.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["campaign_id", "hour"],
        set_={name: table.c[name] + stmt.excluded[name] for name in COUNTER_COLUMNS})
    await conn.execute(stmt, [{"campaign_id": cid, "hour": hour, **counts}
                              for (cid, hour), counts in sums.items()])


class Stats:
    """Reads the hourly aggregates."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hourly(self, campaign_id: int, since: datetime | None = None,
                     until: datetime | None = None) -> list[HourlyStats]:
        """The campaign's hours in [since, until), oldest first."""
        stmt = (select(CampaignHourlyStats.__table__)
                .where(CampaignHourlyStats.campaign_id == campaign_id)
                .order_by(CampaignHourlyStats.hour))
        if since is not None:
            stmt = stmt.where(CampaignHourlyStats.hour >= hour_of(since))
        if until is not None:
            stmt = stmt.where(CampaignHourlyStats.hour < until)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [HourlyStats(
            campaign_id=r.campaign_id, hour=r.hour, attempts=r.attempts, answers=r.answers,
            live_answers=r.live_answers, abandons=r.abandons, amd_machine=r.amd_machine,
            outcomes={**{o: getattr(r, c) for o, c in OUTCOME_COLUMNS.items()},
                      Outcome.ABANDONED: r.abandons},
            talk_seconds=r.talk_seconds) for r in rows]
