"""Talk time as a survival curve, from the finished talks and the running ones alike.

Finished talks alone read talk times short while many talks still run: at a cold start
the first talks to finish are the short ones. Here each talk counts once, a finished one
as an event at its length and a running one as censored at its elapsed time, and the
curve is the Kaplan-Meier estimate on the shared duration grid. Forgetting goes by start
time, so a cohort of talks counts whole whether its talks have finished or not: a talk
that began `age` seconds before the latest talk began weighs exp(-age / tau), with tau
the time in which `memory` talks begin. Tau follows the volume, as the
per-observation forgetting of the other estimators does, and nothing is forgotten while
no talk starts (overnight, say). A lognormal prior worth a few talks carries a cold start.
"""

from __future__ import annotations

import math

import numpy as np

from pacing.distributions import EDGES, GRID_BINS, lognormal_cdf
from pacing.errors import InvalidSettings
from pacing.types import FloatArray

KEEP = 5.0               # finished talks kept: KEEP x memory (older ones weigh < e^-KEEP)
KEEP_UNBOUNDED = 200_000  # finished talks kept without forgetting


class TalkSurvival:
    """Kaplan-Meier talk-time distribution with start-time forgetting and a prior."""

    def __init__(self, median: float, sigma: float, *, prior_weight: float = 5.0,
                 memory: float = 2000.0) -> None:
        if not (median > 0 and sigma > 0 and prior_weight > 0):
            raise InvalidSettings("lognormal prior", (median, sigma, prior_weight))
        if not memory > 1.0:
            raise InvalidSettings("memory", memory)
        prior_cdf = lognormal_cdf(EDGES, median, sigma)
        prior_cdf[-1] = 1.0  # the last bin takes the tail
        self._prior = np.diff(prior_cdf) * prior_weight
        self.memory = memory
        cap = int(KEEP * memory) if math.isfinite(memory) else KEEP_UNBOUNDED
        self._start = np.zeros(cap)
        self._bin = np.zeros(cap, dtype=np.int64)
        self._size = 0          # filled slots
        self._next = 0          # the slot the next talk overwrites
        self._events: FloatArray = np.zeros(GRID_BINS)   # finished talks' weights at _ref
        self._ref = -math.inf   # the latest start among the finished talks
        self._tau = math.inf
        self._built = -1        # the version _events was built for
        self.count = 0          # finished talks ever seen
        self.version = 0        # bumps on every update, for caches

    def update(self, talk_seconds: FloatArray, started_at: FloatArray) -> None:
        """Add finished talks: their lengths and when each began (nan and negatives ignored)."""
        talk = np.atleast_1d(np.asarray(talk_seconds, dtype=np.float64))
        start = np.atleast_1d(np.asarray(started_at, dtype=np.float64))
        ok = np.isfinite(talk) & (talk >= 0) & np.isfinite(start)
        talk, start = talk[ok], start[ok]
        cap = self._start.size
        if talk.size > cap:
            talk, start = talk[-cap:], start[-cap:]
        if talk.size == 0:
            return
        slots = (self._next + np.arange(talk.size)) % cap
        self._start[slots] = start
        self._bin[slots] = np.clip(np.searchsorted(EDGES, talk, side="right") - 1,
                                   0, GRID_BINS - 1)
        self._next = int(slots[-1] + 1) % cap
        self._size = min(cap, self._size + talk.size)
        self.count += int(talk.size)
        self.version += 1

    @property
    def tau(self) -> float:
        """Seconds of start time over which a talk's weight falls by e (as last built)."""
        return self._tau

    def cdf_at_edges(self, now: float, running: FloatArray) -> FloatArray:
        """The CDF at every grid edge, given the elapsed times of the talks running now."""
        if self._built != self.version:
            self._build()
        run = np.asarray(running, dtype=np.float64)
        run = run[np.isfinite(run) & (run >= 0)]
        latest = max(self._ref, now - float(run.min())) if run.size else self._ref
        finite = math.isfinite(self._tau)
        scale = math.exp(-(latest - self._ref) / self._tau) if finite and self._size else 1.0
        deaths = self._prior + scale * self._events
        censored = np.zeros(GRID_BINS)
        if run.size:
            idx = np.clip(np.searchsorted(EDGES, run, side="right") - 1, 0, GRID_BINS - 1)
            age = np.maximum(latest - (now - run), 0.0)
            w = np.exp(-age / self._tau) if finite else np.ones(run.size)
            censored = np.bincount(idx, weights=w, minlength=GRID_BINS).astype(np.float64)
        # life-table convention: a talk censored within a bin is at risk for half of it
        at_risk = np.cumsum((deaths + censored)[::-1])[::-1] - 0.5 * censored
        hazard = np.divide(deaths, at_risk, out=np.zeros(GRID_BINS), where=at_risk > 0)
        cdf: FloatArray = np.concatenate(([0.0], 1.0 - np.cumprod(1.0 - hazard)))
        cdf[-1] = 1.0  # the last bin takes the tail
        return cdf

    def _build(self) -> None:
        """Weigh the kept finished talks by start time, as of the latest of them."""
        n = self._size
        start, bins = self._start[:n], self._bin[:n]
        self._tau = self._time_constant(start)
        self._ref = float(start.max()) if n else -math.inf
        w = np.exp((start - self._ref) / self._tau) if math.isfinite(self._tau) else np.ones(n)
        self._events = np.bincount(bins, weights=w, minlength=GRID_BINS).astype(np.float64)
        self._built = self.version

    def _time_constant(self, start: FloatArray) -> float:
        """Memory x the mean interval between the starts of the kept talks (inf if unknown)."""
        if not math.isfinite(self.memory) or start.size < 2:
            return math.inf
        span = float(start.max() - start.min())
        if span <= 0:
            return math.inf
        return self.memory * span / (start.size - 1)
