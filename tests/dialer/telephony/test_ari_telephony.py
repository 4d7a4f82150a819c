"""AriTelephony on the real local Asterisk 22, with SIPp customers and agent phones.

Every call is admitted by the dial gate of a campaign whose trunk sends E.164 numbers
with their plus (`number_format: e164`), so the SIPp customer's behaviour is the
number's last digit (tests/sipp/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import pytest
import rig
from dial_support import add_campaign, admit, cn_number, make_campaign, relaxed_profile
from tcp_proxy import TcpProxy

from ari_bridge import AriClient, ChannelGone, PlaybackStarted
from dialer.campaign import CampaignState
from dialer.gate import DialTicket
from dialer.keys import new_keyring
from dialer.store import Store
from dialer.telephony import (
    CAUSE_BUSY,
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    AgentLogin,
    AriTelephony,
    CallAnswered,
    CallEnded,
    CallUp,
    Dtmf,
    OriginateRequest,
    Reconnected,
    TelephonyError,
    TelephonyEvent,
)
from dnc import Dnc

pytestmark = pytest.mark.asterisk

HUMAN, NO_ANSWER, BUSY, OPT_OUT = 1, 2, 3, 4   # the SIPp customer's last digit
E = TypeVar("E", bound=TelephonyEvent)
T = TypeVar("T")


class Heard:
    """Everything a telephony reported, collected as it comes; tests wait on it."""

    def __init__(self, telephony: AriTelephony) -> None:
        self.events: list[TelephonyEvent] = []
        self._new = asyncio.Condition()
        self._task = asyncio.create_task(self._collect(telephony))

    async def _collect(self, telephony: AriTelephony) -> None:
        async for event in telephony.events():
            self.events.append(event)
            async with self._new:
                self._new.notify_all()

    async def until(self, found: Callable[[list[TelephonyEvent]], T | None], *,
                    timeout: float = 20) -> T:
        """What `found` finds in the events heard so far, waiting until it finds it."""
        async with asyncio.timeout(timeout), self._new:
            while (result := found(self.events)) is None:
                await self._new.wait()
            return result

    async def wait(self, kind: type[E], channel_id: str | None = None, *,
                   timeout: float = 20) -> E:
        """The first event of this kind (about this channel), waiting for it to come."""
        def first(events: list[TelephonyEvent]) -> E | None:
            return next((e for e in events if isinstance(e, kind) and (
                channel_id is None or getattr(e, "channel_id", None) == channel_id)), None)
        return await self.until(first, timeout=timeout)

    def about(self, channel_id: str) -> list[TelephonyEvent]:
        """The events about one channel, in order."""
        return [e for e in self.events if getattr(e, "channel_id", None) == channel_id]

    def kinds(self, channel_id: str) -> list[type]:
        """The types of the events about one channel, in order."""
        return [type(e) for e in self.about(channel_id)]

    async def stop(self) -> None:
        """Stop collecting."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class Dialler:
    """A running campaign on a fresh store: gate tickets and originate requests."""

    store: Store
    dnc: Dnc
    state: CampaignState
    channels: list[str] = field(default_factory=list)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def call(self, behaviour: int, *, ring_timeout: float = 20, amd: bool = True,
                   endpoint: str | None = None) -> tuple[DialTicket, OriginateRequest]:
        """A ticket for a fresh number ending in `behaviour`, and the request to dial it."""
        number = cn_number(next(self._serial) * 10 + behaviour)
        ticket = await admit(self.store, self.dnc, self.state, number, now=datetime.now(UTC))
        campaign = self.state.campaign
        channel_id = str(uuid.uuid4())
        self.channels.append(channel_id)
        return ticket, OriginateRequest(channel_id, endpoint or campaign.dial_string(number),
                                        campaign.caller_id, ring_timeout, amd)


