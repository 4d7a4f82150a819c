"""MqttBus against the real Mosquitto: round trips, health and last will, bad payloads,
a broker that dies and comes back, TLS with a client certificate, and passwords."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest
from mqtt_broker import PrivateBroker, add_password
from tls_certs import TlsFiles

from dialer.events import BusClosed, Message, MqttBus, MqttConfig

pytestmark = pytest.mark.mqtt

REPO = Path(__file__).resolve().parents[3]
FAST = {"backoff_min": 0.02, "backoff_max": 0.2, "op_timeout": 5.0}


def _config(url: str, prefix: str, name: str, **options: Any) -> MqttConfig:
    return MqttConfig.from_url(url, topic_prefix=prefix, client_id=f"{prefix or 'test'}-{name}", **options)


async def _next(messages: AsyncIterator[Message], timeout: float = 5.0) -> Message:
    return await asyncio.wait_for(anext(messages), timeout)


def _completes_without_suspending(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine one step: it must finish without ever waiting (never blocks)."""
    with pytest.raises(StopIteration):
        coro.send(None)


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition with a deadline (for state the bus exposes only as a flag)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_round_trip_with_retained_health_first(mqtt_url: str, mqtt_prefix: str) -> None:
    async with MqttBus(_config(mqtt_url, mqtt_prefix, "a"), node_id="n1", **FAST) as bus:
        await bus.wait_connected(5)
        async with bus.subscribe("dialer/#") as messages:
            health = await _next(messages)
            assert (health.topic, health.payload, health.retain) == (
                "dialer/n1/health", {"node": "n1", "status": "online"}, True)
            await bus.publish("dialer/n1/campaign/7/stats",
                              {"campaign": 7, "lines": 3, "name": "春季 \ud800"})
            await bus.publish("dialer/dnc/added", {"hash": "ab" * 32, "version": 9}, qos=1)
            first, second = await _next(messages), await _next(messages)
        assert (first.topic, first.payload, first.retain) == (
            "dialer/n1/campaign/7/stats", {"campaign": 7, "lines": 3, "name": "春季 \ud800"},
            False)
        assert second.payload == {"hash": "ab" * 32, "version": 9}
    assert bus.stats.published == 2 and bus.stats.dropped == 0


async def test_topics_live_under_the_prefix_on_the_wire(mqtt_url: str, mqtt_prefix: str) -> None:
    parts = urlsplit(mqtt_url)
    async with aiomqtt.Client(parts.hostname or "", parts.port or 1883) as raw:
        await raw.subscribe(f"{mqtt_prefix}/dialer/n1/x", qos=1)
        async with MqttBus(_config(mqtt_url, mqtt_prefix, "a"), node_id="n1", **FAST) as bus:
            await bus.publish("dialer/n1/x", {"k": "v"})
            async with asyncio.timeout(5):
                message = await anext(aiter(raw.messages))
    assert str(message.topic) == f"{mqtt_prefix}/dialer/n1/x"
    assert message.payload == b'{"k":"v"}'


async def test_a_clean_exit_says_offline_and_a_watcher_sees_it(mqtt_url: str,
                                                              mqtt_prefix: str) -> None:
    watcher = MqttBus(_config(mqtt_url, mqtt_prefix, "watch"), node_id="w", **FAST)
    async with watcher, watcher.subscribe("dialer/n1/health") as health:
        await watcher.wait_connected(5)
        async with MqttBus(_config(mqtt_url, mqtt_prefix, "a"), node_id="n1", **FAST) as bus:
            await bus.wait_connected(5)
            assert (await _next(health)).payload["status"] == "online"
        assert (await _next(health)).payload == {"node": "n1", "status": "offline"}
    assert watcher.stats.invalid == 0


