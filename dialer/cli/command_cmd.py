"""`dialer command VERB …`: send an operator command to nodes over MQTT and print each
node's answer; `dialer events [FILTER…]`: print events as they arrive.

    dialer command pause 12 --reason "complaint"           # every node (dialer/all/cmd)
    dialer command freeze 12 --until 2026-03-01T18:00+08:00 --node n1
    dialer command drain --node n1
    dialer events 'dialer/+/health' --count 3

Both connect as observers (no health, no last will) with the node's MQTT settings;
commands carry the node's command token (`DIALER_COMMAND_TOKEN[_FILE]`). Exit status:
0 if every answer was `ok` (and one came), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import json
import re
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

from dialer.commands import CAMPAIGN_COMMANDS, CommandKind
from dialer.errors import ConfigError
from dialer.events import ALL_NODES, MqttBus, MqttConfig, command_topic
from dialer.settings import Settings


def register(sub: Any) -> None:
    """Add the `command` and `events` commands."""
    command = sub.add_parser("command", help="send pause/resume/freeze/unfreeze/drain over MQTT")
    verbs = command.add_subparsers(dest="verb", metavar="VERB", required=True)
    for kind in CommandKind:
        verb = verbs.add_parser(kind.value, help=f"{kind.value} "
                                + ("a campaign" if kind in CAMPAIGN_COMMANDS else "a node"))
        if kind in CAMPAIGN_COMMANDS:
            verb.add_argument("campaign", type=int, help="the campaign id")
            verb.add_argument("--node", default=ALL_NODES,
                              help="one node id, or `all` (default: all)")
        else:
            verb.add_argument("--node", required=True, help="the node to drain")
        if kind is CommandKind.FREEZE:
            verb.add_argument("--until", help="ISO 8601 time with a zone (default: until "
                              "unfrozen)")
        if kind in (CommandKind.PAUSE, CommandKind.FREEZE):
            verb.add_argument("--reason", help="why (kept with a freeze)")
        verb.add_argument("--by", default=_user(), help="who sends it (default: your login)")
        verb.add_argument("--timeout", type=float, default=5.0,
                          help="seconds to wait for answers (default: 5)")
        verb.set_defaults(handler=send_command, kind=kind)
    events = sub.add_parser("events", help="print events from the MQTT broker as they arrive")
    events.add_argument("filters", nargs="*", default=["dialer/#"],
                        help="topic filters (default: dialer/#)")
    events.add_argument("--count", type=int, default=None, help="stop after N events")
    events.add_argument("--timeout", type=float, default=None, help="stop after N seconds")
    events.set_defaults(handler=watch_events)


def _user() -> str:
    try:
        name = getpass.getuser()
    except OSError:
        return "cli"
    return re.sub(r"[^\w.@\-]", "_", name)[:64] or "cli"


def _observer(settings: Settings, role: str) -> MqttBus:
    config = MqttConfig.from_settings(settings)
    if config is None:
        raise ConfigError("no MQTT broker: set DIALER_MQTT_URL or mqtt_url", field="mqtt_url")
    client_id = f"dialer-{role}-{secrets.token_hex(4)}"
    config = dataclasses.replace(config, client_id=client_id)
    return MqttBus(config, node_id=f"{role}-{secrets.token_hex(4)}", announce=False,
                   backoff_min=0.1, backoff_max=1.0)


def build_body(args: argparse.Namespace, token: str, now: datetime) -> dict[str, Any]:
    """The command's JSON body from the command line."""
    kind: CommandKind = args.kind
    body: dict[str, Any] = {"id": f"cli-{secrets.token_hex(6)}", "command": kind.value,
                            "at": now.isoformat(), "by": args.by, "token": token}
    if kind in CAMPAIGN_COMMANDS:
        body["campaign"] = args.campaign
    if getattr(args, "until", None):
        body["until"] = args.until
    if getattr(args, "reason", None):
        body["reason"] = args.reason
    return body


async def send_command(args: argparse.Namespace, settings: Settings) -> int:
    """Publish the command, then print every answer to it until the timeout (or the
    one node's answer)."""
    token = settings.secret("command_token")
    if token is None:
        raise ConfigError("no command token: set DIALER_COMMAND_TOKEN or command_token_file",
                          field="command_token")
    body = build_body(args, token, datetime.now(UTC))
    one_node = args.node != ALL_NODES
    answers: list[dict[str, Any]] = []
    async with _observer(settings, "cli") as bus:
        try:
            await bus.wait_connected(args.timeout)
        except TimeoutError:
            print(f"dialer: the MQTT broker {bus.config.address} did not answer "
                  f"within {args.timeout:g} s", file=sys.stderr)
            return 1
        results = f"dialer/{args.node if one_node else '+'}/cmd/result"
        async with bus.subscribe(results) as messages:
            await bus.publish(command_topic(args.node), body, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.timeout):
                    async for message in messages:
                        if message.payload.get("id") != body["id"]:
                            continue
                        answers.append(message.payload)
                        _print_answer(message.payload)
                        if one_node:
                            break
    if not answers:
        print(f"dialer: no node answered command {body['id']} within {args.timeout:g} s",
              file=sys.stderr)
        return 1
    return 0 if all(a.get("status") == "ok" for a in answers) else 1


def _print_answer(answer: dict[str, Any]) -> None:
    reason = f" ({answer['reason']})" if answer.get("reason") else ""
    print(f"{answer.get('node')}: {answer.get('command')} {answer.get('id')}: "
          f"{answer.get('status')}{reason}")


async def watch_events(args: argparse.Namespace, settings: Settings) -> int:
    """Print `topic payload` lines for events matching the filters."""
    seen = 0
    async with _observer(settings, "events") as bus, asyncio.TaskGroup() as tg:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def listen(topic_filter: str) -> None:
            async with bus.subscribe(topic_filter) as messages:
                async for message in messages:
                    await queue.put((message.topic, message.payload))

        listeners = [tg.create_task(listen(f)) for f in args.filters]
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.timeout):
                    while args.count is None or seen < args.count:
                        topic, payload = await queue.get()
                        print(topic, json.dumps(payload, ensure_ascii=False), flush=True)
                        seen += 1
        finally:
            for listener in listeners:
                listener.cancel()
    return 0
