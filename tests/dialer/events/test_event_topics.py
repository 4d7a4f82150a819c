"""Event builders: topics, QoS/retain choices, validation, and no number in clear."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.events import (
    Event,
    InProcessBus,
    NodeStatus,
    agent_state,
    call_state,
    campaign_stats,
    command_result,
    command_topic,
    dnc_added,
    node_health,
    publish_event,
    timestamp,
)
from dialer.events import topics as topics_module
from dnc import NumberHasher

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CALL = uuid.UUID("12345678-1234-5678-1234-567812345678")   # digits on purpose
HASHER = NumberHasher(b"k" * 32)
NUMBERS = ["+8613812345678", "+447911123456", "+12025550173", "+61412345678", "+33612345678"]

# Formats that are digits by nature and can never be a phone number in our payloads.
_SAFE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"   # UUIDs (call ids)
    r"|\b[0-9a-f]{64}\b"                                              # keyed hashes
    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00")            # our timestamps
# Seven or more digits, perhaps split by spaces/dashes/dots: what could be a number.
_DIGIT_RUN = re.compile(r"\d(?:[ \-.]?\d){6,}")


def _free_text(event: Event) -> str:
    """An event's topic and JSON payload without its ids, hashes and timestamps."""
    return _SAFE.sub("~", event.topic + " " + json.dumps(event.payload))


def number_like_runs(event: Event) -> list[str]:
    """Digit runs in an event's topic and JSON payload that could be a phone number."""
    return _DIGIT_RUN.findall(_free_text(event))


def _samples(number: str) -> dict[str, Event]:
    """One event of every builder; the ones that take a number get `number`."""
    return {
        "campaign_stats": campaign_stats(
            "node-1", 12, at=AT, status="running", mode="predictive", lines_in_use=23,
            calls_in_flight=9, agents={"ready": 3, "talking": 11, "wrap_up": 2},
            outcomes={"connected": 1234, "abandoned": 17, "busy": 88},
            abandon_rate={"24h": 0.0123, "30d": 0.0087}, dnc_version=4321),
        "agent_state": agent_state("node-1", "8001", at=AT, state="talking", previous="ready",
                                   campaign=12, call=CALL),
        "call_state": call_state("node-1", CALL, at=AT, campaign=12, number=number,
                                 state="answered", previous="ringing", outcome=None,
                                 agent="8001", amd="human"),
        "dnc_added": dnc_added(HASHER.digest(number), 4322),
        "node_health": node_health("node-1", NodeStatus.ONLINE, at=AT, campaigns_running=2,
                                   lines_in_use=23, store_ok=True, dnc_version=4322),
        "command_result": command_result("node-1", command_id="c-42", command="pause",
                                         status="ok", reason=None, at=AT),
    }


def test_every_builder_has_a_sample() -> None:
    builders = {name for name, fn in inspect.getmembers(topics_module, inspect.isfunction)
                if fn.__module__ == topics_module.__name__
                and inspect.signature(fn).return_annotation in (Event, "Event")}
    assert builders == set(_samples(NUMBERS[0]))


@pytest.mark.parametrize("number", NUMBERS)
def test_no_builder_output_carries_a_number(number: str) -> None:
    for name, event in _samples(number).items():
        assert number_like_runs(event) == [], name
        assert number[-7:] not in _free_text(event), name


@given(cc=st.sampled_from(["1", "33", "44", "61", "86", "852"]),
       national=st.text("0123456789", min_size=7, max_size=11))
def test_call_state_masks_any_number(cc: str, national: str) -> None:
    number = f"+{cc}{national}"
    event = call_state("n1", CALL, at=AT, campaign=1, number=number, state="ringing",
                       previous=None)
    assert number_like_runs(event) == []
    assert national[-7:] not in _free_text(event)


def test_the_scanner_would_catch_a_plain_number() -> None:
    leaky = Event("dialer/n1/call/x/state", {"number": "+86 138 1234 5678"})
    assert number_like_runs(leaky)
    assert number_like_runs(Event("t", {"n": 13812345678}))


def test_topics_qos_and_retain() -> None:
    events = _samples(NUMBERS[0])
    got = {name: (e.topic, e.qos, e.retain) for name, e in events.items()}
    assert got == {
        "campaign_stats": ("dialer/node-1/campaign/12/stats", 0, True),
        "agent_state": ("dialer/node-1/agent/8001/state", 1, True),
        "call_state": (f"dialer/node-1/call/{CALL}/state", 0, False),
        "dnc_added": ("dialer/dnc/added", 1, False),
        "node_health": ("dialer/node-1/health", 1, True),
        "command_result": ("dialer/node-1/cmd/result", 1, False),
    }
    assert command_topic("node-1") == "dialer/node-1/cmd"
    assert command_topic("all") == "dialer/all/cmd"


def test_payload_shapes() -> None:
    events = _samples("+8613812345678")
    assert events["call_state"].payload == {
        "node": "node-1", "call": str(CALL), "campaign": 12, "at": "2026-03-01T09:30:00.000+00:00",
        "number": "+86138****5678", "state": "answered", "previous": "ringing",
        "outcome": None, "agent": "8001", "amd": "human"}
    assert events["dnc_added"].payload == {
        "hash": HASHER.digest("+8613812345678").hex(), "version": 4322}
    assert set(events["campaign_stats"].payload) == {
        "node", "campaign", "at", "status", "mode", "lines_in_use", "calls_in_flight",
        "agents", "outcomes", "abandon_rate", "dnc_version"}
    assert node_health("n1", NodeStatus.OFFLINE).payload == {"node": "n1", "status": "offline"}


def test_times_are_utc_and_naive_times_are_refused() -> None:
    beijing = timezone(timedelta(hours=8))
    assert timestamp(datetime(2026, 3, 1, 17, 30, tzinfo=beijing)) == (
        "2026-03-01T09:30:00.000+00:00")
    with pytest.raises(ValueError, match="timezone-aware"):
        timestamp(datetime(2026, 3, 1, 17, 30))


@pytest.mark.parametrize("build", [
    lambda: agent_state("n1", "a/b", at=AT, state="ready", previous=None),
    lambda: agent_state("n1", "#", at=AT, state="ready", previous=None),
    lambda: agent_state("", "a", at=AT, state="ready", previous=None),
    lambda: node_health("all", NodeStatus.ONLINE),
    lambda: node_health("dnc", NodeStatus.ONLINE),
    lambda: call_state("n1", "not-a-uuid", at=AT, campaign=1, number="+12025550173",  # type: ignore[arg-type]
                       state="ringing", previous=None),
    lambda: dnc_added(b"short", 1),
    lambda: node_health("n1", "sleeping"),  # type: ignore[arg-type]
])
def test_bad_identifiers_are_refused(build: Callable[[], Event]) -> None:
    with pytest.raises(ValueError):
        build()


async def test_publish_event_uses_the_kinds_retain_choice() -> None:
    bus = InProcessBus()
    await publish_event(bus, node_health("n1", NodeStatus.DRAINING, at=AT))
    await publish_event(bus, call_state("n1", CALL, at=AT, campaign=1, number=NUMBERS[0],
                                        state="ringing", previous=None))
    async with bus.subscribe("dialer/#") as messages:
        kept = await anext(messages)
    assert kept.topic == "dialer/n1/health" and kept.payload["status"] == "draining"
