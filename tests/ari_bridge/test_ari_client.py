"""AriClient against a fake ARI server: requests, errors, events, reconnects."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from typing import Any

import pytest
from fake_ari import FakeAri, SeenRequest

from ari_bridge import (
    AriClient,
    AriConnectionLost,
    AriRequestError,
    AriTimeout,
    ChannelGone,
    ClientState,
    Connected,
    Disconnected,
    StasisStart,
)

SECRET = "s3cret-Pa55"


def _client(fake: FakeAri, **kwargs: Any) -> AriClient:
    kwargs.setdefault("request_timeout", 2.0)
    kwargs.setdefault("backoff_min", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return AriClient(fake.url, "dialer", SECRET, "dialer", rng=random.Random(7), **kwargs)


CHANNEL = {"id": "0b6c7a52-1d0e-4c7f-9c55-3b0e2f1d9a11", "name": "PJSIP/customers-00000001",
           "state": "Down", "caller": {"name": "", "number": ""},
           "dialplan": {"context": "dialer-outbound", "exten": "s", "priority": 1}}


async def test_connect_sets_the_filter_and_announces_itself(fake_ari: FakeAri) -> None:
    async with _client(fake_ari) as ari:
        assert ari.state is ClientState.CONNECTED and ari.is_connected
        first = await ari.unowned.get(timeout=1)
        assert isinstance(first, Connected) and not first.reconnected
    assert fake_ari.ws_queries == [{"app": "dialer", "subscribeAll": "false"}]
    (put,) = fake_ari.seen("PUT", "/applications/dialer/eventFilter")
    allowed = {f["type"] for f in put.body["allowed"]}
    assert {"StasisStart", "ChannelDestroyed", "ChannelDtmfReceived"} <= allowed
    assert "ChannelVarset" not in allowed
    assert ari.state is ClientState.CLOSED


async def test_credentials_travel_in_a_header_never_in_urls_or_logs(
        fake_ari: FakeAri, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with _client(fake_ari) as ari:
        await ari.list_channels()
        assert SECRET not in repr(ari)
    expected = "Basic " + base64.b64encode(f"dialer:{SECRET}".encode()).decode()
    assert fake_ari.ws_headers[0]["Authorization"] == expected
    for request in fake_ari.requests:
        assert request.headers["Authorization"] == expected
        assert SECRET not in request.url
    assert SECRET not in caplog.text


async def test_originate_sends_its_parameters_in_the_body(fake_ari: FakeAri) -> None:
    fake_ari.reply("POST", "/channels", 200, CHANNEL)
    async with _client(fake_ari) as ari:
        channel = await ari.originate(
            "PJSIP/1555000111@customers", channel_id=CHANNEL["id"], context="dialer-outbound",
            extension="s", priority=1, variables={"DIALER_ATTEMPT": "42"}, timeout=30)
    assert channel.id == CHANNEL["id"] and channel.dialplan.context == "dialer-outbound"
    (request,) = fake_ari.seen("POST", "/channels")
    assert request.query == {}
    assert "1555000111" not in request.url
    assert request.body == {"endpoint": "PJSIP/1555000111@customers", "channelId": CHANNEL["id"],
                            "context": "dialer-outbound", "extension": "s", "priority": 1,
                            "timeout": 30, "variables": {"DIALER_ATTEMPT": "42"}}


async def test_typed_operations_hit_the_ari_paths(fake_ari: FakeAri) -> None:
    fake_ari.reply("POST", "/bridges", 200, {"id": "b1", "bridge_type": "mixing",
                                             "technology": "simple_bridge", "channels": []})
    fake_ari.reply("GET", "/channels/c1/variable", 200, {"value": "HUMAN"})
    fake_ari.reply("POST", "/bridges/b1/record", 201, {"name": "r1", "format": "wav",
                                                        "target_uri": "bridge:b1",
                                                        "state": "queued"})
    fake_ari.reply("GET", "/endpoints/PJSIP", 200, [
        {"technology": "PJSIP", "resource": "8001", "state": "online", "channel_ids": ["c9"]}])
    async with _client(fake_ari) as ari:
        bridge = await ari.create_bridge("b1")
        await ari.add_to_bridge("b1", "c1")
        assert await ari.get_variable("c1", "AMDSTATUS") == "HUMAN"
        recording = await ari.record("bridge:b1", "r1", max_duration_s=60)
        await ari.hangup("c1", cause=21)
        await ari.send_dtmf("c1", "*9")
        (endpoint,) = await ari.list_endpoints("PJSIP")
    assert bridge.id == "b1" and recording.target_uri == "bridge:b1"
    assert endpoint.source == "endpoint:PJSIP/8001" and endpoint.channel_ids == ("c9",)
    assert fake_ari.seen("POST", "/bridges")[0].body == {"bridgeId": "b1",
                                                         "type": "mixing,dtmf_events"}
    assert fake_ari.seen("POST", "/bridges/b1/addChannel")[0].body == {"channel": "c1"}
    assert fake_ari.seen("GET", "/channels/c1/variable")[0].query == {"variable": "AMDSTATUS"}
    assert fake_ari.seen("DELETE", "/channels/c1")[0].body == {"reason_code": "21"}
    assert fake_ari.seen("POST", "/bridges/b1/record")[0].body["beep"] == "false"


async def test_errors_carry_status_and_channel_and_gone_channels_are_told(
        fake_ari: FakeAri) -> None:
    fake_ari.reply("DELETE", "/channels/gone-1", 404, {"message": "Channel not found"})
    fake_ari.reply("POST", "/channels/c2/answer", 409, {"message": "Channel not in Stasis"})
    fake_ari.reply("POST", "/channels", 400, {"message": "Endpoint not found"})
    async with _client(fake_ari) as ari:
        with pytest.raises(ChannelGone) as gone:
            await ari.hangup("gone-1")
        with pytest.raises(AriRequestError) as conflict:
            await ari.answer("c2")
        with pytest.raises(AriRequestError) as bad:
            await ari.originate("PJSIP/x@nowhere", channel_id="c3", app="dialer")
    assert gone.value.status == 404 and gone.value.channel_id == "gone-1"
    assert not isinstance(conflict.value, ChannelGone)
    assert (conflict.value.status, conflict.value.channel_id) == (409, "c2")
    assert not isinstance(bad.value, ChannelGone) and bad.value.message == "Endpoint not found"


async def test_every_request_has_a_timeout(fake_ari: FakeAri) -> None:
    async def never(_: SeenRequest) -> tuple[int, Any]:
        await asyncio.sleep(30)
        return 200, {}
    fake_ari.route("GET", "/channels", never)
    async with _client(fake_ari, request_timeout=0.3) as ari:
        with pytest.raises(AriTimeout) as timeout:
            await ari.list_channels()
    assert timeout.value.timeout == 0.3
    assert isinstance(timeout.value, AriConnectionLost)


async def test_entering_fails_when_asterisk_is_not_there() -> None:
    from rig import free_port
    client = AriClient(f"http://127.0.0.1:{free_port()}", "dialer", SECRET, "dialer",
                       connect_timeout=0.3, backoff_min=0.01, backoff_max=0.02)
    with pytest.raises(AriConnectionLost):
        async with client:
            pass
    assert client.state is ClientState.CLOSED


async def test_events_reach_the_subscription_of_their_channel(
        fake_ari: FakeAri, bridged_call: list[dict[str, Any]]) -> None:
    async with _client(fake_ari) as ari:
        await ari.unowned.get(timeout=1)   # Connected
        start = next(e for e in bridged_call if e["type"] == "StasisStart"
                     and e["args"][0] == "rec-1")
        call = ari.subscribe(start["channel"]["id"])
        for event in bridged_call:
            await fake_ari.send(event)
        got = await call.wait_for(StasisStart, timeout=2)
        assert got.args == ("rec-1", "HUMAN", "HUMAN-800-800")
        agent = await ari.unowned.wait_for(StasisStart, timeout=2)
        assert agent.args[0] == "agent-login"


async def test_reconnects_resubscribes_and_reports_a_restart(fake_ari: FakeAri) -> None:
    async with _client(fake_ari) as ari:
        await ari.subscribe_source("endpoint:PJSIP/8001")
        await ari.subscribe_source("channel:c1")           # a call's: not kept
        assert isinstance(await ari.unowned.get(timeout=1), Connected)
        fake_ari.startup_time = "2026-01-01T00:05:00.000+0000"
        await fake_ari.drop_websockets()
        lost = await ari.unowned.get(timeout=2)
        back = await ari.unowned.get(timeout=2)
        assert isinstance(lost, Disconnected)
        assert isinstance(back, Connected) and back.reconnected and back.asterisk_restarted
        assert ari.connections == 2
        posts = fake_ari.seen("POST", "/applications/dialer/subscription")
        assert [p.body["eventSource"] for p in posts] == [
            "endpoint:PJSIP/8001", "channel:c1", "endpoint:PJSIP/8001"]
        assert len(fake_ari.seen("PUT", "/applications/dialer/eventFilter")) == 2
        await fake_ari.drop_websockets()
        assert isinstance(await ari.unowned.get(timeout=2), Disconnected)
        again = await ari.unowned.get(timeout=2)
        assert isinstance(again, Connected) and not again.asterisk_restarted
    (delete,) = fake_ari.seen("DELETE", "/applications/dialer/subscription")
    assert delete.body == {"eventSource": "endpoint:PJSIP/8001"}


async def test_keeps_retrying_while_asterisk_refuses(fake_ari: FakeAri) -> None:
    async with _client(fake_ari) as ari:
        await ari.unowned.get(timeout=1)
        fake_ari.accept_ws = False
        await fake_ari.drop_websockets()
        assert isinstance(await ari.unowned.get(timeout=2), Disconnected)
        assert ari.state is ClientState.RECONNECTING
        await asyncio.wait_for(_until(lambda: len(fake_ari.ws_queries) == 1
                                      and len(fake_ari.requests) > 0), 2)
        refused_before = len(fake_ari.ws_queries)
        fake_ari.accept_ws = True
        back = await ari.unowned.get(timeout=3)
        assert isinstance(back, Connected) and back.reconnected
        assert len(fake_ari.ws_queries) == refused_before + 1


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)
