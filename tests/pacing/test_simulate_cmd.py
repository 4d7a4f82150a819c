"""`dialer simulate`: runs the example, prints the summary, writes the PNG; bad files fail
with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer import ConfigError
from dialer.cli import main
from dialer.simulation_config import load_simulation_file, simulation_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simulate.yaml"


def test_example_runs_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "out.png"
    rc = main(["simulate", "--config", str(EXAMPLE), "--hours", "0.25", "--seed", "3",
               "--plot", str(png)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "occupancy" in out and "abandon per window  24h" in out and "lines in use" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_prints_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--config", str(EXAMPLE), "--hours", "0.2", "--plot",
            str(tmp_path / "a.png")]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first


def test_example_maps_to_the_simulation() -> None:
    cfg = simulation_config(load_simulation_file(EXAMPLE), hours=8)
    assert len(cfg.shifts) == 10 and cfg.shifts[-1].login == pytest.approx(540.0)
    assert cfg.customers.shares[0] == pytest.approx(0.2)
    assert [w.name for w in cfg.windows] == ["24h", "30d"]


def test_bad_field_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "campaign.yaml"
    bad.write_text("name: x\nleads: {anything: goes}\npacing:\n  mode: predictive\n"
                   "  target_abandon_rate: 2\nsimulation:\n  agents: {count: 0}\n")
    with pytest.raises(ConfigError) as info:
        load_simulation_file(bad)
    err = info.value
    assert err.file == str(bad) and err.line == 5 and err.field == "pacing.target_abandon_rate"
    assert "simulation.agents.count" in str(err)


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "campaign.yaml"
    bad.write_text("pacing:\n  mode: turbo\n")
    assert main(["simulate", "--config", str(bad)]) == 2
    assert f"{bad}:2: field 'pacing.mode'" in capsys.readouterr().err
