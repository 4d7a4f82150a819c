"""`dialer ari info|demo`: check the link to Asterisk; a smoke demo of real calls over ARI.

The demo (what `make demo` runs until the campaign engine exists) places calls to
the SIPp customers through the `dialer-outbound` dialplan contract, one behaviour
per call (the first digit of the national number: tests/sipp/README.md), bridges
human answers with a logged-in agent, and prints each call's AMD verdict and
outcome with the number masked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import phonenumbers

from ari_bridge import (
    AriClient,
    AriError,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelGone,
    StasisEnd,
    StasisStart,
    Subscription,
)
from dialer.cli.ari_args import ari_client
from dialer.settings import Settings
from dnc import mask_number

#: behaviour digit -> what the SIPp customer does (tests/sipp/README.md)
BEHAVIOURS = {1: "human", 2: "no answer", 3: "busy", 4: "opt-out", 5: "machine",
              6: "dead air", 7: "decline", 8: "failure"}
CAUSES = {16: "hung up", 17: "busy", 18: "no answer", 19: "no answer", 21: "declined",
          34: "failed (congestion)", 38: "failed (network)", 127: "failed"}
DEMO_MIX = (1, 5, 3, 2, 4, 7, 1, 8)


def register(sub: Any) -> None:
    """Add the `ari` command group."""
    ari = sub.add_parser("ari", help="Asterisk REST Interface: check the link, smoke demo")
    verbs = ari.add_subparsers(dest="verb", metavar="VERB", required=True)
    info = verbs.add_parser("info", help="connect and print Asterisk's version and channels")
    info.add_argument("--timeout", type=float, default=3.0,
                      help="seconds to wait for the connection (default: 3)")
    info.set_defaults(handler=show_info)
    demo = verbs.add_parser("demo", help="place a few real calls to the SIPp customers")
    demo.add_argument("--trunk", default=os.environ.get("DIALER_AST_TRUNK", "customers"),
                      help="PJSIP trunk towards the customers (default: customers)")
    demo.add_argument("--country", default="+1", help="country code of the demo numbers")
    demo.add_argument("--mix", default="".join(str(d) for d in DEMO_MIX),
                      help="behaviour digits, one call each (default: %(default)s)")
    demo.add_argument("--agents", type=int, default=2,
                      help="how many agents to wait for before dialling (default: 2)")
    demo.add_argument("--agent-wait", type=float, default=15.0,
                      help="seconds to wait for the agents to log in first")
    demo.add_argument("--talk", type=float, default=4.0,
                      help="seconds a bridged call lasts before the demo hangs up")
    demo.set_defaults(handler=run_demo)


async def show_info(args: argparse.Namespace, settings: Settings) -> int:
    """Print Asterisk's version, uptime and live channel count."""
    try:
        async with ari_client(settings, connect_timeout=args.timeout) as ari:
            info = await ari.asterisk_info()
            channels = await ari.list_channels()
    except AriError as exc:
        print(f"dialer: ARI at {settings.ari_url}: {exc}", file=sys.stderr)
        return 1
    system = info.get("system", {})
    print(f"Asterisk {system.get('version', '?')} at {settings.ari_url} "
          f"(up since {info.get('status', {}).get('startup_time', '?')}), "
          f"{len(channels)} live channel(s)")
    return 0


@dataclass
class CallReport:
    """What happened to one demo call."""

    number: str
    behaviour: str
    verdict: str = "-"
    outcome: str = ""
    seconds: float = 0.0


class Agent:
    """The one logged-in agent the demo bridges human answers to."""

    def __init__(self, channel_id: str, agent_id: str) -> None:
        self.channel_id = channel_id
        self.agent_id = agent_id
        self.lock = asyncio.Lock()


def demo_number(country: str, behaviour: int, index: int) -> str:
    """An E.164 demo number whose national number starts with the behaviour digit."""
    return f"{country}{behaviour}55555{index:04d}"


def trunk_user(number: str) -> str:
    """The Request-URI user for the test trunk: the national significant number."""
    return str(phonenumbers.parse(number, None).national_number)


