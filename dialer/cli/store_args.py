"""Arguments shared by the store-backed commands (keys, purge, report)."""

from __future__ import annotations

import argparse
import getpass

from dialer.compliance import ComplianceProfile, load_profiles


def actor_of(args: argparse.Namespace) -> str:
    """Who runs the command, for the audit log: --actor, else `cli:<login name>`."""
    given = getattr(args, "actor", None)
    return str(given) if given else f"cli:{getpass.getuser()}"


def add_profiles_option(parser: argparse.ArgumentParser) -> None:
    """Add `--profiles FILE` (repeatable): custom compliance profiles to load."""
    parser.add_argument("--profiles", action="append", default=[], metavar="FILE",
                        help="a custom compliance profile (YAML); repeat for several")


def profiles_of(args: argparse.Namespace) -> dict[str, ComplianceProfile]:
    """The built-in profiles plus those named by --profiles."""
    return load_profiles(args.profiles)
