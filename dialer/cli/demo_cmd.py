"""`dialer demo leads --count 300 --out FILE [--seed N]`: leads for `make demo`.

Writes a CSV for `dialer leads import` of callees inside their calling window now (the
`us` profile's hours, as the demo campaign's, or a campaign file's), and prints the
country and time zone it chose and the mix of SIPp behaviours. Never prints a number.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialer.campaign import load_campaign
from dialer.compliance import BUILTIN_PROFILES
from dialer.demo import DIGIT_OF, choose_country, demo_leads, write_csv
from dialer.settings import Settings

DEMO_PROFILE = "us"  # the profile of examples/campaigns/demo.yaml


def register(sub: Any) -> None:
    """Add the `demo` command group."""
    demo = sub.add_parser("demo", help="helpers of `make demo`")
    verbs = demo.add_subparsers(dest="verb", metavar="VERB", required=True)
    leads = verbs.add_parser("leads", help="write demo leads whose calling window is open now")
    leads.add_argument("--count", type=_positive, default=300)
    leads.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    leads.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    leads.add_argument("--campaign", type=Path, metavar="FILE",
                       help=f"use this campaign file's calling hours (default: profile "
                            f"{DEMO_PROFILE}'s)")
    leads.set_defaults(handler=write_demo_leads)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def write_demo_leads(args: argparse.Namespace, settings: Settings) -> int:
    """`demo leads`: choose the country, write the file, print the choice and the mix."""
    hours = (load_campaign(args.campaign).calling_hours if args.campaign is not None
             else BUILTIN_PROFILES[DEMO_PROFILE].calling_hours)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    now = datetime.now(UTC)
    choice = choose_country(now, hours)
    leads = demo_leads(args.count, now, hours, random.Random(seed))
    write_csv(args.out, leads)
    left = choice.open_until - now
    hours_left, minutes_left = divmod(int(left.total_seconds()) // 60, 60)
    print(f"{args.out}: {len(leads)} leads in {choice.country.region} "
          f"({choice.country.zone}, +{choice.country.country_code}): local time "
          f"{choice.local:%a %H:%M}, calling window open for another {hours_left} h "
          f"{minutes_left:02d} min; seed {seed}")
    counts = Counter(lead.behaviour for lead in leads)
    print("  last digit  behaviour   leads   share")
    for behaviour, digit in sorted(DIGIT_OF.items(), key=lambda item: item[1]):
        n = counts[behaviour]
        print(f"  {digit:>10}  {behaviour.value:<10}  {n:>5}  {100 * n / len(leads):5.1f} %")
    return 0