async def _wait_agents(ari: AriClient, count: int, seconds: float) -> list[Agent]:
    agents: list[Agent] = []
    deadline = time.monotonic() + seconds
    while len(agents) < count and (left := deadline - time.monotonic()) > 0:
        try:
            event = await ari.unowned.wait_for(StasisStart, timeout=left)
        except TimeoutError:
            break
        if event.args[:1] == ("agent-login",) and len(event.args) >= 2:
            agents.append(Agent(event.channel.id, event.args[1]))
    return agents


def _free_agent(agents: list[Agent]) -> Agent | None:
    return next((a for a in agents if not a.lock.locked()), None)


async def _talk(ari: AriClient, call: Subscription, channel_id: str, agent: Agent,
                talk_s: float, report: CallReport) -> None:
    bridge_id = str(uuid.uuid4())
    call.add(bridge_id)
    await ari.create_bridge(bridge_id)
    try:
        await ari.add_to_bridge(bridge_id, agent.channel_id)
        await ari.add_to_bridge(bridge_id, channel_id)
        report.outcome = f"talked with agent {agent.agent_id}"
        deadline = time.monotonic() + talk_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await call.get(timeout=left)
            except TimeoutError:
                break
            if isinstance(event, ChannelDtmfReceived) and event.digit == "9":
                report.outcome = "opted out (pressed 9)"
                break
            if isinstance(event, (StasisEnd, ChannelDestroyed)):
                report.outcome += ", customer hung up"
                return
    finally:
        await ari.remove_from_bridge(bridge_id, agent.channel_id)
        await ari.destroy_bridge(bridge_id)


async def _one_call(ari: AriClient, trunk: str, number: str, behaviour: int,
                    agents: list[Agent], talk_s: float) -> CallReport:
    report = CallReport(mask_number(number), BEHAVIOURS.get(behaviour, "random"))
    channel_id = str(uuid.uuid4())
    started = time.monotonic()
    with ari.subscribe(channel_id) as call:
        await ari.originate(f"PJSIP/{trunk_user(number)}@{trunk}", channel_id=channel_id,
                            context="dialer-outbound", extension="s", priority=1,
                            variables={"DIALER_ATTEMPT": channel_id}, timeout=8)
        try:
            await ari.subscribe_source(f"channel:{channel_id}")
        except ChannelGone:
            report.outcome = "failed at once"
            return report
        async for event in call:
            if isinstance(event, ChannelDestroyed):
                report.outcome = report.outcome or CAUSES.get(event.cause, f"cause {event.cause}")
                break
            if not isinstance(event, StasisStart):
                continue
            report.verdict = event.args[1] if len(event.args) > 1 else "?"
            if report.verdict == "MACHINE":
                report.outcome = "answering machine: hung up"
            elif (agent := _free_agent(agents)) is None:
                report.outcome = "no agent free: abandoned"
            else:
                async with agent.lock:
                    await _talk(ari, call, channel_id, agent, talk_s, report)
            try:
                await ari.hangup(channel_id)
            except ChannelGone:
                pass
    report.seconds = time.monotonic() - started
    return report


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Place the demo calls concurrently and print one line per call."""
    mix = [int(d) for d in args.mix if d.isdigit()]
    async with ari_client(settings) as ari:
        print(f"connected to {settings.ari_url}; waiting up to {args.agent_wait:g} s "
              f"for {args.agents} agent(s) to log in")
        agents = await _wait_agents(ari, args.agents, args.agent_wait)
        print(f"agents logged in: {', '.join(a.agent_id for a in agents) or 'none'}")
        numbers = [demo_number(args.country, b, i) for i, b in enumerate(mix)]
        reports = await asyncio.gather(*[
            _one_call(ari, args.trunk, n, b, agents, args.talk)
            for n, b in zip(numbers, mix, strict=True)])
        for agent in agents:
            try:
                await ari.hangup(agent.channel_id)
            except ChannelGone:
                pass
    print(f"\n{'number':<16} {'customer does':<14} {'AMD':<8} {'s':>5}  outcome")
    for r in reports:
        print(f"{r.number:<16} {r.behaviour:<14} {r.verdict:<8} {r.seconds:>5.1f}  {r.outcome}")
    return 0
