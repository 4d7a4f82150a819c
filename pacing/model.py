"""The predictive model: forecast answers and free agents, pick the number of calls.

On a grid t_1 < ... < t_K (step `horizon_step`, long enough for a new call to ring
out, pass AMD and reach its deadline) the model forecasts, cumulatively:

- supply S_k: agents free by t_k = ready agents + each talking agent's probability of
  finishing talk and wrap-up by t_k given its elapsed time (+ each wrap-up agent's);
- demand D_k: live answers whose 2-second deadline falls by t_k, from the calls in
  flight given their stage and elapsed time, plus q_k per new call.

An answer is abandoned when no agent is free by its deadline. Matching answers to
agents in deadline order (optimal, and what FIFO does with equal patience) loses
L = max_k (D_k - S_k)^+ answers. With a normal approximation of D_k - S_k at each k,
E[L(n)] ~= max_k E[(D_k + N_k(n) - S_k)^+], where N_k(n) counts the new calls' answers
(binomial, widened by the uncertainty of the live-answer probability).

`choose_calls` returns the largest n such that, for every m <= n:
- pace: E[L(m)] <= target * E[answers due in the horizon](m);
- budget: P(L(m) > allowed) <= 1 - confidence in every window, L taken as Poisson
  with mean E[L(m)] and `allowed` the window's budget at the target rate counting the
  answers now expected.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pacing.estimators import EDGES, CampaignEstimators, normal_cdf
from pacing.types import AbandonBudget, CallStage, FloatArray, Outcome, PacingSettings, Snapshot

AMD_SPAN = 10.0   # seconds of AMD the forecast follows; longer is treated as this
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Forecast:
    """Cumulative supply and demand on the horizon grid (arrays of length K)."""

    supply_mean: FloatArray
    supply_var: FloatArray
    demand_mean: FloatArray
    demand_var: FloatArray
    new_due: FloatArray          # per new call: P(live answer with deadline by t_k)
    live_rel_var: float = 0.0    # Var(p) / p^2 of the live-answer probability
    trusted: bool = True         # enough evidence to use it


@dataclass(frozen=True)
class Choice:
    """The outcome of `choose_calls`."""

    calls: int
    expected_abandons: float
    expected_answers: float


def horizon_steps(settings: PacingSettings) -> int:
    """Number of grid points K: ring timeout + AMD + patience, in steps."""
    span = settings.ring_timeout + AMD_SPAN + settings.patience
    return int(math.ceil(span / settings.horizon_step))


def expected_positive(mean: FloatArray, var: FloatArray) -> FloatArray:
    """E[X^+] for X ~ Normal(mean, var), vectorised (var may be 0)."""
    sd = np.sqrt(np.maximum(var, 1e-12))
    z = mean / sd
    return mean * normal_cdf(z) + sd * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def expected_abandons(fc: Forecast, n: np.ndarray) -> FloatArray:
    """E[L(n)] for each candidate n (1-d array), max over the grid."""
    q = fc.new_due[:, None]
    nn = n[None, :].astype(np.float64)
    new = nn * q
    mean = fc.demand_mean[:, None] + new - fc.supply_mean[:, None]
    var = (fc.demand_var[:, None] + fc.supply_var[:, None] + new * (1.0 - q)
           + new * new * fc.live_rel_var)
    result: FloatArray = expected_positive(mean, var).max(axis=0)
    return result


@functools.lru_cache(maxsize=16)
def _poisson_lambda_table(confidence: float, size: int = 256) -> FloatArray:
    """lambda_max[j]: the largest Poisson mean with P(L <= j) >= confidence."""
    j = np.arange(size)
    lo = np.zeros(size)
    hi = np.full(size, float(size) * 2 + 10.0)
    logfact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, size)))))
    i = np.arange(size)
    mask = i[None, :] <= j[:, None]
    for _ in range(60):
        lam = 0.5 * (lo + hi)
        logp = -lam[:, None] + i[None, :] * np.log(lam[:, None]) - logfact[None, :]
        cdf = np.where(mask, np.exp(logp), 0.0).sum(axis=1)
        ok = cdf >= confidence
        lo = np.where(ok, lam, lo)
        hi = np.where(ok, hi, lam)
    return lo


def poisson_lambda_max(allowed: FloatArray, confidence: float) -> FloatArray:
    """Largest Poisson mean whose `confidence` quantile is <= `allowed` (-inf if < 0)."""
    allowed = np.asarray(allowed, dtype=np.float64)
    table = _poisson_lambda_table(confidence)
    j = np.floor(allowed)
    out = np.full(allowed.shape, -np.inf)
    small = (j >= 0) & (j < table.size)
    out[small] = table[j[small].astype(np.int64)]
    big = j >= table.size
    if np.any(big):
        z = float(np.interp(confidence, normal_cdf(np.linspace(-8, 8, 4001)),
                            np.linspace(-8, 8, 4001)))
        root = (-z + np.sqrt(z * z + 4.0 * (j[big] + 0.5))) / 2.0
        out[big] = root * root
    return out


def choose_calls(fc: Forecast, budget: AbandonBudget, settings: PacingSettings,
                 n_max: int) -> Choice:
    """The largest n <= n_max whose every prefix keeps the pace and the budget."""
    n = np.arange(max(0, n_max) + 1)
    el = expected_abandons(fc, n)
    answers = fc.demand_mean[-1] + n * fc.new_due[-1]
    ok = el <= settings.target_abandon_rate * answers + 1e-12
    if budget.windows:
        allowed = budget.allowed(settings.target_abandon_rate, answers[None, :].T)
        lam = poisson_lambda_max(allowed.min(axis=1), settings.confidence)
        ok &= el <= lam
    bad = np.flatnonzero(~ok)
    calls = int(bad[0]) - 1 if bad.size else int(n[-1])
    if calls < 0:
        return Choice(0, float(el[0]), float(answers[0]))
    return Choice(calls, float(el[calls]), float(answers[calls]))


class ModelForecaster:
    """Builds a `Forecast` from a snapshot and the campaign's estimators."""

    def __init__(self, estimators: CampaignEstimators, settings: PacingSettings, *,
                 refresh: float = 2.0) -> None:
        self.estimators = estimators
        self.settings = settings
        self.refresh = refresh
        self.k = horizon_steps(settings)
        step = settings.horizon_step
        self.t = step * np.arange(1, self.k + 1)          # the grid t_1..t_K
        self.u = step * np.arange(self.k + 1)             # offsets for pmfs
        self.ring_bins = int(math.ceil(settings.ring_timeout / step)) + 1
        self.amd_bins = int(math.ceil(AMD_SPAN / step)) + 1
        self._cached: tuple[tuple[int, ...], float] | None = None
        self._ring_p = np.zeros((self.ring_bins, self.k))
        self._amd_p = np.zeros((self.amd_bins, self.k))
        self._new_due = np.zeros(self.k)
        self._live_rel_var = 0.0

    def forecast(self, snap: Snapshot, now: float) -> Forecast:
        """Supply and demand curves for this snapshot."""
        self._refresh(now)
        s = self.settings
        supply_mean, supply_var = self.supply(snap)
        stage = np.asarray(snap.call_stage)
        elapsed = np.asarray(snap.call_elapsed, dtype=np.float64)
        step = s.horizon_step

        ringing = elapsed[(stage == CallStage.RINGING) & (elapsed < s.ring_timeout)]
        rb = np.bincount(np.minimum((ringing / step).astype(np.int64), self.ring_bins - 1),
                         minlength=self.ring_bins).astype(np.float64)
        amd = elapsed[stage == CallStage.AMD]
        ab = np.bincount(np.minimum((amd / step).astype(np.int64), self.amd_bins - 1),
                         minlength=self.amd_bins).astype(np.float64)
        demand_mean = rb @ self._ring_p + ab @ self._amd_p
        demand_var = rb @ (self._ring_p * (1 - self._ring_p)) + ab @ (self._amd_p * (1 - self._amd_p))
        queued = elapsed[stage == CallStage.QUEUED]
        left = s.patience - queued
        left = left[left > 0]
        if left.size:
            demand_mean = demand_mean + (left[:, None] <= self.t[None, :]).sum(axis=0)
        trusted = self.estimators.trusted(s.min_outcomes, s.min_answers, s.min_handles)
        return Forecast(supply_mean, supply_var, demand_mean, demand_var, self._new_due,
                        self._live_rel_var, trusted)

    def supply(self, snap: Snapshot) -> tuple[FloatArray, FloatArray]:
        """Cumulative agents free by each t_k: mean and variance."""
        p = self.free_probabilities(snap)
        mean = snap.ready_agents + p.sum(axis=0)
        var = (p * (1.0 - p)).sum(axis=0)
        return mean, var

    def free_probabilities(self, snap: Snapshot) -> FloatArray:
        """P(agent free by t_k) per talking or wrap-up agent: (agents, K)."""
        est = self.estimators
        rows = []
        busy = np.asarray(snap.busy_elapsed, dtype=np.float64)
        if busy.size:
            talk_cdf = est.talk.cdf_at_edges()
            f = np.interp(busy[:, None] + self.u[None, :], EDGES, talk_cdf)
            surv = 1.0 - f[:, :1]
            pmf = np.diff(f, axis=1) / np.maximum(surv, 1e-300)
            pmf[surv[:, 0] < 1e-6] = 0.0   # beyond anything seen: assume no supply
            rows.append(pmf @ self._wrap_matrix())
        wrap = np.asarray(snap.wrapup_elapsed, dtype=np.float64)
        if wrap.size:
            wcdf = est.wrapup.cdf_at_edges()
            f0 = np.interp(wrap, EDGES, wcdf)
            f = np.interp(wrap[:, None] + self.t[None, :], EDGES, wcdf)
            surv = np.maximum(1.0 - f0, 1e-300)[:, None]
            p = (f - f0[:, None]) / surv
            p[(1.0 - f0) < 1e-6] = 0.0
            rows.append(p)
        if not rows:
            return np.zeros((0, self.k))
        return np.clip(np.concatenate(rows), 0.0, 1.0)

    def _wrap_matrix(self) -> FloatArray:
        """W[j, k] = P(wrap-up <= t_k - mid_j): talk ends in bin j, then wrap-up."""
        mid = self.u[:-1] + 0.5 * self.settings.horizon_step
        x = self.t[None, :] - mid[:, None]
        w: FloatArray = np.where(x > 0, self.estimators.wrapup.cdf(np.maximum(x, 0.0)), 0.0)
        return w

    def _refresh(self, now: float) -> None:
        version = self.estimators.version
        if self._cached is not None:
            seen, when = self._cached
            if seen == version or now - when < self.refresh:
                return
        self._cached = (version, now)
        self._build_call_matrices()

    def _build_call_matrices(self) -> None:
        s = self.settings
        est = self.estimators
        step = s.horizon_step
        shares = est.outcomes.shares()
        p_h, p_m = shares[Outcome.HUMAN], shares[Outcome.MACHINE]
        live = est.outcomes.live()
        self._live_rel_var = live.variance / max(live.mean, 1e-9) ** 2

        # deadline after answer = AMD human time + patience; T[j, k] = P(<= t_k - mid_j)
        mid = self.u[:-1] + 0.5 * step
        x = self.t[None, :] - mid[:, None] - s.patience
        amd_h_cdf = est.amd_human.cdf_at_edges()
        tm = np.where(x > 0, np.interp(np.maximum(x, 0.0), EDGES, amd_h_cdf), 0.0)

        bins = (np.arange(self.ring_bins) + 0.5) * step
        rows = self._ring_rows(np.concatenate(([0.0], bins)), tm, shares)
        self._new_due = rows[0]
        self._ring_p = rows[1:]

        amd_m_cdf = est.amd_machine.cdf_at_edges()
        a = (np.arange(self.amd_bins) + 0.5) * step
        g0 = np.interp(a, EDGES, amd_h_cdf)
        sm = 1.0 - np.interp(a, EDGES, amd_m_cdf)
        sh = 1.0 - g0
        zh = p_h * sh + p_m * sm
        human_a = np.where(zh > 1e-12, p_h * sh / np.maximum(zh, 1e-300), 0.0)
        xa = a[:, None] + self.t[None, :] - s.patience
        g = np.where(self.t[None, :] >= s.patience,
                     np.interp(np.maximum(xa, 0.0), EDGES, amd_h_cdf), g0[:, None])
        cond = (g - g0[:, None]) / np.maximum(sh, 1e-300)[:, None]
        cond[sh < 1e-6] = 1.0   # past any AMD time seen: the verdict is due now
        cond = np.where(self.t[None, :] >= s.patience, cond, 0.0)
        self._amd_p = np.clip(human_a[:, None] * cond, 0.0, 1.0)

    def _ring_rows(self, e: FloatArray, tm: FloatArray, shares: FloatArray) -> FloatArray:
        """P(live answer with deadline by t_k) for a call ringing for `e` seconds."""
        s = self.settings
        est = self.estimators
        p_h, p_m = shares[Outcome.HUMAN], shares[Outcome.MACHINE]
        p_na = shares[Outcome.NO_ANSWER]
        p_rej = shares[Outcome.BUSY] + shares[Outcome.FAILED]
        ring_cdf = est.ring.cdf_at_edges()
        x = e[:, None] + self.u[None, :]
        f = np.interp(np.minimum(x, s.ring_timeout), EDGES, ring_cdf)  # no answer after timeout
        s_a = 1.0 - f[:, 0]
        pmf = np.diff(f, axis=1) / np.maximum(s_a, 1e-300)[:, None]
        s_r = 1.0 - np.interp(e, EDGES, est.reject.cdf_at_edges())
        z = (p_h + p_m) * s_a + p_na * (e < s.ring_timeout) + p_rej * s_r
        human = np.where(z > 1e-12, p_h * s_a / np.maximum(z, 1e-300), 0.0)
        rows: FloatArray = np.clip(human[:, None] * (pmf @ tm), 0.0, 1.0)
        return rows
