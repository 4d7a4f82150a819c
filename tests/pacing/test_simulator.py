"""The simulator: determinism per seed, the mechanics, the report."""

from __future__ import annotations

import numpy as np
import pytest

from pacing import (
    AgentShift,
    CallOutcomes,
    CustomerModel,
    Decision,
    HandleTimes,
    Lognormal,
    Mode,
    Pacer,
    PacingSettings,
    SimulationConfig,
    Snapshot,
    simulate,
)

CUST = CustomerModel(talk=Lognormal.from_mean(50.0, 0.6))


def config(agents: int = 5, hours: float = 0.5) -> SimulationConfig:
    return SimulationConfig.steady(CUST, agents, hours)


def test_same_seed_same_run_other_seed_other_run() -> None:
    a = simulate(config(), Pacer(PacingSettings()), seed=4)
    b = simulate(config(), Pacer(PacingSettings()), seed=4)
    c = simulate(config(), Pacer(PacingSettings()), seed=5)
    assert (a.dials, a.answers, a.abandons, a.occupancy) == (b.dials, b.answers, b.abandons,
                                                              b.occupancy)
    np.testing.assert_array_equal(a.series_occupancy, b.series_occupancy)
    assert (a.dials, a.occupancy) != (c.dials, c.occupancy)


def test_progressive_never_abandons() -> None:
    r = simulate(config(), Pacer(PacingSettings(mode=Mode.PROGRESSIVE)), seed=1)
    assert r.answers > 20 and r.abandons == 0
    assert r.max_lines <= 5


def test_preview_dials_nothing() -> None:
    r = simulate(config(), Pacer(PacingSettings(mode=Mode.PREVIEW)), seed=1)
    assert r.dials == 0 and r.occupancy == 0.0 and r.agent_hours == pytest.approx(2.5)


def test_power_overdials_and_abandons() -> None:
    r = simulate(config(hours=1.0), Pacer(PacingSettings(mode=Mode.POWER,
                                                         lines_per_agent=3.0,
                                                         abandon_limit=0.5,
                                                         target_abandon_rate=0.02)), seed=1)
    assert r.abandons > 0
    assert r.window_rates["24h"] == pytest.approx(r.abandon_rate, abs=0.02)


def test_predictive_beats_progressive_within_target() -> None:
    cfg = config(agents=10, hours=2.0)
    prog = simulate(cfg, Pacer(PacingSettings(mode=Mode.PROGRESSIVE)), seed=2)
    pred = simulate(cfg, Pacer(PacingSettings()), seed=2)
    assert pred.occupancy > prog.occupancy + 0.05
    assert pred.abandon_rate <= 0.03


def test_agents_log_in_and_out() -> None:
    shifts = (AgentShift(0.0, 1800.0), AgentShift(900.0, 3600.0))
    cfg = SimulationConfig(CUST, shifts, 3600.0)
    r = simulate(cfg, Pacer(PacingSettings(mode=Mode.PROGRESSIVE)), seed=3)
    assert r.agent_hours == pytest.approx(1.25, abs=0.05)   # a busy agent finishes first
    assert 0 < r.occupancy < 1


class Recorder:
    """Our pacer, noting when each batch of handle times arrives (the tick after the decide)."""

    def __init__(self) -> None:
        self.pacer = Pacer(PacingSettings())
        self.now = 0.0
        self.rows: list[tuple[float, float, float, float]] = []   # at, talk, wrap-up, start

    def decide(self, snap: Snapshot, now: float) -> Decision:
        self.now = now
        return self.pacer.decide(snap, now)

    def observe_calls(self, calls: CallOutcomes) -> None:
        self.pacer.observe_calls(calls)

    def observe_handles(self, handles: HandleTimes) -> None:
        at = self.now + 1.0   # reports come at a tick, before its decide
        self.rows += [(at, t, w, s) for t, w, s in zip(handles.talk_seconds,
                      handles.wrapup_seconds, handles.talk_started, strict=True)]
        self.pacer.observe_handles(handles)


def test_talks_are_reported_as_they_end_and_wrap_ups_as_they_end() -> None:
    rec = Recorder()
    simulate(config(agents=10, hours=1.0), rec, seed=3)
    rows = np.array(rec.rows)
    talks = rows[np.isfinite(rows[:, 1])]
    wraps = rows[np.isfinite(rows[:, 2])]
    assert len(talks) > 200 and len(wraps) >= len(talks) - 10
    lag = talks[:, 0] - (talks[:, 3] + talks[:, 1])
    assert lag.min() >= -1e-9 and lag.max() <= 1.0 + 1e-9   # by the first tick after the end
    np.testing.assert_array_equal(np.isnan(wraps[:, 3]), np.isnan(wraps[:, 1]))   # no talk, no start
