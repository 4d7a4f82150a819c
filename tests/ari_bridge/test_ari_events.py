"""Typed events parsed from ARI JSON recorded on a real Asterisk 22."""

from __future__ import annotations

from typing import Any

from ari_bridge import (
    KNOWN_EVENT_TYPES,
    CallerId,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    Dial,
    PlaybackFinished,
    RecordingFinished,
    StasisStart,
    UnknownEvent,
    parse_event,
)


def test_every_recorded_event_of_a_known_type_is_typed(bridged_call: list[dict[str, Any]]) -> None:
    for raw in bridged_call:
        event = parse_event(raw)
        if raw["type"] in KNOWN_EVENT_TYPES:
            assert type(event).type == raw["type"], raw["type"]
        else:
            assert isinstance(event, UnknownEvent)
            assert event.event_type == raw["type"]
        assert event.raw is raw
        assert event.application == "dialer"


def test_stasis_start_carries_the_dialplan_arguments(bridged_call: list[dict[str, Any]]) -> None:
    starts = [parse_event(e) for e in bridged_call if e["type"] == "StasisStart"]
    assert [s.args for s in starts if isinstance(s, StasisStart)] == [
        ("agent-login", "8002", "4321"), ("rec-1", "HUMAN", "HUMAN-800-800")]
    agent = starts[0]
    assert isinstance(agent, StasisStart)
    assert agent.channel.name.startswith("PJSIP/8002-")
    assert agent.channel.dialplan.context == "dialer-agents"  # included login context
    assert agent.channel.state == "Up"


def test_hangup_causes_and_dtmf(bridged_call: list[dict[str, Any]]) -> None:
    events = [parse_event(e) for e in bridged_call]
    destroyed = [e for e in events if isinstance(e, ChannelDestroyed)]
    assert sorted(e.cause for e in destroyed) == [16, 17]      # normal, then busy
    assert {e.cause_txt for e in destroyed} == {"Normal Clearing", "User busy"}
    digits = [e.digit for e in events if isinstance(e, ChannelDtmfReceived)]
    assert digits == ["*", "9"]
    assert all(e.duration_ms > 0 for e in events if isinstance(e, ChannelDtmfReceived))
    requests = [e for e in events if isinstance(e, ChannelHangupRequest)]
    assert any(e.cause == 17 for e in requests)


def test_routing_keys_name_every_resource_concerned(bridged_call: list[dict[str, Any]]) -> None:
    events = [parse_event(e) for e in bridged_call]
    entered = next(e for e in events if isinstance(e, ChannelEnteredBridge))
    assert entered.routing_keys() == (entered.bridge.id, entered.channel.id)
    played = next(e for e in events if isinstance(e, PlaybackFinished))
    assert played.routing_keys() == (played.playback.id, entered.bridge.id)
    recorded = next(e for e in events if isinstance(e, RecordingFinished))
    assert recorded.routing_keys() == ("rec-fixture", entered.bridge.id)
    assert recorded.recording.format == "wav"
    assert recorded.recording.duration is not None and recorded.recording.duration >= 2
    dial = next(e for e in events if isinstance(e, Dial) and e.caller is None)
    assert dial.routing_keys() == (dial.peer.id,)


def test_unknown_and_malformed_events_become_unknown_events() -> None:
    odd = parse_event({"type": "ChannelTalkingStarted", "application": "dialer",
                       "channel": {"id": "x"}})
    assert isinstance(odd, UnknownEvent) and odd.event_type == "ChannelTalkingStarted"
    broken = parse_event({"type": "StasisStart", "application": "dialer"})  # no channel
    assert isinstance(broken, UnknownEvent) and broken.event_type == "StasisStart"
    assert broken.routing_keys() == ()
    assert isinstance(parse_event({}), UnknownEvent)


def test_reprs_mask_phone_numbers() -> None:
    channel = Channel.from_json({"id": "c1", "name": "PJSIP/customers-0001", "state": "Up",
                                 "caller": {"name": "", "number": "+8613812345678"},
                                 "connected": {"name": "Bob", "number": "15551234567"}})
    text = repr(channel)
    assert "13812345678" not in text and "15551234567" not in text
    assert "+86138****5678" in text
    assert channel.caller.number == "+8613812345678"
    assert repr(CallerId()) == "CallerId(name='', number='')"
    assert channel.technology == "PJSIP"
