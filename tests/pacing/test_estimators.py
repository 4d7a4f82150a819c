"""Estimators converge on synthetic data and forget old data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pacing import (
    CallOutcomes,
    CampaignEstimators,
    DurationEstimator,
    InvalidSettings,
    Outcome,
    OutcomeMix,
)


def test_duration_converges_to_lognormal() -> None:
    rng = np.random.default_rng(1)
    est = DurationEstimator(median=30.0, sigma=1.0)   # a wrong prior
    data = 100.0 * np.exp(0.5 * rng.standard_normal(20_000))
    for chunk in np.array_split(data, 50):
        est.update(chunk)
    assert est.quantile(0.5) == pytest.approx(100.0, rel=0.05)
    assert est.quantile(0.9) == pytest.approx(100.0 * math.exp(0.5 * 1.2816), rel=0.06)
    assert est.mean() == pytest.approx(100.0 * math.exp(0.125), rel=0.05)
    assert est.count == 20_000


def test_cold_duration_follows_its_prior() -> None:
    est = DurationEstimator(median=12.0, sigma=0.5)
    assert est.quantile(0.5) == pytest.approx(12.0, rel=0.05)
    assert float(est.cdf(12.0)) == pytest.approx(0.5, abs=0.03)


def test_forgetting_tracks_a_change() -> None:
    rng = np.random.default_rng(2)
    est = DurationEstimator(median=10.0, sigma=0.5, memory=500)
    est.update(60.0 * np.exp(0.3 * rng.standard_normal(5000)))
    est.update(200.0 * np.exp(0.3 * rng.standard_normal(3000)))
    assert est.quantile(0.5) == pytest.approx(200.0, rel=0.08)


def test_bad_values_are_ignored() -> None:
    est = DurationEstimator(median=10.0, sigma=0.5)
    est.update(np.array([np.nan, -1.0, np.inf]))
    assert est.count == 0 and est.version == 0


def test_outcome_shares_and_live_posterior_converge() -> None:
    rng = np.random.default_rng(3)
    truth = np.array([0.15, 0.25, 0.4, 0.1, 0.1])
    mix = OutcomeMix(np.full(5, 2.0), memory=math.inf)
    mix.update(rng.choice(5, size=40_000, p=truth))
    assert mix.shares() == pytest.approx(truth, abs=0.01)
    live = mix.live()
    assert live.mean == pytest.approx(0.15, abs=0.01)
    assert live.variance < 1e-5
    assert live.alpha + live.beta == pytest.approx(40_010, rel=1e-9)


def test_campaign_estimators_split_by_outcome() -> None:
    est = CampaignEstimators()
    n = 3000
    outcomes = np.array([Outcome.HUMAN, Outcome.MACHINE, Outcome.BUSY] * (n // 3))
    ring = np.where(outcomes == Outcome.BUSY, 2.0, 9.0)
    amd = np.where(outcomes == Outcome.HUMAN, 1.5, np.where(outcomes == Outcome.MACHINE,
                                                             4.0, np.nan))
    abandoned = (np.arange(n) % 30 == 0) & (outcomes == Outcome.HUMAN)
    est.record_calls(CallOutcomes(outcomes, ring, amd, abandoned))
    assert est.ring.quantile(0.5) == pytest.approx(9.0, rel=0.06)
    assert est.reject.quantile(0.5) == pytest.approx(2.0, rel=0.06)
    assert est.amd_human.quantile(0.5) == pytest.approx(1.5, rel=0.06)
    assert est.amd_machine.quantile(0.5) == pytest.approx(4.0, rel=0.06)
    assert est.answers == 1000 and est.abandons == int(abandoned.sum())
    assert not est.trusted(60, 10, 10)   # no handle times yet


def test_invalid_memory_is_refused() -> None:
    with pytest.raises(InvalidSettings):
        DurationEstimator(median=1.0, sigma=0.5, memory=1.0)
