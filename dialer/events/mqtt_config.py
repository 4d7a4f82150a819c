"""Where and how a node reaches its MQTT broker: URL, credentials, TLS, topic prefix.

`mqtt://host[:port]` (1883) is plain TCP, `mqtts://host[:port]` (8883) is TLS. The
URL never carries credentials: the user is `mqtt_user`, the password comes from
`DIALER_MQTT_PASSWORD` or `mqtt_password_file`. TLS trusts `mqtt_ca_file` (else the
system's CAs), checks the broker's host name, and presents `mqtt_cert_file` /
`mqtt_key_file` when the broker wants a client certificate.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dialer.errors import ConfigError
from dialer.settings import Settings

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttConfig:
    """A broker's address and the node's credentials for it (the password is not shown)."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    client_id: str | None = None
    topic_prefix: str = ""
    buffer: int = 10_000

    def __post_init__(self) -> None:
        if self.tls is False and (self.ca_file or self.cert_file or self.key_file):
            raise ConfigError("TLS files are set but the URL is not mqtts://",
                              field="mqtt_ca_file" if self.ca_file else "mqtt_cert_file")
        if self.key_file and not self.cert_file:
            raise ConfigError("a client key needs its certificate (mqtt_cert_file)",
                              field="mqtt_key_file")
        if self.password is not None and self.username is None:
            raise ConfigError("an MQTT password needs a user (mqtt_user)", field="mqtt_user")
        if self.buffer < 1:
            raise ConfigError("must be at least 1", field="mqtt_buffer")
        object.__setattr__(self, "topic_prefix", normalise_prefix(self.topic_prefix))

    @classmethod
    def from_url(cls, url: str, **options: object) -> MqttConfig:
        """Parse `mqtt://host[:port]` or `mqtts://host[:port]`; other options as given."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"not a valid URL: {exc}", field="mqtt_url") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise ConfigError("the scheme must be mqtt:// or mqtts://", field="mqtt_url")
        if parts.username is not None or parts.password is not None:
            raise ConfigError("credentials do not belong in the URL; set mqtt_user and "
                              "DIALER_MQTT_PASSWORD or mqtt_password_file", field="mqtt_url")
        if not parts.hostname:
            raise ConfigError("the URL names no host", field="mqtt_url")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError("the URL takes only a host and a port", field="mqtt_url")
        return cls(host=parts.hostname, port=port or DEFAULT_PORTS[parts.scheme],
                   tls=parts.scheme == "mqtts", **options)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls, settings: Settings) -> MqttConfig | None:
        """The broker a node's settings name, or None when `mqtt_url` is not set."""
        if settings.mqtt_url is None:
            return None
        return cls.from_url(settings.mqtt_url, username=settings.mqtt_user,
                            password=settings.secret("mqtt_password"),
                            ca_file=settings.mqtt_ca_file, cert_file=settings.mqtt_cert_file,
                            key_file=settings.mqtt_key_file,
                            client_id=settings.mqtt_client_id or f"dialer-{settings.node_id}",
                            topic_prefix=settings.mqtt_topic_prefix,
                            buffer=settings.mqtt_buffer)

    @property
    def address(self) -> str:
        """`mqtt[s]://host:port`, safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (CA, host-name check, client certificate), or None without TLS."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(
                cafile=None if self.ca_file is None else str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA: {_why(exc)}", file=self.ca_file,
                              field="mqtt_ca_file") from exc
        if self.cert_file is not None:
            try:
                context.load_cert_chain(str(self.cert_file),
                                        None if self.key_file is None else str(self.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load the client certificate: {_why(exc)}",
                                  file=self.cert_file, field="mqtt_cert_file") from exc
        return context


def normalise_prefix(prefix: str) -> str:
    """A topic prefix as `a/b/` (or empty); wildcards and a leading `/` are refused."""
    if not prefix:
        return ""
    if any(c in prefix for c in "+#\0") or prefix.startswith("/"):
        raise ConfigError("a topic prefix has no wildcards and does not start with /",
                          field="mqtt_topic_prefix")
    return prefix.rstrip("/") + "/"


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
