"""The live view and the end-of-run report: numbers, states, warning colours, plain lines."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from rich.console import Console
from rich.style import Style
from status_support import NOW, campaign, status

from dialer.status import EngineStatus, WindowView
from dialer.view import LiveView, final_report, render, status_line, window_label

UNHEALTHY = {"healthy": False, "unhealthy_reason": "store unavailable (locked)"}


def _text(shown: EngineStatus, width: int = 120) -> str:
    console = Console(record=True, width=width)
    console.print(render(shown))
    return console.export_text()


def _styles(shown: EngineStatus, text: str) -> list[Style]:
    """The styles of the rendered segments whose text contains `text`."""
    console = Console(width=120, color_system="standard")
    return [seg.style or Style() for seg in console.render(render(shown))
            if text in seg.text]


def _red(style: Style) -> bool:
    return style.color is not None and style.color.name == "red"


def test_the_view_shows_every_figure() -> None:
    text = _text(status())
    assert re.search(r"7 demo\s+running\s+predictive\s+cold-start\s+312\s+97\s+71\s+26\s+2\s+5"
                     r"\s+188", text)
    for stage, calls in [("ringing", 11), ("in AMD", 3), ("waiting for agent", 1),
                         ("connected", 4), ("total", 19)]:
        assert re.search(rf"{stage}\s+{calls}\b", text), stage
    assert "ready 1  talking 2  wrapup 1  paused 1" in text
    assert re.search(r"8002\s+talking\s+1:05\s+12", text)
    assert re.search(r"8005\s+paused \(break\)\s+12:34\s+3", text)
    assert re.search(r"7 demo\s+24h\s+2 / 71\s+2\.82 %\s+3\.00 %\s+NEAR LIMIT", text)
    assert re.search(r"7 demo\s+30d\s+4 / 400\s+1\.00 %\s+3\.00 %\s+ok", text)
    assert re.search(r"outside_window\s+9", text) and re.search(r"dnc\s+4", text)
    assert "min_gap" not in text  # a reason with no denial is left out
    assert "occupancy 73.4 %" in text and "DNC version 42" in text
    assert "up 5:12" in text and "health dialling" in text
    assert "NOT DIALLING" not in text and "DRAINING" not in text


def test_a_narrow_console_stacks_the_panels_and_keeps_every_figure() -> None:
    text = _text(status(), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "7 demo: running, predictive (cold-start)" in text
    assert re.search(r"7 demo\s+312\s+97\s+71\s+26\s+2\s+5\s+188", text)
    assert re.search(r"total\s+19", text) and re.search(r"outside_window\s+9", text)


@pytest.mark.parametrize(("abandons", "label"), [(23, "ok"), (25, "NEAR LIMIT"),
                                                 (30, "NEAR LIMIT"), (31, "OVER LIMIT")])
def test_window_labels_against_80_percent_of_the_limit(abandons: int, label: str) -> None:
    assert window_label(WindowView("24h", answers=1000, abandons=abandons, limit=0.03)) == label


def test_a_rate_above_80_percent_of_its_limit_is_red() -> None:
    shown = status(campaigns=(campaign(windows=(
        WindowView("24h", answers=71, abandons=2, limit=0.03),       # 2.82 %: near
        WindowView("30d", answers=400, abandons=4, limit=0.03),      # 1.00 %: fine
        WindowView("month", answers=100, abandons=5, limit=0.03))),))  # 5.00 %: over
    near, fine, over = (_styles(shown, t) for t in ("2.82 %", "1.00 %", "OVER LIMIT"))
    assert near and fine and over
    assert all(_red(s) for s in near + _styles(shown, "NEAR LIMIT"))
    assert not any(_red(s) for s in fine)
    assert all(_red(s) and s.bold for s in over + _styles(shown, "5.00 %"))


def test_an_unhealthy_engine_shows_a_red_banner() -> None:
    shown = status(**UNHEALTHY)
    text = _text(shown)
    assert text.splitlines()[1].strip("┃ ") == "NOT DIALLING: store unavailable (locked)"
    banner = _styles(shown, "NOT DIALLING: store unavailable (locked)")
    assert banner and all(s.bgcolor is not None and s.bgcolor.name == "red" for s in banner)


def test_a_draining_engine_says_so() -> None:
    shown = status(draining=True)
    assert _text(shown).splitlines()[1].strip("┃ ") == "DRAINING"
    banner = [s.bgcolor.name for s in _styles(shown, "DRAINING") if s.bgcolor is not None]
    assert banner == ["yellow"]


def test_the_plain_view_prints_a_line_every_n_seconds_and_on_health_changes() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80)
    with LiveView(console, plain_every_s=10) as view:
        assert view.plain
        for seconds, changes in [(0, {}), (2, {}), (9, {}), (10, {}), (11, UNHEALTHY),
                                 (12, UNHEALTHY), (15, {}), (16, {"draining": True})]:
            view.update(status(now=NOW + timedelta(seconds=seconds), **changes))
    lines = out.getvalue().splitlines()
    stamps = [line.split()[0] for line in lines]
    assert stamps == ["10:05:12", "10:05:22", "10:05:23", "10:05:27", "10:05:28"]
    assert "NOT DIALLING: store unavailable (locked)" in lines[2]
    assert " dialling " in lines[3] and "DRAINING" in lines[4]
    assert all("\x1b" not in line and "│" not in line for line in lines)
    assert len(lines[0]) > 80  # one line each, never wrapped at the console's width
    assert lines[0] == status_line(status())
    for part in ["dialled 312", "answered 97", "abandoned 2", "refusals 5", "leads left 188",
                 "in flight 19 (ringing 11, in AMD 3, waiting for agent 1, connected 4)",
                 "agents ready 1 talking 2 wrapup 1 paused 1", "24h 2.82 %/3.00 % NEAR LIMIT",
                 "denied 13", "occupancy 73.4 %", "DNC v42"]:
        assert part in lines[0], part


def test_the_terminal_view_redraws_the_latest_status() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True)
    with LiveView(console, refresh_per_second=30) as view:
        assert not view.plain and view.refresh_per_second == 4
        view.update(status())
        view.update(status(**UNHEALTHY))
    assert "NOT DIALLING: store unavailable (locked)" in out.getvalue()


def test_update_needs_the_with_block() -> None:
    with pytest.raises(RuntimeError):
        LiveView(Console(file=io.StringIO())).update(status())


def test_the_final_report_is_a_plain_table() -> None:
    report = final_report(status(**UNHEALTHY))
    assert "\x1b" not in report
    lines = report.splitlines()
    assert lines[0] == ("run of node node-a: 2025-03-12 10:00:00 to 10:05:12 UTC (5:12)")
    assert lines[1].startswith("health: NOT DIALLING: store unavailable (locked)")
    assert "DNC version 42" in lines[1] and "calls in flight 19" in lines[1]
    assert re.search(r"^7 demo\s+running\s+predictive\s+312\s+97\s+71\s+26\s+2\s+5\s+188$",
                     report, re.MULTILINE)
    assert re.search(r"^  7 demo\s+24h\s+2/71\s+2\.82 %\s+3\.00 %\s+NEAR LIMIT$", report,
                     re.MULTILINE)
    denials = [line.split()[2] for line in lines if re.match(r"  7 demo\s+\w+\s+\d+$", line)]
    assert denials == ["outside_window", "dnc"]  # most denied first; zeros left out
    assert ("agents: 5 logged in (ready 1, talking 2, wrapup 1, paused 1), 55 calls handled"
            in lines)
    assert re.search(r"^  8005\s+paused\s+12:34\s+3$", report, re.MULTILINE)


def test_the_status_sums() -> None:
    shown = status(campaigns=(campaign(), campaign(campaign_id=8, ringing=2, in_amd=0,
                                                   waiting_for_agent=0, connected=1)))
    assert shown.calls_in_flight == 19 + 3
    assert WindowView("24h", answers=0, abandons=0, limit=0.03).rate == 0.0
    assert WindowView("24h", answers=50, abandons=1.5, limit=0.03).rate == pytest.approx(0.03)
