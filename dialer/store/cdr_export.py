"""Export a campaign's call detail records to CSV: masked numbers, safe cells, audited.

Numbers are masked unless `unmasked` is asked for (and that is audited with who,
which campaign, how many rows and where). Every cell that a spreadsheet would read as
a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading
apostrophe, so opening the file cannot run anything.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from dialer.store.audit import write_audit
from dialer.store.schema import ATTEMPT_NUMBER, Agent, Attempt, Recording
from dialer.store.store import Store
from dnc import mask_number

COLUMNS = ("attempt_id", "campaign_id", "lead_id", "node_id", "number", "channel_id",
           "dnc_version", "gate_decision", "state", "created_at", "originated_at", "ringing_at",
           "answered_at", "amd_at", "amd_result", "amd_cause", "agent_connected_at", "ended_at",
           "hangup_cause", "outcome", "disposition", "abandoned", "agent", "recording_id",
           "anonymised_at")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PARTITION = 1000


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text, never evaluate as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(getattr(value, "value", value))


async def export_cdrs(store: Store, campaign_id: int, out: str | Path, *, now: datetime,
                      actor: str, unmasked: bool = False) -> int:
    """Write the campaign's attempts, oldest first, to `out`; returns the rows written.

    The export is audited before the file is written, so even an interrupted export of
    plaintext numbers leaves its trace.
    """
    await store.campaigns.get(campaign_id)
    path = Path(out)
    async with store.db.write() as conn:
        expected = (await conn.execute(select(func.count()).select_from(Attempt).where(
            Attempt.campaign_id == campaign_id))).scalar_one()
        await write_audit(conn, at=now, actor=actor,
                          action="cdr.export_unmasked" if unmasked else "cdr.export",
                          subject_type="campaign", subject_id=campaign_id,
                          node_id=store.node_id, detail={"rows": expected, "file": str(path)})
    recording = (select(func.min(Recording.id)).where(Recording.attempt_id == Attempt.id)
                 .scalar_subquery())
    stmt = (select(Attempt.__table__, Agent.external_id.label("agent"),
                   recording.label("recording_id"))
            .outerjoin(Agent, Agent.id == Attempt.agent_id)
            .where(Attempt.campaign_id == campaign_id)
            .order_by(Attempt.created_at, Attempt.id))
    rows = 0
    fh = await asyncio.to_thread(path.open, "w", encoding="utf-8", newline="")
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        async with store.db.read() as conn:
            result = await conn.stream(stmt)
            async for part in result.partitions(_PARTITION):
                for row in part:
                    writer.writerow([neutralise(_text(v)) for v in _cells(store, row, unmasked)])
                rows += len(part)
                await asyncio.to_thread(fh.write, buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        await asyncio.to_thread(fh.write, buffer.getvalue())
    finally:
        await asyncio.to_thread(fh.close)
    return rows


def _cells(store: Store, row: Any, unmasked: bool) -> list[Any]:
    number = None
    if row.number_enc is not None:
        plain = store.cipher.decrypt_str(row.number_enc, ATTEMPT_NUMBER)
        number = plain if unmasked else mask_number(plain)
    return [row.id, row.campaign_id, row.lead_id, row.node_id, number, row.channel_id,
            row.dnc_version, row.gate_decision, row.state, row.created_at, row.originated_at,
            row.ringing_at, row.answered_at, row.amd_at, row.amd_result, row.amd_cause,
            row.agent_connected_at, row.ended_at, row.hangup_cause, row.outcome,
            row.disposition, row.abandoned, row.agent, row.recording_id, row.anonymised_at]
