"""The ARI client of the commands that talk to Asterisk (`dialer ari`, `dialer run`)."""

from __future__ import annotations

from ari_bridge import AriClient, RequestHook
from dialer.errors import ConfigError
from dialer.settings import Settings


def ari_client(settings: Settings, *, connect_timeout: float = 10.0,
               on_request: RequestHook | None = None) -> AriClient:
    """A client for the configured ARI; a clear error when no password is set."""
    password = settings.secret("ari_password")
    if password is None:
        raise ConfigError("no ARI password: set DIALER_ARI_PASSWORD or DIALER_ARI_PASSWORD_FILE",
                          field="ari_password")
    return AriClient(settings.ari_url, settings.ari_user, password, settings.ari_app,
                     connect_timeout=connect_timeout, on_request=on_request)
