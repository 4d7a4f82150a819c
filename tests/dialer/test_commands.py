"""MQTT commands: checked, carried out by a target, answered; the bad ones never acted on."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest

from dialer.cli import main
from dialer.commands import (
    CommandService,
    CommandStatus,
    StoreCommandTarget,
    parse_command,
)
from dialer.errors import CommandRefused, CommandRejected, NotFound
from dialer.events import InProcessBus, Message, MqttBus, MqttConfig
from dialer.keys import new_keyring
from dialer.metrics import Metrics
from dialer.store import CampaignInfo, CampaignStatus, Store

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TOKEN = "s3cret-T0ken-xyz"


@dataclass
class FixedClock:
    """A clock that says what the test sets."""

    at: datetime = NOW

    def now(self) -> datetime:
        return self.at


@dataclass
class RecordingTarget:
    """A command target that records each call (and can be told to fail or hang)."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail_with: Exception | None = None
    hang: bool = False

    async def _do(self, *call: Any) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(call)

    async def pause_campaign(self, campaign: int, reason: str) -> None:
        await self._do("pause", campaign, reason)

    async def resume_campaign(self, campaign: int) -> None:
        await self._do("resume", campaign)

    async def freeze_campaign(self, campaign: int, until: datetime | None, reason: str) -> None:
        await self._do("freeze", campaign, until, reason)

    async def unfreeze_campaign(self, campaign: int) -> None:
        await self._do("unfreeze", campaign)

    async def drain(self, node: str) -> None:
        await self._do("drain", node)


def cmd(command: str = "pause", **fields: Any) -> dict[str, Any]:
    """A valid command body; `field=value` overrides a field, `field=...` drops it."""
    body: dict[str, Any] = {"id": "c-1", "command": command, "at": NOW.isoformat(),
                            "token": TOKEN}
    if command != "drain":
        body["campaign"] = 12
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def target() -> RecordingTarget:
    return RecordingTarget()


@pytest.fixture
async def service(target: RecordingTarget) -> AsyncIterator[tuple[CommandService, InProcessBus]]:
    bus = InProcessBus()
    yield CommandService(bus, target, node_id="n1", token=TOKEN, clock=FixedClock()), bus


async def _result(bus: InProcessBus, service: CommandService,
                  message: Message) -> dict[str, Any]:
    async with bus.subscribe("dialer/n1/cmd/result") as results:
        await service.handle(message)
        return (await asyncio.wait_for(anext(results), 1)).payload


# -- the good ones ---------------------------------------------------------------------


@pytest.mark.parametrize(("body", "call"), [
    (cmd("pause", reason="complaint", by="alice"),
     ("pause", 12, "complaint (mqtt command c-1 by alice)")),
    (cmd("resume"), ("resume", 12)),
    (cmd("freeze", until="2026-03-01T18:00:00+08:00"),
     ("freeze", 12, datetime(2026, 3, 1, 10, 0, tzinfo=UTC), "mqtt command c-1")),
    (cmd("freeze"), ("freeze", 12, None, "mqtt command c-1")),
    (cmd("unfreeze"), ("unfreeze", 12)),
    (cmd("drain"), ("drain", "n1")),
])
async def test_valid_commands_are_carried_out_and_answered_ok(
        service: tuple[CommandService, InProcessBus], target: RecordingTarget,
        body: dict[str, Any], call: tuple[Any, ...]) -> None:
    svc, bus = service
    result = await _result(bus, svc, Message("dialer/n1/cmd", body))
    assert target.calls == [call]
    assert result == {"node": "n1", "id": "c-1", "command": body["command"], "status": "ok",
                      "reason": None, "at": "2026-03-01T09:30:00.000+00:00"}


async def test_numbers_in_a_reason_are_masked(service: tuple[CommandService, InProcessBus],
                                              target: RecordingTarget) -> None:
    svc, _ = service
    await svc.handle(Message("dialer/n1/cmd", cmd(reason="caller +8613812345678 complained")))
    assert target.calls == [("pause", 12, "caller +86138****5678 complained (mqtt command c-1)")]


