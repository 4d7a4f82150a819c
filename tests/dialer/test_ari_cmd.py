"""`dialer ari …`: demo numbers, the trunk's user part, a clean failure without Asterisk."""

from __future__ import annotations

import pytest
import rig

from dialer.cli import main
from dialer.cli.ari_cmd import demo_number, trunk_user


def test_demo_numbers_reach_the_trunk_as_national_numbers_led_by_the_behaviour() -> None:
    number = demo_number("+1", 4, 7)
    assert number == "+14555550007"
    assert trunk_user(number) == "4555550007"
    assert trunk_user("+8613812345678") == "13812345678"


def test_info_without_asterisk_fails_with_a_message(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DIALER_ARI_URL", f"http://127.0.0.1:{rig.free_port()}")
    monkeypatch.setenv("DIALER_ARI_PASSWORD", "not-a-real-one")
    assert main(["ari", "info", "--timeout", "0.3"]) == 1
    err = capsys.readouterr().err
    assert "ARI at http://127.0.0.1:" in err and "not-a-real-one" not in err


def test_info_without_a_password_is_a_configuration_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DIALER_ARI_PASSWORD", raising=False)
    monkeypatch.delenv("DIALER_ARI_PASSWORD_FILE", raising=False)
    assert main(["ari", "info"]) == 2
    assert "ari_password" in capsys.readouterr().err
