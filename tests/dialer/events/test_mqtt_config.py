"""MqttConfig: URLs, credentials kept out of URLs and reprs, TLS files, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from tls_certs import TlsFiles

from dialer import ConfigError, load_settings
from dialer.events import MqttConfig


@pytest.mark.parametrize(("url", "host", "port", "tls"), [
    ("mqtt://broker", "broker", 1883, False),
    ("mqtt://10.0.0.5:1999", "10.0.0.5", 1999, False),
    ("mqtts://broker.example", "broker.example", 8883, True),
    ("mqtts://[::1]:9883", "::1", 9883, True),
])
def test_urls(url: str, host: str, port: int, tls: bool) -> None:
    config = MqttConfig.from_url(url)
    assert (config.host, config.port, config.tls) == (host, port, tls)


@pytest.mark.parametrize(("url", "says"), [
    ("http://broker", "mqtt:// or mqtts://"),
    ("mqtt://user:pw@broker", "credentials do not belong in the URL"),
    ("mqtt://broker/path", "only a host and a port"),
    ("mqtt://broker:99999", "not a valid URL"),
    ("mqtt://", "no host"),
])
def test_bad_urls_name_the_field(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url(url)
    assert info.value.field == "mqtt_url" and says in str(info.value)
    assert "pw" not in str(info.value).replace("mqtt://", "")


def test_password_is_not_in_repr() -> None:
    config = MqttConfig.from_url("mqtt://b", username="u", password="Hunter2-x")
    assert "Hunter2-x" not in repr(config) and config.address == "mqtt://b:1883"


def test_inconsistent_tls_and_credentials(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url("mqtt://b", ca_file=tmp_path / "ca.pem")
    assert info.value.field == "mqtt_ca_file"
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url("mqtts://b", key_file=tmp_path / "k.pem")
    assert info.value.field == "mqtt_key_file"
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url("mqtt://b", password="x")
    assert info.value.field == "mqtt_user"


@pytest.mark.parametrize(("prefix", "normalised"), [("", ""), ("site1", "site1/"),
                                                    ("a/b/", "a/b/")])
def test_topic_prefix(prefix: str, normalised: str) -> None:
    assert MqttConfig.from_url("mqtt://b", topic_prefix=prefix).topic_prefix == normalised


@pytest.mark.parametrize("prefix", ["/abs", "a/+/b", "x/#"])
def test_bad_topic_prefix(prefix: str) -> None:
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url("mqtt://b", topic_prefix=prefix)
    assert info.value.field == "mqtt_topic_prefix"


def test_ssl_context_checks_host_names_and_loads_files(tls_files: TlsFiles) -> None:
    config = MqttConfig.from_url("mqtts://127.0.0.1", ca_file=tls_files.ca,
                                 cert_file=tls_files.client_cert, key_file=tls_files.client_key)
    context = config.ssl_context()
    assert context is not None and context.check_hostname
    assert MqttConfig.from_url("mqtt://b").ssl_context() is None


def test_unreadable_tls_files_name_file_and_field(tmp_path: Path, tls_files: TlsFiles) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url("mqtts://b", ca_file=missing).ssl_context()
    assert (info.value.field, info.value.file) == ("mqtt_ca_file", str(missing))
    with pytest.raises(ConfigError) as info:
        MqttConfig.from_url("mqtts://b", ca_file=tls_files.ca,
                            cert_file=tls_files.ca).ssl_context()   # a cert without its key
    assert info.value.field == "mqtt_cert_file"


def test_from_settings(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.secret"
    secret.write_text("s3cret\n")
    settings = load_settings(env={"DIALER_NODE_ID": "n7", "DIALER_MQTT_URL": "mqtt://b:1884",
                                  "DIALER_MQTT_USER": "node7",
                                  "DIALER_MQTT_PASSWORD_FILE": str(secret),
                                  "DIALER_MQTT_TOPIC_PREFIX": "site1",
                                  "DIALER_MQTT_BUFFER": "50"})
    config = MqttConfig.from_settings(settings)
    assert config is not None
    assert (config.host, config.port, config.username, config.password) == (
        "b", 1884, "node7", "s3cret")
    assert (config.client_id, config.topic_prefix, config.buffer) == ("dialer-n7", "site1/", 50)
    assert MqttConfig.from_settings(load_settings(env={})) is None


def test_command_token_is_a_secret_kept_out_of_config_files(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("node_id: n1\ncommand_token: letmein\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.field == "command_token" and "letmein" not in str(info.value)
    settings = load_settings(env={"DIALER_COMMAND_TOKEN": "t0ken"})
    assert settings.secret("command_token") == "t0ken" and "t0ken" not in repr(settings)
