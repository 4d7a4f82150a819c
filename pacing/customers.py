"""Simulated customers: who answers, when, what AMD says, how long they talk.

`CustomerModel.draw(rng, n)` decides the whole pre-agent fate and the handle time of n
calls at once (vectorised). The simulator, and later the engine's simulated telephony,
use it; it holds no state besides its parameters.

Timeline of one answered call (all relative to origination):
    answer = ring time; verdict = answer + AMD time; deadline = answer + greeting + 2 s.
With AMD, a human's verdict comes `amd_overrun` after the end of the greeting; a human
judged a machine (false positive) is hung up on; a machine judged human (false
negative) reaches an agent, who hangs up after a short `machine_talk`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pacing.errors import InvalidSettings
from pacing.types import FloatArray, IntArray, Outcome


@dataclass(frozen=True)
class Lognormal:
    """A lognormal duration given by its median and log-sd (sigma)."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        if not (self.median > 0 and self.sigma >= 0):
            raise InvalidSettings("lognormal", (self.median, self.sigma))

    @classmethod
    def from_mean(cls, mean: float, sigma: float) -> Lognormal:
        """The lognormal with this mean and log-sd."""
        return cls(mean * math.exp(-0.5 * sigma * sigma), sigma)

    @property
    def mean(self) -> float:
        """The mean."""
        return self.median * math.exp(0.5 * self.sigma * self.sigma)

    def draw(self, rng: np.random.Generator, n: int) -> FloatArray:
        """n draws."""
        out: FloatArray = self.median * np.exp(self.sigma * rng.standard_normal(n))
        return out


class Truth:
    """True customer types (the simulator knows them; the dialer does not)."""

    LIVE = 0
    MACHINE = 1
    NO_ANSWER = 2
    BUSY = 3
    FAILED = 4


@dataclass(frozen=True)
class CallFates:
    """The pre-drawn fate of n calls (arrays of length n; inf where it does not apply)."""

    truth: IntArray            # Truth.*
    outcome: IntArray          # what the dialer will see (Outcome.*)
    answer: FloatArray         # seconds from origination to answer (inf: not answered)
    verdict: FloatArray        # seconds from origination to the AMD verdict / connect need
    end: FloatArray            # when the pre-agent part ends for non-HUMAN outcomes
    deadline: FloatArray       # HUMAN outcomes: latest connect time (origination-relative)
    talk: FloatArray           # talk seconds if connected
    wrapup: FloatArray         # wrap-up seconds after talk

    def __len__(self) -> int:
        return len(self.truth)


@dataclass(frozen=True)
class CustomerModel:
    """A mixture of customer types with their timings and the AMD's accuracy."""

    live: float = 0.2
    machine: float = 0.2
    no_answer: float = 0.45
    busy: float = 0.08
    failed: float = 0.07
    ring: Lognormal = field(default_factory=lambda: Lognormal(7.0, 0.4))
    reject: Lognormal = field(default_factory=lambda: Lognormal(3.0, 0.5))
    greeting: Lognormal = field(default_factory=lambda: Lognormal(1.2, 0.4))
    amd_machine: Lognormal = field(default_factory=lambda: Lognormal(3.5, 0.3))
    talk: Lognormal = field(default_factory=lambda: Lognormal.from_mean(110.0, 0.8))
    wrapup: Lognormal = field(default_factory=lambda: Lognormal.from_mean(10.0, 0.5))
    machine_talk: Lognormal = field(default_factory=lambda: Lognormal(5.0, 0.4))
    amd: bool = True
    amd_false_positive: float = 0.03   # P(machine verdict | live human)
    amd_false_negative: float = 0.15   # P(human verdict | machine)
    amd_overrun: float = 0.8           # AMD time after the greeting ends
    connect_within: float = 2.0
    ring_timeout: float = 25.0

    def __post_init__(self) -> None:
        shares = self.shares
        if np.any(shares < 0) or not shares.sum() > 0:
            raise InvalidSettings("customer mix", tuple(shares))
        for name in ("amd_false_positive", "amd_false_negative"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InvalidSettings(name, getattr(self, name))
        if not 0.0 <= self.amd_overrun < self.connect_within:
            raise InvalidSettings("amd_overrun", self.amd_overrun)

    @property
    def shares(self) -> npt.NDArray[np.float64]:
        """Shares of live / machine / no answer / busy / failed, normalised."""
        s = np.array([self.live, self.machine, self.no_answer, self.busy, self.failed])
        return s / s.sum() if s.sum() > 0 else s

    @property
    def mean_handle(self) -> float:
        """Mean talk + wrap-up of a live call."""
        return self.talk.mean + self.wrapup.mean

    def draw(self, rng: np.random.Generator, n: int) -> CallFates:
        """The fate of n new calls."""
        inf = np.full(n, np.inf)
        truth = rng.choice(5, size=n, p=self.shares).astype(np.int64)
        ring = self.ring.draw(rng, n)
        reject = self.reject.draw(rng, n)
        greeting = self.greeting.draw(rng, n)
        amd_m = self.amd_machine.draw(rng, n)
        u = rng.random(n)
        talk_live = self.talk.draw(rng, n)
        talk_machine = self.machine_talk.draw(rng, n)
        wrapup = self.wrapup.draw(rng, n)

        answered = ((truth == Truth.LIVE) | (truth == Truth.MACHINE)) & (ring < self.ring_timeout)
        live = answered & (truth == Truth.LIVE)
        machine = answered & (truth == Truth.MACHINE)
        answer = np.where(answered, ring, inf)
        if self.amd:
            amd_time = np.where(live, greeting + self.amd_overrun, amd_m)
            judged_human = (live & (u >= self.amd_false_positive)) | (
                machine & (u < self.amd_false_negative))
        else:
            amd_time = np.zeros(n)
            judged_human = answered
        verdict = np.where(answered, answer + amd_time, inf)
        deadline_after_answer = np.where(live, greeting, 0.0) + self.connect_within
        if self.amd:  # a machine judged human gets the same slack after its verdict
            deadline_after_answer = np.where(
                machine, amd_time + self.connect_within - self.amd_overrun,
                deadline_after_answer)
        deadline = np.where(judged_human, answer + deadline_after_answer, inf)

        outcome = np.full(n, int(Outcome.NO_ANSWER), dtype=np.int64)
        outcome[judged_human] = Outcome.HUMAN
        outcome[answered & ~judged_human] = Outcome.MACHINE
        outcome[truth == Truth.BUSY] = Outcome.BUSY
        outcome[truth == Truth.FAILED] = Outcome.FAILED
        end = np.full(n, self.ring_timeout)
        end = np.where((truth == Truth.BUSY) | (truth == Truth.FAILED),
                       np.minimum(reject, self.ring_timeout), end)
        end = np.where(answered, verdict, end)
        talk = np.where(live, talk_live, talk_machine)
        return CallFates(truth, outcome, answer, verdict, end, deadline, talk, wrapup)
