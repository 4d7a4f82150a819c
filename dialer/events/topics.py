"""The topic tree and payloads of the dialer's events: one builder per kind of event.

Every builder returns an `Event` (topic, JSON-ready payload, QoS, retain) so that the
topic layout and the QoS/retain choice of each kind live here and nowhere else
(docs/events.md describes them). Phone numbers appear only masked (`dnc.mask_number`)
or as the DNC's keyed hash; builders that take a number take it in E.164 and mask it
themselves, so a caller cannot forget to.

    dialer/<node>/campaign/<id>/stats   retained, QoS 0   periodic snapshot of a campaign
    dialer/<node>/agent/<id>/state      retained, QoS 1   an agent's state changed
    dialer/<node>/call/<id>/state       QoS 0             a call's state changed
    dialer/<node>/health                retained, QoS 1   online/draining/unhealthy/offline
    dialer/dnc/added                    QoS 1             a number was added (hash, version)
    dialer/<node>/cmd, dialer/all/cmd   QoS 1             commands in (dialer.commands)
    dialer/<node>/cmd/result            QoS 1             each command's result
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dialer.events.bus import EventBus
from dnc import mask_number

ROOT = "dialer"
ALL_NODES = "all"
DNC_ADDED_TOPIC = f"{ROOT}/dnc/added"
# Node ids that would collide with the fixed parts of the tree.
RESERVED_NODE_IDS = frozenset({ALL_NODES, "dnc"})
_MAX_SEGMENT = 128


class NodeStatus(enum.StrEnum):
    """What `dialer/<node>/health` says about a node."""

    ONLINE = "online"
    DRAINING = "draining"
    UNHEALTHY = "unhealthy"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Event:
    """One event to publish: where, what, and how (QoS, retained or not)."""

    topic: str
    payload: dict[str, Any]
    qos: int = 0
    retain: bool = False


async def publish_event(bus: EventBus, event: Event) -> None:
    """Publish a built event with its kind's QoS and retain choice."""
    await bus.publish(event.topic, event.payload, retain=event.retain, qos=event.qos)


def topic_segment(kind: str, value: object) -> str:
    """`value` as one topic level; ValueError if it is empty, too long or has `/ + #`."""
    text = str(value)
    if not text or len(text) > _MAX_SEGMENT or any(c in text for c in "/+#\0"):
        raise ValueError(f"{kind} {text[:_MAX_SEGMENT]!r} cannot be a topic level "
                         f"(1-{_MAX_SEGMENT} characters, none of / + # NUL)")
    return text


def node_segment(node: str) -> str:
    """A node id as a topic level; the reserved names `all` and `dnc` are refused."""
    text = topic_segment("node id", node)
    if text in RESERVED_NODE_IDS:
        raise ValueError(f"node id {text!r} is reserved in the topic tree")
    return text


def timestamp(at: datetime) -> str:
    """An aware time as ISO 8601 in UTC with milliseconds; naive times are refused."""
    if at.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def health_topic(node: str) -> str:
    """`dialer/<node>/health`."""
    return f"{ROOT}/{node_segment(node)}/health"


def command_topic(node: str) -> str:
    """`dialer/<node>/cmd`: commands for one node (`dialer/all/cmd` for every node)."""
    return f"{ROOT}/{ALL_NODES if node == ALL_NODES else node_segment(node)}/cmd"


def command_result_topic(node: str) -> str:
    """`dialer/<node>/cmd/result`: where a node answers each command."""
    return f"{ROOT}/{node_segment(node)}/cmd/result"


def campaign_stats(node: str, campaign: int, *, at: datetime, status: str, mode: str,
                   lines_in_use: int, calls_in_flight: int, agents: Mapping[str, int],
                   outcomes: Mapping[str, int], abandon_rate: Mapping[str, float],
                   dnc_version: int) -> Event:
    """A campaign's snapshot: status, dialling mode, lines, agents by state, calls by
    outcome, abandon rate per window (`{"24h": 0.012, "30d": 0.008}`), DNC version."""
    payload = {"node": node, "campaign": campaign, "at": timestamp(at), "status": str(status),
               "mode": str(mode), "lines_in_use": lines_in_use,
               "calls_in_flight": calls_in_flight,
               "agents": {str(k): int(v) for k, v in sorted(agents.items())},
               "outcomes": {str(k): int(v) for k, v in sorted(outcomes.items())},
               "abandon_rate": {str(k): float(v) for k, v in sorted(abandon_rate.items())},
               "dnc_version": dnc_version}
    topic = f"{ROOT}/{node_segment(node)}/campaign/{topic_segment('campaign', campaign)}/stats"
    return Event(topic, payload, qos=0, retain=True)


def agent_state(node: str, agent: str, *, at: datetime, state: str, previous: str | None,
                campaign: int | None = None, call: uuid.UUID | None = None) -> Event:
    """An agent's state changed (`ready`, `talking`, `wrap_up`, …); with its call, if any."""
    payload: dict[str, Any] = {"node": node, "agent": agent, "at": timestamp(at),
                               "state": str(state),
                               "previous": None if previous is None else str(previous),
                               "campaign": campaign, "call": None if call is None else str(call)}
    topic = f"{ROOT}/{node_segment(node)}/agent/{topic_segment('agent', agent)}/state"
    return Event(topic, payload, qos=1, retain=True)


def call_state(node: str, call: uuid.UUID, *, at: datetime, campaign: int, number: str,
               state: str, previous: str | None, outcome: str | None = None,
               agent: str | None = None, amd: str | None = None) -> Event:
    """A call's state changed. `number` is the callee in E.164: it is published masked."""
    payload: dict[str, Any] = {"node": node, "call": str(call), "campaign": campaign,
                               "at": timestamp(at), "number": mask_number(number),
                               "state": str(state),
                               "previous": None if previous is None else str(previous),
                               "outcome": None if outcome is None else str(outcome),
                               "agent": agent, "amd": None if amd is None else str(amd)}
    topic = f"{ROOT}/{node_segment(node)}/call/{uuid.UUID(str(call))}/state"
    return Event(topic, payload, qos=0, retain=False)


def dnc_added(number_hash: bytes, version: int) -> Event:
    """A number joined the do-not-call list: its keyed hash (hex) and the DNC version."""
    if len(number_hash) != 32:
        raise ValueError("a DNC hash is 32 bytes")
    return Event(DNC_ADDED_TOPIC, {"hash": number_hash.hex(), "version": version},
                 qos=1, retain=False)


def node_health(node: str, status: NodeStatus, *, at: datetime | None = None,
                campaigns_running: int | None = None, lines_in_use: int | None = None,
                store_ok: bool | None = None, dnc_version: int | None = None) -> Event:
    """The node's health (retained). Without `at` it is the form used as the last will."""
    payload: dict[str, Any] = {"node": node, "status": NodeStatus(status).value}
    facts = {"at": None if at is None else timestamp(at), "campaigns_running": campaigns_running,
             "lines_in_use": lines_in_use, "store_ok": store_ok, "dnc_version": dnc_version}
    payload.update({k: v for k, v in facts.items() if v is not None})
    return Event(health_topic(node), payload, qos=1, retain=True)


def command_result(node: str, *, command_id: str | None, command: str | None, status: str,
                   reason: str | None, at: datetime) -> Event:
    """A command's result: `ok`, `rejected` or `failed`, with the reason (never a secret)."""
    payload = {"node": node, "id": command_id, "command": command, "status": str(status),
               "reason": reason, "at": timestamp(at)}
    return Event(command_result_topic(node), payload, qos=1, retain=False)
