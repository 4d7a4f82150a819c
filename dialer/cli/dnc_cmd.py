"""`dialer dnc add|remove|check|import|export-hashes`: the do-not-call registry by hand.

These commands talk to the store directly; running nodes pick the changes up at their
next DNC sync (before their next dial decision). Numbers are shown masked unless
`--show-numbers` is given; exports hold keyed hashes only, never numbers.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from dialer.db import create_engine
from dialer.keys import load_keyring
from dialer.settings import Settings
from dialer.store import ensure_schema
from dnc import (
    GLOBAL,
    DncError,
    DncRegistry,
    ImportFileError,
    ImportReport,
    InvalidNumber,
    NotListed,
    NumberFile,
    NumberHasher,
    Rejection,
    RejectReason,
    Scope,
    ScopeKey,
    Source,
    import_numbers,
    is_known_region,
    mask_number,
    normalize,
    scope_keys,
)

DEFAULT_REGION = "CN"
SHOW_REJECTED = 20
DEFAULT_WORKERS = max(0, min(4, (os.cpu_count() or 1) - 1))

Handler = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def register(sub: Any) -> None:
    """Add the `dnc` command group."""
    dnc = sub.add_parser("dnc", help="the do-not-call registry")
    verbs = dnc.add_subparsers(dest="verb", metavar="VERB", required=True)

    add = verbs.add_parser("add", help="put a number on the do-not-call list")
    add.add_argument("number")
    _scope_args(add)
    _region_arg(add)
    add.add_argument("--source", choices=[s.value for s in Source], default=Source.MANUAL.value)
    add.add_argument("--reason", help="why (free text; do not put numbers in it)")
    add.add_argument("--evidence", help="a call id or ticket that shows the refusal")
    add.add_argument("--expires", type=_aware_datetime,
                     help="ISO date/time after which the entry stops blocking (default: never)")
    add.add_argument("--by", dest="actor", help="who is adding it (default: the OS user)")
    add.set_defaults(handler=_guarded(add_number))

    remove = verbs.add_parser("remove", help="take a number off the list (audited)")
    remove.add_argument("number")
    _scope_args(remove)
    _region_arg(remove)
    remove.add_argument("--reason", required=True, help="why it is removed (required)")
    remove.add_argument("--by", dest="actor", help="who is removing it (default: the OS user)")
    remove.set_defaults(handler=_guarded(remove_number))

    check = verbs.add_parser("check", help="print 'blocked' (exit 1) or 'allowed' (exit 0)")
    check.add_argument("number")
    check.add_argument("--tenant", help="also apply this tenant's list")
    check.add_argument("--campaign", help="also apply this campaign's list")
    _region_arg(check)
    check.set_defaults(handler=_guarded(check_number))

    imp = verbs.add_parser("import", help="import a list: one number per line, or a CSV column")
    imp.add_argument("file", type=Path)
    imp.add_argument("--column", help="CSV column holding the numbers (the file has a header)")
    _scope_args(imp)
    _region_arg(imp)
    imp.add_argument("--source", choices=[s.value for s in Source], default=Source.IMPORT.value)
    imp.add_argument("--reason", help="recorded on every entry (default: 'import FILENAME')")
    imp.add_argument("--by", dest="actor", help="who imports it (default: the OS user)")
    imp.add_argument("--batch-size", type=int, default=5000, help="lines per transaction")
    imp.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                     help="processes that normalise and hash while this one writes "
                          f"(default {DEFAULT_WORKERS}; 0: none)")
    imp.add_argument("--show-rejected", type=int, default=SHOW_REJECTED, metavar="N",
                     help=f"print the first N rejected lines (default {SHOW_REJECTED})")
    imp.add_argument("--report", type=Path,
                     help="where to write every rejected line (default FILE.rejected.csv)")
    imp.set_defaults(handler=_guarded(import_file))

    export = verbs.add_parser("export-hashes", help="write the listed keyed hashes as hex")
    _scope_args(export)
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.set_defaults(handler=_guarded(export_hashes))


def _scope_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tenant", help="this tenant's list instead of the global one")
    group.add_argument("--campaign", help="this campaign's list instead of the global one")


def _region_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", type=_region, default=DEFAULT_REGION,
                        help=f"default region for numbers without +/00 (default {DEFAULT_REGION})")


def _region(value: str) -> str:
    if not is_known_region(value):
        raise argparse.ArgumentTypeError(f"unknown region {value!r} (ISO 3166 code, e.g. CN)")
    return value.upper()


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _key(args: argparse.Namespace) -> ScopeKey:
    if args.tenant:
        return ScopeKey(Scope.TENANT, args.tenant)
    if args.campaign:
        return ScopeKey(Scope.CAMPAIGN, args.campaign)
    return GLOBAL


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _guarded(handler: Handler) -> Handler:
    """Turn the DNC's own errors into a message and an exit status."""
    async def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return await handler(args, settings)
        except ImportFileError as exc:
            print(f"dialer: {exc}", file=sys.stderr)
            return 2
        except DncError as exc:
            print(f"dialer: {exc}", file=sys.stderr)
            return 1
    return run


@asynccontextmanager
async def _registry(settings: Settings) -> AsyncIterator[tuple[DncRegistry, NumberHasher]]:
    hasher = NumberHasher(load_keyring(settings.key_file).hash_key)
    engine = create_engine(settings.db_url)
    try:
        await ensure_schema(engine)
        yield DncRegistry(engine), hasher
    finally:
        await engine.dispose()


