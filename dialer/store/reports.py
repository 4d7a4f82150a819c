"""The campaign report: answers, abandons per regulatory window, AMD share, outcomes,
and occupancy per agent.

Counts come from the hourly aggregates (which survive purges); occupancy from the
agent sessions and their state timelines; calls per agent from the CDRs still kept.
Windows are whole UTC hours: a rolling 24 h window is the 24 hourly rows up to `now`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from dialer.compliance import AbandonRules, ComplianceProfile
from dialer.errors import NotFound
from dialer.store.enums import AgentState, LeadStatus, Outcome
from dialer.store.records import AgentStateSpan, CampaignInfo, HourlyStats
from dialer.store.schema import Agent, AgentSession, AgentStateChange, Attempt
from dialer.store.stats import hour_of
from dialer.store.store import Store

_BUSY_STATES = (AgentState.TALKING, AgentState.WRAP_UP)
_AVAILABLE_STATES = (AgentState.READY, *_BUSY_STATES)


@dataclass(frozen=True, slots=True)
class WindowRate:
    """The abandon rate over one regulatory window ending at the report's instant."""

    label: str
    start: datetime
    live_answers: int
    abandons: int
    amd_machine: int
    rate: float | None
    limit: float

    @property
    def within_limit(self) -> bool:
        """True when the rate is at or under the limit (or nothing was answered)."""
        return self.rate is None or self.rate <= self.limit


@dataclass(frozen=True, slots=True)
class DayCounts:
    """One UTC day of a campaign."""

    day: date
    attempts: int
    live_answers: int
    abandons: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class AgentOccupancy:
    """Time an agent spent in each state within the campaign, and the share busy."""

    agent_id: int
    external_id: str
    name: str
    logged_in_s: float
    seconds: Mapping[AgentState, float]
    calls: int

    @property
    def occupancy(self) -> float | None:
        """(talking + wrap-up) / (ready + talking + wrap-up); None if never available."""
        available = sum(self.seconds.get(s, 0.0) for s in _AVAILABLE_STATES)
        busy = sum(self.seconds.get(s, 0.0) for s in _BUSY_STATES)
        return busy / available if available else None


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Everything `dialer report campaign` prints."""

    campaign: CampaignInfo
    as_of: datetime
    attempts: int
    answers: int
    live_answers: int
    abandons: int
    amd_machine: int
    talk_seconds: float
    outcomes: Mapping[Outcome, int]
    windows: Sequence[WindowRate]
    days: Sequence[DayCounts]
    agents: Sequence[AgentOccupancy]
    leads: Mapping[LeadStatus, int]

    @property
    def amd_share(self) -> float | None:
        """Share of answers the AMD judged to be machines."""
        return self.amd_machine / self.answers if self.answers else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form."""
        return {
            "campaign": {"id": self.campaign.id, "name": self.campaign.name,
                         "tenant_id": self.campaign.tenant_id, "profile": self.campaign.profile,
                         "status": self.campaign.status.value},
            "as_of": self.as_of.isoformat(), "attempts": self.attempts, "answers": self.answers,
            "live_answers": self.live_answers, "abandons": self.abandons,
            "amd_machine": self.amd_machine, "amd_share": self.amd_share,
            "talk_seconds": self.talk_seconds,
            "outcomes": {o.value: n for o, n in self.outcomes.items()},
            "windows": [{**asdict(w), "start": w.start.isoformat(),
                         "within_limit": w.within_limit} for w in self.windows],
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "agents": [{"agent_id": a.agent_id, "external_id": a.external_id, "name": a.name,
                        "logged_in_s": a.logged_in_s, "calls": a.calls,
                        "seconds": {s.value: v for s, v in a.seconds.items()},
                        "occupancy": a.occupancy} for a in self.agents],
            "leads": {s.value: n for s, n in self.leads.items()},
        }


def abandon_rate(abandons: int, live_answers: int, amd_machine: int,
                 rules: AbandonRules) -> float | None:
    """Abandons over live answers; under rules that count AMD false positives, the
    estimated humans among the machine verdicts count as abandoned (and live)."""
    estimated = rules.amd_false_positive_rate * amd_machine \
        if rules.count_amd_false_positives else 0.0
    live = live_answers + estimated
    return (abandons + estimated) / live if live else None


def window_rates(hours: Sequence[HourlyStats], profile: ComplianceProfile,
                 now: datetime) -> list[WindowRate]:
    """The abandon rate over each of the profile's windows ending at `now`."""
    rates = []
    for window in profile.abandon.windows:
        start = hour_of(window.start(now))
        inside = [h for h in hours if start <= h.hour <= now]
        live = sum(h.live_answers for h in inside)
        abandons = sum(h.abandons for h in inside)
        machine = sum(h.amd_machine for h in inside)
        rates.append(WindowRate(label=window.label, start=start, live_answers=live,
                                abandons=abandons, amd_machine=machine,
                                rate=abandon_rate(abandons, live, machine, profile.abandon),
                                limit=profile.abandon.limit))
    return rates


def daily(hours: Sequence[HourlyStats], rules: AbandonRules) -> list[DayCounts]:
    """The hourly rows summed per UTC day."""
    by_day: dict[date, list[HourlyStats]] = defaultdict(list)
    for h in hours:
        by_day[h.hour.date()].append(h)
    days = []
    for day in sorted(by_day):
        rows = by_day[day]
        live = sum(h.live_answers for h in rows)
        abandons = sum(h.abandons for h in rows)
        machine = sum(h.amd_machine for h in rows)
        days.append(DayCounts(day=day, attempts=sum(h.attempts for h in rows),
                              live_answers=live, abandons=abandons,
                              rate=abandon_rate(abandons, live, machine, rules)))
    return days


