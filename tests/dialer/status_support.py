"""An `EngineStatus` to render in the view tests (imported by name)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from dialer.status import AgentView, CampaignView, EngineStatus, WindowView

NOW = datetime(2025, 3, 12, 10, 5, 12, tzinfo=UTC)


def campaign(**changes: Any) -> CampaignView:
    """The demo campaign, mid-run, with `changes`."""
    base = CampaignView(
        campaign_id=7, name="demo", mode="predictive", state="running",
        ringing=11, in_amd=3, waiting_for_agent=1, connected=4,
        dialled=312, answered=97, human=71, machine=26, abandoned=2, refusals=5,
        leads_left=188,
        windows=(WindowView("24h", answers=71, abandons=2, limit=0.03),
                 WindowView("30d", answers=400, abandons=4, limit=0.03)),
        denials={"outside_window": 9, "dnc": 4, "min_gap": 0},
        last_decision="cold-start")
    return dataclasses.replace(base, **changes)


def status(**changes: Any) -> EngineStatus:
    """A healthy node with five agents and the demo campaign, with `changes`."""
    base = EngineStatus(
        node_id="node-a", started_at=NOW - timedelta(minutes=5, seconds=12), now=NOW,
        healthy=True, unhealthy_reason=None, draining=False, dnc_version=42,
        agents=(AgentView("8001", "ready", 3.2, 14),
                AgentView("8002", "talking", 65.0, 12),
                AgentView("8003", "talking", 7.9, 15),
                AgentView("8004", "wrapup", 2.0, 11),
                AgentView("8005", "paused", 754.0, 3, pause_code="break")),
        campaigns=(campaign(),), occupancy=0.734)
    return dataclasses.replace(base, **changes)
