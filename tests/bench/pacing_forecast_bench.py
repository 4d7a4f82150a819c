"""Pacing forecast benchmark: the model's expected abandons against the simulator's truth.

At sampled predictive decisions of a simulated run (our pacer, the pacing bench's customer
mix), the model's forecast for the calls in flight plus the n new ones it chose is set
against what the simulator's pre-drawn fates make of them:

- D_k, live answers whose deadline falls by t_k, and S_k, agents free by t_k: z-scores of
  the realised values under the forecast's mean and sd (a calibrated forecast gives
  mean 0, sd 1 at every grid point; the table shows the last point, and the worst |mean|);
- the loss: the model's E[L(n)] against the realised max_k (D_k - S_k)^+, the answers no
  agent can reach in time when answers and agents are matched in deadline order (what the
  simulator does; calls dialled later hardly change it).

The baseline is the realised loss of the same decisions in the same run; the ratio
realised / forecast is the model's bias on the loss (1.0 = unbiased). The first half hour
of each run (cold start) is left out; `--warmup 150 --hours 0.5` looks at the cold start
instead (minutes 2.5-30).

Usage: python tests/bench/pacing_forecast_bench.py [--quick] [--hours H] [--every K]
                                                   [--warmup SECONDS]
The last line is `BENCH pacing_forecast key=value ...`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field

# The model's numpy products are small: BLAS worker threads only contend with whatever
# else runs (see pacing_bench.py). Set before numpy loads.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import numpy as np
from pacing_bench import customers

from pacing import (
    CallFates,
    CallOutcomes,
    CallStage,
    CustomerModel,
    Decision,
    HandleTimes,
    Mode,
    Outcome,
    Pacer,
    PacingPolicy,
    PacingSettings,
    Simulation,
    SimulationConfig,
    Snapshot,
    expected_abandons,
)

WARMUP = 1800.0
BATCHES = 10   # consecutive batches of samples, for the ratio's interval (batch means)
QUICK_CELLS = ((20, 0.1, 60.0, 2.5), (200, 0.2, 60.0, 1.0))   # N, p, AHT, hours
FULL_CELLS = ((5, 0.2, 60.0, 4.0), (10, 0.2, 120.0, 4.0), (20, 0.1, 60.0, 4.0),
              (50, 0.2, 60.0, 3.0), (100, 0.2, 300.0, 3.0), (200, 0.2, 60.0, 3.0))


@dataclass
class Sample:
    """One decision: when, the snapshot, and the forecast for the n calls it started."""

    now: float
    snap: Snapshot
    d_mean: np.ndarray
    d_sd: np.ndarray
    s_mean: np.ndarray
    s_sd: np.ndarray
    loss: float


@dataclass
class Watcher:
    """Our pacer, recording every `every`-th predictive decision after the warm-up."""

    pacer: Pacer
    every: int
    warmup: float = WARMUP
    samples: list[Sample] = field(default_factory=list)
    seen: int = 0

    def decide(self, snap: Snapshot, now: float) -> Decision:
        """Decide as the pacer does; record the forecast behind a sampled decision."""
        d = self.pacer.decide(snap, now)
        if d.mode is not Mode.PREDICTIVE or now < self.warmup:
            return d
        self.seen += 1
        if self.seen % self.every == 0:
            self.samples.append(forecast_sample(self.pacer, snap, now, d.calls))
        return d

    def observe_calls(self, calls: CallOutcomes) -> None:
        """Passed on to the pacer."""
        self.pacer.observe_calls(calls)

    def observe_handles(self, handles: HandleTimes) -> None:
        """Passed on to the pacer."""
        self.pacer.observe_handles(handles)


def forecast_sample(pacer: Pacer, snap: Snapshot, now: float, n: int) -> Sample:
    """The forecast's D_k, S_k (mean, sd) and E[L] for n new calls."""
    fc = pacer.forecaster.forecast(snap, now)
    q = fc.new_due
    d_mean = fc.demand_mean + n * q
    d_var = fc.demand_var + n * q * (1.0 - q) + (n * q) ** 2 * fc.live_rel_var
    loss = float(expected_abandons(fc, np.array([n]))[0])
    return Sample(now, snap, d_mean, np.sqrt(np.maximum(d_var, 1e-12)), fc.supply_mean,
                  np.sqrt(np.maximum(fc.supply_var, 1e-12)), loss)


class RecordingSimulation(Simulation):
    """The simulator, keeping every originated call's start time and fate."""

    def __init__(self, config: SimulationConfig, policy: PacingPolicy, seed: int) -> None:
        super().__init__(config, policy, seed)
        self.originated: list[tuple[float, CallFates]] = []

    def _draw(self, n: int) -> CallFates:
        fates = super()._draw(n)
        self.originated.append((self.now, fates))
        return fates


