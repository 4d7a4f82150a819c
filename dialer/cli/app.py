"""The `dialer` command: global flags, settings, and dispatch to command modules.

Each command module exposes `register(subparsers)`, which adds its sub-commands and
sets `handler` on them: a callable `(args, settings) -> int`, or a coroutine function
with the same signature. The exit status is what the handler returns.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Sequence
from types import ModuleType

from dialer.cli import (
    agents_cmd,
    ari_cmd,
    campaign_cmd,
    command_cmd,
    config_cmd,
    demo_cmd,
    dnc_cmd,
    drain_cmd,
    keys_cmd,
    leads_cmd,
    purge_cmd,
    recordings_cmd,
    report_cmd,
    run_cmd,
    simulate_cmd,
    tenant_cmd,
)
from dialer.errors import ConfigError, DialerError
from dialer.logs import configure_logging
from dialer.settings import Settings, load_settings

COMMAND_MODULES: tuple[ModuleType, ...] = (
    config_cmd,
    keys_cmd,
    dnc_cmd,
    purge_cmd,
    report_cmd,
    recordings_cmd,
    command_cmd,
    ari_cmd,
    campaign_cmd,
    tenant_cmd,
    leads_cmd,
    agents_cmd,
    drain_cmd,
    simulate_cmd,
    demo_cmd,
    run_cmd,
)

# flag name -> Settings field; flags win over the environment and the config file
GLOBAL_FLAGS = {
    "--node-id": "node_id",
    "--db-url": "db_url",
    "--key-file": "key_file",
    "--ari-url": "ari_url",
    "--ari-user": "ari_user",
    "--ari-app": "ari_app",
    "--mqtt-url": "mqtt_url",
    "--log-level": "log_level",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered command."""
    parser = argparse.ArgumentParser(prog="dialer", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="node config file (YAML); also DIALER_CONFIG")
    for flag, field in GLOBAL_FLAGS.items():
        parser.add_argument(flag, dest=field, default=None,
                            help=f"overrides DIALER_{field.upper()} and the config file")
    parser.add_argument("--show-numbers", dest="show_numbers", action="store_true",
                        default=None, help="log and print phone numbers unmasked")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with this invocation's flags applied on top of env and config file."""
    flags = {field: getattr(args, field) for field in (*GLOBAL_FLAGS.values(), "show_numbers")}
    return load_settings(args.config, flags=flags)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dialer` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        configure_logging(settings.log_level, show_numbers=settings.show_numbers)
        result = args.handler(args, settings)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except ConfigError as exc:
        print(f"dialer: configuration error: {exc}", file=sys.stderr)
        return 2
    except DialerError as exc:
        print(f"dialer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
