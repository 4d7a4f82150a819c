"""`dialer tenant list|freeze|unfreeze|limit|terminate`: tenants by hand (audited).

A tenant freeze stops every campaign of the tenant at its next tick, until `--until`
(it lifts itself) or an unfreeze. Terminating a tenant ends its service: no campaign of
it dials again and its data is destroyed after its profile's deadline (7 days).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from dialer.campaign import frozen_at
from dialer.cli.campaign_cmd import until_time
from dialer.cli.store_args import actor_of
from dialer.settings import Settings
from dialer.store import Store, TenantInfo


def register(sub: Any) -> None:
    """Add the `tenant` command group."""
    tenant = sub.add_parser("tenant", help="list, freeze, limit or terminate tenants")
    verbs = tenant.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="every tenant").set_defaults(handler=list_tenants)

    freeze = verbs.add_parser("freeze", help="stop all of a tenant's dialling")
    _name_args(freeze)
    freeze.add_argument("--until", type=until_time,
                        help="ISO time (UTC if no offset) or +DURATION such as +2h")
    freeze.add_argument("--reason", default="", help="why (audited)")
    freeze.set_defaults(handler=change_tenant)

    unfreeze = verbs.add_parser("unfreeze", help="lift a tenant's freeze now")
    _name_args(unfreeze)
    unfreeze.set_defaults(handler=change_tenant)

    limit = verbs.add_parser("limit", help="limit the lines all its campaigns use at once")
    _name_args(limit)
    limit.add_argument("--max-lines", required=True, type=_max_lines,
                       help="a number of lines, or 'none' for no limit")
    limit.set_defaults(handler=change_tenant)

    terminate = verbs.add_parser("terminate", help="end a tenant's service (data destroyed "
                                                   "after its profile's deadline)")
    _name_args(terminate)
    terminate.add_argument("--yes", action="store_true", required=True,
                           help="confirm: the tenant's campaigns never dial again")
    terminate.set_defaults(handler=change_tenant)


def _name_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tenant", help="tenant name or id")
    parser.add_argument("--actor", help="who is doing this (for the audit log)")


def _max_lines(text: str) -> int | None:
    if text.lower() == "none":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of lines or 'none', got {text!r}")
    return int(text)


def describe_tenant(tenant: TenantInfo, now: datetime) -> str:
    """One line about a tenant."""
    text = f"tenant {tenant.name!r} (id {tenant.id}): {tenant.status.value}"
    if frozen_at(tenant.frozen_until, now):
        until = tenant.frozen_until
        end = "until unfrozen" if until is None or until.year >= 9999 else \
            f"until {until.isoformat(timespec='seconds')}"
        text += f", frozen {end} ({tenant.freeze_reason or 'no reason given'})"
    if tenant.max_lines is not None:
        text += f", at most {tenant.max_lines} lines"
    return text


async def _find(store: Store, ref: str) -> TenantInfo:
    return await (store.tenants.get(int(ref)) if ref.isdigit() else store.tenants.by_name(ref))


async def list_tenants(args: argparse.Namespace, settings: Settings) -> int:
    """`tenant list`."""
    now = datetime.now(UTC)
    async with await Store.from_settings(settings) as store:
        for tenant in await store.tenants.list_all():
            print(describe_tenant(tenant, now))
    return 0


async def change_tenant(args: argparse.Namespace, settings: Settings) -> int:
    """`tenant freeze|unfreeze|limit|terminate`."""
    now = datetime.now(UTC)
    actor = actor_of(args)
    async with await Store.from_settings(settings) as store:
        tenant = await _find(store, args.tenant)
        if args.verb == "freeze":
            tenant = await store.tenants.freeze(tenant.id, until=args.until, reason=args.reason,
                                                now=now, actor=actor)
        elif args.verb == "unfreeze":
            tenant = await store.tenants.unfreeze(tenant.id, now=now, actor=actor)
        elif args.verb == "limit":
            tenant = await store.tenants.set_max_lines(tenant.id, args.max_lines, now=now,
                                                       actor=actor)
        else:
            tenant = await store.tenants.terminate(tenant.id, now=now, actor=actor)
            print("its data is destroyed after its profile's deadline (dialer purge)",
                  file=sys.stderr)
    print(describe_tenant(tenant, now))
    return 0
