"""Node settings and where they come from.

Precedence, highest first: command-line flags, environment variables (`DIALER_*`),
the node config file (YAML, `--config` or `DIALER_CONFIG`), then defaults. Secrets
(the ARI and MQTT passwords, the MQTT command token, the key file's contents) are read
from the environment or from files named in the config, never from the config file itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from dialer.errors import ConfigError
from dialer.yamlconf import Loc, read_yaml, validation_error

ENV_PREFIX = "DIALER_"
SECRET_FIELDS = frozenset({"ari_password", "command_token", "mqtt_password"})


class Settings(BaseModel):
    """Everything a node needs to know about its surroundings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str = Field(default_factory=lambda: socket.gethostname().split(".")[0])
    db_url: str = "sqlite+aiosqlite:///dialer.db"
    key_file: Path | None = None
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "dialer"
    ari_password: SecretStr | None = None
    ari_password_file: Path | None = None
    ari_app: str = "dialer"
    mqtt_url: str | None = None
    mqtt_user: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = None
    mqtt_ca_file: Path | None = None          # TLS: trust this CA (mqtts:// URLs)
    mqtt_cert_file: Path | None = None        # TLS client certificate, if the broker asks
    mqtt_key_file: Path | None = None         # its private key
    mqtt_client_id: str | None = None         # default: dialer-<node_id>
    mqtt_topic_prefix: str = ""               # e.g. "site1/": every topic lives under it
    mqtt_buffer: int = Field(default=10_000, ge=1)   # outbound events kept while the broker is away
    command_token: SecretStr | None = None    # shared secret of MQTT commands
    command_token_file: Path | None = None
    command_max_age_s: float = Field(default=60.0, gt=0)  # older commands are rejected
    agi_listen: str = "127.0.0.1:4573"
    metrics_listen: str | None = None
    show_numbers: bool = False
    # encrypted call recordings (owner-only folder; keep it on one file system)
    recordings_dir: Path = Path("recordings")
    # where Asterisk's ARI recordings land, as this node sees that folder
    recording_spool_dir: Path = Path("/var/spool/asterisk/recording")
    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    def secret(self, name: str) -> str | None:
        """The value of a secret: from its own field, else from its `<name>_file`."""
        value = getattr(self, name)
        if value is not None:
            return str(value.get_secret_value())
        path = getattr(self, f"{name}_file")
        if path is None:
            return None
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file: {exc.strerror}", file=path,
                              field=f"{name}_file") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    fields = Settings.model_fields
    out: dict[str, Any] = {}
    for name in fields:
        key = ENV_PREFIX + name.upper()
        if key in env and env[key] != "":
            out[name] = env[key]
    return out


def load_settings(config_file: str | Path | None = None,
                  env: Mapping[str, str] | None = None,
                  flags: Mapping[str, Any] | None = None) -> Settings:
    """Build the node settings: flags > environment > config file > defaults."""
    env = os.environ if env is None else env
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = {}
    lines: dict[Loc, int] = {}
    if config_file is not None:
        data, lines = read_yaml(config_file)
        if data is not None and not isinstance(data, dict):
            raise ConfigError("the top level must be a mapping", file=config_file, line=1)
        values = dict(data or {})
        for name in sorted(SECRET_FIELDS & set(values)):
            raise ConfigError("secrets do not belong in config files; set it in the "
                              f"environment or name a file in {name}_file",
                              file=config_file, line=lines.get((name,)), field=name)
    values.update(_from_env(env))
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise validation_error(config_file or "(environment or flags)", lines, exc) from exc
