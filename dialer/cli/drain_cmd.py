"""`dialer drain [--node ID] [--cancel]` and `dialer nodes`: drain a node, list nodes.

A drain request is a row in the store (`nodes.drain_requested_at`) that the node reads
every tick: it stops starting calls, lets live ones finish and records `drained_at`.
It can be sent from any host that reaches the database; `--cancel` withdraws it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from dialer.cli.store_args import actor_of
from dialer.settings import Settings
from dialer.store import NodeInfo, Store


def register(sub: Any) -> None:
    """Add the `drain` and `nodes` commands."""
    drain = sub.add_parser("drain", help="ask a node to stop starting calls (live calls finish)")
    drain.add_argument("--node", help="the node to drain (default: this node's id)")
    drain.add_argument("--cancel", action="store_true", help="withdraw the drain request")
    drain.add_argument("--actor", help="who is doing this (for the audit log)")
    drain.set_defaults(handler=drain_node)
    nodes = sub.add_parser("nodes", help="nodes: last heartbeat and drain requests")
    nodes.set_defaults(handler=list_nodes)


def describe_node(node: NodeInfo, now: datetime) -> str:
    """One line about a node."""
    if node.heartbeat_at is None:
        seen = "never reported"
    else:
        seen = f"last seen {(now - node.heartbeat_at).total_seconds():.0f} s ago"
    text = f"node {node.id}: {seen}"
    if node.drain_requested_at is not None:
        text += (f"; drain requested {node.drain_requested_at.isoformat(timespec='seconds')}"
                 f" by {node.drain_requested_by or '?'}")
        text += (f", drained {node.drained_at.isoformat(timespec='seconds')}"
                 if node.drained_at is not None else ", draining")
    return text


async def drain_node(args: argparse.Namespace, settings: Settings) -> int:
    """`drain`: record (or withdraw) a drain request for a node."""
    node_id = args.node or settings.node_id
    now = datetime.now(UTC)
    async with await Store.from_settings(settings) as store:
        if args.cancel:
            node = await store.nodes.cancel_drain(node_id, now=now, actor=actor_of(args))
            if node is None:
                print(f"dialer: no node {node_id!r} is known", file=sys.stderr)
                return 1
        else:
            node = await store.nodes.request_drain(node_id, now=now, actor=actor_of(args))
    print(describe_node(node, now))
    return 0


async def list_nodes(args: argparse.Namespace, settings: Settings) -> int:
    """`nodes`: every node the store knows."""
    now = datetime.now(UTC)
    async with await Store.from_settings(settings) as store:
        nodes = await store.nodes.list_all()
    for node in nodes:
        print(describe_node(node, now))
    if not nodes:
        print("no node has reported yet")
    return 0
