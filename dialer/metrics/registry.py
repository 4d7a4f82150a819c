"""The dialer's Prometheus metrics, in a registry of their own (never the global one).

The engine calls the small methods (`call_ended`, `gate_denied`, …); label values are
campaign ids, outcomes, reasons, windows, HTTP methods and path templates only: a value
that could carry a phone number or a call id (a run of 7+ digits) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

ARI_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LABEL = re.compile(r"[A-Za-z0-9_.:/{}\-]{1,100}")
_DIGIT_RUN = re.compile(r"\d{7,}")


def label(value: object) -> str:
    """A label value; ValueError if it is empty, odd, or could carry a number or an id."""
    text = str(value)
    if not _LABEL.fullmatch(text) or _DIGIT_RUN.search(text):
        raise ValueError(f"{text[:40]!r} is not a metric label value (ids and numbers "
                         "never go into labels: template them)")
    return text


class BusStatsView(Protocol):
    """What the exporter reads from an event bus (`dialer.events.MqttBus`)."""

    @property
    def is_connected(self) -> bool:
        """True while the bus is connected to its broker."""
        ...

    @property
    def queued(self) -> int:
        """Outbound events waiting for the broker."""
        ...

    @property
    def stats(self) -> object:
        """Counters: published, dropped, invalid, undelivered, connections, link_failures."""
        ...


class _BusCollector(Collector):
    """Reads a bus's counters at scrape time."""

    def __init__(self, bus: BusStatsView) -> None:
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        stats = self._bus.stats
        yield GaugeMetricFamily("dialer_mqtt_connected", "1 while connected to the MQTT broker",
                                value=1.0 if self._bus.is_connected else 0.0)
        yield GaugeMetricFamily("dialer_mqtt_queued_events",
                                "Outbound events waiting for the broker", value=self._bus.queued)
        for name, help_text in (
                ("published", "Events the broker took"),
                ("dropped", "Outbound events dropped (buffer full, or unsent at exit)"),
                ("invalid", "Incoming messages dropped for not being JSON objects"),
                ("undelivered", "Incoming messages a full subscriber queue could not take"),
                ("connections", "Successful connections to the broker"),
                ("link_failures", "Failed connection attempts and lost connections")):
            yield CounterMetricFamily(f"dialer_mqtt_{name}", help_text,
                                      value=getattr(stats, name))


class Metrics:
    """Every metric of one node; pass `registry` to share one, else a fresh one is made."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._calls = Counter("dialer_calls", "Calls ended, by campaign and outcome",
                              ["campaign", "outcome"], registry=r)
        self._abandon = Gauge("dialer_abandon_rate",
                              "Abandoned share of live answers, by campaign and window",
                              ["campaign", "window"], registry=r)
        self._occupancy = Gauge("dialer_agent_occupancy",
                                "Share of logged-in agent time talking or in wrap-up",
                                ["campaign"], registry=r)
        self._lines = Gauge("dialer_lines_in_use", "Calls in flight (lines taken), by campaign",
                            ["campaign"], registry=r)
        self._denials = Counter("dialer_gate_denials", "Dial-gate denials, by campaign and reason",
                                ["campaign", "reason"], registry=r)
        self._lag = Histogram("dialer_event_loop_lag_seconds",
                              "How late the event loop ran a timer", buckets=LAG_BUCKETS,
                              registry=r)
        self._lag_last = Gauge("dialer_event_loop_lag_last_seconds",
                               "The last event-loop lag measured", registry=r)
        self._ari = Histogram("dialer_ari_request_duration_seconds",
                              "ARI REST request latency, by method, path template and status",
                              ["method", "path", "status"], buckets=ARI_BUCKETS, registry=r)
        self._dnc_size = Gauge("dialer_dnc_entries", "Entries in the do-not-call index",
                               registry=r)
        self._dnc_version = Gauge("dialer_dnc_version", "Version of the do-not-call list",
                                  registry=r)
        self._windows: dict[str, set[str]] = {}
        self._commands = Counter("dialer_commands", "MQTT commands handled, by command and status",
                                 ["command", "status"], registry=r)

    # -- calls and campaigns -----------------------------------------------------------

    def call_ended(self, campaign: int | str, outcome: str) -> None:
        """Count one finished call of a campaign by its outcome."""
        self._calls.labels(label(campaign), label(outcome)).inc()

    def gate_denied(self, campaign: int | str, reason: str) -> None:
        """Count one dial-gate denial of a campaign by its reason."""
        self._denials.labels(label(campaign), label(reason)).inc()

    def set_abandon_rate(self, campaign: int | str, window: str, rate: float) -> None:
        """The campaign's abandon rate (0..1) over a window such as `24h` or `30d`."""
        key = label(campaign)
        self._abandon.labels(key, label(window)).set(_ratio(rate))
        self._windows.setdefault(key, set()).add(str(window))

    def set_occupancy(self, campaign: int | str, ratio: float) -> None:
        """The share (0..1) of the campaign's agents' time spent talking or in wrap-up."""
        self._occupancy.labels(label(campaign)).set(_ratio(ratio))

    def set_lines_in_use(self, campaign: int | str, lines: int) -> None:
        """Calls in flight for the campaign now."""
        self._lines.labels(label(campaign)).set(lines)

    def forget_campaign(self, campaign: int | str) -> None:
        """Drop a finished campaign's gauges (its counters stay, as counters do)."""
        key = label(campaign)
        for window in self._windows.pop(key, ()):
            self._abandon.remove(key, window)
        self._occupancy.remove(key)
        self._lines.remove(key)

    # -- the node ----------------------------------------------------------------------

    def set_dnc(self, entries: int, version: int) -> None:
        """The do-not-call index's size and the list's version."""
        self._dnc_size.set(entries)
        self._dnc_version.set(version)

    def loop_lag(self, seconds: float) -> None:
        """One event-loop lag measurement."""
        self._lag.observe(seconds)
        self._lag_last.set(seconds)

    def ari_request(self, method: str, path: str, seconds: float, status: int | None) -> None:
        """One ARI request (the `AriClient(on_request=…)` hook); status None: no answer."""
        self._ari.labels(label(method), label(path),
                         "none" if status is None else label(status)).observe(seconds)

    def command_handled(self, command: str | None, status: str) -> None:
        """Count one MQTT command by command (`unknown` if unreadable) and result status."""
        self._commands.labels(label(command or "unknown"), label(status)).inc()

    def watch_bus(self, bus: BusStatsView) -> None:
        """Export an event bus's counters (`dialer_mqtt_*`), read at scrape time."""
        self.registry.register(_BusCollector(bus))

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (for tests and the terminal view), or None."""
        return self.registry.get_sample_value(name, labels or {})


def _ratio(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a ratio is between 0 and 1, not {value}")
    return float(value)
