"""`dialer run`: dial campaigns on Asterisk (ARI) with a live terminal view.

    dialer run --campaign examples/campaigns/demo.yaml --start --duration 240 --report

Loads and stores each campaign file, connects to ARI, serves the FastAGI `dnc-check`
route, records calls where a campaign says so (encrypted, `dialer recordings`),
serves Prometheus metrics when DIALER_METRICS_LISTEN is set, publishes events on MQTT
when DIALER_MQTT_URL is set (and takes signed commands
from it), and runs the engine until `--duration` passes, `--until-done` finds nothing left
to dial, the node is drained (`dialer drain`), or Ctrl-C. Then it prints the run's
summary and, with `--report`, each campaign's report from the store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from ari_bridge import FastAgiServer
from dialer.agi_routes import routes
from dialer.campaign import load_campaign
from dialer.cli.ari_args import ari_client
from dialer.cli.store_args import add_profiles_option, profiles_of
from dialer.clock import WallClock
from dialer.commands import CommandService, StoreCommandTarget
from dialer.engine import Engine
from dialer.events import EventBus, InProcessBus, MqttBus, MqttConfig
from dialer.metrics import Metrics, parse_listen, serve_metrics
from dialer.recorder import Recorder
from dialer.settings import Settings
from dialer.store import Store, campaign_report, render_text
from dialer.telephony import AriTelephony
from dialer.view import LiveView, final_report
from dnc import Dnc
from recordings import AriRecordingControl, RecordingMode, Vault

log = logging.getLogger(__name__)

VIEW_EVERY_S = 0.5
WIND_DOWN_S = 180.0


def register(sub: Any) -> None:
    """Add the `run` command."""
    run = sub.add_parser("run", help="dial campaigns on Asterisk with a live view")
    run.add_argument("--campaign", action="append", required=True, metavar="FILE",
                     help="a campaign YAML file; repeat for several")
    run.add_argument("--start", action="store_true",
                     help="set the campaigns running (else their stored status holds)")
    run.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                     help="stop starting calls after this long, then let live calls end")
    run.add_argument("--until-done", action="store_true",
                     help="stop when no call is up and no lead is due")
    run.add_argument("--report", action="store_true",
                     help="print each campaign's report at the end")
    run.add_argument("--tick", type=float, default=0.5, help="seconds between pacing decisions")
    run.add_argument("--claim-lease", type=float, default=300.0, metavar="SECONDS",
                     help="hand back leads any node claimed longer ago (a dead node's)")
    add_profiles_option(run)
    run.set_defaults(handler=run_engine)


async def run_engine(args: argparse.Namespace, settings: Settings) -> int:
    """Run the engine on the configured Asterisk until done; print the summary."""
    campaigns = [load_campaign(path, profiles_of(args)) for path in args.campaign]
    host, port = parse_listen(settings.agi_listen, field="agi_listen")
    mqtt = MqttConfig.from_settings(settings)
    bus: EventBus = (MqttBus(mqtt, node_id=settings.node_id) if mqtt is not None
                     else InProcessBus())
    metrics = Metrics() if settings.metrics_listen else None
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(await Store.from_settings(settings))
        ari = await stack.enter_async_context(ari_client(
            settings, on_request=metrics.ari_request if metrics is not None else None))
        if isinstance(bus, MqttBus):
            await stack.enter_async_context(bus)
        if metrics is not None and settings.metrics_listen:
            host_port = await stack.enter_async_context(
                serve_metrics(metrics, settings.metrics_listen))
            log.info("metrics on http://%s:%d/metrics", *host_port)
            if isinstance(bus, MqttBus):
                metrics.watch_bus(bus)
        await ari.wait_connected(10.0)
        dnc = await Dnc.open(store.db.engine, store.hasher)
        agi = FastAgiServer(routes(dnc), host=host, port=port)
        await agi.start()
        telephony = AriTelephony(ari)
        recorder = None
        if any(c.config.recording.mode is not RecordingMode.NEVER for c in campaigns):
            recorder = Recorder(AriRecordingControl(ari), Vault(
                settings.recordings_dir, settings.recording_spool_dir, store.keyring,
                store.recordings, node_id=settings.node_id))
            await recorder.recover()
        engine = Engine(store, dnc, telephony, clock=WallClock(), tick=args.tick, bus=bus,
                        claim_lease=args.claim_lease, metrics=metrics,
                        hooks=[recorder] if recorder is not None else [])
        commands = asyncio.create_task(CommandService.from_settings(
            bus, StoreCommandTarget(store, actor=f"mqtt@{settings.node_id}"), settings).run()
        ) if mqtt is not None else None
        try:
            for campaign in campaigns:
                await engine.add_campaign(campaign, start=args.start)
            await _run_with_view(engine, args)
        finally:
            if commands is not None:
                commands.cancel()
                await asyncio.gather(commands, return_exceptions=True)
            await engine.close()
            if recorder is not None:
                await recorder.close()
            await telephony.close()
            await agi.close()
        print(final_report(engine.status()))
        if args.report:
            now = datetime.now(UTC)
            for runner in engine.runners.values():
                report = await campaign_report(store, runner.id, profiles_of(args), now)
                print(render_text(report))
    return 0


async def _run_with_view(engine: Engine, args: argparse.Namespace) -> None:
    with LiveView() as view:
        async def refresh() -> None:
            while True:
                view.update(engine.status())
                await asyncio.sleep(VIEW_EVERY_S)

        viewer = asyncio.create_task(refresh())
        try:
            await engine.run(until=(lambda: engine.idle) if args.until_done else None,
                             duration=args.duration)
            await engine.wind_down(WIND_DOWN_S)
        finally:
            viewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await viewer
            view.update(engine.status())