async def test_last_will_when_the_node_dies(mqtt_url: str, mqtt_prefix: str) -> None:
    watcher = MqttBus(_config(mqtt_url, mqtt_prefix, "watch"), node_id="w", **FAST)
    node = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("mqtt_node.py")), mqtt_url, mqtt_prefix,
        "doomed", stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert node.stdout is not None
        async with asyncio.timeout(20):
            assert (await node.stdout.readline()).strip() == b"connected"
        async with watcher, watcher.subscribe("dialer/doomed/health") as health:
            await watcher.wait_connected(5)
            online = await _next(health)
            assert online.retain and online.payload["status"] == "online"
            node.send_signal(signal.SIGKILL)
            offline = await _next(health, timeout=10)
            assert offline.payload == {"node": "doomed", "status": "offline"}
        # retained: whoever looks later still sees that the node is gone
        late = MqttBus(_config(mqtt_url, mqtt_prefix, "late"), node_id="late", **FAST)
        async with late, late.subscribe("dialer/doomed/health") as health:
            kept = await _next(health)
            assert kept.retain and kept.payload["status"] == "offline"
    finally:
        if node.returncode is None:
            node.kill()
        await node.wait()


async def test_an_observer_announces_nothing(
        private_broker: Callable[..., Awaitable[PrivateBroker]]) -> None:
    broker = await private_broker()
    async with MqttBus(_config(broker.url, "", "obs"), node_id="obs", announce=False,
                       **FAST) as observer:
        await observer.wait_connected(5)
    watcher = MqttBus(_config(broker.url, "", "w"), node_id="w", announce=False, **FAST)
    async with watcher, watcher.subscribe("dialer/#") as messages:
        await watcher.wait_connected(5)
        await watcher.publish("dialer/w/marker", {"end": True})
        first = await _next(messages)     # retained messages would have come before it
    assert first.topic == "dialer/w/marker"


