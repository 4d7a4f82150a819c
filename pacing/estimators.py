"""Online, vectorised estimators of what the model needs to know about a campaign.

- `DurationEstimator`: an empirical distribution of a duration (ring time, AMD time,
  wrap-up) on a log-spaced grid, with exponential forgetting; a lognormal prior
  worth a few observations carries a cold start.
- `TalkSurvival` (in `pacing.talk_survival`): talk time, from finished and running talks.
- `OutcomeMix`: shares of the call outcomes (human, machine, no answer, busy, failed) as
  a Dirichlet posterior with forgetting; its human share is a Beta posterior.
- `CampaignEstimators`: all of the above for one campaign, fed with `CallOutcomes` and
  `HandleTimes` batches by the engine or the simulator.

Forgetting is per observation: with `memory=m`, each new observation multiplies the
weight of all earlier ones by `1 - 1/m`, so the estimate tracks about the last m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pacing.distributions import EDGES, GRID_BINS, lognormal_cdf
from pacing.errors import InvalidSettings
from pacing.talk_survival import TalkSurvival
from pacing.types import N_OUTCOMES, CallOutcomes, FloatArray, HandleTimes, IntArray, Outcome


def _decay(memory: float) -> float:
    if not memory > 1.0:
        raise InvalidSettings("memory", memory)
    return 1.0 - 1.0 / memory if math.isfinite(memory) else 1.0


class DurationEstimator:
    """Empirical distribution of a duration with forgetting and a lognormal prior."""

    def __init__(self, median: float, sigma: float, *, prior_weight: float = 5.0,
                 memory: float = 2000.0) -> None:
        if not (median > 0 and sigma > 0 and prior_weight > 0):
            raise InvalidSettings("lognormal prior", (median, sigma, prior_weight))
        self._decay = _decay(memory)
        prior_cdf = lognormal_cdf(EDGES, median, sigma)
        prior_cdf[-1] = 1.0  # the last bin takes the tail
        self._prior = np.diff(prior_cdf) * prior_weight
        self._data = np.zeros(GRID_BINS, dtype=np.float64)
        self.count = 0          # observations ever seen (not decayed)
        self.version = 0        # bumps on every update, for caches

    def update(self, values: FloatArray | float) -> None:
        """Add observations (seconds); nan and negative values are ignored."""
        v = np.atleast_1d(np.asarray(values, dtype=np.float64))
        v = v[np.isfinite(v) & (v >= 0)]
        if v.size == 0:
            return
        idx = np.clip(np.searchsorted(EDGES, v, side="right") - 1, 0, GRID_BINS - 1)
        self._data *= self._decay ** v.size
        self._data += np.bincount(idx, minlength=GRID_BINS)
        self.count += int(v.size)
        self.version += 1

    def weights(self) -> FloatArray:
        """Weight per grid bin: prior pseudo-counts plus decayed data."""
        return self._prior + self._data

    def cdf_at_edges(self) -> FloatArray:
        """The CDF at every grid edge (piecewise linear between them)."""
        c = np.concatenate(([0.0], np.cumsum(self.weights())))
        out: FloatArray = c / c[-1]
        return out

    def cdf(self, x: FloatArray | float) -> FloatArray:
        """P(duration <= x), vectorised."""
        return np.asarray(np.interp(x, EDGES, self.cdf_at_edges()), dtype=np.float64)

    def mean(self) -> float:
        """The mean of the distribution (bin midpoints)."""
        w = self.weights()
        mids = 0.5 * (EDGES[:-1] + EDGES[1:])
        return float(np.dot(w, mids) / w.sum())

    def quantile(self, q: float) -> float:
        """The q-quantile (linear within a bin)."""
        return float(np.interp(q, self.cdf_at_edges(), EDGES))


@dataclass(frozen=True)
class BetaPosterior:
    """A Beta(alpha, beta) posterior of a probability."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        """Posterior mean."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        """Posterior variance."""
        s = self.alpha + self.beta
        return self.alpha * self.beta / (s * s * (s + 1.0))



class OutcomeMix:
    """Shares of call outcomes: a Dirichlet posterior with forgetting."""

    def __init__(self, prior: FloatArray, *, memory: float = 3000.0) -> None:
        prior = np.asarray(prior, dtype=np.float64)
        if prior.shape != (N_OUTCOMES,) or np.any(prior <= 0):
            raise InvalidSettings("outcome prior", prior)
        self._decay = _decay(memory)
        self._prior = prior
        self._data = np.zeros(N_OUTCOMES, dtype=np.float64)
        self.count = 0
        self.version = 0

    def update(self, outcomes: IntArray | int) -> None:
        """Add observed outcomes (`Outcome` values)."""
        o = np.atleast_1d(np.asarray(outcomes, dtype=np.int64))
        if o.size == 0:
            return
        self._data *= self._decay ** o.size
        self._data += np.bincount(o, minlength=N_OUTCOMES)
        self.count += int(o.size)
        self.version += 1

    def counts(self) -> FloatArray:
        """Dirichlet parameters: prior plus decayed counts."""
        out: FloatArray = self._prior + self._data
        return out

    def shares(self) -> FloatArray:
        """Posterior mean share of each outcome (indexed by `Outcome`)."""
        c = self.counts()
        out: FloatArray = c / c.sum()
        return out

    def share(self, outcome: Outcome) -> float:
        """Posterior mean share of one outcome."""
        return float(self.shares()[outcome])

    def live(self) -> BetaPosterior:
        """The Beta posterior of the live-answer (HUMAN) probability."""
        c = self.counts()
        return BetaPosterior(float(c[Outcome.HUMAN]), float(c.sum() - c[Outcome.HUMAN]))


@dataclass(frozen=True)
class EstimatorPriors:
    """Cold-start beliefs: lognormal (median, log-sd) per duration, outcome shares."""

    ring: tuple[float, float] = (8.0, 0.45)
    reject: tuple[float, float] = (3.0, 0.6)
    amd_human: tuple[float, float] = (2.0, 0.35)
    amd_machine: tuple[float, float] = (3.5, 0.35)
    talk: tuple[float, float] = (90.0, 0.8)
    wrapup: tuple[float, float] = (10.0, 0.6)
    outcome_shares: tuple[float, float, float, float, float] = (0.2, 0.2, 0.45, 0.1, 0.05)
    outcome_weight: float = 10.0
    duration_weight: float = 5.0


class CampaignEstimators:
    """Every estimator of one campaign, fed with call and handle reports."""

    def __init__(self, priors: EstimatorPriors | None = None, *,
                 memory: float = 2000.0) -> None:
        p = priors or EstimatorPriors()
        w = p.duration_weight

        def dur(prior: tuple[float, float]) -> DurationEstimator:
            return DurationEstimator(prior[0], prior[1], prior_weight=w, memory=memory)

        self.outcomes = OutcomeMix(np.asarray(p.outcome_shares) * p.outcome_weight,
                                   memory=memory)
        self.ring = dur(p.ring)            # origination -> answer (answered calls)
        self.reject = dur(p.reject)        # origination -> busy / failed
        self.amd_human = dur(p.amd_human)  # answer -> HUMAN verdict
        self.amd_machine = dur(p.amd_machine)
        self.talk = TalkSurvival(p.talk[0], p.talk[1], prior_weight=w, memory=memory)
        self.wrapup = dur(p.wrapup)
        self.answers = 0                   # HUMAN outcomes seen
        self.abandons = 0

    @property
    def version(self) -> tuple[int, ...]:
        """Changes whenever any estimate changes (for caches)."""
        return (self.outcomes.version, self.ring.version, self.reject.version,
                self.amd_human.version, self.amd_machine.version, self.talk.version,
                self.wrapup.version)

    def record_calls(self, calls: CallOutcomes) -> None:
        """Feed calls whose pre-agent part ended."""
        outcomes = np.asarray(calls.outcome, dtype=np.int64)
        if outcomes.size == 0:
            return
        ring = np.asarray(calls.ring_seconds, dtype=np.float64)
        amd = np.asarray(calls.amd_seconds, dtype=np.float64)
        self.outcomes.update(outcomes)
        human = outcomes == Outcome.HUMAN
        machine = outcomes == Outcome.MACHINE
        self.ring.update(ring[human | machine])
        self.reject.update(ring[(outcomes == Outcome.BUSY) | (outcomes == Outcome.FAILED)])
        self.amd_human.update(amd[human])
        self.amd_machine.update(amd[machine])
        self.answers += int(human.sum())
        self.abandons += int(np.asarray(calls.abandoned, dtype=bool)[human].sum())

    def record_handles(self, handles: HandleTimes) -> None:
        """Feed talks and wrap-ups that ended."""
        self.talk.update(handles.talk_seconds, handles.talk_started)
        self.wrapup.update(handles.wrapup_seconds)

    def trusted(self, min_outcomes: int, min_answers: int, min_handles: int) -> bool:
        """True once there is enough evidence to pace predictively."""
        return (self.outcomes.count >= min_outcomes and self.answers >= min_answers
                and self.talk.count >= min_handles)
