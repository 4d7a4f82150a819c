"""Pacing benchmark: our predictive pacer against baselines, in the simulator.

Grid: agents N x live-answer share p x mean handle time (talk + wrap-up); each cell is
simulated for `--hours` with `--seeds` seeds per strategy, all strategies on the same
seeds. Strategies (the baselines live here, not in the product):

- progressive   1:1, through our Pacer in PROGRESSIVE mode;
- erlang-b      a fixed dial rate: the largest offered load whose Erlang-B loss is the
                target, with the true answer share and mean handle time;
- vicidial      VICIdial ADAPT_TAPERED as AST_VDadapt.pl computes it (dial level x
                (ready + in-call agents) - active calls; level from ready - waiting
                every 15 s, clamped to [1, max level], tapered when today's drop % >
                target). With max level 3 (the default) it drops far more than any
                target here (waiting calls only last the 1.2 s of patience, so the
                level climbs to the cap), so the max level is tuned per cell;
- closed-loop   floor((c F - A) / p), F = idle + sum P(busy agent frees within 10 s),
                A = expected answers still due (our estimators), c tuned per cell; it
                stands in for our model inside the product's envelope, so like ours it
                dials progressive while cold or while a window's budget at the legal
                limit allows less than one more abandon (`limit_spent`);

Tuning (closed-loop c, vicidial max level): each candidate on a grid runs once on a
calibration seed (not one of the measured seeds); the largest whose abandon rate is
<= 85 % of the target is kept, then measured like every other strategy.
- ours          pacing.Pacer, PREDICTIVE;
- oracle        the same model told each busy agent's true remaining handle time and
                the true customer parameters (the upper reference).

Usage: python tests/bench/pacing_bench.py [--quick] [--hours H] [--seeds S] [--jobs J]
       [--store runs.jsonl] [--chunk C] [--stored-only] [--markdown]
`--store` keeps every finished run (tuning runs included) as a JSON line and skips runs
already there, so the full grid can be built over several sittings and its table printed
from the store (runs of other `pacing/` code, by a hash of its syntax trees, or of another
revision of a baseline's rule, `REVISIONS`, are not reused);
`--carry-baselines CODE ...` takes the baselines' runs (not ours, not the oracle) of
earlier `pacing/` code wherever one fresh run per baseline, cell and phase reproduces the
stored figures of that code to the last bit (the simulation is deterministic per seed, so
a change that reaches a baseline's runs shows in its probe; the carried lines say
`carried_from`);
`--chunk` tunes and measures C cells at a time, so a stopped run leaves whole cells
behind; `--stored-only` runs nothing and reports the cells whose runs are all in the
store, cell by cell (the others are named and skipped). The last line is
`BENCH pacing key=value ...`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The runs are parallel processes on every core: BLAS worker threads would only contend
# (an 8 h run at N = 200 took up to 4x longer). Set before numpy loads.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pacing import (
    CallOutcomes,
    CampaignEstimators,
    CustomerModel,
    Decision,
    HandleTimes,
    Lognormal,
    Mode,
    ModelForecaster,
    Outcome,
    Pacer,
    PacingPolicy,
    PacingSettings,
    Reason,
    SimulationConfig,
    Snapshot,
    limit_spent,
    line_cap,
    progressive_calls,
    simulate,
)

STRATEGIES = ("progressive", "erlang-b", "vicidial", "closed-loop", "ours", "oracle")
MODEL_STRATEGIES = ("ours", "oracle")   # decided by the predictive model: never carried
FULL_N = (3, 5, 10, 20, 50, 100, 200)
FULL_P = (0.1, 0.2, 0.3)
FULL_H = (60.0, 120.0, 300.0)
WRAPUP_MEAN = 10.0


def customers(p: float, handle: float) -> CustomerModel:
    """The benchmark's customer mix: live share p, the rest split in fixed proportions."""
    rest = 1.0 - p
    return CustomerModel(live=p, machine=0.25 * rest, no_answer=0.55 * rest, busy=0.1 * rest,
                         failed=0.1 * rest, talk=Lognormal.from_mean(handle - WRAPUP_MEAN, 0.8),
                         wrapup=Lognormal.from_mean(WRAPUP_MEAN, 0.5))