async def test_payloads_that_are_not_json_objects_are_dropped_and_counted(
        mqtt_url: str, mqtt_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    parts = urlsplit(mqtt_url)
    async with MqttBus(_config(mqtt_url, mqtt_prefix, "a"), node_id="n1", **FAST) as bus, \
            bus.subscribe("dialer/n1/cmd") as commands:
        await bus.wait_connected(5)
        async with aiomqtt.Client(parts.hostname or "", parts.port or 1883) as raw:
            topic = f"{mqtt_prefix}/dialer/n1/cmd"
            for junk in (b"+8613812345678", b"[1, 2]", b"\xff\xfe", b'{"ok": true}'):
                await raw.publish(topic, junk, qos=1)
        message = await _next(commands)
    assert message.payload == {"ok": True}
    assert bus.stats.invalid == 3
    assert "8613812345678" not in caplog.text


async def test_publish_rejects_wildcards_non_objects_and_a_closed_bus(
        mqtt_url: str, mqtt_prefix: str) -> None:
    bus = MqttBus(_config(mqtt_url, mqtt_prefix, "a"), node_id="n1", **FAST)
    with pytest.raises(BusClosed):
        await bus.publish("dialer/n1/x", {})
    async with bus:
        with pytest.raises(ValueError):
            await bus.publish("dialer/+/x", {})
        with pytest.raises(TypeError):
            await bus.publish("dialer/n1/x", ["not", "an", "object"])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            async with bus.subscribe("dialer/#/x"):
                pass
    with pytest.raises(BusClosed):
        await bus.publish("dialer/n1/x", {})


async def test_broker_restart_mid_run(
        private_broker: Callable[..., Awaitable[PrivateBroker]]) -> None:
    """The broker dies: publishing goes on without blocking, the oldest events beyond
    the buffer are dropped and counted; it comes back: the subscription is re-made, the
    buffered events and new ones arrive, and the node says `online` again."""
    broker = await private_broker()
    config = _config(broker.url, "", "n1", buffer=5)
    async with MqttBus(config, node_id="n1", **FAST) as bus, \
            bus.subscribe("dialer/n1/call/+/state") as calls:
        await bus.wait_connected(5)
        await bus.publish("dialer/n1/call/a/state", {"i": 0})
        assert (await _next(calls)).payload == {"i": 0}

        await broker.kill()
        await _until(lambda: not bus.is_connected)
        for i in range(1, 9):
            _completes_without_suspending(
                bus.publish("dialer/n1/call/a/state", {"i": i}))
        assert (bus.queued, bus.stats.dropped) == (5, 3)

        await broker.start()
        await bus.wait_connected(10)
        received = [(await _next(calls)).payload["i"] for _ in range(5)]
        assert received == [4, 5, 6, 7, 8]     # drop-oldest: the newest five survive
        await bus.publish("dialer/n1/call/a/state", {"i": 9})
        assert (await _next(calls)).payload == {"i": 9}
        assert bus.stats.connections == 2

        watcher = MqttBus(_config(broker.url, "", "w"), node_id="w", **FAST)
        async with watcher, watcher.subscribe("dialer/n1/health") as health:
            again = await _next(health)
            assert again.retain and again.payload["status"] == "online"


async def test_starts_without_a_broker_and_connects_when_it_appears(
        private_broker: Callable[..., Awaitable[PrivateBroker]]) -> None:
    broker = await private_broker(run=False)
    async with MqttBus(_config(broker.url, "", "n1"), node_id="n1", **FAST) as bus, \
            bus.subscribe("dialer/n1/x") as messages:
        await bus.publish("dialer/n1/x", {"early": True})
        await bus.publish("dialer/n1/health", {"node": "n1", "status": "draining"},
                          retain=True, qos=1)
        assert not bus.is_connected and bus.queued == 2
        await broker.start()
        await bus.wait_connected(10)
        assert (await _next(messages)).payload == {"early": True}
        watcher = MqttBus(_config(broker.url, "", "w"), node_id="w", **FAST)
        async with watcher, watcher.subscribe("dialer/n1/health") as health:
            kept = await _next(health)
            assert kept.payload == {"node": "n1", "status": "draining"}


async def test_the_last_published_health_is_announced_again_after_a_restart(
        private_broker: Callable[..., Awaitable[PrivateBroker]]) -> None:
    broker = await private_broker()
    async with MqttBus(_config(broker.url, "", "n1"), node_id="n1", **FAST) as bus:
        await bus.wait_connected(5)
        await bus.publish("dialer/n1/health", {"node": "n1", "status": "draining"},
                          retain=True, qos=1)
        await _until(lambda: bus.queued == 0)
        await broker.kill()
        await _until(lambda: not bus.is_connected)
        await broker.start()      # persistence is off: the broker forgot every retained message
        await bus.wait_connected(10)
        watcher = MqttBus(_config(broker.url, "", "w"), node_id="w", **FAST)
        async with watcher, watcher.subscribe("dialer/n1/health") as health:
            assert (await _next(health)).payload["status"] == "draining"


async def test_tls_with_a_client_certificate_and_a_password(
        private_broker: Callable[..., Awaitable[PrivateBroker]], tls_files: TlsFiles,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    passwords = tmp_path / "passwords"
    add_password(passwords, "node1", "Corr3ct-Horse")
    broker = await private_broker(
        f"cafile {tls_files.ca}\ncertfile {tls_files.server_cert}\n"
        f"keyfile {tls_files.server_key}\nrequire_certificate true\n"
        f"allow_anonymous false\npassword_file {passwords}\n")
    url = f"mqtts://127.0.0.1:{broker.port}"
    good = _config(url, "", "n1", ca_file=tls_files.ca, cert_file=tls_files.client_cert,
                   key_file=tls_files.client_key, username="node1", password="Corr3ct-Horse")
    async with MqttBus(good, node_id="n1", **FAST) as bus, \
            bus.subscribe("dialer/n1/x") as messages:
        await bus.wait_connected(10)
        await bus.publish("dialer/n1/x", {"secure": True})
        assert (await _next(messages)).payload == {"secure": True}

    wrong_password = _config(url, "", "n2", ca_file=tls_files.ca,
                             cert_file=tls_files.client_cert, key_file=tls_files.client_key,
                             username="node1", password="Wr0ng-Battery")
    no_client_cert = _config(url, "", "n3", ca_file=tls_files.ca, username="node1",
                             password="Corr3ct-Horse")
    untrusted = _config(url, "", "n4", cert_file=tls_files.client_cert,
                        key_file=tls_files.client_key, username="node1",
                        password="Corr3ct-Horse")
    for config in (wrong_password, no_client_cert, untrusted):
        async with MqttBus(config, node_id="nx", **{**FAST, "op_timeout": 1.0}) as bus:
            await _until(lambda bus=bus: bus.stats.link_failures >= 1)
            assert not bus.is_connected and bus.stats.connections == 0
    for secret in ("Corr3ct-Horse", "Wr0ng-Battery"):
        assert secret not in caplog.text
        assert all(secret not in repr(c) for c in (good, wrong_password))

