"""ari_bridge on the real local Asterisk 22 with SIPp customers and agents."""

from __future__ import annotations

import asyncio
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import rig

from ari_bridge import (
    AgiRequest,
    AriClient,
    ChannelDestroyed,
    ChannelDtmfReceived,
    Connected,
    Disconnected,
    FastAgiServer,
    RecordingFinished,
    StasisStart,
    Subscription,
)

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def ari(asterisk: rig.AsteriskInstance,
              sipp_customers: rig.SippProcess) -> AsyncIterator[AriClient]:
    async with AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password,
                         "dialer") as client:
        assert isinstance(await client.unowned.get(timeout=5), Connected)
        yield client


def _number(behaviour: int) -> str:
    """A fresh dialled user part whose first digit picks the SIPp behaviour."""
    return f"{behaviour}{uuid.uuid4().int % 10**9:09d}"


async def _dial_out(ari: AriClient, trunk: str, user: str, *, ring_s: int = 20,
                    amd: bool = True) -> tuple[str, Subscription]:
    """Originate like the engine: straight into dialer-outbound, subscribed first."""
    channel_id = str(uuid.uuid4())
    call = ari.subscribe(channel_id)
    variables = {"DIALER_ATTEMPT": f"attempt-{user}"}
    if not amd:
        variables["DIALER_AMD"] = "off"
    await ari.originate(f"PJSIP/{user}@{trunk}", channel_id=channel_id,
                        context="dialer-outbound", extension="s", priority=1,
                        variables=variables, timeout=ring_s)
    await ari.subscribe_source(f"channel:{channel_id}")
    return channel_id, call


async def test_amd_says_human_for_a_human_and_machine_for_a_voicemail(
        ari: AriClient, asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess) -> None:
    human, machine, no_amd = _number(1), _number(5), _number(1)
    calls = [await _dial_out(ari, asterisk.trunk, n, amd=(n != no_amd))
             for n in (human, machine, no_amd)]
    starts = await asyncio.gather(*[c.wait_for(StasisStart, timeout=20) for _, c in calls])
    assert starts[0].args[:2] == (f"attempt-{human}", "HUMAN")
    assert starts[1].args[:2] == (f"attempt-{machine}", "MACHINE")
    assert starts[2].args == (f"attempt-{no_amd}", "NOTUSED", "")
    for channel_id, call in calls:
        await ari.hangup(channel_id)
        destroyed = await call.wait_for(ChannelDestroyed, timeout=10)
        assert destroyed.cause == 16
    dialled = {m.request_user for m in sipp_customers.received_invites()}
    assert {human, machine, no_amd} <= dialled


async def test_unanswered_calls_end_with_their_causes(ari: AriClient,
                                                      asterisk: rig.AsteriskInstance) -> None:
    expected = {3: 17, 7: 21, 8: 34, 2: 19}     # busy, decline, failure, no answer
    calls = {b: await _dial_out(ari, asterisk.trunk, _number(b), ring_s=2) for b in expected}
    ends = await asyncio.gather(*[c.wait_for(ChannelDestroyed, timeout=15)
                                  for _, c in calls.values()])
    assert {b: e.cause for b, e in zip(calls, ends, strict=True)} == expected
    for _, call in calls.values():
        assert not any(isinstance(e, StasisStart) for e in _drain(call))


def _drain(sub: Subscription) -> list[Any]:
    events = []
    while (event := sub.get_nowait()) is not None:
        events.append(event)
    return events


async def test_the_customers_opt_out_key_arrives_as_an_event(
        ari: AriClient, asterisk: rig.AsteriskInstance) -> None:
    channel_id, call = await _dial_out(ari, asterisk.trunk, _number(4))
    start = await call.wait_for(StasisStart, timeout=20)
    assert start.args[1] == "HUMAN"
    key = await call.wait_for(ChannelDtmfReceived, timeout=20)
    assert key.digit == "9" and key.channel.id == channel_id
    await ari.hangup(channel_id)