def true_estimators(cust: CustomerModel, seed: int = 12345) -> CampaignEstimators:
    """Estimators holding the true parameters: fed a large sample, never forgetting."""
    est = CampaignEstimators(memory=math.inf)
    fates = cust.draw(np.random.default_rng(seed), 200_000)
    answered = np.isfinite(fates.answer)
    ring = np.where(answered, fates.answer, fates.end)
    amd = np.where(answered, fates.verdict - np.where(answered, fates.answer, 0.0), np.nan)
    est.record_calls(CallOutcomes(fates.outcome, ring, amd, np.zeros(len(fates), dtype=bool)))
    human = fates.outcome == Outcome.HUMAN
    est.record_handles(HandleTimes(fates.talk[human], fates.wrapup[human],
                                   np.zeros(int(human.sum()))))
    return est


# --- baselines -------------------------------------------------------------------------

def erlang_b(servers: int, load: float) -> float:
    """Erlang-B blocking probability."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_b_load(servers: int, target: float) -> float:
    """The largest offered load (Erlangs) whose blocking is <= target."""
    lo, hi = 0.0, float(servers) * 2 + 10
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if erlang_b(servers, mid) <= target else (lo, mid)
    return lo


class _Quiet:
    """Baselines that learn nothing from outcomes."""

    def observe_calls(self, calls: CallOutcomes) -> None:
        """Ignored."""

    def observe_handles(self, handles: HandleTimes) -> None:
        """Ignored."""


class FixedRate(_Quiet):
    """A constant dial rate per logged-in agent (Erlang-B sized), within the caps."""

    def __init__(self, settings: PacingSettings, cust: CustomerModel, agents: int) -> None:
        self.settings = settings
        p_human = float(np.mean(cust.draw(np.random.default_rng(7), 100_000).outcome
                                == Outcome.HUMAN))
        load = erlang_b_load(agents, settings.target_abandon_rate)
        self.rate_per_agent = load / cust.mean_handle / p_human / agents
        self.credit = 0.0
        self.last: float | None = None

    def decide(self, snap: Snapshot, now: float) -> Decision:
        """Dial the calls the rate has accrued since the last tick."""
        if self.last is not None:
            self.credit += self.rate_per_agent * snap.agents * (now - self.last)
        self.last = now
        n = min(int(self.credit), line_cap(snap, self.settings))
        self.credit -= n
        return Decision(n, Mode.POWER, Reason.POWER)


class VicidialTapered:
    """VICIdial ADAPT_TAPERED (AST_VDadapt.pl + AST_VDauto_dial.pl), default settings."""

    observe_handles = _Quiet.observe_handles

    def __init__(self, settings: PacingSettings, start_hourmin: int = 900,
                 latest_hourmin: int = 2100, max_level: float = 3.0) -> None:
        self.settings = settings
        self.drop_pct = settings.target_abandon_rate * 100.0
        self.level = 1.0
        self.max_level = max_level
        self.start, self.latest = start_hourmin, latest_hourmin
        self.samples: deque[tuple[int, int, int]] = deque(maxlen=15)
        self.next_sample = 0.0
        self.next_adapt = 15.0
        self.dials: deque[float] = deque()
        self.drops: deque[float] = deque()
        self.dials_today = 0
        self.now = 0.0

    def decide(self, snap: Snapshot, now: float) -> Decision:
        """Sample every second, adapt every 15 s, place level x agents - active calls."""
        self.now = now
        queued = int(np.count_nonzero(snap.call_stage == 2))
        while now >= self.next_sample:
            self.samples.append((snap.ready_agents, queued, snap.agents))
            self.next_sample += 1.0
        if now >= self.next_adapt:
            self._adapt(snap, now)
            self.next_adapt += 15.0
        goal = math.floor(self.level * (snap.ready_agents + snap.talking) + 0.5)
        n = max(0, min(goal - snap.lines, line_cap(snap, self.settings)))
        self.dials_today += n
        self.dials.extend([now] * n)
        return Decision(n, Mode.PREDICTIVE, Reason.PREDICTIVE)

    def _adapt(self, snap: Snapshot, now: float) -> None:
        s = np.array(self.samples, dtype=np.float64)
        ready, waiting, total = s.mean(axis=0)
        diff = ready - waiting
        mul = diff / total if (diff != 0 and total != 0) else 0.0
        level = min(self.max_level, self.level * (mul + 1.0))
        level = max(level, 1.0)
        while self.dials and self.dials[0] < now - 60:
            self.dials.popleft()
        while self.drops and self.drops[0] < now - 60:
            self.drops.popleft()
        if len(self.dials) > 20 and 100.0 * len(self.drops) / len(self.dials) > 50:
            level /= 2
        budget = snap.budget
        answers = max(1.0, float(budget.answers[0])) if budget.windows else 1.0
        drops = float(budget.abandons[0]) if budget.windows else 0.0
        if self.dials_today > 50 and 100.0 * drops / answers > self.drop_pct:
            minutes = int(now // 60)
            hourmin = self.start + 100 * (minutes // 60) + minutes % 60
            left = self.latest - hourmin
            level = 1.0 if left < 0 else level * (1.0 if left > 1000 else left / 1000)
        self.level = max(level, 1.0)

    def observe_calls(self, calls: CallOutcomes) -> None:
        """Track the last minute's drops."""
        self.drops.extend([self.now] * int(np.count_nonzero(calls.abandoned)))


