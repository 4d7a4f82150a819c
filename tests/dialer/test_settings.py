"""Settings precedence: flags > environment > config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer import ConfigError, load_settings
from dialer.cli import main


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("ari_url: http://file:1\nari_user: fileuser\nnode_id: filenode\n")
    env = {"DIALER_ARI_URL": "http://env:2", "DIALER_ARI_USER": "envuser"}
    s = load_settings(cfg, env=env, flags={"ari_url": "http://flag:3", "node_id": None})
    assert s.ari_url == "http://flag:3"
    assert s.ari_user == "envuser"
    assert s.node_id == "filenode"


def test_config_file_from_env(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("db_url: sqlite+aiosqlite:///x.db\n")
    s = load_settings(env={"DIALER_CONFIG": str(cfg)})
    assert s.db_url == "sqlite+aiosqlite:///x.db"


def test_secret_in_config_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("ari_user: a\nari_password: hunter2\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.line == 2 and info.value.field == "ari_password"
    assert "hunter2" not in str(info.value)


def test_secret_from_file_and_env(tmp_path: Path) -> None:
    secret = tmp_path / "ari.secret"
    secret.write_text("s3cret\n")
    assert load_settings(env={"DIALER_ARI_PASSWORD_FILE": str(secret)}).secret("ari_password") == "s3cret"
    assert load_settings(env={"DIALER_ARI_PASSWORD": "x"}).secret("ari_password") == "x"


def test_bad_value_names_file_line_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("node_id: a\n\nlog_level: LOUD\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert (info.value.file, info.value.line, info.value.field) == (str(cfg), 3, "log_level")
    assert f"{cfg}:3" in str(info.value)


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("ari_urll: http://x\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.line == 1 and info.value.field == "ari_urll"


def test_cli_config_show_hides_secrets(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_ARI_PASSWORD", "topsecret")
    assert main(["--ari-user", "flaguser", "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "flaguser" in out and "topsecret" not in out


def test_cli_reports_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("log_level: [\n")
    assert main(["--config", str(cfg), "config", "show"]) == 2
    assert str(cfg) in capsys.readouterr().err
