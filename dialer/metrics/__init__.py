"""Prometheus metrics of a node: the registry and its recording methods, the event-loop
lag probe, and the `/metrics` HTTP exporter."""

from dialer.metrics.exporter import parse_listen, serve_metrics
from dialer.metrics.lag import loop_lag_probe, measure_loop_lag
from dialer.metrics.registry import BusStatsView, Metrics, label

__all__ = [
    "BusStatsView",
    "Metrics",
    "label",
    "loop_lag_probe",
    "measure_loop_lag",
    "parse_listen",
    "serve_metrics",
]
