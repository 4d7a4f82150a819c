"""The live terminal view of `dialer run`, and the plain-text report at the end of a run.

    with LiveView() as view:          # redraws at most 4 times a second on a terminal
        view.update(status)           # each EngineStatus the engine publishes
    print(final_report(status))

On a terminal the view is a `rich.live.Live` display: a red "NOT DIALLING: <reason>"
banner when the engine is unhealthy, "DRAINING" when it drains, agents by state, calls
in flight by stage, each campaign's counts, abandon rate per window against its limit
(red above 80 % of it), occupancy, gate denials by reason and the DNC version. When
stdout is not a terminal (logs of `make demo` in CI) it prints one plain line every few
seconds of engine time instead, and at once when health, draining or a campaign's state
changes. The status holds no phone number, so neither does anything shown here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dialer.status import AGENT_STATES, AgentView, CampaignView, EngineStatus, WindowView

WARN_SHARE = 0.8          # an abandon rate above this share of its limit shows red
MAX_REFRESH_PER_S = 4.0
PLAIN_EVERY_S = 10.0      # seconds of engine time between two plain lines
WIDE_COLUMNS = 110        # from this width, panels sit two abreast
STAGES = ("ringing", "in_amd", "waiting_for_agent", "connected")
STAGE_LABELS = {"ringing": "ringing", "in_amd": "in AMD",
                "waiting_for_agent": "waiting for agent", "connected": "connected"}
COUNTS = ("dialled", "answered", "human", "machine", "abandoned", "refusals", "leads_left")
_STATE_STYLES = {"ready": "green", "talking": "cyan", "wrapup": "yellow", "paused": "magenta",
                 "running": "green", "frozen": "red", "stopped": "dim", "draining": "yellow"}


def agent_counts(agents: Iterable[AgentView]) -> dict[str, int]:
    """Agents per state: the usual four first (zeros included), any other state after."""
    counts = dict.fromkeys(AGENT_STATES, 0)
    for agent in agents:
        counts[agent.state] = counts.get(agent.state, 0) + 1
    return counts


def window_label(window: WindowView) -> str:
    """`ok`, `NEAR LIMIT` (above 80 % of the limit) or `OVER LIMIT`."""
    if window.rate > window.limit:
        return "OVER LIMIT"
    if window.rate > WARN_SHARE * window.limit:
        return "NEAR LIMIT"
    return "ok"


def health_text(status: EngineStatus) -> str:
    """`NOT DIALLING: <reason>`, `DRAINING` or `dialling`."""
    if not status.healthy:
        return f"NOT DIALLING: {status.unhealthy_reason or 'unknown reason'}"
    return "DRAINING" if status.draining else "dialling"


def render(status: EngineStatus) -> RenderableType:
    """The whole live view of one status, for a rich `Console` or `Live`."""
    return _StatusView(status)


class _StatusView:
    """Lays the panels out two abreast on a wide console, one under another otherwise."""

    def __init__(self, status: EngineStatus) -> None:
        self.status = status

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        status = self.status
        if not status.healthy:
            yield Panel(Text(health_text(status), style="bold white on red", justify="center"),
                        style="red", box=box.HEAVY)
        elif status.draining:
            yield Panel(Text("DRAINING", style="bold black on yellow", justify="center"),
                        style="yellow", box=box.HEAVY)
        yield _header(status)
        wide = options.max_width >= WIDE_COLUMNS
        yield from _pair(wide, _agents_panel(status.agents), _in_flight_panel(status))
        yield _campaigns_panel(status.campaigns, wide)
        yield from _pair(wide, _windows_panel(status.campaigns),
                         _denials_panel(status.campaigns))


def _pair(wide: bool, left: Panel, right: Panel) -> Iterator[RenderableType]:
    if not wide:
        yield left
        yield right
        return
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(ratio=3)
    grid.add_column(ratio=2)
    grid.add_row(left, right)
    yield grid


def _header(status: EngineStatus) -> Text:
    text = Text()
    text.append(f"node {status.node_id}", style="bold")
    text.append(f"  up {_duration((status.now - status.started_at).total_seconds())}")
    text.append(f"  {status.now:%H:%M:%S}")
    text.append(f"  occupancy {_percent(status.occupancy)}")
    text.append(f"  calls in flight {status.calls_in_flight}")
    text.append(f"  DNC version {status.dnc_version}")
    text.append("  health ")
    text.append(health_text(status), style="green" if status.healthy and not status.draining
                else "bold red" if not status.healthy else "bold yellow")
    return text


def _agents_panel(agents: Sequence[AgentView]) -> Panel:
    counts = Text()
    for i, (state, n) in enumerate(agent_counts(agents).items()):
        counts.append("  " if i else "")
        counts.append(f"{state} {n}", style=_STATE_STYLES.get(state, ""))
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, collapse_padding=True)
    table.add_column("agent")
    table.add_column("state")
    table.add_column("in state", justify="right")
    table.add_column("calls", justify="right")
    for agent in sorted(agents, key=lambda a: a.agent_id):
        state = agent.state + (f" ({agent.pause_code})" if agent.pause_code else "")
        table.add_row(agent.agent_id, Text(state, style=_STATE_STYLES.get(agent.state, "")),
                      _duration(agent.since_s), str(agent.calls))
    return Panel(Group(counts, table), title=f"agents ({len(agents)} logged in)",
                 title_align="left")


def _in_flight_panel(status: EngineStatus) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, collapse_padding=True)
    table.add_column("stage")
    table.add_column("calls", justify="right")
    for stage in STAGES:
        table.add_row(STAGE_LABELS[stage], str(sum(getattr(c, stage) for c in status.campaigns)))
    table.add_row(Text("total", style="bold"), Text(str(status.calls_in_flight), style="bold"))
    return Panel(table, title="calls in flight", title_align="left")


def _campaigns_panel(campaigns: Sequence[CampaignView], wide: bool) -> Panel:
    """Counts per campaign; on a narrow console state, mode and decision go above them."""
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, collapse_padding=True)
    described = ("campaign", "state", "mode", "decision") if wide else ("campaign",)
    for name in described:
        table.add_column(name, no_wrap=True)
    for name in COUNTS:
        table.add_column(name.replace("_", " "), justify="right", no_wrap=wide)
    lines = Text()
    for c in campaigns:
        state = Text(c.state, style=_STATE_STYLES.get(c.state, ""))
        if wide:
            table.add_row(_campaign_name(c), state, c.mode, c.last_decision,
                          *(str(getattr(c, name)) for name in COUNTS))
        else:
            table.add_row(_campaign_name(c), *(str(getattr(c, name)) for name in COUNTS))
            lines.append(f"{_campaign_name(c)}: ").append(state)
            lines.append(f", {c.mode} ({c.last_decision})\n")
    if not campaigns:
        table.add_row("(no campaign)", *([""] * (len(described) - 1 + len(COUNTS))))
    lines.rstrip()
    return Panel(Group(lines, table) if lines else table, title="campaigns", title_align="left")


def _windows_panel(campaigns: Sequence[CampaignView]) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, collapse_padding=True)
    table.add_column("campaign")
    table.add_column("window")
    table.add_column("abandons / answers", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("")
    for c in campaigns:
        for w in c.windows:
            label = window_label(w)
            style = "" if label == "ok" else "bold red" if label == "OVER LIMIT" else "red"
            table.add_row(_campaign_name(c), w.name, f"{_num(w.abandons)} / {_num(w.answers)}",
                          Text(_percent(w.rate, 2), style=style), _percent(w.limit, 2),
                          Text(label, style=style or "green"))
    return Panel(table, title="abandon rate per window", title_align="left")


def _denials_panel(campaigns: Sequence[CampaignView]) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, collapse_padding=True)
    table.add_column("campaign")
    table.add_column("gate denied", ratio=1)
    table.add_column("calls", justify="right")
    for c in campaigns:
        for reason, n in _denials(c):
            table.add_row(_campaign_name(c), reason, str(n))
    return Panel(table, title="gate denials by reason", title_align="left")


def status_line(status: EngineStatus) -> str:
    """The status as one plain line (the view when stdout is not a terminal)."""
    counts = agent_counts(status.agents)
    parts = [f"{status.now:%H:%M:%S} node {status.node_id} {health_text(status)}",
             "agents " + " ".join(f"{s} {n}" for s, n in counts.items()),
             f"in flight {status.calls_in_flight} (" + ", ".join(
                 f"{STAGE_LABELS[s]} {sum(getattr(c, s) for c in status.campaigns)}"
                 for s in STAGES) + ")"]
    for c in status.campaigns:
        windows = " ".join(f"{w.name} {_percent(w.rate, 2)}/{_percent(w.limit, 2)}"
                           + ("" if window_label(w) == "ok" else f" {window_label(w)}")
                           for w in c.windows)
        denied = sum(c.denials.values())
        parts.append(f"{_campaign_name(c)}: {c.state} {c.mode} ({c.last_decision}) "
                     + " ".join(f"{n.replace('_', ' ')} {getattr(c, n)}" for n in COUNTS)
                     + (f" abandon {windows}" if windows else "")
                     + (f" denied {denied}" if denied else ""))
    parts.append(f"occupancy {_percent(status.occupancy)}")
    parts.append(f"DNC v{status.dnc_version}")
    return " | ".join(parts)


class LiveView:
    """The live view of `dialer run`: a context manager; `update(status)` shows a status.

    On a terminal it redraws through `rich.live.Live` at most `MAX_REFRESH_PER_S` times a
    second. Otherwise it prints `status_line` once every `plain_every_s` seconds of the
    statuses' own time (`status.now`), and at once when health, draining or a campaign's
    state changes.
    """

    def __init__(self, console: Console | None = None, *,
                 refresh_per_second: float = MAX_REFRESH_PER_S,
                 plain_every_s: float = PLAIN_EVERY_S) -> None:
        self._console = console if console is not None else Console()
        self._refresh = min(refresh_per_second, MAX_REFRESH_PER_S)
        self._every = timedelta(seconds=plain_every_s)
        self._live: Live | None = None
        self._entered = False
        self._printed_at: datetime | None = None
        self._printed_key: tuple[object, ...] | None = None

    @property
    def refresh_per_second(self) -> float:
        """How often the terminal view redraws at most."""
        return self._refresh

    @property
    def plain(self) -> bool:
        """True when stdout is not a terminal: plain lines instead of a redrawn view."""
        return not self._console.is_terminal

    def __enter__(self) -> Self:
        if not self.plain:
            self._live = Live(Text("waiting for the engine's first status…"),
                              console=self._console, refresh_per_second=self._refresh)
            self._live.start()
        self._entered = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._entered = False
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, status: EngineStatus) -> None:
        """Show this status (redrawn at the next refresh, or printed if a line is due)."""
        if not self._entered:
            raise RuntimeError("LiveView.update outside its `with` block")
        if self._live is not None:
            self._live.update(render(status))
            return
        key = (status.healthy, status.unhealthy_reason, status.draining,
               tuple((c.campaign_id, c.state) for c in status.campaigns))
        due = (self._printed_at is None or key != self._printed_key
               or status.now - self._printed_at >= self._every)
        if due:
            self._console.print(status_line(status), markup=False, highlight=False,
                                soft_wrap=True)
            self._printed_at, self._printed_key = status.now, key


def final_report(status: EngineStatus) -> str:
    """A plain-text summary of a run for its end: campaigns, windows, denials, agents."""
    elapsed = (status.now - status.started_at).total_seconds()
    end = "%H:%M:%S %Z" if status.now.date() == status.started_at.date() else "%Y-%m-%d %H:%M:%S %Z"
    lines = [(f"run of node {status.node_id}: {status.started_at:%Y-%m-%d %H:%M:%S} to "
              f"{status.now.strftime(end)} ({_duration(elapsed)})"),
             (f"health: {health_text(status)}   occupancy {_percent(status.occupancy)}   "
              f"calls in flight {status.calls_in_flight}   DNC version {status.dnc_version}"),
             ""]
    lines += _text_table(["campaign", "state", "mode", *(n.replace("_", " ") for n in COUNTS)],
                         [[_campaign_name(c), c.state, c.mode,
                           *(str(getattr(c, n)) for n in COUNTS)] for c in status.campaigns],
                         "lll" + "r" * len(COUNTS))
    windows = [[_campaign_name(c), w.name, f"{_num(w.abandons)}/{_num(w.answers)}",
                _percent(w.rate, 2), _percent(w.limit, 2), window_label(w)]
               for c in status.campaigns for w in c.windows]
    if windows:
        lines += ["", "abandon rate per window:"]
        lines += _text_table(["campaign", "window", "abandons/answers", "rate", "limit", ""],
                             windows, "llrrrl", indent=2)
    denials = [[_campaign_name(c), reason, str(n)]
               for c in status.campaigns for reason, n in _denials(c)]
    if denials:
        lines += ["", "gate denials:"]
        lines += _text_table(["campaign", "reason", "calls"], denials, "llr", indent=2)
    counts = ", ".join(f"{s} {n}" for s, n in agent_counts(status.agents).items() if n)
    lines += ["", f"agents: {len(status.agents)} logged in" + (f" ({counts})" if counts else "")
              + f", {sum(a.calls for a in status.agents)} calls handled"]
    if status.agents:
        lines += _text_table(["agent", "state", "in state", "calls"],
                             [[a.agent_id, a.state, _duration(a.since_s), str(a.calls)]
                              for a in sorted(status.agents, key=lambda a: a.agent_id)],
                             "llrr", indent=2)
    return "\n".join(line.rstrip() for line in lines)


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str,
                indent: int = 0) -> list[str]:
    """Rows under a header in columns aligned per `align`, one letter a column (`l`/`r`)."""
    table = [list(header), *map(list, rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [" " * indent + "  ".join(cell.rjust(w) if a == "r" else cell.ljust(w)
                                     for cell, w, a in zip(row, widths, align, strict=True))
            for row in table]


def _denials(campaign: CampaignView) -> list[tuple[str, int]]:
    counted = [(reason, n) for reason, n in campaign.denials.items() if n]
    return sorted(counted, key=lambda item: (-item[1], item[0]))


def _campaign_name(campaign: CampaignView) -> str:
    return f"{campaign.campaign_id} {campaign.name}"


def _percent(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f} %"


def _num(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