async def test_a_customer_bridged_with_an_agent_is_recorded_and_the_agent_keys_in(
        ari: AriClient, asterisk: rig.AsteriskInstance,
        sipp_agents: Callable[..., rig.SippProcess]) -> None:
    await ari.subscribe_source("endpoint:PJSIP/8007")   # also delivers the agent's DTMF
    sipp_agents("8007", "2468", dtmf=[(9.0, "*9")])
    login = await ari.unowned.wait_for(
        StasisStart, timeout=15, where=lambda e: e.args[:1] == ("agent-login",))
    assert login.args == ("agent-login", "8007", "2468")
    agent_id = login.channel.id
    agent = ari.subscribe(agent_id)
    customer_id, call = await _dial_out(ari, asterisk.trunk, _number(1))
    await call.wait_for(StasisStart, timeout=20)
    bridge_id = str(uuid.uuid4())
    call.add(bridge_id)
    await ari.create_bridge(bridge_id)
    await ari.add_to_bridge(bridge_id, agent_id)
    await ari.add_to_bridge(bridge_id, customer_id)
    name = f"test-{bridge_id}"
    await ari.record(f"bridge:{bridge_id}", name)
    await asyncio.sleep(3.0)        # the recording's length is what is measured here
    await ari.stop_recording(name)
    finished = await call.wait_for(RecordingFinished, timeout=10)
    assert finished.recording.name == name
    with wave.open(str(asterisk.recording_dir / f"{name}.wav")) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 2.6 <= seconds <= 3.6, seconds
    star = await agent.wait_for(ChannelDtmfReceived, timeout=15)
    nine = await agent.wait_for(ChannelDtmfReceived, timeout=5)
    assert (star.digit, nine.digit) == ("*", "9")
    assert agent.get_nowait() is None or not any(
        isinstance(e, ChannelDtmfReceived) for e in _drain(agent))   # no duplicate digits
    await ari.hangup(customer_id)
    await ari.hangup(agent_id)
    await ari.destroy_bridge(bridge_id)
    await ari.delete_stored_recording(name)
    await ari.unsubscribe_source("endpoint:PJSIP/8007")


async def test_a_dialplan_agi_call_reaches_its_handler_and_picks_the_branch(
        ari: AriClient, asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess) -> None:
    allowed, blocked = _number(1), _number(1)
    asked: list[str] = []

    async def dnc_check(request: AgiRequest) -> Mapping[str, str]:
        asked.append(request.args[0])
        return {"DNC_RESULT": "blocked" if request.args[0] == blocked else "allowed"}

    async def manual_dial(number: str) -> Subscription:
        channel_id = str(uuid.uuid4())
        call = ari.subscribe(channel_id)
        await ari.originate(f"Local/{number}@dialer-manual", channel_id=channel_id, app="dialer")
        return call

    async with FastAgiServer({"dnc-check": dnc_check}, port=asterisk.agi_port):
        ok = await manual_dial(allowed)
        refused = await manual_dial(blocked)
        assert (await ok.wait_for(StasisStart, timeout=20)).channel.state == "Up"
        assert (await refused.wait_for(ChannelDestroyed, timeout=20)).cause == 21
    assert sorted(asked) == sorted([allowed, blocked])
    nobody = await manual_dial(_number(1))      # the AGI server is gone: fail closed
    assert (await nobody.wait_for(ChannelDestroyed, timeout=20)).cause == 21
    dialled = {m.request_user for m in sipp_customers.received_invites()}
    assert allowed in dialled and blocked not in dialled


async def test_the_client_reconnects_after_an_asterisk_restart(
        ari: AriClient, asterisk: rig.AsteriskInstance) -> None:
    await asyncio.to_thread(asterisk.restart)
    lost = await ari.unowned.wait_for(Disconnected, timeout=30)
    assert lost.reason
    back = await ari.unowned.wait_for(Connected, timeout=30)
    assert back.reconnected and back.asterisk_restarted
    channel_id = str(uuid.uuid4())
    call = ari.subscribe(channel_id)
    await ari.originate("Local/s@dialer-test-answer", channel_id=channel_id, app="dialer")
    await call.wait_for(StasisStart, timeout=10)
    await ari.hangup(channel_id)