def state_seconds(login: datetime, logout: datetime, timeline: Sequence[AgentStateSpan]
                  ) -> dict[AgentState, float]:
    """Seconds per state in a session: each state lasts until the next change or logout."""
    seconds: dict[AgentState, float] = defaultdict(float)
    changes = sorted((s for s in timeline if login <= s.at <= logout), key=lambda s: s.at)
    for span, following in zip(changes, [*changes[1:], None], strict=True):
        end = following.at if following is not None else logout
        seconds[span.state] += max(0.0, (end - span.at).total_seconds())
    return dict(seconds)


async def campaign_report(store: Store, campaign_id: int,
                          profiles: Mapping[str, ComplianceProfile],
                          now: datetime) -> CampaignReport:
    """Build the report of one campaign as of `now`."""
    campaign = await store.campaigns.get(campaign_id)
    profile = profiles.get(campaign.profile)
    if profile is None:
        raise NotFound("compliance profile (load it with --profiles)", campaign.profile)
    hours = await store.stats.hourly(campaign_id, until=now)
    outcomes: dict[Outcome, int] = defaultdict(int)
    for h in hours:
        for outcome, n in h.outcomes.items():
            outcomes[outcome] += n
    return CampaignReport(
        campaign=campaign, as_of=now, attempts=sum(h.attempts for h in hours),
        answers=sum(h.answers for h in hours), live_answers=sum(h.live_answers for h in hours),
        abandons=sum(h.abandons for h in hours), amd_machine=sum(h.amd_machine for h in hours),
        talk_seconds=sum(h.talk_seconds for h in hours),
        outcomes={o: outcomes[o] for o in Outcome},
        windows=window_rates(hours, profile, now), days=daily(hours, profile.abandon),
        agents=await _occupancy(store, campaign_id, now),
        leads=await store.leads.count_by_status(campaign_id))


async def _occupancy(store: Store, campaign_id: int, now: datetime) -> list[AgentOccupancy]:
    async with store.db.read() as conn:
        sessions = (await conn.execute(
            select(AgentSession.id, AgentSession.agent_id, AgentSession.login_at,
                   AgentSession.logout_at, Agent.external_id, Agent.name)
            .join(Agent, Agent.id == AgentSession.agent_id)
            .where(AgentSession.campaign_id == campaign_id))).all()
        changes = (await conn.execute(
            select(AgentStateChange.session_id, AgentStateChange.at, AgentStateChange.state)
            .where(AgentStateChange.session_id.in_([s.id for s in sessions])))).all() \
            if sessions else []
        calls = dict((await conn.execute(
            select(Attempt.agent_id, func.count()).where(
                Attempt.campaign_id == campaign_id, Attempt.agent_id.is_not(None))
            .group_by(Attempt.agent_id))).all())
    timelines: dict[int, list[AgentStateSpan]] = defaultdict(list)
    for c in changes:
        timelines[c.session_id].append(AgentStateSpan(c.session_id, c.at, c.state))
    per_agent: dict[int, dict[str, Any]] = {}
    for s in sessions:
        entry = per_agent.setdefault(s.agent_id, {"external_id": s.external_id, "name": s.name,
                                                  "logged_in_s": 0.0,
                                                  "seconds": defaultdict(float)})
        logout = min(s.logout_at or now, now)
        entry["logged_in_s"] += max(0.0, (logout - s.login_at).total_seconds())
        for state, secs in state_seconds(s.login_at, logout, timelines[s.id]).items():
            entry["seconds"][state] += secs
    return [AgentOccupancy(agent_id=a, external_id=e["external_id"], name=e["name"],
                           logged_in_s=e["logged_in_s"], seconds=dict(e["seconds"]),
                           calls=int(calls.get(a, 0)))
            for a, e in sorted(per_agent.items())]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def render_text(report: CampaignReport) -> str:
    """The report as a plain-text table."""
    pct = _percent
    c = report.campaign
    lines = [(f"campaign {c.id} {c.name!r} (tenant {c.tenant_id}, profile {c.profile}, "
              f"{c.status.value}) as of {report.as_of:%Y-%m-%d %H:%M} UTC"),
             (f"  attempts {report.attempts}  answers {report.answers}  live answers "
              f"{report.live_answers}  abandons {report.abandons}  AMD machine share "
              f"{pct(report.amd_share)}  talk {report.talk_seconds / 3600:.1f} h"),
             "  abandon rate per window:"]
    for w in report.windows:
        flag = "ok" if w.within_limit else "OVER LIMIT"
        lines.append(f"    {w.label:<15} since {w.start:%Y-%m-%d %H:%M}  {w.abandons}/"
                     f"{w.live_answers} = {pct(w.rate)}  (limit {pct(w.limit)}) {flag}")
    outcomes = ", ".join(f"{o.value} {n}" for o, n in report.outcomes.items() if n)
    lines.append(f"  outcomes: {outcomes or 'none'}")
    if report.days:
        lines.append("  day          attempts  live  abandons  rate")
        lines += [f"  {d.day}  {d.attempts:>8}  {d.live_answers:>4}  {d.abandons:>8}  "
                  f"{pct(d.rate)}" for d in report.days]
    if report.agents:
        lines.append("  agent            logged in  calls  occupancy")
        lines += [f"  {a.external_id:<15}  {a.logged_in_s / 3600:>7.2f} h  {a.calls:>5}  "
                  f"{pct(a.occupancy)}" for a in report.agents]
    lines.append("  leads: " + (", ".join(f"{s.value} {n}" for s, n in sorted(
        report.leads.items())) or "none"))
    return "\n".join(lines)
