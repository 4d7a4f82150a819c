"""The forecast and the choice of n: calibration against the truth, exactness, the pace."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pacing import (
    AbandonBudget,
    CampaignEstimators,
    CustomerModel,
    Forecast,
    ModelForecaster,
    PacingSettings,
    Snapshot,
    choose_calls,
    expected_abandons,
)
from pacing.model import (
    BUDGET_SCALE,
    EVIDENCE_ABANDONS,
    PACE_DOWN,
    PACE_UP,
    RELATIVE_MARGIN,
    SMALL_CAMPAIGN,
    normal_quantile,
    pace,
    poisson_binomial,
)
from tests.pacing.helpers import make_snapshot

SETTINGS = PacingSettings()


def test_poisson_binomial_matches_brute_force() -> None:
    p = np.array([[0.1, 0.5], [0.7, 0.2], [0.3, 0.9]])     # 3 agents, 2 grid points
    pmf = poisson_binomial(p)
    for k in range(2):
        brute = np.zeros(4)
        for bits in itertools.product([0, 1], repeat=3):
            pr = np.prod([p[i, k] if b else 1 - p[i, k] for i, b in enumerate(bits)])
            brute[sum(bits)] += pr
        assert pmf[k] == pytest.approx(brute)


def test_new_call_answers_match_the_customers(customers: CustomerModel,
                                              estimators_data: CampaignEstimators) -> None:
    fc = ModelForecaster(estimators_data, SETTINGS)
    f = fc.forecast(make_snapshot(0, [], []), 0.0)
    draws = customers.draw(np.random.default_rng(9), 200_000)
    human = draws.outcome == 0
    for k in (10, 20, 40, fc.k - 1):
        truth = np.mean(human & (draws.deadline <= fc.t[k]))
        assert f.new_due[k] == pytest.approx(truth, abs=0.01)


def test_ringing_calls_are_conditioned_on_elapsed_time(
        customers: CustomerModel, estimators_data: CampaignEstimators) -> None:
    fc = ModelForecaster(estimators_data, SETTINGS)
    draws = customers.draw(np.random.default_rng(10), 300_000)
    for elapsed in (3.0, 8.0, 15.0):
        f = fc.forecast(make_snapshot(0, [], [elapsed]), 0.0)
        still = ~(draws.end <= elapsed) & ~(draws.answer <= elapsed)
        due = (draws.outcome == 0) & (draws.deadline - elapsed <= fc.t[-1])
        truth = np.sum(due & still) / np.sum(still)
        assert f.demand_mean[-1] == pytest.approx(truth, abs=0.02)


def test_busy_agents_free_as_their_handle_time_says(
        customers: CustomerModel, estimators_data: CampaignEstimators) -> None:
    fc = ModelForecaster(estimators_data, SETTINGS)
    rng = np.random.default_rng(11)
    talk = customers.talk.draw(rng, 400_000)
    wrap = customers.wrapup.draw(rng, 400_000)
    for elapsed in (20.0, 120.0):
        p = fc.free_probabilities(make_snapshot(0, [elapsed], []), 0.0)[0]
        alive = talk > elapsed
        truth = np.mean((talk[alive] - elapsed + wrap[alive]) <= fc.t[-1])
        assert p[-1] == pytest.approx(truth, abs=0.02)


def _forecast(ready: int, agents_p: list[float], mu: float, q: float, k: int = 4) -> Forecast:
    free = np.array([[pi] * k for pi in agents_p]).reshape(len(agents_p), k)
    mean = ready + free.sum(axis=0)
    var = (free * (1 - free)).sum(axis=0)
    demand = np.full(k, mu)
    due = np.full(k, q)
    exact = Forecast(mean, var, demand, demand.copy(), due, 0.0, True,
                     poisson_binomial(free), np.zeros(k, dtype=np.int64), ready)
    return exact


def test_exact_abandons_match_monte_carlo() -> None:
    fc = _forecast(1, [0.3, 0.6], mu=1.2, q=0.2)
    rng = np.random.default_rng(12)
    for n in (0, 5):
        d = rng.poisson(1.2, 400_000) + rng.binomial(n, 0.2, 400_000)
        s = 1 + rng.binomial(1, 0.3, 400_000) + rng.binomial(1, 0.6, 400_000)
        truth = np.mean(np.maximum(d - s, 0))
        got = float(expected_abandons(fc, np.array([n]))[0])
        assert got == pytest.approx(truth, rel=0.05, abs=0.003)


def test_choice_keeps_the_pace_and_grows_with_supply() -> None:
    budget = AbandonBudget(("24h",), np.array([5000.0]), np.array([40.0]))
    fewer = choose_calls(_forecast(1, [0.5] * 4, 0.2, 0.2), budget, SETTINGS, 200, 4)
    more = choose_calls(_forecast(3, [0.5] * 4, 0.2, 0.2), budget, SETTINGS, 200, 4)
    assert 0 < fewer.calls < more.calls < 200
    rate = pace(budget, SETTINGS, 4)
    assert fewer.expected_abandons <= rate * fewer.expected_answers + 1e-9


def test_pace_follows_the_budget() -> None:
    def budget(abandons: float) -> AbandonBudget:
        return AbandonBudget(("24h",), np.array([1000.0]), np.array([abandons]))
    fresh = AbandonBudget(("24h",), np.array([0.0]), np.array([0.0]))
    big = SMALL_CAMPAIGN
    assert pace(budget(17.0), SETTINGS, big) > pace(budget(19.0), SETTINGS, big) > pace(
        budget(23.0), SETTINGS, big)
    ceiling = np.exp(PACE_UP) * SETTINGS.target_abandon_rate
    assert pace(budget(EVIDENCE_ABANDONS), SETTINGS, big) == pytest.approx(ceiling)
    assert pace(fresh, SETTINGS, big) < 0.5 * SETTINGS.target_abandon_rate


def _pace_at_debt(debt: float, agents: int) -> float:
    """The pace over the target, `debt` abandons past the margin of a 1000-answer window."""
    target = SETTINGS.target_abandon_rate
    margin = normal_quantile(SETTINGS.confidence) + RELATIVE_MARGIN * target * 1000.0
    abandons = target * 1000.0 - margin + debt
    b = AbandonBudget(("24h",), np.array([1000.0]), np.array([abandons]))
    return pace(b, SETTINGS, agents) / target


def test_pace_steers_a_small_campaign_with_a_looser_hand() -> None:
    """One abandon of debt moves a 200-agent pace by e^(-1/2), a 10-agent pace by e^(-1/4)."""
    at = _pace_at_debt
    assert at(0.0, 200) == pytest.approx(1.0, abs=1e-6)
    assert at(1.0, 200) == pytest.approx(np.exp(-1.0 / BUDGET_SCALE), rel=1e-5)
    assert at(1.0, SMALL_CAMPAIGN) == pytest.approx(np.exp(-1.0 / BUDGET_SCALE), rel=1e-5)
    assert at(1.0, SMALL_CAMPAIGN // 2) == pytest.approx(np.exp(-0.5 / BUDGET_SCALE), rel=1e-5)
    assert at(1.0, 3) == pytest.approx(at(1.0, SMALL_CAMPAIGN // 2))
    assert at(1.0, 0) == pytest.approx(at(1.0, 3))
    assert at(1.0, 15) == pytest.approx(np.exp(-0.75 / BUDGET_SCALE), rel=1e-5)


def test_pace_falls_with_debt_down_to_its_floor_and_no_further() -> None:
    """Debt lowers the pace until exp(-PACE_DOWN) x target; deeper debt leaves it there."""
    floor = np.exp(-PACE_DOWN)
    near_floor = BUDGET_SCALE * PACE_DOWN * 0.9
    assert _pace_at_debt(near_floor, 200) == pytest.approx(np.exp(-0.9 * PACE_DOWN), rel=1e-6)
    assert _pace_at_debt(near_floor, 200) > floor
    assert _pace_at_debt(BUDGET_SCALE * PACE_DOWN * 1.1, 200) == pytest.approx(floor, rel=1e-6)
    assert _pace_at_debt(100.0, 200) == pytest.approx(floor, rel=1e-6)


def test_pace_ceiling_rises_with_the_abandons_the_window_has_counted() -> None:
    """Without abandons a surplus leaves the pace at target; each abandon lifts its ceiling."""
    def budget(abandons: list[float]) -> AbandonBudget:
        return AbandonBudget(("24h", "30d"), np.array([1000.0, 3000.0]), np.array(abandons))
    target = SETTINGS.target_abandon_rate
    assert pace(budget([0.0, 0.0]), SETTINGS, 50) == pytest.approx(target)
    half = EVIDENCE_ABANDONS / 2
    assert pace(budget([half, 40.0]), SETTINGS, 50) == pytest.approx(target * np.exp(PACE_UP / 2))
    assert pace(budget([0.0, 40.0]), SETTINGS, 50) == pytest.approx(target)
    assert pace(budget([EVIDENCE_ABANDONS, 40.0]), SETTINGS, 50) == pytest.approx(
        target * np.exp(PACE_UP))
    assert pace(budget([18.0, 40.0]), SETTINGS, 50) < target


def test_decision_at_scale_is_well_formed(estimators_data: CampaignEstimators) -> None:
    rng = np.random.default_rng(13)
    fc = ModelForecaster(estimators_data, SETTINGS)
    snap = Snapshot(ready_agents=5, busy_elapsed=rng.uniform(0, 300, 170),
                    wrapup_elapsed=rng.uniform(0, 15, 25),
                    call_stage=rng.choice(3, 600, p=[0.85, 0.13, 0.02]).astype(np.int64),
                    call_elapsed=rng.uniform(0, 20, 600))
    f = fc.forecast(snap, 0.0)
    assert f.supply_pmf is None                        # many agents: normal path
    assert np.all(np.diff(f.supply_mean) >= -1e-9) and np.all(np.diff(f.demand_mean) >= -1e-9)
    assert f.supply_mean[-1] <= 200 and f.demand_mean[-1] <= 600
