"""The decision: modes, fallbacks, caps, and the properties the issue asks for."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing import (
    CampaignEstimators,
    Mode,
    Pacer,
    PacingSettings,
    Reason,
    Snapshot,
    progressive_calls,
)
from tests.pacing.helpers import healthy_budget, make_snapshot, spent_budget

elapsed = st.lists(st.floats(min_value=0.0, max_value=600.0), max_size=30)
ringing = st.lists(st.floats(min_value=0.0, max_value=30.0), max_size=40)


def pacer(mode: Mode, est: CampaignEstimators, **kw: object) -> Pacer:
    return Pacer(PacingSettings(mode=mode, **kw), copy.deepcopy(est))  # type: ignore[arg-type]


def test_preview_never_dials(estimators_data: CampaignEstimators) -> None:
    d = pacer(Mode.PREVIEW, estimators_data).decide(make_snapshot(10, [], []), 0.0)
    assert (d.calls, d.reason) == (0, Reason.PREVIEW)


def test_progressive_fills_ready_agents(estimators_data: CampaignEstimators) -> None:
    d = pacer(Mode.PROGRESSIVE, estimators_data).decide(make_snapshot(5, [30.0], [1.0, 2.0]), 0)
    assert d.calls == 3


def test_power_keeps_lines_per_agent(estimators_data: CampaignEstimators) -> None:
    p = pacer(Mode.POWER, estimators_data, lines_per_agent=2.0)
    # 3 ready + 2 talking agents -> 10 lines; 2 talking + 4 ringing in use -> 4 more
    d = p.decide(make_snapshot(3, [10.0, 20.0], [1.0, 2.0, 3.0, 4.0]), 0.0)
    assert d.calls == 4


def test_predictive_dials_ahead_when_trusted(estimators_data: CampaignEstimators) -> None:
    snap = make_snapshot(4, [100.0] * 6, [])
    d = pacer(Mode.PREDICTIVE, estimators_data).decide(snap, 0.0)
    assert d.reason is Reason.PREDICTIVE
    assert d.calls > progressive_calls(snap)


def test_cold_campaign_is_progressive() -> None:
    d = pacer(Mode.PREDICTIVE, CampaignEstimators()).decide(make_snapshot(4, [100.0], []), 0.0)
    assert (d.calls, d.mode, d.reason) == (4, Mode.PROGRESSIVE, Reason.COLD_START)


def test_spent_budget_falls_back_to_progressive(estimators_data: CampaignEstimators) -> None:
    snap = make_snapshot(4, [100.0] * 6, [], budget=spent_budget())
    for mode in (Mode.PREDICTIVE, Mode.POWER):
        d = pacer(mode, estimators_data).decide(snap, 0.0)
        assert (d.calls, d.mode, d.reason) == (4, Mode.PROGRESSIVE, Reason.BUDGET_SPENT)


def test_caps_bind_every_mode(estimators_data: CampaignEstimators) -> None:
    snap = make_snapshot(20, [], [])
    for mode in (Mode.PROGRESSIVE, Mode.POWER, Mode.PREDICTIVE):
        d = pacer(mode, estimators_data, max_lines=7).decide(snap, 0.0)
        assert d.calls == 7 and d.reason is Reason.LINE_CAP
    d = pacer(Mode.PREDICTIVE, estimators_data, max_lines_per_agent=1.5).decide(
        make_snapshot(2, [5.0] * 4, []), 0.0)
    assert d.calls <= 9 - 4


@settings(max_examples=40, deadline=None)
@given(ready=st.integers(0, 15), busy=elapsed, calls=ringing,
       mode=st.sampled_from([Mode.PROGRESSIVE, Mode.POWER, Mode.PREDICTIVE]),
       spent=st.booleans())
def test_more_ready_agents_never_fewer_calls(estimators_data: CampaignEstimators, ready: int,
                                             busy: list[float], calls: list[float],
                                             mode: Mode, spent: bool) -> None:
    budget = spent_budget() if spent else healthy_budget()
    p = pacer(mode, estimators_data)
    fewer = p.decide(make_snapshot(ready, busy, calls, budget), 50.0).calls
    more = p.decide(make_snapshot(ready + 1, busy, calls, budget), 50.0).calls
    assert more >= fewer


@settings(max_examples=40, deadline=None)
@given(ready=st.integers(0, 15), busy=elapsed, calls=ringing)
def test_predictive_with_spent_budget_never_exceeds_progressive(
        estimators_data: CampaignEstimators, ready: int, busy: list[float],
        calls: list[float]) -> None:
    snap = make_snapshot(ready, busy, calls, spent_budget())
    d = pacer(Mode.PREDICTIVE, estimators_data).decide(snap, 0.0)
    assert d.calls <= progressive_calls(snap)


@settings(max_examples=40, deadline=None)
@given(ready=st.integers(0, 15), busy=elapsed, calls=ringing)
def test_progressive_never_exceeds_ready_agents(
        estimators_data: CampaignEstimators, ready: int, busy: list[float],
        calls: list[float]) -> None:
    snap = make_snapshot(ready, busy, calls)
    d = pacer(Mode.PROGRESSIVE, estimators_data).decide(snap, 0.0)
    assert d.calls + snap.in_flight <= max(ready, snap.in_flight)
    assert d.calls <= ready


def test_snapshot_rejects_mismatched_calls() -> None:
    import pytest

    from pacing import InvalidSnapshot
    with pytest.raises(InvalidSnapshot):
        Snapshot(ready_agents=1, call_stage=np.zeros(2, dtype=np.int64),
                 call_elapsed=np.zeros(1))


@settings(max_examples=25, deadline=None)
@given(ready=st.integers(0, 30),
       busy=st.lists(st.floats(min_value=0.0, max_value=900.0), min_size=33, max_size=90),
       calls=st.lists(st.floats(min_value=0.0, max_value=30.0), max_size=200))
def test_more_ready_agents_never_fewer_calls_at_scale(
        estimators_data: CampaignEstimators, ready: int, busy: list[float],
        calls: list[float]) -> None:
    """The same property on the normal-approximation path (many busy agents)."""
    p = pacer(Mode.PREDICTIVE, estimators_data)
    fewer = p.decide(make_snapshot(ready, busy, calls), 50.0).calls
    more = p.decide(make_snapshot(ready + 1, busy, calls), 50.0).calls
    assert more >= fewer
