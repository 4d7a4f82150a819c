"""The `dialer` command-line interface."""

from dialer.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