class ClosedLoop(Pacer):
    """floor((c F - A) / p): F = idle + sum P(free within 10 s), A = answers still due.

    The rule replaces the model only: the legal-limit fallback and the caps still apply.
    """

    def __init__(self, settings: PacingSettings, c: float = 1.0, within: float = 10.0) -> None:
        super().__init__(settings)
        assert isinstance(self.forecaster, ModelForecaster)
        self.model: ModelForecaster = self.forecaster
        self.c = c
        self.k = round(within / settings.horizon_step) - 1

    def decide(self, snap: Snapshot, now: float) -> Decision:
        """The closed-loop rule (progressive until the estimators have evidence)."""
        s = self.settings
        cap = line_cap(snap, s)
        if limit_spent(snap, s):
            return Decision(min(progressive_calls(snap), cap), Mode.PROGRESSIVE,
                            Reason.BUDGET_SPENT)
        fc = self.model.forecast(snap, now)
        if not fc.trusted:
            return Decision(min(progressive_calls(snap), cap), Mode.PROGRESSIVE,
                            Reason.COLD_START)
        free = snap.ready_agents + float(self.model.free_probabilities(snap, now)[:, self.k].sum())
        due = float(fc.demand_mean[-1])
        p = self.estimators.outcomes.share(Outcome.HUMAN)
        n = math.floor((self.c * free - due) / p) if p > 0 else 0
        return Decision(max(0, min(n, cap)), Mode.PREDICTIVE, Reason.PREDICTIVE)


class OracleForecaster(ModelForecaster):
    """Our model with the true parameters and each busy agent's true remaining time."""

    def free_matrix(self, snap: Snapshot, now: float) -> np.ndarray:
        """Certain supply: an agent is free by t_k exactly when its true time is up."""
        remaining = np.concatenate((np.asarray(snap.busy_remaining),
                                    np.asarray(snap.wrapup_remaining)))
        return (remaining[:, None] <= self.t[None, :]).astype(np.float64)


class Oracle(Pacer):
    """The agent-oracle: our Pacer with the oracle forecaster; learns nothing."""

    def __init__(self, settings: PacingSettings, cust: CustomerModel) -> None:
        est = true_estimators(cust)
        super().__init__(settings, est, OracleForecaster(est, settings))

    def observe_calls(self, calls: CallOutcomes) -> None:
        """The truth needs no learning."""

    def observe_handles(self, handles: HandleTimes) -> None:
        """The truth needs no learning."""


