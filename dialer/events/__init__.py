"""Events out and commands in: the bus interface, its in-process and MQTT
implementations, and the topic tree with one payload builder per kind of event."""

from dialer.events.bus import EventBus, InProcessBus, Message, topic_matches
from dialer.events.errors import BusClosed, EventBusError
from dialer.events.mqtt import BusState, BusStats, MqttBus
from dialer.events.mqtt_config import MqttConfig
from dialer.events.topics import (
    ALL_NODES,
    DNC_ADDED_TOPIC,
    Event,
    NodeStatus,
    agent_state,
    call_state,
    campaign_stats,
    command_result,
    command_result_topic,
    command_topic,
    dnc_added,
    health_topic,
    node_health,
    publish_event,
    timestamp,
    topic_segment,
)

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "ALL_NODES",
    "BusClosed",
    "BusState",
    "BusStats",
    "DNC_ADDED_TOPIC",
    "Event",
    "EventBus",
    "EventBusError",
    "InProcessBus",
    "Message",
    "MqttBus",
    "MqttConfig",
    "NodeStatus",
    "agent_state",
    "call_state",
    "campaign_stats",
    "command_result",
    "command_result_topic",
    "command_topic",
    "dnc_added",
    "health_topic",
    "node_health",
    "publish_event",
    "timestamp",
    "topic_matches",
    "topic_segment",
]