def _e164(raw: str, region: str) -> str:
    number = normalize(raw, region)
    if number.e164 is None:
        raise InvalidNumber(number.reason or RejectReason.INVALID, mask_number(raw))
    return number.e164


def _show(e164: str, settings: Settings) -> str:
    return e164 if settings.show_numbers else mask_number(e164)


def _where(key: ScopeKey) -> str:
    return "global list" if key == GLOBAL else f"{key.scope.value} {key.ref!r}"


async def add_number(args: argparse.Namespace, settings: Settings) -> int:
    """`dnc add`: list a number (idempotent)."""
    e164 = _e164(args.number, args.region)
    key = _key(args)
    async with _registry(settings) as (registry, hasher):
        outcome, _ = await registry.add(hasher.digest(e164), key=key, source=Source(args.source),
                                        reason=args.reason, evidence=args.evidence,
                                        expires_at=args.expires, actor=_actor(args))
    state = "added to" if outcome.changed else "already on"
    print(f"{_show(e164, settings)} {state} the {_where(key)} (DNC version {outcome.version})")
    return 0


async def remove_number(args: argparse.Namespace, settings: Settings) -> int:
    """`dnc remove`: take a number off one list, with a reason (journaled)."""
    e164 = _e164(args.number, args.region)
    key = _key(args)
    async with _registry(settings) as (registry, hasher):
        try:
            change = await registry.remove(hasher.digest(e164), key=key, reason=args.reason,
                                           actor=_actor(args))
        except NotListed:
            print(f"{_show(e164, settings)} is not on the {_where(key)}", file=sys.stderr)
            return 1
    print(f"{_show(e164, settings)} removed from the {_where(key)} "
          f"(DNC version {change.version})")
    return 0


async def check_number(args: argparse.Namespace, settings: Settings) -> int:
    """`dnc check`: 'blocked' and exit 1 if listed (exact hash), else 'allowed' and exit 0."""
    number = normalize(args.number, args.region)
    if number.e164 is None:
        print(f"note: not a valid number ({number.reason}); no list can hold it",
              file=sys.stderr)
        print("allowed")
        return 0
    async with _registry(settings) as (registry, hasher):
        listing = await registry.lookup(hasher.digest(number.e164),
                                        scope_keys(args.tenant, args.campaign))
    if listing is None:
        print("allowed")
        return 0
    print("blocked")
    return 1


async def import_file(args: argparse.Namespace, settings: Settings) -> int:
    """`dnc import`: stream a list in, with a progress bar and a report of rejected lines."""
    report_path: Path = args.report or args.file.with_name(args.file.name + ".rejected.csv")
    err = Console(stderr=True)
    rejected = _RejectionLog(report_path, args.show_rejected, err)
    started = time.perf_counter()
    with NumberFile(args.file, column=args.column) as source, Progress(
            TextColumn("[bold]import"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
            console=err, transient=True) as progress:
        task = progress.add_task("import", total=source.size)
        async with _registry(settings) as (registry, hasher):
            try:
                report = await import_numbers(
                    registry, hasher, source, region=args.region, key=_key(args),
                    source=Source(args.source),
                    reason=args.reason or f"import {args.file.name}", actor=_actor(args),
                    batch_size=args.batch_size, workers=args.workers,
                    on_rejected=rejected.add,
                    on_batch=lambda _: progress.update(task, completed=source.bytes_read))
            finally:
                rejected.close()
        progress.update(task, completed=source.bytes_read)
    elapsed = time.perf_counter() - started
    _print_report(report, elapsed, rejected, report_path)
    return 0


def _print_report(report: ImportReport, elapsed: float, rejected: _RejectionLog,
                  report_path: Path) -> None:
    rate = report.lines / elapsed if elapsed > 0 else 0.0
    versions = ("no change" if report.last_version is None
                else f"DNC versions {report.first_version}..{report.last_version}")
    print(f"{report.lines} lines in {elapsed:.1f} s ({rate:,.0f} lines/s): "
          f"{report.added} added, {report.already_listed} already listed, "
          f"{report.rejected} rejected; {versions}")
    if report.rejected:
        shown = min(report.rejected, rejected.shown_limit)
        print(f"rejected lines: the first {shown} above, all {report.rejected} in {report_path}")


class _RejectionLog:
    """Prints the first rejected lines and writes every one to a CSV report file."""

    def __init__(self, path: Path, shown_limit: int, console: Console) -> None:
        self.path = path
        self.shown_limit = shown_limit
        self._console = console
        self._count = 0
        self._fh: TextIO | None = None

    def add(self, rejection: Rejection) -> None:
        if self._fh is None:
            self._fh = self.path.open("w", encoding="utf-8")
            self._fh.write("line,reason\n")
        self._fh.write(f"{rejection.line},{rejection.reason.value}\n")
        self._count += 1
        if self._count <= self.shown_limit:
            self._console.print(f"line {rejection.line}: {rejection.reason.value}")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


async def export_hashes(args: argparse.Namespace, settings: Settings) -> int:
    """`dnc export-hashes`: the hex keyed hashes that block now, one per line."""
    key = _key(args)
    out = args.output.open("w", encoding="ascii") if args.output else sys.stdout
    count = 0
    try:
        async with _registry(settings) as (registry, _):
            async for entries in registry.active_entries(key=key):
                out.writelines(f"{e.digest.hex()}\n" for e in entries)
                count += len(entries)
    finally:
        if args.output:
            out.close()
    print(f"{count} hashes from the {_where(key)}", file=sys.stderr)
    return 0