@pytest.fixture
async def dialler(sqlite_url: str, asterisk: rig.AsteriskInstance,
                  sipp_customers: rig.SippProcess) -> AsyncIterator[Dialler]:
    store = await Store.open(sqlite_url, new_keyring(), node_id="n1", linger_s=0.001)
    try:
        dnc = await Dnc.open(store.db.engine, store.hasher, region="CN")
        campaign = make_campaign(relaxed_profile(all_day=True), trunk={
            "endpoint": f"PJSIP/{{number}}@{asterisk.trunk}", "number_format": "e164"})
        dialler = Dialler(store, dnc, await add_campaign(store, campaign))
        yield dialler
    finally:
        await store.close()
    async with _side_client(asterisk) as side:   # nothing a test dialled outlives it
        for channel_id in dialler.channels:
            with contextlib.suppress(ChannelGone):
                await side.hangup(channel_id)


def _side_client(asterisk: rig.AsteriskInstance) -> AriClient:
    """A client of another application, to act on Asterisk behind the telephony's back."""
    return AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, "dialer-side")


@pytest.fixture
async def ari(asterisk: rig.AsteriskInstance) -> AsyncIterator[AriClient]:
    async with AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password,
                         "dialer") as client:
        yield client


@pytest.fixture
async def telephony(ari: AriClient) -> AsyncIterator[AriTelephony]:
    phone = AriTelephony(ari)
    yield phone
    await phone.close()


@pytest.fixture
async def heard(telephony: AriTelephony) -> AsyncIterator[Heard]:
    collected = Heard(telephony)
    yield collected
    await collected.stop()


async def _live(telephony: AriTelephony, channel_id: str) -> tuple[object, ...]:
    live = {c.channel_id: c for c in await telephony.live_channels()}[channel_id]
    return live.attempt_id, live.state, live.in_application


async def test_a_human_answer_is_live_and_our_hangup_ends_it_once(
        ari: AriClient, telephony: AriTelephony, heard: Heard, dialler: Dialler,
        sipp_customers: rig.SippProcess) -> None:
    ticket, request = await dialler.call(HUMAN)
    await telephony.originate(ticket, request)
    channel_id = request.channel_id
    attempt, state, in_app = await _live(telephony, channel_id)
    assert (attempt, in_app) == (ticket.attempt_id, False) and state != "Up"   # ringing
    answered = await heard.wait(CallAnswered, channel_id)
    assert (answered.attempt_id, answered.amd_status) == (ticket.attempt_id, "HUMAN")
    assert await _live(telephony, channel_id) == (ticket.attempt_id, "Up", True)

    invites = [m for m in sipp_customers.received_invites()
               if m.headers.get("x-dialer-attempt") == str(ticket.attempt_id)]
    assert [m.request_user for m in invites] == [ticket.number]   # +E.164, as dialled

    with ari.subscribe(channel_id) as watch:
        playing = asyncio.create_task(telephony.play(channel_id, "sound:demo-congrats"))
        await watch.wait_for(PlaybackStarted, timeout=5)
        await telephony.hangup(channel_id)
        assert await playing is False        # the channel went away mid-message
    ended = await heard.wait(CallEnded, channel_id)
    assert (ended.cause, ended.answered) == (CAUSE_NORMAL, True)
    await telephony.hangup(channel_id)        # gone: no error
    assert heard.kinds(channel_id) == [CallUp, CallAnswered, CallEnded]


async def test_busy_and_no_answer_end_unanswered_and_an_answer_without_amd_is_notused(
        telephony: AriTelephony, heard: Heard, dialler: Dialler) -> None:
    busy = await dialler.call(BUSY)
    no_answer = await dialler.call(NO_ANSWER, ring_timeout=1.5)
    no_amd = await dialler.call(HUMAN, amd=False)
    for ticket, request in (busy, no_answer, no_amd):
        await telephony.originate(ticket, request)
    assert (await heard.wait(CallAnswered, no_amd[1].channel_id)).amd_status == "NOTUSED"
    await telephony.hangup(no_amd[1].channel_id)
    ends = [await heard.wait(CallEnded, r.channel_id) for _, r in (busy, no_answer)]
    # no answer within the ring timeout: Asterisk's cause 19 "User alerting, no answer"
    assert [(e.cause, e.answered) for e in ends] == [(CAUSE_BUSY, False),
                                                     (CAUSE_NO_ANSWER, False)]
    for _, request in (busy, no_answer):
        assert heard.kinds(request.channel_id) == [CallEnded]


