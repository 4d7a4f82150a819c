"""Metrics: what each recording method exports, labels without numbers or ids, the
MQTT bus's counters, the event-loop lag probe, and the HTTP exporter."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest

from ari_bridge import path_template
from dialer.errors import ConfigError
from dialer.events import MqttBus, MqttConfig
from dialer.metrics import Metrics, loop_lag_probe, parse_listen, serve_metrics


def test_calls_denials_rates_and_lines() -> None:
    m = Metrics()
    m.call_ended(12, "connected")
    m.call_ended(12, "connected")
    m.call_ended(12, "abandoned")
    m.gate_denied(12, "dnc")
    m.gate_denied(12, "calling_window")
    m.gate_denied(12, "dnc")
    m.set_abandon_rate(12, "24h", 0.0125)
    m.set_abandon_rate(12, "30d", 0.008)
    m.set_occupancy(12, 0.85)
    m.set_lines_in_use(12, 23)
    m.set_dnc(150_000, 4321)
    assert m.sample("dialer_calls_total", {"campaign": "12", "outcome": "connected"}) == 2
    assert m.sample("dialer_calls_total", {"campaign": "12", "outcome": "abandoned"}) == 1
    assert m.sample("dialer_gate_denials_total", {"campaign": "12", "reason": "dnc"}) == 2
    assert m.sample("dialer_abandon_rate", {"campaign": "12", "window": "24h"}) == 0.0125
    assert m.sample("dialer_abandon_rate", {"campaign": "12", "window": "30d"}) == 0.008
    assert m.sample("dialer_agent_occupancy", {"campaign": "12"}) == 0.85
    assert m.sample("dialer_lines_in_use", {"campaign": "12"}) == 23
    assert (m.sample("dialer_dnc_entries"), m.sample("dialer_dnc_version")) == (150_000, 4321)


def test_forgetting_a_campaign_drops_its_gauges_and_keeps_its_counters() -> None:
    m = Metrics()
    m.call_ended(3, "busy")
    m.set_abandon_rate(3, "24h", 0.01)
    m.set_lines_in_use(3, 4)
    m.set_occupancy(3, 0.5)
    m.set_lines_in_use(4, 1)
    m.forget_campaign(3)
    assert m.sample("dialer_abandon_rate", {"campaign": "3", "window": "24h"}) is None
    assert m.sample("dialer_lines_in_use", {"campaign": "3"}) is None
    assert m.sample("dialer_agent_occupancy", {"campaign": "3"}) is None
    assert m.sample("dialer_lines_in_use", {"campaign": "4"}) == 1
    assert m.sample("dialer_calls_total", {"campaign": "3", "outcome": "busy"}) == 1


def test_ari_latency_by_path_template() -> None:
    m = Metrics()
    path = path_template("/channels/0b6c7a52-1d0e-4c7f-9c55-3b0e2f1d9a11/answer")
    m.ari_request("POST", path, 0.004, 204)
    m.ari_request("POST", path, 0.030, 204)
    m.ari_request("GET", "/channels", 10.0, None)
    labels = {"method": "POST", "path": "/channels/{id}/answer", "status": "204"}
    assert m.sample("dialer_ari_request_duration_seconds_count", labels) == 2
    assert m.sample("dialer_ari_request_duration_seconds_bucket", {**labels, "le": "0.005"}) == 1
    assert m.sample("dialer_ari_request_duration_seconds_count",
                    {"method": "GET", "path": "/channels", "status": "none"}) == 1


@pytest.mark.parametrize("bad", [
    "+8613812345678", "8613812345678", "/channels/1234567/answer",
    "/channels/0b6c7a52-1d0e-4c7f-9c55-3b0e2f1d9a11/answer".replace("0b6c7a52", "01234567"),
    "", "has space", "x" * 101, "quote\"d",
])
def test_labels_that_could_carry_a_number_or_id_are_refused(bad: str) -> None:
    m = Metrics()
    with pytest.raises(ValueError):
        m.call_ended(bad, "connected")
    with pytest.raises(ValueError):
        m.ari_request("GET", bad, 0.1, 200)


def test_ratios_must_be_ratios() -> None:
    m = Metrics()
    with pytest.raises(ValueError):
        m.set_abandon_rate(1, "24h", 3.0)
    with pytest.raises(ValueError):
        m.set_occupancy(1, -0.1)


def test_each_node_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.call_ended(1, "busy")
    assert second.sample("dialer_calls_total", {"campaign": "1", "outcome": "busy"}) is None


def test_commands_are_counted() -> None:
    m = Metrics()
    m.command_handled("pause", "ok")
    m.command_handled(None, "rejected")
    assert m.sample("dialer_commands_total", {"command": "pause", "status": "ok"}) == 1
    assert m.sample("dialer_commands_total", {"command": "unknown", "status": "rejected"}) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_bus_counters_are_read_at_scrape_time() -> None:
    m = Metrics()
    config = MqttConfig.from_url(f"mqtt://127.0.0.1:{_closed_port()}", buffer=2)
    async with MqttBus(config, node_id="n1", backoff_min=0.01, backoff_max=0.02) as bus:
        m.watch_bus(bus)
        for i in range(5):
            await bus.publish("dialer/n1/x", {"i": i})
        async with asyncio.timeout(5):
            while bus.stats.link_failures < 2:
                await asyncio.sleep(0.01)
        assert m.sample("dialer_mqtt_connected") == 0
        assert m.sample("dialer_mqtt_queued_events") == 2
        assert m.sample("dialer_mqtt_dropped_total") == 3
        assert m.sample("dialer_mqtt_link_failures_total") >= 2   # type: ignore[operator]
        assert m.sample("dialer_mqtt_published_total") == 0
    assert m.sample("dialer_mqtt_dropped_total") == 5       # the two left unsent at exit


async def test_the_lag_probe_sees_a_blocked_loop() -> None:
    m = Metrics()
    async with loop_lag_probe(m, interval=0.01):
        await asyncio.sleep(0)                      # let the probe take its first timer
        time.sleep(0.2)  # noqa: ASYNC251 (block the loop on purpose)
        async with asyncio.timeout(5):
            while (m.sample("dialer_event_loop_lag_last_seconds") or 0) < 0.15:
                await asyncio.sleep(0.01)
    assert m.sample("dialer_event_loop_lag_seconds_count") >= 1   # type: ignore[operator]
    assert m.sample("dialer_event_loop_lag_seconds_bucket", {"le": "0.1"}) is not None


async def test_the_exporter_serves_the_registry() -> None:
    m = Metrics()
    m.call_ended(7, "machine")
    async with serve_metrics(m, "127.0.0.1:0", lag_interval=0.01) as (host, port), \
            aiohttp.ClientSession() as http:
        async with http.get(f"http://{host}:{port}/metrics") as resp:
            body = await resp.text()
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
        async with http.get(f"http://{host}:{port}/other") as resp:
            assert resp.status == 404
    assert 'dialer_calls_total{campaign="7",outcome="machine"} 1.0' in body
    assert "dialer_event_loop_lag_seconds_bucket" in body
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/metrics"):
            pass


async def test_the_exporter_names_the_field_when_it_cannot_listen() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            async with serve_metrics(Metrics(), f"127.0.0.1:{port}"):
                pass
    assert info.value.field == "metrics_listen"


@pytest.mark.parametrize(("listen", "parsed"), [("127.0.0.1:9100", ("127.0.0.1", 9100)),
                                                ("[::1]:9100", ("::1", 9100)),
                                                ("0.0.0.0:0", ("0.0.0.0", 0))])
def test_parse_listen(listen: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize("listen", ["9100", ":9100", "host:", "host:http", "h:70000"])
def test_parse_listen_errors(listen: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_listen(listen)
    assert info.value.field == "metrics_listen"
