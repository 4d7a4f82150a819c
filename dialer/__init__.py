"""The dialer engine: campaigns, leads, the dial gate, agents, the store and the CLI.

Other packages (`pacing`, `ari_bridge`, `dnc`, `recordings`) never import this one.
"""

from dialer.errors import ConfigError, DialerError, StoreUnavailable
from dialer.settings import Settings, load_settings

__all__ = ["ConfigError", "DialerError", "Settings", "StoreUnavailable", "load_settings"]
