"""`dialer agents add|list|set-pin|disable|enable`: agents and their PINs.

An agent logs in from a phone by dialling `*55<id>*<pin>`, so both are digits. The PIN
is read from `--pin`, a file (`--pin-file`), standard input (`--pin-file -`) or a prompt;
the store keeps only a salted scrypt hash. No PIN is ever printed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialer.cli.store_args import actor_of
from dialer.errors import ConfigError
from dialer.settings import Settings
from dialer.store import Store

AGENT_ID = re.compile(r"^[0-9]{1,32}$")
PIN = re.compile(r"^[0-9]{4,16}$")


def register(sub: Any) -> None:
    """Add the `agents` command group."""
    agents = sub.add_parser("agents", help="agents who log in from their phones")
    verbs = agents.add_subparsers(dest="verb", metavar="VERB", required=True)

    add = verbs.add_parser("add", help="add an agent (ID and PIN are digits)")
    _agent_args(add)
    add.add_argument("--name", help="display name (default: the ID)")
    _pin_args(add)
    add.set_defaults(handler=add_agent)

    listing = verbs.add_parser("list", help="a tenant's agents")
    listing.add_argument("--tenant", default="default", help="tenant name (default: default)")
    listing.set_defaults(handler=list_agents)

    set_pin = verbs.add_parser("set-pin", help="replace an agent's PIN")
    _agent_args(set_pin)
    _pin_args(set_pin)
    set_pin.set_defaults(handler=change_agent)

    for verb, text in (("disable", "refuse the agent's logins"),
                       ("enable", "accept the agent's logins again")):
        parser = verbs.add_parser(verb, help=text)
        _agent_args(parser)
        parser.set_defaults(handler=change_agent)


def _agent_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", type=_agent_id, help="the digits the agent logs in with")
    parser.add_argument("--tenant", default="default", help="tenant name (default: default)")
    parser.add_argument("--actor", help="who is doing this (for the audit log)")


def _pin_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--pin", help="the PIN (4-16 digits; visible to other local users "
                                     "while the command runs: prefer --pin-file or the prompt)")
    group.add_argument("--pin-file", type=Path,
                       help="read the PIN from this file's first line ('-': standard input)")


def _agent_id(text: str) -> str:
    if not AGENT_ID.match(text):
        raise argparse.ArgumentTypeError("an agent ID is 1-32 digits (it is dialled)")
    return text


def read_pin(args: argparse.Namespace) -> str:
    """The PIN from --pin, --pin-file (or stdin) or a prompt; ConfigError if malformed."""
    pin: str
    if args.pin is not None:
        pin = str(args.pin)
    elif args.pin_file is not None:
        if str(args.pin_file) == "-":
            pin = sys.stdin.readline()
        else:
            try:
                pin = args.pin_file.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, IndexError) as exc:
                raise ConfigError("cannot read a PIN from it", file=args.pin_file,
                                  field="pin") from exc
    elif sys.stdin.isatty():
        pin = getpass.getpass("PIN: ")
        if getpass.getpass("PIN again: ") != pin:
            raise ConfigError("the two PINs differ", field="pin")
    else:
        raise ConfigError("no PIN given (--pin, --pin-file, or run in a terminal)", field="pin")
    pin = pin.strip()
    if not PIN.match(pin):
        raise ConfigError("a PIN is 4-16 digits (it is dialled)", field="pin")
    return pin


async def add_agent(args: argparse.Namespace, settings: Settings) -> int:
    """`agents add`: create the agent (and its tenant if new)."""
    pin = read_pin(args)
    now = datetime.now(UTC)
    actor = actor_of(args)
    async with await Store.from_settings(settings) as store:
        tenant = await store.tenants.get_or_create(args.tenant, now=now, actor=actor)
        agent = await store.agents.create(tenant.id, args.agent, args.name or args.agent, pin,
                                          now=now, actor=actor)
    print(f"agent {agent.external_id} ({agent.name}) added to tenant {tenant.name!r}; "
          f"log in by dialling *55{agent.external_id}*<PIN>")
    return 0


async def list_agents(args: argparse.Namespace, settings: Settings) -> int:
    """`agents list`."""
    async with await Store.from_settings(settings) as store:
        tenant = await store.tenants.by_name(args.tenant)
        agents = await store.agents.of_tenant(tenant.id)
    for agent in agents:
        print(f"{agent.external_id:>8}  {agent.name:<24} "
              f"{'active' if agent.active else 'disabled'}")
    if not agents:
        print(f"tenant {tenant.name!r} has no agents")
    return 0


async def change_agent(args: argparse.Namespace, settings: Settings) -> int:
    """`agents set-pin|disable|enable`."""
    pin = read_pin(args) if args.verb == "set-pin" else None
    now = datetime.now(UTC)
    actor = actor_of(args)
    async with await Store.from_settings(settings) as store:
        tenant = await store.tenants.by_name(args.tenant)
        agent = await store.agents.by_external_id(tenant.id, args.agent)
        if pin is not None:
            await store.agents.set_pin(agent.id, pin, now=now, actor=actor)
        else:
            await store.agents.set_active(agent.id, args.verb == "enable", now=now, actor=actor)
    done = "PIN changed" if pin is not None else f"{args.verb}d"
    print(f"agent {agent.external_id} of tenant {tenant.name!r}: {done}")
    return 0
