"""`dialer config show`: the effective node settings, secrets hidden."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dialer.settings import Settings


def register(sub: Any) -> None:
    """Add the `config` command group."""
    config = sub.add_parser("config", help="inspect the node configuration")
    verbs = config.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser("show", help="print the effective settings as JSON")
    show.set_defaults(handler=show_settings)


def show_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings after precedence is applied; secrets print as '**********'."""
    print(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
    return 0