# -- the bad ones ----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "reason"), [
    (cmd(token=...), "unauthorised"),
    (cmd(token="wrong"), "unauthorised"),
    (cmd(token=12345), "unauthorised"),
    (cmd(command="reboot"), "unknown_command"),
    (cmd(id=...), "malformed"),
    (cmd(id="has space"), "malformed"),
    (cmd(id="x" * 65), "malformed"),
    (cmd(untill="2026-03-02T00:00:00Z"), "malformed"),
    (cmd(campaign=...), "malformed"),
    (cmd(campaign="12"), "malformed"),
    (cmd(campaign=True), "malformed"),
    (cmd(campaign=0), "malformed"),
    (cmd("drain", campaign=3), "malformed"),
    (cmd("pause", until="2026-03-02T00:00:00Z"), "malformed"),
    (cmd("freeze", until="2026-03-02T00:00:00"), "malformed"),        # no zone
    (cmd("freeze", until="2026-03-01T09:00:00Z"), "malformed"),       # already past
    (cmd("freeze", until="tomorrow"), "malformed"),
    (cmd(reason=42), "malformed"),
    (cmd(reason="x" * 201), "malformed"),
    (cmd(reason="line\nbreak"), "malformed"),
    (cmd(reason="lone \ud800 surrogate"), "malformed"),
    (cmd(token="\ud800"), "unauthorised"),
    (cmd(by="alice; drop table"), "malformed"),
    (cmd(at=...), "malformed"),
    (cmd(at="2026-03-01T09:30:00"), "malformed"),
    (cmd(at=(NOW - timedelta(seconds=61)).isoformat()), "stale"),
    (cmd(at=(NOW + timedelta(seconds=31)).isoformat()), "stale"),
])
async def test_bad_commands_are_rejected_logged_and_never_acted_on(
        service: tuple[CommandService, InProcessBus], target: RecordingTarget,
        caplog: pytest.LogCaptureFixture, body: dict[str, Any], reason: str) -> None:
    svc, bus = service
    result = await _result(bus, svc, Message("dialer/n1/cmd", body))
    assert target.calls == []
    assert result["status"] == "rejected" and result["reason"].startswith(reason + ":")
    assert result["id"] == (body["id"] if body.get("id") == "c-1" else None)
    assert TOKEN not in caplog.text and TOKEN not in str(result)
    assert any("rejected" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


async def test_unknown_field_names_are_echoed_only_when_plain(
        service: tuple[CommandService, InProcessBus], target: RecordingTarget) -> None:
    svc, bus = service
    body = cmd(**{"untill": "x", "+8613812345678": 1, "\ud800": 2})
    result = await _result(bus, svc, Message("dialer/n1/cmd", body))
    assert result["reason"] == "malformed: 3 unknown field(s): untill"
    assert target.calls == []


async def test_chinese_reasons_survive_the_wire(service: tuple[CommandService, InProcessBus],
                                               target: RecordingTarget) -> None:
    svc, _ = service
    await svc.handle(Message("dialer/n1/cmd", cmd(reason="客户投诉")))
    assert target.calls == [("pause", 12, "客户投诉 (mqtt command c-1)")]


async def test_a_retained_command_is_never_acted_on(service: tuple[CommandService, InProcessBus],
                                                    target: RecordingTarget) -> None:
    svc, bus = service
    result = await _result(bus, svc, Message("dialer/n1/cmd", cmd(), retain=True))
    assert (result["status"], target.calls) == ("rejected", [])
    assert result["reason"].startswith("retained")


async def test_a_replayed_command_is_rejected(service: tuple[CommandService, InProcessBus],
                                              target: RecordingTarget) -> None:
    svc, _ = service
    first = await svc.handle(Message("dialer/n1/cmd", cmd()))
    again = await svc.handle(Message("dialer/all/cmd", cmd()))
    other = await svc.handle(Message("dialer/n1/cmd", cmd(id="c-2")))
    assert [r.status for r in (first, again, other)] == [
        CommandStatus.OK, CommandStatus.REJECTED, CommandStatus.OK]
    assert again.reason is not None and again.reason.startswith("duplicate")
    assert len(target.calls) == 2


async def test_an_unauthorised_sender_cannot_burn_an_id(
        service: tuple[CommandService, InProcessBus], target: RecordingTarget) -> None:
    svc, _ = service
    await svc.handle(Message("dialer/n1/cmd", cmd(token="guess")))
    assert (await svc.handle(Message("dialer/n1/cmd", cmd()))).status is CommandStatus.OK


async def test_without_a_token_every_command_is_rejected(target: RecordingTarget,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    svc = CommandService(InProcessBus(), target, node_id="n1", token=None, clock=FixedClock())
    result = await svc.handle(Message("dialer/n1/cmd", cmd()))
    assert result.status is CommandStatus.REJECTED and target.calls == []
    assert "no command token" in caplog.text


@pytest.mark.parametrize(("error", "reason"), [
    (NotFound("campaign", 12), "no campaign 12"),
    (CommandRefused("campaign 12 is draft, not paused"), "campaign 12 is draft, not paused"),
])
async def test_target_errors_are_answered_failed(
        service: tuple[CommandService, InProcessBus], target: RecordingTarget,
        error: Exception, reason: str) -> None:
    svc, _ = service
    target.fail_with = error
    result = await svc.handle(Message("dialer/n1/cmd", cmd()))
    assert (result.status, result.reason) == (CommandStatus.FAILED, reason)


async def test_a_target_that_hangs_fails_the_command(target: RecordingTarget) -> None:
    target.hang = True
    svc = CommandService(InProcessBus(), target, node_id="n1", token=TOKEN, clock=FixedClock(),
                         target_timeout=0.05)
    result = await svc.handle(Message("dialer/n1/cmd", cmd()))
    assert result.status is CommandStatus.FAILED and "not done within" in (result.reason or "")


def test_parse_command_checks_the_token_first() -> None:
    with pytest.raises(CommandRejected) as info:
        parse_command({"command": "reboot", "surprise": 1}, token=TOKEN, now=NOW,
                      max_age=timedelta(seconds=60), max_skew=timedelta(seconds=30))
    assert info.value.reason == "unauthorised"


# -- the service on a bus --------------------------------------------------------------


async def test_the_service_listens_to_its_own_and_the_all_topic(target: RecordingTarget) -> None:
    bus = InProcessBus()
    metrics = Metrics()
    svc = CommandService(bus, target, node_id="n1", token=TOKEN, clock=FixedClock(),
                         metrics=metrics)
    async with bus.subscribe("dialer/n1/cmd/result") as results, asyncio.TaskGroup() as tg:
        runner = tg.create_task(svc.run())
        await asyncio.wait_for(svc.ready.wait(), 1)
        await bus.publish("dialer/n2/cmd", cmd(id="not-mine"))
        await bus.publish("dialer/n1/cmd", cmd(id="mine"))
        await bus.publish("dialer/all/cmd", cmd("drain", id="everyone"))
        await bus.publish("dialer/n1/cmd", cmd(id="bad", token="nope"))
        got = [(await asyncio.wait_for(anext(results), 1)).payload for _ in range(3)]
        runner.cancel()
    assert sorted((r["id"], r["status"]) for r in got) == [
        ("bad", "rejected"), ("everyone", "ok"), ("mine", "ok")]
    assert sorted(c[0] for c in target.calls) == ["drain", "pause"]
    assert metrics.sample("dialer_commands_total", {"command": "pause", "status": "ok"}) == 1
    assert metrics.sample("dialer_commands_total",
                          {"command": "pause", "status": "rejected"}) == 1


@pytest.mark.mqtt
async def test_commands_over_the_real_broker(mqtt_url: str, target: RecordingTarget) -> None:
    prefix = f"test-commands-{id(target):x}"
    clock = FixedClock(datetime.now(UTC))
    node = MqttBus(MqttConfig.from_url(mqtt_url, topic_prefix=prefix, client_id=f"{prefix}-n"),
                   node_id="n1", backoff_min=0.02, backoff_max=0.2)
    operator = MqttBus(MqttConfig.from_url(mqtt_url, topic_prefix=prefix,
                                           client_id=f"{prefix}-op"),
                       node_id="operator", backoff_min=0.02, backoff_max=0.2)
    svc = CommandService(node, target, node_id="n1", token=TOKEN, clock=clock)
    async with node, operator, operator.subscribe("dialer/n1/cmd/result") as results, \
            asyncio.TaskGroup() as tg:
        await node.wait_connected(5)
        await operator.wait_connected(5)
        runner = tg.create_task(svc.run())
        await asyncio.wait_for(svc.ready.wait(), 5)
        await operator.publish("dialer/n1/cmd", cmd("freeze", at=clock.at.isoformat(),
                                                     until=(clock.at + timedelta(hours=1))
                                                     .isoformat()), qos=1)
        ok = (await asyncio.wait_for(anext(results), 5)).payload
        await operator.publish("dialer/all/cmd", cmd(id="c-2", token="guess"), qos=1)
        rejected = (await asyncio.wait_for(anext(results), 5)).payload
        runner.cancel()
    parts = urlsplit(mqtt_url)
    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883) as raw:
        for name in ("n1", "operator"):     # leave no retained health behind on the broker
            await raw.publish(f"{prefix}/dialer/{name}/health", b"", qos=1, retain=True)
    assert (ok["id"], ok["status"]) == ("c-1", "ok")
    assert (rejected["id"], rejected["status"]) == ("c-2", "rejected")
    assert target.calls == [("freeze", 12, clock.at + timedelta(hours=1), "mqtt command c-1")]


# -- the store target ------------------------------------------------------------------


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_url, new_keyring(), node_id="n1", linger_s=0.001)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def campaign(store: Store) -> CampaignInfo:
    tenant = await store.tenants.create("acme", now=NOW)
    return await store.campaigns.create(tenant.id, "spring", "uk", now=NOW)


