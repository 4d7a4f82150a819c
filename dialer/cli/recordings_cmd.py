"""`dialer recordings`: get (decrypt, audited), delete (audited), list, recover.

Every access to a recording's audio is audited with who, when and why before the
audio is handed over; a lookup by number is audited too (the number masked).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialer.cli.store_args import actor_of
from dialer.errors import ConfigError, DialerError
from dialer.recorder import open_vault
from dialer.settings import Settings
from dialer.store import RecordingInfo, Store
from dialer.store.recordings import indexed_file
from dnc import mask_number, normalize
from recordings import RecordingError, Vault


def register(sub: Any) -> None:
    """Add the `recordings` command group."""
    rec = sub.add_parser("recordings", help="call recordings: get, delete, list, recover")
    verbs = rec.add_subparsers(dest="verb", metavar="VERB", required=True)
    get = verbs.add_parser("get", help="decrypt a call's recording (audited)")
    get.add_argument("attempt", help="the attempt (call) id")
    get.add_argument("--reason", required=True, help="why it is retrieved (for the audit log)")
    get.add_argument("--segment", type=int, help="one segment of an on-demand recording")
    get.add_argument("--out", help="output file, or - for standard output "
                                   "(default: <attempt>-<segment>.wav here)")
    get.add_argument("--actor", help="who is doing this (for the audit log)")
    get.set_defaults(handler=get_recording)
    delete = verbs.add_parser("delete", help="delete a call's recording (e.g. on a complaint)")
    delete.add_argument("attempt", help="the attempt (call) id")
    delete.add_argument("--reason", required=True, help="why (for the audit log)")
    delete.add_argument("--segment", type=int, help="only this segment")
    delete.add_argument("--actor", help="who is doing this (for the audit log)")
    delete.set_defaults(handler=delete_recording)
    listing = verbs.add_parser("list", help="list recordings by campaign, number or date")
    listing.add_argument("--campaign", type=int, help="campaign id")
    listing.add_argument("--number", help="the called number (looked up by its keyed hash)")
    listing.add_argument("--region", help="default region of a number without +, e.g. CN")
    listing.add_argument("--since", help="created at or after (YYYY-MM-DD or ISO time, UTC)")
    listing.add_argument("--until", help="created before (YYYY-MM-DD or ISO time, UTC)")
    listing.add_argument("--deleted", action="store_true", help="include deleted ones")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--actor", help="who is doing this (audited for --number)")
    listing.set_defaults(handler=list_recordings)
    recover = verbs.add_parser(
        "recover", help="finish or undo archiving a crash interrupted (node stopped)",
        description="What the engine does at start: archive finished recordings left in "
                    "the spool, remove temporary files, mark rows whose file is gone. Run it "
                    "only while this node's engine is stopped.")
    recover.add_argument("--settle", type=float, default=30.0,
                         help="leave spool files written to in the last SECONDS alone")
    recover.set_defaults(handler=recover_recordings)


def _attempt_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not an attempt id (a UUID)", field="attempt") from None


async def _select(store: Store, attempt: uuid.UUID, segment: int | None) -> list[RecordingInfo]:
    rows = [r for r in await store.recordings.for_attempt(attempt)
            if segment is None or r.segment == segment]
    if not rows:
        which = f"segment {segment} of " if segment is not None else ""
        raise DialerError(f"no recording of {which}attempt {attempt}")
    return rows


def _check_readable(row: RecordingInfo) -> None:
    if row.deleted_at is not None:
        raise DialerError(f"recording {row.id} was deleted at {row.deleted_at.isoformat()}")
    if row.missing_at is not None:
        raise DialerError(f"recording {row.id}: its file was found missing at "
                          f"{row.missing_at.isoformat()}")


def _decrypt(vault: Vault, row: RecordingInfo, dst: Any) -> None:
    try:
        vault.decrypt_to(indexed_file(row), dst)
    except FileNotFoundError:
        raise DialerError(f"recording {row.id}: {row.path} is not on this node (stored by "
                          f"node {row.node_id})") from None
    except RecordingError as exc:
        raise DialerError(f"recording {row.id}: {exc}") from exc


async def get_recording(args: argparse.Namespace, settings: Settings) -> int:
    """Decrypt (to a private temp file), verify, audit, then hand the audio over."""
    attempt = _attempt_id(args.attempt)
    async with await Store.from_settings(settings) as store:
        rows = await _select(store, attempt, args.segment)
        if args.out is not None and len(rows) > 1:
            raise DialerError(f"attempt {attempt} has {len(rows)} segments: pick one with "
                              "--segment")
        vault = open_vault(settings, store)
        for row in rows:
            _check_readable(row)
            out = args.out or f"{attempt}-{row.segment}.wav"
            if out == "-":
                _decrypt(vault, row, None)
                await _audit_get(store, args, row, "stdout")
                _decrypt(vault, row, sys.stdout.buffer)
                continue
            target = Path(out)
            part = target.with_name(f".{target.name}.part")
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "wb") as dst:
                    _decrypt(vault, row, dst)
                await _audit_get(store, args, row, str(target))
                os.replace(part, target)
            finally:
                part.unlink(missing_ok=True)
            print(f"recording {row.id} (attempt {attempt}, segment {row.segment}, "
                  f"{row.duration_s:.1f} s) -> {target}", file=sys.stderr)
    return 0


async def _audit_get(store: Store, args: argparse.Namespace, row: RecordingInfo,
                     out: str) -> None:
    await store.audit(actor_of(args), "recording.get", at=datetime.now(UTC),
                      subject_type="recording", subject_id=row.id,
                      detail={"reason": args.reason, "attempt": str(row.attempt_id),
                              "segment": row.segment, "out": out})


async def delete_recording(args: argparse.Namespace, settings: Settings) -> int:
    """Mark the rows deleted (audited, with the reason), then delete the files."""
    attempt = _attempt_id(args.attempt)
    async with await Store.from_settings(settings) as store:
        rows = [r for r in await _select(store, attempt, args.segment) if r.deleted_at is None]
        if not rows:
            raise DialerError(f"the recordings of attempt {attempt} are already deleted")
        for row in rows:
            await store.recordings.mark_deleted(row.id, now=datetime.now(UTC),
                                                actor=actor_of(args), reason=args.reason)
            Path(row.path).unlink(missing_ok=True)
            print(f"recording {row.id} (attempt {attempt}, segment {row.segment}) deleted")
    return 0


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date (YYYY-MM-DD) or ISO time",
                          field=name) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def list_recordings(args: argparse.Namespace, settings: Settings) -> int:
    """Print matching recordings, newest first (never a number)."""
    since, until = _when(args.since, "since"), _when(args.until, "until")
    async with await Store.from_settings(settings) as store:
        digest = None
        if args.number is not None:
            number = normalize(args.number, args.region)
            if number.e164 is None:
                raise ConfigError(f"not a valid number ({number.reason})", field="number")
            digest = store.hasher.digest(number.e164)
            await store.audit(actor_of(args), "recording.list", at=datetime.now(UTC),
                              detail={"number": mask_number(number.e164),
                                      "number_hash": digest.hex()[:16]})
        rows = await store.recordings.search(campaign_id=args.campaign, number_hash=digest,
                                             since=since, until=until,
                                             include_deleted=args.deleted, limit=args.limit)
    print(f"{'id':>6}  {'attempt':<36} {'seg':>3} {'campaign':>8}  {'created (UTC)':<16} "
          f"{'seconds':>8} {'bytes':>10} {'ch':>2} {'key':<6} {'state':<8} node")
    for r in rows:
        print(f"{r.id:>6}  {r.attempt_id!s:<36} {r.segment:>3} {r.campaign_id:>8}  "
              f"{r.created_at.strftime('%Y-%m-%d %H:%M'):<16} {r.duration_s:>8.1f} "
              f"{r.size_bytes:>10} {r.channels:>2} {r.key_id or '-':<6} {r.state:<8} "
              f"{r.node_id or '-'}")
    print(f"{len(rows)} recording(s)")
    return 0


async def recover_recordings(args: argparse.Namespace, settings: Settings) -> int:
    """Run the start-up recovery now; exit status 1 if something could not be repaired."""
    async with await Store.from_settings(settings) as store:
        report = await open_vault(settings, store).recover(settle_s=args.settle)
    print(f"recovery: {report.summary()}")
    for problem in report.failed:
        print(f"  failed: {problem}")
    return 1 if report.failed or report.lost else 0
