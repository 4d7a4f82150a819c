"""`dialer simulate`: run a campaign's pacing in the simulator and report.

    dialer simulate --config campaign.yaml --hours 8 [--seed N] [--plot out.png]
    dialer simulate --config campaign.yaml --engine --leads 10000 [--hours 24]

Without `--engine`: the pacing model alone (pacing.simulate), with a summary
(occupancy, abandon rate per window, calls per agent-hour, agent wait between calls,
lines in use) and a PNG of occupancy and abandon rate over time. With `--engine`: the
whole engine (store, DNC, gate, hoppers, retries, pacing) in virtual time against
simulated customers and agent phones, on a throw-away SQLite store; it stops when no
lead is due or `--hours` pass.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import pacing
from dialer.campaign import load_campaign
from dialer.cli.store_args import add_profiles_option, profiles_of
from dialer.clock import run_virtual
from dialer.engine_sim import EngineSimResult, simulate_engine
from dialer.errors import ConfigError
from dialer.keys import new_keyring
from dialer.settings import Settings
from dialer.simulation_config import (
    SimulationSection,
    load_simulation_file,
    pacing_settings,
    simulation_config,
)


def register(sub: Any) -> None:
    """Add the `simulate` command."""
    cmd = sub.add_parser("simulate", help="simulate a campaign's pacing (what-if)")
    cmd.add_argument("--config", dest="campaign_config", required=True,
                     help="campaign YAML with pacing: and simulation: sections")
    cmd.add_argument("--hours", type=float, default=8.0, help="simulated hours (default 8)")
    cmd.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    cmd.add_argument("--plot", default=None,
                     help="PNG to write (default: the config's name with .png)")
    cmd.add_argument("--engine", action="store_true",
                     help="run the whole engine in virtual time (a full campaign file)")
    cmd.add_argument("--leads", type=int, default=2000,
                     help="--engine: how many simulated leads (default 2000)")
    add_profiles_option(cmd)
    cmd.set_defaults(handler=run_simulation)


def run_simulation(args: argparse.Namespace, settings: Settings) -> int:
    """Load the campaign file, simulate, print the summary, write the plot."""
    if not args.hours > 0:
        raise ConfigError("must be > 0", field="--hours")
    if args.engine:
        return run_engine_simulation(args)
    doc = load_simulation_file(args.campaign_config)
    cfg = simulation_config(doc, args.hours)
    policy = pacing.Pacer(pacing_settings(doc.pacing, cfg.customers.amd_overrun))
    result = pacing.simulate(cfg, policy, args.seed)
    print(summary(result, doc.pacing.mode, args.seed))
    plot = Path(args.plot) if args.plot else Path(args.campaign_config).with_suffix(".png")
    write_plot(result, plot, doc.pacing.target_abandon_rate, doc.pacing.abandon_limit)
    print(f"plot: {plot}")
    return 0


def run_engine_simulation(args: argparse.Namespace) -> int:
    """The engine in virtual time on simulated telephony; prints what it did."""
    if args.leads < 1:
        raise ConfigError("must be >= 1", field="--leads")
    campaign = load_campaign(args.campaign_config, profiles_of(args))
    try:
        section = SimulationSection.model_validate(campaign.config.simulation or {})
    except ValidationError as exc:
        raise ConfigError(str(exc).splitlines()[0], file=args.campaign_config,
                          field="simulation") from exc
    with tempfile.TemporaryDirectory(prefix="dialer-sim-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'sim.db'}"
        result = run_virtual(lambda: simulate_engine(
            campaign, section, leads=args.leads, db_url=url, keyring=new_keyring(),
            seed=args.seed, max_hours=args.hours))
    print(engine_summary(result, args.seed))
    return 0


def engine_summary(r: EngineSimResult, seed: int) -> str:
    """The printed summary of an engine run in virtual time."""
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
    denials = ", ".join(f"{k} {v}" for k, v in sorted(r.denials.items())) or "none"
    return "\n".join([
        f"engine in virtual time from {r.started_at:%Y-%m-%d %H:%M} UTC, seed {seed}",
        (f"simulated           {r.virtual_seconds / 3600:10.2f} h in {r.wall_seconds:.1f} s "
        f"of wall time ({r.attempts / max(r.wall_seconds, 1e-9):.0f} attempts/s)"),
        (f"leads / attempts    {r.leads:10d} / {r.attempts}   (open at the end: "
        f"{r.open_attempts})"),
        f"outcomes            {outcomes}",
        f"live answers        {r.live_answers:10d}",
        f"abandoned           {r.abandoned:10d}   ({r.abandon_rate:.2%} of live answers)",
        f"refusals            {r.refusals:10d}",
        f"gate denials        {denials}",
    ])


def summary(r: pacing.SimulationResult, mode: str, seed: int) -> str:
    """The printed summary of one run."""
    windows = ", ".join(f"{name} {rate:.2%}" for name, rate in r.window_rates.items())
    return "\n".join([
        f"simulated {r.duration / 3600:.1f} h, mode {mode}, seed {seed}",
        f"agent hours         {r.agent_hours:10.1f}",
        f"occupancy           {r.occupancy:10.1%}   (talk / logged-in time)",
        f"dials               {r.dials:10d}   ({r.dials_per_agent_hour:.1f} per agent-hour)",
        f"calls to agents     {r.calls_per_agent_hour:10.1f}   per agent-hour",
        f"live answers        {r.answers:10d}",
        f"abandoned           {r.abandons:10d}   ({r.abandon_rate:.2%} of live answers)",
        f"abandon per window  {windows}",
        f"worst rolling hour  {r.worst_hour_rate:10.2%}",
        f"AMD false positives {r.false_positives:10d}   (humans hung up on as machines)",
        f"agent wait          {r.mean_agent_wait:10.1f} s between calls",
        f"lines in use        {r.mean_lines:10.1f} mean, {r.max_lines} max",
    ])


def write_plot(r: pacing.SimulationResult, path: Path, target: float, limit: float) -> None:
    """Occupancy and abandon rate over time, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = r.series_t / 3600.0
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax1.plot(hours, r.series_occupancy, lw=0.8, label="occupancy (per interval)")
    ax1.axhline(r.occupancy, color="k", ls="--", lw=0.8, label=f"run: {r.occupancy:.1%}")
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("occupancy")
    ax1.legend(loc="lower right")
    ax2.plot(hours, 100 * r.series_abandon_rate, label="abandon rate, cumulative")
    ax2.plot(hours, 100 * r.series_hour_rate, lw=0.8,
             label="abandon rate, last hour")
    ax2.axhline(100 * target, color="g", ls="--", lw=0.8, label="target")
    ax2.axhline(100 * limit, color="r", ls="--", lw=0.8, label="limit")
    ax2.set_ylabel("% of live answers")
    ax2.set_xlabel("hours")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