async def test_the_customers_opt_out_key_is_heard(telephony: AriTelephony, heard: Heard,
                                                  dialler: Dialler) -> None:
    ticket, request = await dialler.call(OPT_OUT)
    await telephony.originate(ticket, request)
    assert (await heard.wait(CallAnswered, request.channel_id)).amd_status == "HUMAN"
    assert (await heard.wait(Dtmf, request.channel_id)).digit == "9"
    await telephony.hangup(request.channel_id)
    await heard.wait(CallEnded, request.channel_id)
    assert heard.kinds(request.channel_id) == [CallUp, CallAnswered, Dtmf, CallEnded]


async def test_an_agent_logs_in_keys_in_and_is_bridged_with_a_customer_who_hears_a_beep(
        ari: AriClient, telephony: AriTelephony, heard: Heard, dialler: Dialler,
        sipp_agents: Callable[..., rig.SippProcess]) -> None:
    sipp_agents("8011", "4321", dtmf=[(4.0, "*9")])
    login = await heard.wait(AgentLogin, timeout=15)
    assert (login.agent_id, login.pin) == ("8011", "4321")
    agent = login.channel_id
    await telephony.answer(agent)
    ticket, request = await dialler.call(HUMAN)
    await telephony.originate(ticket, request)
    customer = request.channel_id
    await heard.wait(CallAnswered, customer)

    bridge_id = str(uuid.uuid4())
    await telephony.create_bridge(bridge_id)
    await telephony.add_to_bridge(bridge_id, agent)
    await telephony.add_to_bridge(bridge_id, customer)
    bridges = {b.id: b for b in await ari.list_bridges()}
    assert set(bridges[bridge_id].channels) == {agent, customer}
    assert await telephony.play(customer, "sound:beep") is True

    def agent_keys(events: list[TelephonyEvent]) -> list[str] | None:
        keys = [e.digit for e in events if isinstance(e, Dtmf) and e.channel_id == agent]
        return keys if len(keys) >= 2 else None
    assert await heard.until(agent_keys) == ["*", "9"]     # a disposition code

    await telephony.hangup(customer)
    assert (await heard.wait(CallEnded, customer)).answered
    await telephony.remove_from_bridge(bridge_id, customer)      # gone: no error
    await telephony.hangup(agent)
    assert (await heard.wait(CallEnded, agent)).answered          # the agent's logout
    await telephony.destroy_bridge(bridge_id)
    await telephony.destroy_bridge(bridge_id)                     # gone: no error
    assert heard.kinds(agent) == [AgentLogin, Dtmf, Dtmf, CallEnded]


async def test_a_failed_originate_raises_and_reports_nothing(
        telephony: AriTelephony, heard: Heard, dialler: Dialler) -> None:
    ticket, request = await dialler.call(HUMAN, endpoint=f"PJSIP/{cn_number(71)}@no-such-trunk")
    with pytest.raises(TelephonyError) as failure:
        await telephony.originate(ticket, request)
    assert cn_number(71) not in str(failure.value)
    assert request.channel_id in str(failure.value)
    # a call that rings afterwards is reported; the failed one never is
    ticket, busy = await dialler.call(BUSY)
    await telephony.originate(ticket, busy)
    await heard.wait(CallEnded, busy.channel_id)
    assert heard.about(request.channel_id) == []


async def test_a_new_telephony_adopts_the_dialler_calls_it_finds(
        ari: AriClient, telephony: AriTelephony, dialler: Dialler) -> None:
    calls = [await dialler.call(NO_ANSWER, ring_timeout=30), await dialler.call(HUMAN),
             await dialler.call(HUMAN)]
    (ringing_ticket, ringing), (answered_ticket, answered), (later_ticket, later) = calls
    heard = Heard(telephony)
    for call in calls[:2]:
        await telephony.originate(*call)
    await heard.wait(CallAnswered, answered.channel_id)
    await telephony.originate(*calls[2])
    await heard.stop()
    await telephony.close()                   # the engine restarts while `later` rings

    successor = AriTelephony(ari)
    heard = Heard(successor)
    try:
        # `later` enters Stasis with nobody owning it: adopted, and its answer reported
        late = await heard.wait(CallAnswered, later.channel_id)
        assert (late.attempt_id, late.amd_status) == (later_ticket.attempt_id, "HUMAN")
        live = {c.channel_id: c for c in await successor.live_channels()}
        assert [(live[r.channel_id].attempt_id, live[r.channel_id].in_application)
                for r in (ringing, answered)] == [
            (ringing_ticket.attempt_id, False),   # from its DIALER_ATTEMPT variable
            (answered_ticket.attempt_id, True)]   # from its Stasis() arguments
        for request in (ringing, answered, later):
            await successor.hangup(request.channel_id)
        ends = [await heard.wait(CallEnded, r.channel_id) for r in (ringing, answered, later)]
        assert [(e.cause, e.answered) for e in ends] == [
            (CAUSE_NORMAL, False), (CAUSE_NORMAL, True), (CAUSE_NORMAL, True)]
    finally:
        await heard.stop()
        await successor.close()


