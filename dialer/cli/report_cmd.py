"""`dialer report`: a campaign's figures, and its call detail records as CSV."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialer.cli.store_args import actor_of, add_profiles_option, profiles_of
from dialer.settings import Settings
from dialer.store import Store
from dialer.store.cdr_export import export_cdrs
from dialer.store.reports import campaign_report, render_text


def register(sub: Any) -> None:
    """Add the `report` command group."""
    report = sub.add_parser("report", help="campaign figures and CDR exports")
    verbs = report.add_subparsers(dest="verb", metavar="VERB", required=True)
    campaign = verbs.add_parser("campaign", help="answers, abandons per window, AMD share, "
                                "outcomes, occupancy per agent")
    campaign.add_argument("campaign_id", type=int, metavar="ID")
    campaign.add_argument("--json", action="store_true", help="print JSON")
    add_profiles_option(campaign)
    campaign.set_defaults(handler=report_campaign)
    cdr = verbs.add_parser("cdr", help="export a campaign's call detail records to CSV")
    cdr.add_argument("--campaign", type=int, required=True, dest="campaign_id")
    cdr.add_argument("--out", type=Path, required=True)
    cdr.add_argument("--unmasked", action="store_true",
                     help="write plaintext numbers (audited)")
    cdr.add_argument("--actor", help="who is doing this (for the audit log)")
    cdr.set_defaults(handler=export_cdr)


async def report_campaign(args: argparse.Namespace, settings: Settings) -> int:
    """Print one campaign's report."""
    profiles = profiles_of(args)
    async with await Store.from_settings(settings) as store:
        report = await campaign_report(store, args.campaign_id, profiles, datetime.now(UTC))
    print(json.dumps(report.to_json(), indent=2) if args.json else render_text(report))
    return 0


async def export_cdr(args: argparse.Namespace, settings: Settings) -> int:
    """Write the campaign's CDRs to a CSV file."""
    async with await Store.from_settings(settings) as store:
        rows = await export_cdrs(store, args.campaign_id, args.out, now=datetime.now(UTC),
                                 actor=actor_of(args), unmasked=args.unmasked)
    masked = "UNMASKED numbers (audited)" if args.unmasked else "masked numbers"
    print(f"{args.out}: {rows} call records, {masked}")
    return 0