# A baseline's revision, bumped when its rule changes: the store reuses runs of the current
# revision only (ours and the oracle are covered by the hash of the `pacing/` sources).
# closed-loop 1: the legal-limit fallback, as ours has it. oracle 1: told the true remaining
# times (revision 0 overrode `supply`, which the model had stopped calling: true parameters only).
REVISIONS = {"closed-loop": 1, "oracle": 1}
TUNE_GRID = {"closed-loop": (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 0.85, 1.0),
             "vicidial": (1.0, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, 3.0)}
CALIBRATION_SEED = 10_000


def make_policy(name: str, settings: PacingSettings, cust: CustomerModel, agents: int,
                param: float | None = None) -> PacingPolicy:
    """A fresh policy for one run (`param`: c or the max level of a tuned baseline)."""
    if name == "progressive":
        return Pacer(PacingSettings(mode=Mode.PROGRESSIVE,
                                    target_abandon_rate=settings.target_abandon_rate,
                                    abandon_limit=settings.abandon_limit))
    if name == "erlang-b":
        return FixedRate(settings, cust, agents)
    if name == "vicidial":
        return VicidialTapered(settings, max_level=param or 3.0)
    if name == "closed-loop":
        return ClosedLoop(settings, c=param or 1.0)
    if name == "ours":
        return Pacer(settings)
    if name == "oracle":
        return Oracle(settings, cust)
    raise ValueError(name)


# --- running ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One simulation: a cell, a strategy, a seed."""

    n: int
    p: float
    handle: float
    strategy: str
    seed: int
    hours: float
    tick: float
    target: float
    limit: float
    param: float | None = None
    rev: int = 0


def make_job(cell: tuple[int, float, float], strategy: str, seed: int,
             args: argparse.Namespace, param: float | None = None) -> Job:
    """The job of one run of a strategy in a cell; a baseline's runs carry its revision."""
    n, p, h = cell
    return Job(n, p, h, strategy, seed, args.hours, args.tick, args.target, args.limit,
               param, REVISIONS.get(strategy, 0))


Results = dict[tuple[int, float, float, str], list[dict[str, float]]]


def run_job(job: Job) -> tuple[Job, dict[str, float]]:
    """Simulate one job; return its figures."""
    settings = PacingSettings(target_abandon_rate=job.target, abandon_limit=job.limit)
    cust = customers(job.p, job.handle)
    cfg = SimulationConfig.steady(cust, job.n, job.hours, tick=job.tick)
    t0 = time.perf_counter()
    r = simulate(cfg, make_policy(job.strategy, settings, cust, job.n, job.param), job.seed)
    return job, {"occ": r.occupancy, "ab": r.abandon_rate, "worst": r.worst_window_rate,
                 "hour": r.worst_hour_rate, "cph": r.calls_per_agent_hour,
                 "secs": time.perf_counter() - t0}


PACKAGE = Path(__file__).resolve().parents[2] / "pacing"


def pacing_code(package: Path = PACKAGE) -> str:
    """A short hash of the `pacing` package's code: the code a stored run measured.

    It hashes each module's syntax tree with the docstrings left out, so comments and
    docstrings can be corrected without losing the stored runs (a new Python minor version
    may change the trees, and so the hash: the runs are then measured again).
    """
    digest = hashlib.sha256()
    for source in sorted(package.glob("*.py")):
        tree = ast.parse(source.read_bytes())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                           | ast.AsyncFunctionDef) and node.body
                    and isinstance(node.body[0], ast.Expr)
                    and isinstance(node.body[0].value, ast.Constant)
                    and isinstance(node.body[0].value.value, str)):
                node.body = node.body[1:]
        digest.update(source.name.encode() + b"\0" + ast.dump(tree).encode())
    return digest.hexdigest()[:12]


class MissingRuns(Exception):
    """A read-only store lacks runs a cell needs."""