@pytest.fixture
async def proxied_ari(asterisk: rig.AsteriskInstance) -> AsyncIterator[tuple[AriClient, TcpProxy]]:
    """A client of the application that reaches Asterisk through a proxy a test can cut."""
    proxy = TcpProxy("127.0.0.1", int(asterisk.ari_url.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        async with AriClient(f"http://127.0.0.1:{proxy.port}", asterisk.ari_user,
                             asterisk.ari_password, "dialer", backoff_min=0.05,
                             backoff_max=0.3) as client:
            yield client, proxy
    finally:
        await proxy.stop()


async def test_calls_that_end_or_answer_in_a_gap_of_the_events_are_reported_after_it(
        asterisk: rig.AsteriskInstance, proxied_ari: tuple[AriClient, TcpProxy],
        dialler: Dialler) -> None:
    ari, proxy = proxied_ari
    telephony = AriTelephony(ari)
    heard = Heard(telephony)
    try:
        calls = [await dialler.call(HUMAN), await dialler.call(NO_ANSWER, ring_timeout=2),
                 await dialler.call(HUMAN)]
        (_, human), (_, unanswered), (late_ticket, late) = calls
        await telephony.originate(*calls[0])
        await heard.wait(CallAnswered, human.channel_id)
        await telephony.originate(*calls[1])
        await telephony.originate(*calls[2])
        proxy.freeze()                        # the events are held back...
        async with _side_client(asterisk) as side:
            await side.hangup(human.channel_id)
            deadline = time.monotonic() + 15
            while True:                       # until two calls end and one is answered
                live = {c.id: c for c in await side.list_channels()}
                if (late.channel_id in live and live[late.channel_id].dialplan.app_name
                        == "Stasis" and not {human.channel_id, unanswered.channel_id} & set(live)):
                    break
                assert time.monotonic() < deadline, "the calls did not get there"
                await asyncio.sleep(0.1)
        await proxy.stop()                    # ...and lost with the WebSocket
        await proxy.start()
        back = await heard.wait(Reconnected)
        assert not back.restarted
        ended = [e for e in heard.events if isinstance(e, CallEnded)]
        assert {e.channel_id: (e.cause, e.answered) for e in ended} == {
            human.channel_id: (CAUSE_NORMAL, True), unanswered.channel_id: (CAUSE_NO_ANSWER, False)}
        answered = await heard.wait(CallAnswered, late.channel_id)   # learnt from the list
        assert (answered.attempt_id, answered.amd_status) == (late_ticket.attempt_id, "HUMAN")
        assert heard.events[-1] is back       # all of that before Reconnected
        await telephony.hangup(late.channel_id)
        assert (await heard.wait(CallEnded, late.channel_id)).answered   # still watched
    finally:
        await heard.stop()
        await telephony.close()


async def test_a_bridge_destroyed_twice_at_once_is_no_error_and_gone_on_return(
        ari: AriClient, telephony: AriTelephony) -> None:
    """The requests after the first find the bridge out of Stasis but still listed (409)."""
    for _ in range(200):
        bridge_id = str(uuid.uuid4())
        await telephony.create_bridge(bridge_id)
        await asyncio.gather(*(telephony.destroy_bridge(bridge_id) for _ in range(4)))
        assert bridge_id not in {b.id for b in await ari.list_bridges()}
