"""What a simulation run reports: occupancy, abandons per window, throughput, waits.

Occupancy is talk time over logged-in time. The abandon rate is abandons over live
answers as the dialer counts them (answers judged human; plus the UK-style estimate
of AMD false positives when the accounting adds one). `worst_hour_rate` is the worst
rolling 60-minute window that lies wholly inside the run, on a one-minute grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pacing.types import AbandonBudget, FloatArray

HOUR = 3600.0


class RunLog:
    """Raw facts gathered during a run (plain lists; turned into arrays at the end)."""

    def __init__(self, agents: int) -> None:
        self.session_start = np.full(agents, np.nan)
        self.sessions: list[tuple[float, float]] = []
        self.connect_at: list[float] = []
        self.talk: list[float] = []
        self.answer_at: list[float] = []
        self.abandoned: list[bool] = []
        self.truly_live: list[bool] = []
        self.waits: list[float] = []
        self.lines: list[int] = []
        self.dials = 0
        self.false_positives = 0

    def login(self, agent: int, now: float) -> None:
        """An agent's session begins."""
        self.session_start[agent] = now

    def logout(self, agent: int, now: float) -> None:
        """An agent's session ends."""
        start = float(self.session_start[agent])
        if not np.isnan(start):
            self.sessions.append((start, now))
        self.session_start[agent] = np.nan

    def connect(self, now: float, talk: float) -> None:
        """A customer reached an agent and will talk `talk` seconds."""
        self.connect_at.append(now)
        self.talk.append(talk)

    def answer(self, at: float, abandoned: bool, truly_live: bool) -> None:
        """A live verdict was connected, or abandoned at its deadline."""
        self.answer_at.append(at)
        self.abandoned.append(abandoned)
        self.truly_live.append(truly_live)

    def agent_wait(self, seconds: float) -> None:
        """An agent waited this long between becoming ready and the next customer."""
        self.waits.append(seconds)

    def sample_lines(self, lines: int) -> None:
        """Lines in use at a tick."""
        self.lines.append(lines)


@dataclass(frozen=True)
class SimulationResult:
    """The summary of one run (see the module docstring for definitions)."""

    duration: float
    agent_hours: float
    occupancy: float
    dials: int
    answers: int
    abandons: int
    abandon_rate: float
    worst_hour_rate: float
    window_rates: dict[str, float]
    calls_per_agent_hour: float
    dials_per_agent_hour: float
    mean_agent_wait: float
    mean_lines: float
    max_lines: int
    false_positives: int
    series_t: FloatArray = field(repr=False)
    series_occupancy: FloatArray = field(repr=False)
    series_abandon_rate: FloatArray = field(repr=False)
    series_hour_rate: FloatArray = field(repr=False)

    @property
    def worst_window_rate(self) -> float:
        """The worst rate among the regulatory windows."""
        return max(self.window_rates.values(), default=self.abandon_rate)


def _covered(starts: FloatArray, ends: FloatArray, edges: FloatArray) -> FloatArray:
    """Total length of the intervals [start, end) lying before each edge."""
    s = np.sort(starts)
    e = np.sort(ends)
    cs = np.concatenate(([0.0], np.cumsum(s)))
    ce = np.concatenate(([0.0], np.cumsum(e)))
    ns = np.searchsorted(s, edges, side="right")
    ne = np.searchsorted(e, edges, side="right")
    covered: FloatArray = (ns * edges - cs[ns]) - (ne * edges - ce[ne])
    return covered


def summarise(log: RunLog, duration: float, step: float,
              budget: AbandonBudget) -> SimulationResult:
    """Turn a run's log into its result."""
    sess = np.array(log.sessions, dtype=np.float64).reshape(-1, 2)
    agent_seconds = float((sess[:, 1] - sess[:, 0]).sum())
    connect = np.array(log.connect_at, dtype=np.float64)
    talk_end = np.minimum(connect + np.array(log.talk, dtype=np.float64), duration)
    talk_seconds = float((talk_end - connect).sum())
    answer_at = np.array(log.answer_at, dtype=np.float64)
    abandoned = np.array(log.abandoned, dtype=bool)
    answers, abandons = int(answer_at.size), int(abandoned.sum())

    edges = np.arange(0.0, duration + step, step)
    edges[-1] = min(edges[-1], duration)
    talk_cum = _covered(connect, talk_end, edges)
    login_cum = _covered(sess[:, 0], sess[:, 1], edges)
    d_login = np.diff(login_cum)
    occ = np.divide(np.diff(talk_cum), d_login, out=np.zeros_like(d_login), where=d_login > 0)
    ans_cum = np.searchsorted(np.sort(answer_at), edges, side="right").astype(np.float64)
    ab_cum = np.searchsorted(np.sort(answer_at[abandoned]), edges, side="right").astype(
        np.float64)
    cum_rate = np.divide(ab_cum[1:], ans_cum[1:], out=np.zeros(edges.size - 1),
                         where=ans_cum[1:] > 0)
    lag = round(HOUR / step)
    hour_rate = np.full(edges.size - 1, np.nan)
    if edges.size > lag:
        a = ans_cum[lag:] - ans_cum[:-lag]
        b = ab_cum[lag:] - ab_cum[:-lag]
        hour_rate[lag - 1:] = np.divide(b, a, out=np.zeros_like(a), where=a > 0)
    worst_hour = float(np.nanmax(hour_rate)) if np.isfinite(hour_rate).any() else (
        abandons / answers if answers else 0.0)
    hours = agent_seconds / HOUR
    rates = budget.rates()
    lines = np.array(log.lines, dtype=np.float64)
    return SimulationResult(
        duration=duration,
        agent_hours=hours,
        occupancy=talk_seconds / agent_seconds if agent_seconds else 0.0,
        dials=log.dials,
        answers=answers,
        abandons=abandons,
        abandon_rate=abandons / answers if answers else 0.0,
        worst_hour_rate=worst_hour,
        window_rates={name: float(r) for name, r in zip(budget.windows, rates, strict=True)},
        calls_per_agent_hour=connect.size / hours if hours else 0.0,
        dials_per_agent_hour=log.dials / hours if hours else 0.0,
        mean_agent_wait=float(np.mean(log.waits)) if log.waits else 0.0,
        mean_lines=float(lines.mean()) if lines.size else 0.0,
        max_lines=int(lines.max()) if lines.size else 0,
        false_positives=log.false_positives,
        series_t=edges[1:],
        series_occupancy=occ,
        series_abandon_rate=cum_rate,
        series_hour_rate=hour_rate,
    )
