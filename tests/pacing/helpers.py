"""Helpers for the pacing tests: snapshots, budgets and trained estimators."""

from __future__ import annotations

import numpy as np

from pacing import (
    AbandonBudget,
    CallOutcomes,
    CampaignEstimators,
    CustomerModel,
    HandleTimes,
    Outcome,
    Snapshot,
)


def trained_estimators(cust: CustomerModel, n: int = 20_000, seed: int = 5) -> CampaignEstimators:
    """Estimators fed with n calls drawn from `cust` (enough evidence to be trusted)."""
    est = CampaignEstimators()
    f = cust.draw(np.random.default_rng(seed), n)
    answered = np.isfinite(f.answer)
    ring = np.where(answered, f.answer, f.end)
    amd = np.full(n, np.nan)
    amd[answered] = f.verdict[answered] - f.answer[answered]
    est.record_calls(CallOutcomes(f.outcome, ring, amd, np.zeros(n, dtype=bool)))
    human = f.outcome == Outcome.HUMAN
    est.record_handles(HandleTimes(f.talk[human], f.wrapup[human], np.zeros(int(human.sum()))))
    return est


def healthy_budget() -> AbandonBudget:
    """Windows with plenty of answers and few abandons."""
    return AbandonBudget(("24h", "30d"), np.array([2000.0, 20000.0]), np.array([10.0, 100.0]))


def spent_budget() -> AbandonBudget:
    """A 24 h window whose abandons reached the legal limit."""
    return AbandonBudget(("24h", "30d"), np.array([1000.0, 20000.0]), np.array([30.0, 100.0]))


def make_snapshot(ready: int, busy: list[float], ringing: list[float],
                  budget: AbandonBudget | None = None, wrapup: list[float] | None = None
                  ) -> Snapshot:
    """A snapshot with ringing calls only (elapsed seconds given)."""
    return Snapshot(ready_agents=ready, busy_elapsed=np.array(busy, dtype=np.float64),
                    wrapup_elapsed=np.array(wrapup or [], dtype=np.float64),
                    call_stage=np.zeros(len(ringing), dtype=np.int64),
                    call_elapsed=np.array(ringing, dtype=np.float64),
                    budget=budget if budget is not None else healthy_budget())