def realised(sample: Sample, starts: np.ndarray, verdicts: np.ndarray, deadlines: np.ndarray,
             settings: PacingSettings, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The realised D_k and S_k after a sampled decision (its own new calls included)."""
    snap, now = sample.snap, sample.now
    stage = np.asarray(snap.call_stage)
    elapsed = np.asarray(snap.call_elapsed, dtype=np.float64)
    queued_left = settings.patience - elapsed[stage == int(CallStage.QUEUED)]
    ahead = (starts <= now) & (verdicts > now)       # not yet judged: ringing, AMD, or new
    left = np.concatenate((queued_left[queued_left > 0], deadlines[ahead] - now))
    d = (left[:, None] <= t[None, :]).sum(axis=0)
    free = np.concatenate((np.asarray(snap.busy_remaining), np.asarray(snap.wrapup_remaining)))
    s = snap.ready_agents + (free[:, None] <= t[None, :]).sum(axis=0)
    return d, s


@dataclass(frozen=True)
class CellResult:
    """One cell's calibration figures."""

    decisions: int
    answers_forecast: float
    answers_realised: float
    d_z: tuple[float, float, float]   # last point mean, sd; worst |mean| over the grid
    s_z: tuple[float, float, float]
    loss_forecast: float
    loss_realised: float
    ratio_hw: float                   # 95 % half-width of the ratio, over batches
    secs: float

    @property
    def ratio(self) -> float:
        """Realised loss over forecast loss."""
        return self.loss_realised / self.loss_forecast if self.loss_forecast > 0 else math.nan


def run_cell(n: int, p: float, handle: float, hours: float, every: int, seed: int = 0,
             warmup: float = WARMUP) -> CellResult:
    """Simulate one cell with the watcher; compare each sampled forecast with its truth."""
    t0 = time.perf_counter()
    settings = PacingSettings()
    cust: CustomerModel = customers(p, handle)
    watcher = Watcher(Pacer(settings), every, warmup)
    sim = RecordingSimulation(SimulationConfig.steady(cust, n, hours, tick=1.0), watcher,
                              seed)
    sim.run()
    if not sim.originated or not watcher.samples:
        raise SystemExit(f"N={n} p={p} AHT={handle:.0f}: nothing recorded (simulator changed?)")
    starts = np.concatenate([np.full(len(f.outcome), at) for at, f in sim.originated])
    fates = [f for _, f in sim.originated]
    human = np.concatenate([f.outcome == int(Outcome.HUMAN) for f in fates])
    verdicts = (starts + np.concatenate([f.verdict for f in fates]))[human]
    deadlines = (starts + np.concatenate([f.deadline for f in fates]))[human]
    starts = starts[human]
    t = settings.horizon_step * np.arange(1, len(watcher.samples[0].d_mean) + 1)
    dz, sz, rows = [], [], []
    for smp in watcher.samples:
        d, s = realised(smp, starts, verdicts, deadlines, settings, t)
        dz.append((d - smp.d_mean) / smp.d_sd)
        sz.append((s - smp.s_mean) / smp.s_sd)
        rows.append((smp.loss, float(np.maximum(d - s, 0).max()), smp.d_mean[-1], d[-1]))
    lf, lr, af, ar = np.array(rows).sum(axis=0)
    batches = np.array([b.sum(axis=0) for b in np.array_split(np.array(rows), BATCHES)])
    ratios = batches[:, 1] / np.maximum(batches[:, 0], 1e-9)
    hw = 1.96 * float(ratios.std(ddof=1)) / math.sqrt(BATCHES)
    return CellResult(len(rows), af, ar, z_figures(np.array(dz)), z_figures(np.array(sz)),
                      lf, lr, hw, time.perf_counter() - t0)


def z_figures(z: np.ndarray) -> tuple[float, float, float]:
    """(mean, sd) of the z-scores at the last grid point, and the worst |mean| over all."""
    return float(z[:, -1].mean()), float(z[:, -1].std()), float(np.abs(z.mean(axis=0)).max())


def main(argv: list[str] | None = None) -> int:
    """Run the cells and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two cells, within 60 s")
    ap.add_argument("--hours", type=float, default=None,
                    help="simulated hours per cell (default: per cell, 1-4)")
    ap.add_argument("--every", type=int, default=5, help="sample every K-th decision")
    ap.add_argument("--warmup", type=float, default=WARMUP,
                    help="seconds left out at the start of each run (default: 1800)")
    args = ap.parse_args(argv)
    cells = QUICK_CELLS if args.quick else FULL_CELLS
    print(f"# {len(cells)} cells (first {args.warmup / 60:.1f} min of each run left out), "
          f"every {args.every}th predictive decision, seed 0")
    print(f"{'N':>4} {'p':>4} {'AHT':>4} {'h':>4} {'decisions':>9} {'answers fc/real':>16} "
          f"{'z(D) mean sd worst':>19} {'z(S) mean sd worst':>19} {'loss fc':>8} "
          f"{'loss real':>9} {'real/fc':>12} {'s':>4}")
    bench = {}
    t0 = time.perf_counter()
    for n, p, h, hours in cells:
        hours = args.hours or hours
        r = run_cell(n, p, h, hours, args.every, warmup=args.warmup)
        print(f"{n:>4} {p:>4} {h:>4.0f} {hours:>4} {r.decisions:>9} {r.answers_forecast:>8.0f}/"
              f"{r.answers_realised:<7.0f} {r.d_z[0]:>+6.2f} {r.d_z[1]:>5.2f} {r.d_z[2]:>5.2f}  "
              f"{r.s_z[0]:>+6.2f} {r.s_z[1]:>5.2f} {r.s_z[2]:>5.2f} {r.loss_forecast:>8.1f} "
              f"{r.loss_realised:>9.1f} {r.ratio:>5.2f} ± {r.ratio_hw:<4.2f} {r.secs:>4.0f}",
              flush=True)
        bench[f"n{n}_loss_ratio"] = f"{r.ratio:.2f}"
        bench[f"n{n}_demand_z_worst"] = f"{r.d_z[2]:.2f}"
        bench[f"n{n}_supply_z_worst"] = f"{r.s_z[2]:.2f}"
    print("BENCH pacing_forecast " + " ".join(f"{k}={v}" for k, v in bench.items())
          + f" wall_s={time.perf_counter() - t0:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
