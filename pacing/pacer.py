"""The decision: how many calls one campaign starts now, in every mode.

Order of rules, each able only to lower the number:
1. the mode: preview 0; progressive `ready - in_flight`; power `round(ratio * (ready
   + talking)) - lines`; predictive the model's choice (never below progressive);
2. the abandon limit: when any window's budget at the legal limit is spent (less than
   one abandon allowed), power and predictive fall back to progressive;
3. a cold campaign (too little evidence) paces progressively;
4. hard caps: lines per agent (ready + talking + wrap-up) and lines of the campaign.
"""

from __future__ import annotations

import math
from typing import Protocol

from pacing.estimators import CampaignEstimators
from pacing.model import Forecast, ModelForecaster, choose_calls
from pacing.types import CallOutcomes, Decision, HandleTimes, Mode, PacingSettings, Reason, Snapshot


class PacingPolicy(Protocol):
    """Anything that decides how many calls to start (ours, or a benchmark baseline)."""

    def decide(self, snapshot: Snapshot, now: float) -> Decision:
        """How many calls to start now."""

    def observe_calls(self, calls: CallOutcomes) -> None:
        """Calls whose pre-agent part ended."""

    def observe_handles(self, handles: HandleTimes) -> None:
        """Agents finished calls (talk and wrap-up)."""


class Forecaster(Protocol):
    """Turns a snapshot into supply/demand curves (the model's, or an oracle's)."""

    def forecast(self, snapshot: Snapshot, now: float) -> Forecast:
        """Curves for this snapshot."""


def progressive_calls(snap: Snapshot) -> int:
    """Progressive dialling: calls not yet connected never exceed ready agents."""
    return max(0, snap.ready_agents - snap.in_flight)


def power_calls(snap: Snapshot, lines_per_agent: float) -> int:
    """Power dialling: a fixed number of lines per ready-or-talking agent."""
    goal = math.floor(lines_per_agent * (snap.ready_agents + snap.talking) + 0.5)
    return max(0, goal - snap.lines)


def line_cap(snap: Snapshot, settings: PacingSettings) -> int:
    """How many more lines the hard caps allow."""
    cap = math.floor(settings.max_lines_per_agent * snap.agents + 1e-9) - snap.lines
    if settings.max_lines is not None:
        cap = min(cap, settings.max_lines - snap.lines)
    return max(0, cap)


def limit_spent(snap: Snapshot, settings: PacingSettings) -> bool:
    """True when some window allows less than one more abandon at the legal limit."""
    b = snap.budget
    return bool(b.windows) and bool((b.allowed(settings.abandon_limit) < 1.0).any())


class Pacer:
    """Our pacing policy: modes, fallbacks and caps around the predictive model."""

    def __init__(self, settings: PacingSettings, estimators: CampaignEstimators | None = None,
                 forecaster: Forecaster | None = None) -> None:
        self.settings = settings
        self.estimators = estimators or CampaignEstimators()
        self.forecaster: Forecaster = forecaster or ModelForecaster(self.estimators, settings)

    def decide(self, snapshot: Snapshot, now: float) -> Decision:
        """How many calls to start now (see the module docstring for the rules)."""
        s = self.settings
        cap = line_cap(snapshot, s)
        if s.mode is Mode.PREVIEW:
            return Decision(0, Mode.PREVIEW, Reason.PREVIEW)
        prog = progressive_calls(snapshot)
        if s.mode is Mode.PROGRESSIVE:
            return _capped(prog, cap, Mode.PROGRESSIVE, Reason.PROGRESSIVE)
        if limit_spent(snapshot, s):
            return _capped(prog, cap, Mode.PROGRESSIVE, Reason.BUDGET_SPENT)
        if s.mode is Mode.POWER:
            return _capped(power_calls(snapshot, s.lines_per_agent), cap, Mode.POWER,
                           Reason.POWER)
        fc = self.forecaster.forecast(snapshot, now)
        if not fc.trusted:
            return _capped(prog, cap, Mode.PROGRESSIVE, Reason.COLD_START)
        choice = choose_calls(fc, snapshot.budget, s, cap, snapshot.agents)
        return _capped(max(choice.calls, prog), cap, Mode.PREDICTIVE, Reason.PREDICTIVE,
                       choice.expected_abandons, choice.expected_answers)

    def observe_calls(self, calls: CallOutcomes) -> None:
        """Feed the estimators with calls whose pre-agent part ended."""
        self.estimators.record_calls(calls)

    def observe_handles(self, handles: HandleTimes) -> None:
        """Feed the estimators with finished agent calls."""
        self.estimators.record_handles(handles)


def _capped(calls: int, cap: int, mode: Mode, reason: Reason, abandons: float = 0.0,
            answers: float = 0.0) -> Decision:
    if calls > cap:
        return Decision(cap, mode, Reason.LINE_CAP, abandons, answers)
    return Decision(calls, mode, reason, abandons, answers)