async def test_store_target_pauses_resumes_freezes_and_refuses(store: Store,
                                                               campaign: CampaignInfo) -> None:
    clock = FixedClock()
    bus = InProcessBus()
    svc = CommandService(bus, StoreCommandTarget(store, clock=clock), node_id="n1",
                         token=TOKEN, clock=clock)

    ids = itertools.count(1)

    async def send(command: str, **fields: Any) -> tuple[CommandStatus, str | None]:
        body = cmd(command, id=f"c-{next(ids)}", **fields)
        if command != "drain":
            body["campaign"] = campaign.id
        result = await svc.handle(Message("dialer/n1/cmd", body))
        return result.status, result.reason

    status, reason = await send("pause")
    assert status is CommandStatus.FAILED and reason == f"campaign {campaign.id} is draft, not running"
    await store.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, now=NOW, actor="test")
    assert (await send("pause"))[0] is CommandStatus.OK
    assert (await store.campaigns.get(campaign.id)).status == CampaignStatus.PAUSED
    assert (await send("pause"))[0] is CommandStatus.OK           # already paused: fine
    assert (await send("resume"))[0] is CommandStatus.OK
    assert (await store.campaigns.get(campaign.id)).status == CampaignStatus.RUNNING

    until = NOW + timedelta(hours=2)
    assert (await send("freeze", until=until.isoformat(), reason="complaint"))[0] \
        is CommandStatus.OK
    frozen = await store.campaigns.get(campaign.id)
    assert frozen.frozen_until == until
    assert frozen.freeze_reason == "complaint (mqtt command c-5)"
    assert (await send("unfreeze"))[0] is CommandStatus.OK
    assert (await store.campaigns.get(campaign.id)).frozen_until is None

    status, reason = await send("drain")
    assert status is CommandStatus.FAILED and reason == "node n1 has no engine attached to drain"
    missing = await svc.handle(Message("dialer/n1/cmd", cmd(id="c-99", campaign=campaign.id + 99)))
    assert missing.status is CommandStatus.FAILED and missing.reason == \
        f"no campaign {campaign.id + 99}"