class RunStore:
    """Finished runs as JSON lines (one per job), read at start and appended as runs end."""

    def __init__(self, path: Path | None, read_only: bool = False,
                 carry_from: tuple[str, ...] = ()) -> None:
        self.path = path
        self.read_only = read_only
        self.code = pacing_code()
        self.runs: dict[Job, dict[str, float]] = {}
        self.carried: dict[Job, tuple[str, dict[str, float]]] = {}   # candidates to carry
        earlier: dict[str, dict[Job, dict[str, float]]] = {code: {} for code in carry_from}
        stale = 0
        if path is not None and path.exists():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    job = Job(**row["job"])
                    code = row.get("code")
                    if code == self.code:
                        self.runs[job] = row["figures"]
                        continue
                    stale += 1
                    if code in earlier and job.strategy not in MODEL_STRATEGIES:
                        earlier[code][job] = row["figures"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise SystemExit(f"{path}:{number}: not a stored run ({exc})") from exc
        for code in reversed(carry_from):   # the first listed code wins
            self.carried.update((job, (code, fig)) for job, fig in earlier[code].items())
        if stale:
            print(f"# {path}: {stale} runs of other pacing code ignored", file=sys.stderr)

    def add(self, job: Job, figures: dict[str, float], carried_from: str | None = None
            ) -> None:
        """Keep one finished (or carried) run, appended to the file at once."""
        self.runs[job] = figures
        if self.path is not None:
            row: dict[str, Any] = {"code": self.code, "job": asdict(job), "figures": figures}
            if carried_from is not None:
                row["carried_from"] = carried_from
            with self.path.open("a") as out:
                out.write(json.dumps(row) + "\n")


def carry_baselines(pool: Any, todo: list[Job], store: RunStore) -> None:
    """Carry each baseline's earlier runs into the store when a fresh probe reproduces them.

    Per cell, baseline and earlier code, the jobs to do that this code has stored are one
    group; its first job (lowest seed, then parameter) runs afresh, and only if every
    figure but the wall time matches the stored run to the last bit are the others taken
    over.
    """
    groups: dict[tuple[int, float, float, str, str], list[Job]] = {}
    for job in todo:
        if job in store.carried:
            key = (job.n, job.p, job.handle, job.strategy, store.carried[job][0])
            groups.setdefault(key, []).append(job)
    probes = [min(group, key=lambda j: (j.seed, j.param or 0.0)) for group in groups.values()]
    for job, fig in pool.imap_unordered(run_job, probes) if probes else ():
        store.add(job, fig)
        code, old = store.carried[job]
        group = groups[(job.n, job.p, job.handle, job.strategy, code)]
        same = all(fig[k] == old.get(k) for k in fig if k != "secs")
        if same:
            for other in group:
                if other != job:
                    store.add(other, store.carried[other][1], carried_from=code)
        print(f"# {job.strategy} at N={job.n} p={job.p} AHT={job.handle:.0f}: "
              + (f"carried {len(group) - 1} runs of code {code} (probe seed {job.seed} "
                 "reproduced)" if same else f"probe differs from code {code}; runs afresh"),
              file=sys.stderr, flush=True)


def run_all(pool: Any, jobs: list[Job], phase: str, t0: float, store: RunStore
            ) -> Results:
    """Run the jobs not in the store (biggest first) in the pool; figures of all the jobs."""
    todo = [j for j in jobs if j not in store.runs]
    if todo and store.read_only:
        raise MissingRuns(f"{len(todo)} {phase} runs not in the store")
    carry_baselines(pool, todo, store)
    todo = sorted((j for j in todo if j not in store.runs), key=lambda j: -j.n)
    for done, (job, fig) in enumerate(pool.imap_unordered(run_job, todo) if todo else (), 1):
        store.add(job, fig)
        if done % max(1, len(todo) // 10) == 0 or done == len(todo):
            print(f"# {phase}: {done}/{len(todo)} jobs, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    out: Results = {}
    for job in jobs:
        fig = dict(store.runs[job])
        fig["param"] = job.param if job.param is not None else math.nan
        fig["seed"] = job.seed
        out.setdefault((job.n, job.p, job.handle, job.strategy), []).append(fig)
    return out


def tune(pool: Any, cells: list[tuple[int, float, float]], args: argparse.Namespace,
         store: RunStore) -> dict[tuple[int, float, float, str], float]:
    """Per cell, the largest grid parameter of each tuned baseline that meets 85 % of target."""
    names = [s for s in TUNE_GRID if s in args.strategies]
    grid = {s: TUNE_GRID[s][1::3] if args.quick else TUNE_GRID[s] for s in names}
    jobs = [make_job(cell, s, CALIBRATION_SEED, args, param)
            for cell in cells for s in names for param in grid[s]]
    if not jobs:
        return {}
    runs = run_all(pool, jobs, "tune", time.perf_counter(), store)
    tuned = {}
    for (n, p, h) in cells:
        for s in names:
            ok = [r["param"] for r in runs[(n, p, h, s)] if r["worst"] <= 0.85 * args.target]
            tuned[(n, p, h, s)] = max(ok) if ok else min(grid[s])
    return tuned


def decide_timing(repeat: int = 300) -> float:
    """Median seconds of one decide() at 200 agents and 600 calls in flight."""
    rng = np.random.default_rng(3)
    cust = customers(0.2, 120.0)
    pacer = Pacer(PacingSettings())
    est = true_estimators(cust)
    pacer.estimators = est
    pacer.forecaster = ModelForecaster(est, pacer.settings)
    from pacing import AbandonBudget
    snap = Snapshot(ready_agents=5, busy_elapsed=rng.uniform(0, 300, 170),
                    wrapup_elapsed=rng.uniform(0, 15, 25),
                    call_stage=rng.choice(3, 600, p=[0.85, 0.13, 0.02]).astype(np.int64),
                    call_elapsed=rng.uniform(0, 20, 600),
                    budget=AbandonBudget(("24h", "30d"), np.array([5000.0, 9000.0]),
                                         np.array([60.0, 100.0])))
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        pacer.decide(snap, 1000.0 + i)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def mean_ci(x: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of a 95 % normal interval."""
    if x.size < 2:
        return float(x.mean()), 0.0
    return float(x.mean()), float(1.96 * x.std(ddof=1) / math.sqrt(x.size))


def main(argv: list[str] | None = None) -> int:
    """Run the grid and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small subset, within 60 s")
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--tick", type=float, default=1.0)
    ap.add_argument("--target", type=float, default=0.02)
    ap.add_argument("--limit", type=float, default=0.03)
    ap.add_argument("--jobs", type=int, default=max(1, (multiprocessing.cpu_count() or 1)))
    ap.add_argument("--agents", type=int, nargs="*", default=list(FULL_N))
    ap.add_argument("--p-live", type=float, nargs="*", default=list(FULL_P))
    ap.add_argument("--handle", type=float, nargs="*", default=list(FULL_H))
    ap.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    ap.add_argument("--store", type=Path, help="JSON-lines file of finished runs (reused)")
    ap.add_argument("--carry-baselines", nargs="*", default=[], metavar="CODE",
                    help="take the baselines' runs of this earlier pacing code (first listed "
                         "first) where a fresh probe run reproduces them exactly")
    ap.add_argument("--chunk", type=int, default=0, help="cells tuned and measured at a time")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown summary")
    ap.add_argument("--stored-only", action="store_true",
                    help="run nothing; report only the cells whose runs are all stored")
    args = ap.parse_args(argv)
    if args.quick:
        args.agents, args.p_live, args.handle = [10], [0.2], [120.0]
        args.hours, args.seeds = min(args.hours, 1.5), min(args.seeds, 2)
    cells = [(n, p, h) for n in args.agents for p in args.p_live for h in args.handle]
    print(f"# {len(cells)} cells x {args.seeds} seeds x {len(args.strategies)} strategies, "
          f"{args.hours} h each, tick {args.tick} s, target {args.target:.1%}, "
          f"limit {args.limit:.1%}, {args.jobs} processes", flush=True)
    t0 = time.perf_counter()
    store = RunStore(args.store, read_only=args.stored_only,
                     carry_from=tuple(args.carry_baselines))
    chunk = 1 if args.stored_only else (args.chunk if args.chunk > 0 else len(cells))
    tuned: dict[tuple[int, float, float, str], float] = {}
    results: Results = {}
    done: list[tuple[int, float, float]] = []
    workers = contextlib.nullcontext() if args.stored_only else multiprocessing.Pool(args.jobs)
    with workers as pool:
        for first in range(0, len(cells), chunk):
            part = cells[first:first + chunk]
            try:
                part_tuned = tune(pool, part, args, store)
                jobs = [make_job(cell, s, seed, args, part_tuned.get((*cell, s)))
                        for cell in part for seed in range(args.seeds)
                        for s in args.strategies]
                results.update(run_all(pool, jobs, "measure", t0, store))
            except MissingRuns as missing:
                print(f"# skipped {part}: {missing}")
                continue
            tuned.update(part_tuned)
            done.extend(part)
    for (n, p, h, s), param in sorted(tuned.items()):
        print(f"# tuned {s} for N={n} p={p} AHT={h:.0f}: {param}")
    summary = report(done, args, results)
    if args.markdown:
        markdown(done, args, results)
    dt = decide_timing()
    print(f"\ndecide() at 200 agents / 600 calls in flight: {dt * 1e3:.3f} ms (median)")
    print("BENCH pacing " + " ".join(f"{k}={v}" for k, v in summary.items())
          + f" decide_ms={dt * 1e3:.3f} wall_s={time.perf_counter() - t0:.0f}")
    return 0


def cell_figures(results: Results, cell: tuple[int, float, float], s: str
                 ) -> dict[str, np.ndarray]:
    """One strategy's runs in one cell, figure by figure."""
    rows = results.get((*cell, s), [])
    return {k: np.array([r[k] for r in rows]) for k in ("occ", "ab", "worst", "hour", "cph")}


def within_target(worst: np.ndarray, target: float) -> np.ndarray:
    """Per run: whether its worst window stayed within the target."""
    return worst <= target + 1e-9


def meets_target(worst: np.ndarray, target: float) -> bool:
    """Whether >= 99 % of the runs kept their worst window within the target."""
    return bool(within_target(worst, target).mean() >= 0.99)


def best_baseline(results: Results, cell: tuple[int, float, float], strategies: list[str],
                  target: float) -> tuple[str, float]:
    """The baseline with the highest mean occupancy among those meeting the target."""
    best, best_occ = "none", 0.0
    for s in strategies:
        f = cell_figures(results, cell, s)
        if (s not in ("ours", "oracle") and f["occ"].size and meets_target(f["worst"], target)
                and f["occ"].mean() > best_occ):
            best, best_occ = s, float(f["occ"].mean())
    return best, best_occ


def paired_gap(results: Results, cell: tuple[int, float, float], s: str, figure: str = "occ"
               ) -> tuple[float, float, int]:
    """Ours minus strategy `s` in a figure, paired by seed: mean, 95 % half-width, pairs."""
    theirs = {r["seed"]: r[figure] for r in results.get((*cell, s), [])}
    gaps = np.array([r[figure] - theirs[r["seed"]] for r in results.get((*cell, "ours"), [])
                     if r["seed"] in theirs])
    mean, hw = mean_ci(gaps)
    return mean, hw, gaps.size


def report(cells: list[tuple[int, float, float]], args: argparse.Namespace,
           results: Results) -> dict[str, str]:
    """Print the per-cell table and return the headline figures."""
    target = args.target
    print(f"\n{'N':>4} {'p':>4} {'AHT':>4} {'strategy':<12} {'occupancy':>14} "
          f"{'abandon':>7} {'worst24h':>8} {'worst1h':>7} {'calls/ah':>8} {'÷oracle':>7} "
          f"{'meets':>5}")
    runs_ok = runs = 0
    cells_occ_ok = cells_occ = cells_base_ok = cells_sig_below = 0
    gaps: list[str] = []
    for cell in cells:
        n, p, h = cell
        oracle_occ = (cell_figures(results, cell, "oracle")["occ"].mean()
                      if (*cell, "oracle") in results else math.nan)
        for s in args.strategies:
            if (*cell, s) not in results:
                continue
            f = cell_figures(results, cell, s)
            occ, ci = mean_ci(f["occ"])
            meets = meets_target(f["worst"], target)
            print(f"{n:>4} {p:>4.1f} {h:>4.0f} {s:<12} {occ:>7.3f} ± {ci:.3f} "
                  f"{f['ab'].mean():>7.2%} {f['worst'].max():>8.2%} {f['hour'].max():>7.2%} "
                  f"{f['cph'].mean():>8.1f} {occ / oracle_occ:>7.2f} {'yes' if meets else 'no':>5}")
            if s == "ours":
                runs += f["worst"].size
                runs_ok += int(within_target(f["worst"], target).sum())
        if (*cell, "ours") in results:
            ours = cell_figures(results, cell, "ours")["occ"].mean()
            name, best_base = best_baseline(results, cell, args.strategies, target)
            below = ours < best_base - 1e-9
            cells_base_ok += int(not below)
            if below:
                gap, hw, pairs = paired_gap(results, cell, name)
                cells_sig_below += int(gap + hw < 0)
                gaps.append(f"# below the best baseline at N={n} p={p} AHT={h:.0f}: ours - {name}"
                            f" = {gap:+.4f} ± {hw:.4f} (95 %, paired by seed, {pairs} seeds)")
            if n >= 10 and math.isfinite(oracle_occ):
                cells_occ += 1
                cells_occ_ok += int(ours >= 0.95 * oracle_occ)
    print("\n".join(["", *gaps]))
    headline = {}
    key = (10, 0.2, 120.0)
    if all((*key, s) in results for s in ("ours", "vicidial")):
        ours, vici = cell_figures(results, key, "ours"), cell_figures(results, key, "vicidial")
        gap, gap_hw, _ = paired_gap(results, key, "vicidial")
        ab_gap, ab_hw, _ = paired_gap(results, key, "vicidial", "ab")
        headline = {"n10_ours_occ": f"{ours['occ'].mean():.3f}",
                    "n10_ours_abandon": f"{ours['ab'].mean():.4f}",
                    "n10_vicidial_occ": f"{vici['occ'].mean():.3f}",
                    "n10_vicidial_abandon": f"{vici['ab'].mean():.4f}",
                    "n10_points_over_vicidial": f"{100 * gap:.2f}",
                    "n10_points_over_vicidial_ci95": f"{100 * gap_hw:.2f}",
                    "n10_abandon_points_over_vicidial": f"{100 * ab_gap:.3f}",
                    "n10_abandon_points_over_vicidial_ci95": f"{100 * ab_hw:.3f}"}
    return {**headline, "runs_within_target": f"{runs_ok}/{runs}",
            "cells_ge_95pct_oracle": f"{cells_occ_ok}/{cells_occ}",
            "cells_ge_best_baseline": f"{cells_base_ok}/{len(cells)}",
            "cells_significantly_below_best_baseline": f"{cells_sig_below}/{len(cells)}"}


def markdown(cells: list[tuple[int, float, float]], args: argparse.Namespace,
             results: Results) -> None:
    """Print one Markdown row per cell: ours, the oracle, the best baseline, VICIdial."""
    print("\n| N | p | AHT | seeds | ours occ. | abandon (mean / worst run) | oracle "
          "| ours/oracle | best baseline within target | VICIdial tuned (abandon) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        if not all((*cell, s) in results for s in ("ours", "oracle")):
            continue
        ours, oracle = cell_figures(results, cell, "ours"), cell_figures(results, cell, "oracle")
        occ, ci = mean_ci(ours["occ"])
        best, best_occ = best_baseline(results, cell, args.strategies, args.target)
        vici = cell_figures(results, cell, "vicidial")
        vici_text = (f"{vici['occ'].mean():.3f} ({vici['ab'].mean():.2%})"
                     if vici["occ"].size else "-")
        n, p, h = cell
        print(f"| {n} | {p:.1f} | {h:.0f} | {ours['occ'].size} | {occ:.3f} ± {ci:.3f} "
              f"| {ours['ab'].mean():.2%} / {ours['worst'].max():.2%} "
              f"| {oracle['occ'].mean():.3f} | {occ / oracle['occ'].mean():.2f} "
              f"| {best} {best_occ:.3f} | {vici_text} |")


if __name__ == "__main__":
    raise SystemExit(main())
