"""The predictive model: forecast answers and free agents, pick the number of calls.

On a grid t_1 < ... < t_K (step `horizon_step`, long enough for a new call to ring
out, pass AMD and reach its deadline) the model forecasts, cumulatively:

- supply S_k: agents free by t_k = ready agents + each talking agent's probability of
  finishing talk and wrap-up by t_k given its elapsed time (+ each wrap-up agent's), the
  talk times estimated from the finished talks and the running ones alike;
- demand D_k: live answers whose 2-second deadline falls by t_k, from the calls in
  flight given their stage and elapsed time, plus q_k per new call.

An answer is abandoned when no agent is free by its deadline. Matching answers to
agents in deadline order (optimal, and what FIFO does with equal patience) loses
L = max_k (D_k - S_k)^+ answers; the model uses E[L(n)] ~= max_k E[(D_k + N_k(n) -
S_k)^+], where N_k(n) counts the new calls' answers. With few agents (up to
`EXACT_AGENTS` talking or in wrap-up) it is computed exactly for S_k (Poisson-binomial)
with the random part of the demand taken as Poisson (a slight overestimate of its
spread, so on the safe side); with more, D_k - S_k is taken as normal, widened by the
uncertainty of the live-answer probability.

`choose_calls` returns the largest n such that, for every m <= n, the forecast rate
of the horizon keeps the pace: E[L(m)] <= pace * E[answers due in the horizon](m).
The pace is the target rate steered by the budget (an integral controller on the
abandons actually counted): pace = target * exp(clip((B - margin) / scale, -PACE_DOWN,
PACE_UP)), B = the smallest window budget at the target (`AbandonBudget.allowed`),
margin = z + RELATIVE_MARGIN * target * answers of that window, z the normal quantile
of `confidence`: abandons kept in hand so the window ends under the target. The
controller also absorbs the model's bias (max_k E[.] understates E[max_k .]). Early
in a window B is about 0, so the pace starts below the target (under half of it from
`SMALL_CAMPAIGN` agents up, two thirds of it at half as many) and opens up only as
answers accrue budget; after a burst of abandons it closes down fast.
The scale is `BUDGET_SCALE` abandons from `SMALL_CAMPAIGN` agents up and twice that at
half as many or fewer (`budget_scale`). A small campaign counts a few abandons an hour,
and at 2 each one cut its pace by 40 % for the quarter of an hour its answers took to
earn it back: the pace chased the noise of single abandons, and occupancy, concave in
the pace, paid for the swings. A large campaign needs the firmer hand: its model's bias
is larger, and under a looser one its first hours overshot into the legal-limit fallback.
The pace's ceiling rises with the abandons every window has counted: the target with
none, exp(PACE_UP) x target from `EVIDENCE_ABANDONS` on, log-linear in between. The
surplus a window saves while the campaign dials progressively (cold, or in the
legal-limit fallback) says nothing yet of the model's bias, and spent at once it came
back as a burst of abandons that tripped the fallback; a small campaign, though, counts
a few abandons a day, and its model (exact, and cautious at a handful of agents) needs
the pace above the target to use its budget.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pacing.distributions import EDGES, normal_cdf
from pacing.estimators import CampaignEstimators
from pacing.types import (
    AbandonBudget,
    CallStage,
    FloatArray,
    IntArray,
    Outcome,
    PacingSettings,
    Snapshot,
)

AMD_SPAN = 6.0   # seconds of AMD the forecast follows; longer is treated as this
EXACT_AGENTS = 32  # up to this many busy agents, the supply distribution is exact
BUDGET_SCALE = 2.0     # abandons of budget surplus (or debt) that move the pace by e
SMALL_CAMPAIGN = 20    # agents below which the scale widens, to 2 x at half as many
RELATIVE_MARGIN = 0.1  # share of a window's budget kept in hand, besides z abandons
PACE_UP = 2.0          # the pace never exceeds exp(PACE_UP) x target
PACE_DOWN = 2.5        # nor falls below exp(-PACE_DOWN) x target
EVIDENCE_ABANDONS = 10  # abandons each window counts before the pace may reach its ceiling
_RINGING, _AMD, _QUEUED = int(CallStage.RINGING), int(CallStage.AMD), int(CallStage.QUEUED)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Forecast:
    """Cumulative supply and demand on the horizon grid (arrays of length K)."""

    supply_mean: FloatArray
    supply_var: FloatArray
    demand_mean: FloatArray      # expected answers due, in-flight calls (queued included)
    demand_var: FloatArray
    new_due: FloatArray          # per new call: P(live answer with deadline by t_k)
    live_rel_var: float = 0.0    # Var(p) / p^2 of the live-answer probability
    trusted: bool = True         # enough evidence to use it
    supply_pmf: FloatArray | None = None   # (K, S): P(agents free by t_k = s), exact path
    demand_fixed: IntArray | None = None   # (K,): queued answers due by t_k (certain)
    ready_agents: int = 0                  # the certain part of the supply


@dataclass(frozen=True)
class Choice:
    """The outcome of `choose_calls`."""

    calls: int
    expected_abandons: float
    expected_answers: float


def horizon_steps(settings: PacingSettings) -> int:
    """Number of grid points K: ring timeout + AMD + patience, in steps."""
    span = settings.ring_timeout + AMD_SPAN + settings.patience
    return math.ceil(span / settings.horizon_step)


def expected_positive(mean: FloatArray, var: FloatArray) -> FloatArray:
    """E[X^+] for X ~ Normal(mean, var), vectorised (var may be 0)."""
    sd = np.sqrt(np.maximum(var, 1e-12))
    z = mean / sd
    return mean * normal_cdf(z) + sd * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def expected_abandons(fc: Forecast, n: np.ndarray) -> FloatArray:
    """E[L(n)] for each candidate n (1-d array), max over the grid."""
    if fc.supply_pmf is not None and fc.demand_fixed is not None:
        return _expected_abandons_exact(fc, n)
    q = fc.new_due[:, None]
    nn = n[None, :].astype(np.float64)
    new = nn * q
    mean = fc.demand_mean[:, None] + new - fc.supply_mean[:, None]
    var = (fc.demand_var[:, None] + fc.supply_var[:, None] + new * (1.0 - q)
           + new * new * fc.live_rel_var)
    result: FloatArray = expected_positive(mean, var).max(axis=0)
    return result


_LOG_FACT = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, 4096)))))


def _expected_abandons_exact(fc: Forecast, n: np.ndarray) -> FloatArray:
    """E[L(n)] with S_k exact and the random demand Poisson (see the module docstring)."""
    assert fc.supply_pmf is not None and fc.demand_fixed is not None
    pmf, fixed = fc.supply_pmf, fc.demand_fixed
    k, size = pmf.shape
    mu = (fc.demand_mean - fixed)[None, :] + n[:, None] * fc.new_due[None, :]   # (N, K)
    mu = np.maximum(mu, 0.0)
    top = float(mu.max())
    dmax = min(math.ceil(top + 7.0 * math.sqrt(top) + 8.0), _LOG_FACT.size - 1)
    d = np.arange(dmax + 1)
    logp = (d[None, None, :] * np.log(np.maximum(mu, 1e-300))[:, :, None]
            - mu[:, :, None] - _LOG_FACT[d][None, None, :])
    pd = np.exp(logp)                                                            # (N, K, D)
    # G_k(m) = E[(m - S_k)^+] = sum_{j < m} P(S_k <= j), for m = 0..M
    offset = fixed - fc.ready_agents   # certain demand minus certain supply
    m_top = max(1, dmax + int(offset.max()) + 1)
    cdf = np.cumsum(pmf, axis=1)
    if m_top > size:
        cdf = np.concatenate((cdf, np.ones((k, m_top - size))), axis=1)
    g = np.concatenate((np.zeros((k, 1)), np.cumsum(cdf[:, :m_top], axis=1)), axis=1)
    idx = np.clip(d[None, :] + offset[:, None], 0, m_top)   # G(m <= 0) = 0
    gk = np.take_along_axis(g, idx, axis=1)                                      # (K, D)
    result: FloatArray = (pd * gk[None, :, :]).sum(axis=2).max(axis=1)
    return result


def poisson_binomial(p: FloatArray) -> FloatArray:
    """Rows of P(sum = s) for independent Bernoulli columns: p (A, K) -> (K, A + 1).

    Through the characteristic function: the product over agents of (1 - p + p w) at
    the A + 1 roots of unity w, then an inverse FFT.
    """
    a = p.shape[0]
    w = np.exp(2j * np.pi * np.arange(a + 1) / (a + 1))
    phi = np.prod(1.0 - p[:, :, None] + p[:, :, None] * w[None, None, :], axis=0)
    pmf: FloatArray = np.clip(np.fft.fft(phi, axis=1).real / (a + 1), 0.0, 1.0)
    return pmf


def budget_scale(agents: int) -> float:
    """Abandons of surplus (or debt) that move the pace by e, for a campaign this size."""
    return BUDGET_SCALE * min(2.0, max(1.0, SMALL_CAMPAIGN / max(agents, 1)))


def pace(budget: AbandonBudget, settings: PacingSettings, agents: int) -> float:
    """The abandon rate to aim at now for `agents` agents: the target, steered by the budget."""
    if not budget.windows:
        return settings.target_abandon_rate
    allowed = budget.allowed(settings.target_abandon_rate)
    w = int(np.argmin(allowed))
    margin = (normal_quantile(settings.confidence)
              + RELATIVE_MARGIN * settings.target_abandon_rate * float(budget.answers[w]))
    x = (float(allowed[w]) - margin) / budget_scale(agents)
    up = PACE_UP * min(1.0, float(budget.abandons.min()) / EVIDENCE_ABANDONS)
    return settings.target_abandon_rate * math.exp(min(up, max(-PACE_DOWN, x)))


@functools.lru_cache(maxsize=64)
def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (bisection; cached per value)."""
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(normal_cdf(np.array(mid))) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def choose_calls(fc: Forecast, budget: AbandonBudget, settings: PacingSettings,
                 n_max: int, agents: int) -> Choice:
    """The largest n <= n_max whose every prefix keeps the pace of `agents` agents.

    On the exact path E[L(n)] is convex in n (a max of convex functions of the
    Poisson mean), so the feasible n form an interval from 0: gallop over 0, 1, 2,
    4, ... to the first infeasible point, then look at every n below it. (On the
    normal path the same holds in practice; a property test checks the consequence.)
    """
    rate = pace(budget, settings, agents)
    n_max = max(0, n_max)

    def feasible(n: np.ndarray) -> tuple[np.ndarray, FloatArray, FloatArray]:
        el = expected_abandons(fc, n)
        answers = fc.demand_mean[-1] + n * fc.new_due[-1]
        return el <= rate * answers + 1e-12, el, answers

    probe = np.unique(np.concatenate(([0], 2 ** np.arange(max(1, n_max).bit_length()),
                                      [n_max])))
    probe = probe[probe <= n_max]
    ok, el, answers = feasible(probe)
    bad = np.flatnonzero(~ok)
    if bad.size == 0:
        return Choice(n_max, float(el[-1]), float(answers[-1]))
    if bad[0] == 0:
        return Choice(0, float(el[0]), float(answers[0]))
    lo, hi = int(probe[bad[0] - 1]), int(probe[bad[0]])
    span = np.arange(lo, hi)
    ok, el, answers = feasible(span)
    bad = np.flatnonzero(~ok)
    i = int(bad[0]) - 1 if bad.size else span.size - 1
    return Choice(int(span[i]), float(el[i]), float(answers[i]))


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
        self.ring_bins = math.ceil(settings.ring_timeout / step) + 1
        self.amd_bins = math.ceil(AMD_SPAN / step) + 1
        self._cached: tuple[tuple[int, ...], float] | None = None
        self._ring_p = np.zeros((self.ring_bins, self.k))
        self._amd_p = np.zeros((self.amd_bins, self.k))
        self._new_due = np.zeros(self.k)
        self._live_rel_var = 0.0

    def forecast(self, snap: Snapshot, now: float) -> Forecast:
        """Supply and demand curves for this snapshot."""
        self._refresh(now)
        s = self.settings
        free = self.free_matrix(snap, now)
        supply_mean = snap.ready_agents + free.sum(axis=0)
        supply_var = (free * (1.0 - free)).sum(axis=0)
        stage = np.asarray(snap.call_stage)
        elapsed = np.asarray(snap.call_elapsed, dtype=np.float64)
        step = s.horizon_step

        ringing = elapsed[(stage == _RINGING) & (elapsed < s.ring_timeout)]
        rb = np.bincount(np.minimum((ringing / step).astype(np.int64), self.ring_bins - 1),
                         minlength=self.ring_bins).astype(np.float64)
        amd = elapsed[stage == _AMD]
        ab = np.bincount(np.minimum((amd / step).astype(np.int64), self.amd_bins - 1),
                         minlength=self.amd_bins).astype(np.float64)
        demand_mean = rb @ self._ring_p + ab @ self._amd_p
        demand_var = rb @ (self._ring_p * (1 - self._ring_p)) + ab @ (self._amd_p * (1 - self._amd_p))
        queued = elapsed[stage == _QUEUED]
        left = s.patience - queued
        left = left[left > 0]
        fixed = (left[:, None] <= self.t[None, :]).sum(axis=0).astype(np.int64)
        demand_mean = demand_mean + fixed
        # Until about one call per agent has finished, the finished calls are the short
        # ones (the long ones are still running): handle times would be read too short.
        trusted = self.estimators.trusted(s.min_outcomes, s.min_answers,
                                          max(s.min_handles, snap.agents))
        pmf = poisson_binomial(free) if len(free) <= EXACT_AGENTS else None
        return Forecast(supply_mean, supply_var, demand_mean, demand_var, self._new_due,
                        self._live_rel_var, trusted, pmf, fixed, snap.ready_agents)

    def free_matrix(self, snap: Snapshot, now: float) -> FloatArray:
        """P(agent free by t_k) per talking or wrap-up agent: (agents, K)."""
        return self.free_probabilities(snap, now)

    def free_probabilities(self, snap: Snapshot, now: float) -> FloatArray:
        """P(agent free by t_k) per talking or wrap-up agent: (agents, K).

        The talk-time curve counts the running talks too (censored at their elapsed time).
        """
        self._refresh(now)
        rows = []
        busy = np.asarray(snap.busy_elapsed, dtype=np.float64)
        if busy.size:
            talk_cdf = self.estimators.talk.cdf_at_edges(now, busy)
            f = np.interp(busy[:, None] + self.u[None, :], EDGES, talk_cdf)
            surv = 1.0 - f[:, :1]
            pmf = np.diff(f, axis=1) / np.maximum(surv, 1e-300)
            pmf[surv[:, 0] < 1e-6] = 0.0   # beyond anything seen: assume no supply
            rows.append(pmf @ self._wrap_m)
        wrap = np.asarray(snap.wrapup_elapsed, dtype=np.float64)
        if wrap.size:
            wcdf = self._wrap_cdf
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
        """Rebuild the cached curves when the estimates changed (at most every `refresh` s)."""
        version = self.estimators.version
        if self._cached is not None:
            seen, when = self._cached
            if seen == version or now - when < self.refresh:
                return
        self._cached = (version, now)
        self._build_call_matrices()
        self._wrap_cdf = self.estimators.wrapup.cdf_at_edges()
        self._wrap_m = self._wrap_matrix()

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
