"""`dialer purge`: apply the retention rules now (or count what they would remove)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from dialer.cli.store_args import actor_of, add_profiles_option, profiles_of
from dialer.settings import Settings
from dialer.store import Store
from dialer.store.purge import Purger, PurgeReport


def register(sub: Any) -> None:
    """Add the `purge` command."""
    purge = sub.add_parser(
        "purge", help="delete or anonymise expired data (retention)",
        description="Finish any interrupted purge, then apply every campaign's retention "
                    "rules as of now. Exit status 1 if a campaign was skipped because its "
                    "compliance profile is unknown (load custom ones with --profiles).")
    purge.add_argument("--dry-run", action="store_true", help="only count what would go")
    purge.add_argument("--batch-size", type=int, default=None,
                       help="rows per transaction (default: sized to about 40 ms each)")
    purge.add_argument("--actor", help="who is doing this (for the audit log)")
    add_profiles_option(purge)
    purge.set_defaults(handler=run_purge)


def describe(report: PurgeReport) -> str:
    """A report as lines of text."""
    kind = "dry run (nothing changed)" if report.dry_run else \
        ("resumed run" if report.resumed else "run")
    header = f"purge {kind} #{report.run_id} as of {report.as_of.isoformat()}"
    lines = [f"{header}: {report.total} rows"]
    lines += [f"  {data_class:<24} {action:<10} {n:>10}"
              for (data_class, action), n in sorted(report.counts.items())]
    lines += [f"  skipped: {reason}" for reason in report.skipped]
    return "\n".join(lines)


async def run_purge(args: argparse.Namespace, settings: Settings) -> int:
    """Run the purge (finishing any interrupted run first) and print what it did."""
    profiles = profiles_of(args)
    async with await Store.from_settings(settings) as store:
        purger = Purger(store, profiles, batch_size=args.batch_size)
        reports = await purger.run(datetime.now(UTC), dry_run=args.dry_run, trigger="cli",
                                   actor=actor_of(args))
    for report in reports:
        print(describe(report))
    return 1 if any(r.skipped for r in reports) else 0
