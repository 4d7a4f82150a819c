"""Errors of the event bus.

    DialerError (dialer.errors)
     └── EventBusError   the bus cannot take the request
          └── BusClosed  publish or subscribe on a bus that is not open (never opened, or closed)
"""

from __future__ import annotations

from dialer.errors import DialerError


class EventBusError(DialerError):
    """The event bus cannot take the request."""


class BusClosed(EventBusError):
    """The bus is not open: it was never entered, or it has been closed."""
