"""The vocabulary of pacing: modes, call stages, outcomes, settings, snapshot, decision.

Everything here is plain data (frozen dataclasses, enums, numpy arrays) so the engine
can build it from live state without knowing how the model works. Times are seconds
as floats; elapsed times are measured by the caller against the same clock as `now`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pacing.errors import InvalidSettings, InvalidSnapshot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_I = np.zeros(0, dtype=np.int64)


class Mode(enum.Enum):
    """How a campaign dials."""

    PREVIEW = "preview"          # never dials by itself; agents start calls
    PROGRESSIVE = "progressive"  # calls not yet connected <= ready agents
    POWER = "power"              # a fixed number of lines per agent
    PREDICTIVE = "predictive"    # the model: target abandon rate at a confidence


class CallStage(enum.IntEnum):
    """Where an outbound call is before it reaches an agent."""

    RINGING = 0  # originated, not answered yet (elapsed: since origination)
    AMD = 1      # answered, answering-machine detection running (elapsed: since answer)
    QUEUED = 2   # judged live, waiting for an agent (elapsed: since the AMD verdict)


class Outcome(enum.IntEnum):
    """How the pre-agent part of a call ended, as the dialer sees it."""

    HUMAN = 0      # answered and judged live (by AMD, or no AMD): needs an agent
    MACHINE = 1    # answered and judged an answering machine
    NO_ANSWER = 2  # rang until the ring timeout
    BUSY = 3       # busy signal
    FAILED = 4     # congestion, invalid number, network failure


N_OUTCOMES = len(Outcome)


class Reason(enum.Enum):
    """Why a decision came out as it did (for logs and the live view)."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"
    COLD_START = "cold-start"            # predictive asked, too little evidence yet
    BUDGET_SPENT = "budget-spent"        # a window's abandon budget is spent
    LINE_CAP = "line-cap"                # a hard cap on lines cut the number


@dataclass(frozen=True)
class PacingSettings:
    """A campaign's pacing configuration (from its YAML `pacing:` section)."""

    mode: Mode = Mode.PREDICTIVE
    target_abandon_rate: float = 0.02   # what predictive aims at, and whose budget it keeps
    abandon_limit: float = 0.03         # the legal limit; a spent limit budget -> progressive
    confidence: float = 0.95            # probability that predictive stays inside the budget
    lines_per_agent: float = 1.5        # power mode: lines per ready-or-talking agent
    max_lines_per_agent: float = 3.0    # hard cap, every mode
    max_lines: int | None = None        # hard cap on lines of the campaign, every mode
    connect_within: float = 2.0         # legal: seconds from end of greeting to an agent
    amd_overrun: float = 0.8            # AMD time after the greeting (counts against the 2 s)
    ring_timeout: float = 25.0          # the engine hangs up unanswered calls after this
    horizon_step: float = 0.5           # grid step of the forecast
    min_outcomes: int = 60              # evidence before predictive: resolved calls,
    min_answers: int = 10               # live answers,
    min_handles: int = 10               # and finished agent calls

    def __post_init__(self) -> None:
        checks = [
            ("target_abandon_rate", 0.0 < self.target_abandon_rate <= self.abandon_limit),
            ("abandon_limit", 0.0 < self.abandon_limit < 1.0),
            ("confidence", 0.5 <= self.confidence < 1.0),
            ("lines_per_agent", 1.0 <= self.lines_per_agent <= self.max_lines_per_agent),
            ("max_lines_per_agent", self.max_lines_per_agent >= 1.0),
            ("max_lines", self.max_lines is None or self.max_lines >= 0),
            ("connect_within", self.connect_within > 0.0),
            ("amd_overrun", 0.0 <= self.amd_overrun < self.connect_within),
            ("ring_timeout", self.ring_timeout > 0.0),
            ("horizon_step", 0.05 <= self.horizon_step <= 2.0),
        ]
        for name, ok in checks:
            if not ok:
                raise InvalidSettings(name, getattr(self, name))

    @property
    def patience(self) -> float:
        """Seconds between a live verdict and the legal deadline to connect an agent."""
        return self.connect_within - self.amd_overrun


@dataclass(frozen=True)
class AbandonBudget:
    """Answers and abandons counted in each regulatory window, as of one instant."""

    windows: tuple[str, ...] = ()
    answers: FloatArray = field(default_factory=lambda: _EMPTY_F)
    abandons: FloatArray = field(default_factory=lambda: _EMPTY_F)

    def allowed(self, rate: float, expected_answers: float | FloatArray = 0.0) -> FloatArray:
        """Abandons still allowed per window at `rate`, counting answers still expected.

        The budget accrues with answers only: with no answers there is nothing to spend.
        """
        return rate * (self.answers + expected_answers) - self.abandons

    def rates(self) -> FloatArray:
        """Abandon rate per window (0 where nothing was answered)."""
        return np.divide(self.abandons, self.answers, out=np.zeros_like(self.abandons),
                         where=self.answers > 0)