# -- the command line ------------------------------------------------------------------


@pytest.mark.mqtt
async def test_the_cli_sends_a_command_and_prints_the_answer(
        mqtt_url: str, target: RecordingTarget, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"test-cli-{id(target):x}"
    for name, value in (("MQTT_URL", mqtt_url), ("MQTT_TOPIC_PREFIX", prefix),
                        ("COMMAND_TOKEN", TOKEN), ("NODE_ID", "cli-host")):
        monkeypatch.setenv(f"DIALER_{name}", value)
    node = MqttBus(MqttConfig.from_url(mqtt_url, topic_prefix=prefix, client_id=f"{prefix}-n"),
                   node_id="n1", backoff_min=0.02, backoff_max=0.2)
    svc = CommandService(node, target, node_id="n1", token=TOKEN)
    async with node, asyncio.TaskGroup() as tg:
        runner = tg.create_task(svc.run())
        await asyncio.wait_for(svc.ready.wait(), 5)
        await node.wait_connected(5)
        ok = await asyncio.to_thread(main, ["command", "freeze", "12", "--node", "n1",
                                            "--until", "2099-01-01T00:00:00+00:00",
                                            "--reason", "complaint", "--by", "alice"])
        out_ok = capsys.readouterr().out
        monkeypatch.setenv("DIALER_COMMAND_TOKEN", "not-the-token")
        bad = await asyncio.to_thread(main, ["command", "drain", "--node", "n1"])
        out_bad = capsys.readouterr().out
        runner.cancel()
    parts = urlsplit(mqtt_url)
    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883) as raw:
        await raw.publish(f"{prefix}/dialer/n1/health", b"", qos=1, retain=True)
    assert ok == 0 and re.fullmatch(r"n1: freeze cli-[0-9a-f]{12}: ok\n", out_ok)
    assert target.calls == [("freeze", 12, datetime(2099, 1, 1, tzinfo=UTC),
                             f"complaint (mqtt command {out_ok.split()[2][:-1]} by alice)")]
    assert bad == 1 and "rejected (unauthorised: missing or wrong token)" in out_bad


def test_the_cli_needs_a_token_and_a_broker(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DIALER_COMMAND_TOKEN", raising=False)
    monkeypatch.setenv("DIALER_MQTT_URL", "mqtt://127.0.0.1:1")
    assert main(["command", "pause", "3"]) == 2
    assert "command_token" in capsys.readouterr().err
    monkeypatch.setenv("DIALER_COMMAND_TOKEN", TOKEN)
    assert main(["command", "pause", "3", "--timeout", "0.3"]) == 1
    assert "did not answer" in capsys.readouterr().err
    monkeypatch.delenv("DIALER_MQTT_URL")
    assert main(["command", "pause", "3"]) == 2
    assert "mqtt_url" in capsys.readouterr().err
