"""`dialer leads import FILE --campaign ID`: load a CSV of leads into a stored campaign.

Prints a summary and the first rejected rows (line, column, reason; never a number);
every rejected row, and every row kept as DNC, is in `<FILE>.rejected.csv`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from dialer.campaign import find_campaign, stored_campaign
from dialer.cli.store_args import actor_of
from dialer.leads import ENCODINGS, Encoding, LeadImportReport, RowReport, import_leads, parse_map
from dialer.settings import Settings
from dialer.store import Store
from dnc import Dnc, is_known_region

SHOW_REJECTED = 20


def register(sub: Any) -> None:
    """Add the `leads` command group."""
    leads = sub.add_parser("leads", help="import leads into a campaign")
    verbs = leads.add_subparsers(dest="verb", metavar="VERB", required=True)
    imp = verbs.add_parser("import", help="import a CSV file (UTF-8, UTF-8 with BOM, GBK)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--campaign", required=True, help="campaign id or name")
    imp.add_argument("--tenant", help="the tenant of a campaign named by name")
    imp.add_argument("--map", dest="mapping", type=_mapping, default={},
                     help="FIELD=COLUMN pairs, e.g. number=Phone,name=Name (fields: number, "
                          "name, priority, consent, consent_evidence, region); other columns "
                          "are kept as custom fields")
    imp.add_argument("--encoding", choices=ENCODINGS, default="auto")
    imp.add_argument("--region", type=_region,
                     help="region of numbers written without a country code (default: the "
                          "campaign's)")
    imp.add_argument("--consent-column", help="the column holding each lead's consent")
    imp.add_argument("--report", type=Path, help="where to write the rejected rows "
                                                 "(default FILE.rejected.csv)")
    imp.add_argument("--show-rejected", type=int, default=SHOW_REJECTED, metavar="N",
                     help=f"print the first N reported rows (default {SHOW_REJECTED})")
    imp.add_argument("--actor", help="who is doing this (for the audit log)")
    imp.set_defaults(handler=import_file)


def _mapping(text: str) -> dict[str, str]:
    try:
        return parse_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _region(text: str) -> str:
    if not is_known_region(text):
        raise argparse.ArgumentTypeError(f"unknown region {text!r} (ISO 3166, e.g. CN)")
    return text.upper()


async def import_file(args: argparse.Namespace, settings: Settings) -> int:
    """Import the file and print what happened."""
    shown = 0

    def show(row: RowReport) -> None:
        nonlocal shown
        if shown < args.show_rejected:
            shown += 1
            print(f"{args.file}:{row.line}: field '{row.field}': {row.problem.value}"
                  f" ({row.outcome}){': ' + row.detail if row.detail else ''}",
                  file=sys.stderr)

    started = time.perf_counter()
    encoding = None if args.encoding == "auto" else cast(Encoding, args.encoding)
    async with await Store.from_settings(settings) as store:
        info = await find_campaign(store, args.campaign, tenant=args.tenant)
        campaign = stored_campaign(info)
        dnc = await Dnc.open(store.db.engine, store.hasher, region=campaign.region)
        report = await import_leads(store, campaign, info.id, args.file, dnc=dnc,
                                    now=datetime.now(UTC), actor=actor_of(args),
                                    mapping=args.mapping, encoding=encoding,
                                    region=args.region, consent_column=args.consent_column,
                                    report_path=args.report, on_problem=show)
    print(summary(report, info.name, time.perf_counter() - started))
    return 0


def summary(report: LeadImportReport, campaign: str, elapsed: float) -> str:
    """The outcome of an import in a few lines."""
    damaged = f", {report.undecodable} undecodable characters" if report.undecodable > 0 else ""
    lines = [(f"{report.path} ({report.encoding}{damaged}) into campaign {campaign!r}: "
             f"{report.rows} rows in {elapsed:.1f} s; {report.inserted} leads added, "
             f"{report.kept_dnc} kept as dnc (never dialled), {report.rejected_total} rejected")]
    if report.rejected:
        lines.append("  rejected: " + ", ".join(f"{p.value} {n}" for p, n in
                                                sorted(report.rejected.items())))
    if report.report_path is not None:
        lines.append(f"  every reported row: {report.report_path}")
    lines.append(f"  import batch {report.batch}")
    return "\n".join(lines)
