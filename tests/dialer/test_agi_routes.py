"""The node's FastAGI `dnc-check` route over the real DNC, asked by the real dialplan.

A manual call enters `dialer-manual` (asterisk-conf/etc/extensions.conf), whose AGI()
asks the route and dials the trunk only on `DNC_RESULT=allowed`; a blocked number hears
the blocked prompt and is hung up with cause 21. The SIPp customers behind the trunk
show which numbers really went out.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest
import rig

from ari_bridge import (
    AriClient,
    ChannelDestroyed,
    Connected,
    FastAgiServer,
    StasisStart,
    Subscription,
)
from dialer.agi_routes import routes
from dialer.keys import new_keyring
from dialer.store import Store
from dnc import Dnc, Source

pytestmark = pytest.mark.asterisk


def _human(rng: random.Random) -> str:
    """A fresh Chinese mobile number whose SIPp customer answers (last digit 1)."""
    return f"+86139{rng.randrange(10**7):07d}1"


@pytest.fixture
async def ari(asterisk: rig.AsteriskInstance,
              sipp_customers: rig.SippProcess) -> AsyncIterator[AriClient]:
    async with AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password,
                         "dialer") as client:
        assert isinstance(await client.unowned.get(timeout=5), Connected)
        yield client


async def test_a_manual_call_to_a_listed_number_is_blocked_and_another_goes_out(
        ari: AriClient, asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess,
        sqlite_url: str) -> None:
    rng = random.Random(uuid.uuid4().int)
    allowed, listed, refused_later = _human(rng), _human(rng), _human(rng)
    store = await Store.open(sqlite_url, new_keyring(), node_id="agi", linger_s=0.001)
    try:
        served = await Dnc.open(store.db.engine, store.hasher, region="CN")
        await served.refuse(listed, Source.MANUAL, reason="test", actor="test")
        # another node's refusal, committed after this node loaded its index
        other = await Dnc.open(store.db.engine, store.hasher, region="CN")
        await other.refuse(refused_later, Source.OPT_OUT_KEY, evidence="elsewhere")

        async def manual_call(number: str) -> tuple[str, Subscription]:
            channel_id = str(uuid.uuid4())
            call = ari.subscribe(channel_id)
            await ari.originate(f"Local/{number}@dialer-manual", channel_id=channel_id,
                                app="dialer")
            return channel_id, call

        async with FastAgiServer(routes(served), port=asterisk.agi_port):
            ok_id, ok = await manual_call(allowed)
            calls = [await manual_call(n) for n in (listed, refused_later)]
            assert (await ok.wait_for(StasisStart, timeout=20)).channel.state == "Up"
            for _, call in calls:
                assert (await call.wait_for(ChannelDestroyed, timeout=20)).cause == 21
            await ari.hangup(ok_id)
    finally:
        await store.close()
    dialled = {m.request_user for m in sipp_customers.received_invites()}
    assert allowed in dialled
    assert not {listed, refused_later} & dialled
