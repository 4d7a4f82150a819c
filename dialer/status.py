"""The engine's status: an immutable snapshot published about twice a second.

The engine builds an `EngineStatus` from its agents, campaigns and health; the live
terminal view (`dialer.view`) and the end-of-run report render it. It holds counts,
states and identifiers only: never a phone number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

AGENT_STATES = ("ready", "talking", "wrapup", "paused")
CAMPAIGN_STATES = ("running", "paused", "frozen", "stopped", "draining")


@dataclass(frozen=True, slots=True)
class AgentView:
    """One logged-in agent: its state (one of `AGENT_STATES`), since when, calls handled."""

    agent_id: str
    state: str
    since_s: float
    calls: int
    pause_code: str | None = None


@dataclass(frozen=True, slots=True)
class WindowView:
    """One abandon-rate window of a campaign's compliance profile; `limit` e.g. 0.03."""

    name: str
    answers: float
    abandons: float
    limit: float

    @property
    def rate(self) -> float:
        """Abandons per live answer in the window (0 when nothing was answered)."""
        return self.abandons / self.answers if self.answers > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CampaignView:
    """One campaign: pacing mode and state, calls in flight by stage, session counts,
    abandon windows, gate denials by reason and the last pacing decision's reason."""

    campaign_id: int
    name: str
    mode: str
    state: str
    ringing: int
    in_amd: int
    waiting_for_agent: int
    connected: int
    dialled: int
    answered: int
    human: int
    machine: int
    abandoned: int
    refusals: int
    leads_left: int
    windows: tuple[WindowView, ...]
    denials: Mapping[str, int]
    last_decision: str

    @property
    def in_flight(self) -> int:
        """Calls of this campaign between originate and hang-up."""
        return self.ringing + self.in_amd + self.waiting_for_agent + self.connected


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """Everything the live view shows about one node at `now`."""

    node_id: str
    started_at: datetime
    now: datetime
    healthy: bool
    unhealthy_reason: str | None
    draining: bool
    dnc_version: int
    agents: tuple[AgentView, ...]
    campaigns: tuple[CampaignView, ...]
    occupancy: float

    @property
    def calls_in_flight(self) -> int:
        """Calls of every campaign between originate and hang-up."""
        return sum(c.in_flight for c in self.campaigns)
