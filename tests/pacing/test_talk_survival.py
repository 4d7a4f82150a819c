"""The talk-time survival curve: censored running talks, start-time forgetting, the prior."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pacing import DurationEstimator, InvalidSettings, TalkSurvival
from pacing.distributions import EDGES

NONE_RUNNING = np.zeros(0)


def median(cdf: np.ndarray) -> float:
    """The median of a CDF given at the grid edges."""
    return float(np.interp(0.5, cdf, EDGES))


def test_a_finished_sample_converges_to_its_distribution() -> None:
    rng = np.random.default_rng(1)
    est = TalkSurvival(median=30.0, sigma=1.0)   # a wrong prior
    talk = 100.0 * np.exp(0.5 * rng.standard_normal(20_000))
    start = np.cumsum(rng.exponential(2.0, talk.size))
    for chunk in np.array_split(np.arange(talk.size), 50):
        est.update(talk[chunk], start[chunk])
    cdf = est.cdf_at_edges(float(start[-1]), NONE_RUNNING)
    assert median(cdf) == pytest.approx(100.0, rel=0.05)
    assert float(np.interp(0.9, cdf, EDGES)) == pytest.approx(100.0 * math.exp(0.5 * 1.2816),
                                                              rel=0.06)
    assert est.count == 20_000


def test_cold_curve_follows_its_prior() -> None:
    est = TalkSurvival(median=12.0, sigma=0.5)
    assert median(est.cdf_at_edges(0.0, NONE_RUNNING)) == pytest.approx(12.0, rel=0.05)


def test_running_talks_keep_a_young_cohort_from_reading_short() -> None:
    """400 talks start at once; at t = 60 s the finished ones are the short ones."""
    rng = np.random.default_rng(2)
    talk = 60.0 * np.exp(0.8 * rng.standard_normal(400))
    now = 60.0
    done = talk <= now
    km = TalkSurvival(median=60.0, sigma=0.8, prior_weight=0.01)
    km.update(talk[done], np.zeros(int(done.sum())))
    finished_only = DurationEstimator(median=60.0, sigma=0.8, prior_weight=0.01)
    finished_only.update(talk[done])
    cdf = km.cdf_at_edges(now, np.full(int((~done).sum()), now))
    truth = np.mean(talk <= 45.0)
    assert float(np.interp(45.0, EDGES, cdf)) == pytest.approx(truth, abs=0.03)
    assert float(finished_only.cdf(45.0)) > truth + 0.25


def test_forgetting_follows_start_times_and_tracks_a_change() -> None:
    rng = np.random.default_rng(3)
    est = TalkSurvival(median=10.0, sigma=0.5, memory=500)
    old = 60.0 * np.exp(0.3 * rng.standard_normal(5000))
    new = 200.0 * np.exp(0.3 * rng.standard_normal(3000))
    start = np.cumsum(np.full(8000, 1.0))
    est.update(old, start[:5000])
    est.update(new, start[5000:])
    assert median(est.cdf_at_edges(float(start[-1]) + 200.0, NONE_RUNNING)) == \
        pytest.approx(200.0, rel=0.08)
    assert est.tau == pytest.approx(500.0, rel=0.05)   # memory x 1 s between starts


def test_nothing_is_forgotten_while_no_talk_starts() -> None:
    rng = np.random.default_rng(4)
    est = TalkSurvival(median=10.0, sigma=0.5, memory=200)
    est.update(60.0 * np.exp(0.3 * rng.standard_normal(3000)), np.arange(3000.0))
    evening = est.cdf_at_edges(3000.0, NONE_RUNNING)
    morning = est.cdf_at_edges(3000.0 + 12 * 3600.0, NONE_RUNNING)
    assert morning == pytest.approx(evening)
    assert median(morning) == pytest.approx(60.0, rel=0.06)


def test_tau_follows_the_volume() -> None:
    rng = np.random.default_rng(5)
    for gap in (0.1, 2.0):
        est = TalkSurvival(median=60.0, sigma=0.5, memory=1000)
        n = 4000
        est.update(60.0 * np.exp(0.5 * rng.standard_normal(n)), gap * np.arange(n))
        est.cdf_at_edges(gap * n, NONE_RUNNING)
        assert est.tau == pytest.approx(1000 * gap, rel=0.05)


def test_bad_values_are_ignored_and_bad_settings_refused() -> None:
    est = TalkSurvival(median=10.0, sigma=0.5)
    est.update(np.array([np.nan, -1.0, np.inf, 5.0]), np.array([0.0, 0.0, 0.0, np.nan]))
    assert est.count == 0 and est.version == 0
    with pytest.raises(InvalidSettings):
        TalkSurvival(median=10.0, sigma=0.5, memory=1.0)
    with pytest.raises(InvalidSettings):
        TalkSurvival(median=0.0, sigma=0.5)