@dataclass(frozen=True)
class Snapshot:
    """One campaign, now: agents, calls in flight and the abandon budget.

    `busy_elapsed`: per agent talking to a customer, seconds since the call connected.
    `wrapup_elapsed`: per agent in wrap-up, seconds since wrap-up began.
    `call_stage` / `call_elapsed`: per call not yet connected to an agent, its
    `CallStage` and the seconds spent in that stage.
    `busy_remaining` / `wrapup_remaining` are for simulation only: the true seconds
    until each such agent is ready again (the agent-oracle reads them; the engine
    leaves them None).
    """

    ready_agents: int
    busy_elapsed: FloatArray = field(default_factory=lambda: _EMPTY_F)
    wrapup_elapsed: FloatArray = field(default_factory=lambda: _EMPTY_F)
    call_stage: IntArray = field(default_factory=lambda: _EMPTY_I)
    call_elapsed: FloatArray = field(default_factory=lambda: _EMPTY_F)
    budget: AbandonBudget = field(default_factory=AbandonBudget)
    busy_remaining: FloatArray | None = None
    wrapup_remaining: FloatArray | None = None

    def __post_init__(self) -> None:
        if self.ready_agents < 0:
            raise InvalidSnapshot("ready_agents must be >= 0")
        if len(self.call_stage) != len(self.call_elapsed):
            raise InvalidSnapshot("call_stage and call_elapsed differ in length")

    @property
    def in_flight(self) -> int:
        """Calls started and not yet connected to an agent."""
        return len(self.call_stage)

    @property
    def talking(self) -> int:
        """Agents connected to a customer (each holds one line)."""
        return len(self.busy_elapsed)

    @property
    def lines(self) -> int:
        """Lines in use: calls in flight plus calls connected to agents."""
        return self.in_flight + self.talking

    @property
    def agents(self) -> int:
        """Agents logged in and not paused: ready, talking or in wrap-up."""
        return self.ready_agents + self.talking + len(self.wrapup_elapsed)


@dataclass(frozen=True)
class Decision:
    """How many calls to start now, and why."""

    calls: int
    mode: Mode                      # the mode that produced `calls` (after fallbacks)
    reason: Reason
    expected_abandons: float = 0.0  # forecast over the horizon, with the new calls
    expected_answers: float = 0.0   # live answers due over the horizon, with the new calls


@dataclass(frozen=True)
class CallOutcomes:
    """Calls whose pre-agent part ended, for the estimators (arrays of one length).

    `ring_seconds`: origination to answer (or to the end, when not answered).
    `amd_seconds`: answer to verdict (nan without AMD or when not answered).
    `abandoned`: a HUMAN outcome that found no agent in time.
    """

    outcome: IntArray
    ring_seconds: FloatArray
    amd_seconds: FloatArray
    abandoned: npt.NDArray[np.bool_]

    @classmethod
    def one(cls, outcome: Outcome, ring_seconds: float, amd_seconds: float = float("nan"),
            abandoned: bool = False) -> CallOutcomes:
        """A batch of a single call."""
        return cls(np.array([int(outcome)]), np.array([ring_seconds]), np.array([amd_seconds]),
                   np.array([abandoned]))

    def __len__(self) -> int:
        return len(self.outcome)


@dataclass(frozen=True)
class HandleTimes:
    """Agent calls as they finish: talk seconds, wrap-up seconds (arrays of one length).

    Report each talk as it ends and each wrap-up as it ends (nan in the other column), or
    both together. `talk_started`: when each talk began, on the clock of `now` and the
    snapshots (nan with no talk). The talk-time estimate weighs talks by when they began
    and counts the running ones as censored (`pacing.talk_survival`), so a talk reported
    only after its wrap-up would be missing from both for that while.
    """

    talk_seconds: FloatArray
    wrapup_seconds: FloatArray
    talk_started: FloatArray

    @classmethod
    def one(cls, talk_seconds: float, wrapup_seconds: float, talk_started: float
            ) -> HandleTimes:
        """A batch of a single agent call."""
        return cls(np.array([talk_seconds]), np.array([wrapup_seconds]),
                   np.array([talk_started]))

    @classmethod
    def talk_ended(cls, talk_seconds: float, talk_started: float) -> HandleTimes:
        """One talk that just ended (its wrap-up follows)."""
        return cls.one(talk_seconds, math.nan, talk_started)

    @classmethod
    def wrapup_ended(cls, wrapup_seconds: float) -> HandleTimes:
        """One wrap-up that just ended (its talk was reported when it ended)."""
        return cls.one(math.nan, wrapup_seconds, math.nan)

    def __len__(self) -> int:
        return len(self.talk_seconds)
