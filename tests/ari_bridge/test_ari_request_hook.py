"""The `on_request` hook: every REST call reported with a path template free of ids."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
from fake_ari import FakeAri, SeenRequest

from ari_bridge import AriClient, AriRequestError, AriTimeout, path_template

CHANNEL_ID = "0b6c7a52-1d0e-4c7f-9c55-3b0e2f1d9a11"
CHANNEL = {"id": CHANNEL_ID, "name": "PJSIP/customers-00000001", "state": "Up",
           "caller": {"name": "", "number": ""},
           "dialplan": {"context": "dialer-outbound", "exten": "s", "priority": 1}}
BRIDGE = {"id": "b-7f3e", "bridge_type": "mixing", "technology": "simple_bridge", "channels": []}


@pytest.mark.parametrize(("path", "template"), [
    (f"/channels/{CHANNEL_ID}/dial", "/channels/{id}/dial"),
    ("/channels/create", "/channels/create"),
    ("/endpoints/PJSIP/8613812345678", "/endpoints/PJSIP/{id}"),
    ("/recordings/live/call-2024-0001/stop", "/recordings/live/{id}/stop"),
    ("/applications/dialer/eventFilter", "/applications/{id}/eventFilter"),
    ("/bridges/b1/play/p-9", "/bridges/{id}/play/{id}"),
    ("/asterisk/info", "/asterisk/info"),
    ("/someFutureResource/x", "/{id}/{id}"),     # unknown words are not trusted either
])
def test_path_template(path: str, template: str) -> None:
    assert path_template(path) == template


async def test_every_call_is_reported_with_its_template_status_and_duration(
        fake_ari: FakeAri) -> None:
    seen: list[tuple[str, str, float, int | None]] = []
    fake_ari.reply("POST", "/channels", 200, CHANNEL)
    fake_ari.reply("POST", "/bridges", 200, BRIDGE)
    fake_ari.reply("POST", f"/channels/{CHANNEL_ID}/answer", 409, {"message": "not in Stasis"})
    fake_ari.reply("GET", "/endpoints/PJSIP/8613812345678", 200,
                   {"technology": "PJSIP", "resource": "8613812345678", "state": "online",
                    "channel_ids": []})

    async def slow(_: SeenRequest) -> tuple[int, Any]:
        await asyncio.sleep(30)
        return 200, []
    fake_ari.route("GET", "/channels", slow)

    async with AriClient(fake_ari.url, "dialer", "pw", "dialer", request_timeout=0.3,
                         rng=random.Random(1),
                         on_request=lambda *args: seen.append(args)) as ari:
        seen.clear()        # the connection's own calls (event filter, info) are reported too
        await ari.originate("PJSIP/8613812345678@customers", channel_id=CHANNEL_ID,
                            context="dialer-outbound", extension="s", priority=1)
        await ari.create_bridge("b-7f3e")
        await ari.add_to_bridge("b-7f3e", CHANNEL_ID)
        await ari.get_endpoint("PJSIP", "8613812345678")
        with pytest.raises(AriRequestError):
            await ari.answer(CHANNEL_ID)
        with pytest.raises(AriTimeout):
            await ari.list_channels()
    got = [(method, path, status) for method, path, _, status in seen[:6]]
    assert got == [("POST", "/channels", 200), ("POST", "/bridges", 200),
                   ("POST", "/bridges/{id}/addChannel", 200),
                   ("GET", "/endpoints/PJSIP/{id}", 200),
                   ("POST", "/channels/{id}/answer", 409), ("GET", "/channels", None)]
    assert all(seconds >= 0 for _, _, seconds, _ in seen)
    assert seen[5][2] >= 0.3        # the timed-out call took its whole timeout
    for _, path, _, _ in seen:
        assert not re.search(r"\d{4,}", path) and CHANNEL_ID not in path
