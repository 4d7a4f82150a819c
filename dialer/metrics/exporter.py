"""The HTTP exporter: `GET /metrics` on `settings.metrics_listen`, served by aiohttp on
the engine's own event loop (no thread), with the loop-lag probe running alongside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from dialer.errors import ConfigError
from dialer.metrics.lag import loop_lag_probe
from dialer.metrics.registry import Metrics


def parse_listen(listen: str, *, field: str = "metrics_listen") -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:9100`) → (host, port); ConfigError naming the field."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{listen!r} is not host:port", field=field)
    return host, int(port)


@asynccontextmanager
async def serve_metrics(metrics: Metrics, listen: str, *,
                        lag_interval: float = 0.5) -> AsyncIterator[tuple[str, int]]:
    """Serve `/metrics` on `listen` (port 0: any free port) while the context is open;
    yields the address actually bound."""
    host, port = parse_listen(listen)

    async def handle(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror}",
                              field="metrics_listen") from exc
        bound = runner.addresses[0]
        async with loop_lag_probe(metrics, lag_interval):
            yield str(bound[0]), int(bound[1])
    finally:
        await runner.cleanup()
