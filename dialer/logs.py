"""Logging set-up for the dialer: one format, numbers masked unless asked otherwise."""

from __future__ import annotations

import logging

from dnc import MaskingFilter

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", *, show_numbers: bool = False) -> None:
    """Send logs to stderr; mask phone numbers unless `show_numbers` is set."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    if not show_numbers:
        handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
