"""The parts of a campaign YAML that `dialer simulate` reads: `pacing:` and `simulation:`.

Other top-level keys (the rest of a campaign's configuration) are ignored here, so the
same file serves the engine and the simulator. Errors name file, line and field.

    pacing:
      mode: predictive            # preview | progressive | power | predictive
      target_abandon_rate: 0.02
      abandon_limit: 0.03
      confidence: 0.95
      lines_per_agent: 1.5        # power mode
      max_lines_per_agent: 3.0
      max_lines: null
      ring_timeout: 25
      profile: cn                 # cn | us | uk | ca: the abandon windows
      amd_false_positive_estimate: 0.0
    simulation:
      agents: {count: 10, login_over: 0, logout_after_hours: null}
      tick: 1.0
      customers:
        mix: {live: 0.2, machine: 0.2, no_answer: 0.45, busy: 0.08, failed: 0.07}
        ring: {median: 7, sigma: 0.4}            # seconds to answer
        reject: {median: 3, sigma: 0.5}          # seconds to busy / failure
        greeting: {median: 1.2, sigma: 0.4}
        talk: {mean: 110, sigma: 0.8}
        wrapup: {mean: 10, sigma: 0.5}
        amd: {enabled: true, machine_delay: {median: 3.5, sigma: 0.3},
              false_positive: 0.03, false_negative: 0.15, overrun: 0.8}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import pacing
from dialer.errors import ConfigError
from dialer.yamlconf import read_yaml, validation_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(_Strict):
    """A lognormal duration: give `median` or `mean`, and `sigma` (log-sd)."""

    median: float | None = Field(default=None, gt=0)
    mean: float | None = Field(default=None, gt=0)
    sigma: float = Field(default=0.5, ge=0, le=3)

    @model_validator(mode="after")
    def _one_centre(self) -> Duration:
        if (self.median is None) == (self.mean is None):
            raise ValueError("give exactly one of median or mean")
        return self

    def lognormal(self) -> pacing.Lognormal:
        """As a `pacing.Lognormal`."""
        if self.median is not None:
            return pacing.Lognormal(self.median, self.sigma)
        assert self.mean is not None
        return pacing.Lognormal.from_mean(self.mean, self.sigma)


class Mix(_Strict):
    """Shares of customer types (normalised)."""

    live: float = Field(default=0.2, ge=0)
    machine: float = Field(default=0.2, ge=0)
    no_answer: float = Field(default=0.45, ge=0)
    busy: float = Field(default=0.08, ge=0)
    failed: float = Field(default=0.07, ge=0)

    @model_validator(mode="after")
    def _some(self) -> Mix:
        if self.live + self.machine + self.no_answer + self.busy + self.failed <= 0:
            raise ValueError("the shares must not all be 0")
        return self


class Amd(_Strict):
    """Answering-machine detection: delay on machines and accuracy."""

    enabled: bool = True
    machine_delay: Duration = Duration(median=3.5, sigma=0.3)
    false_positive: float = Field(default=0.03, ge=0, lt=1)
    false_negative: float = Field(default=0.15, ge=0, lt=1)
    overrun: float = Field(default=0.8, ge=0, lt=2)


class Customers(_Strict):
    """Who answers, when, and how long they talk."""

    mix: Mix = Mix()
    ring: Duration = Duration(median=7.0, sigma=0.4)
    reject: Duration = Duration(median=3.0, sigma=0.5)
    greeting: Duration = Duration(median=1.2, sigma=0.4)
    talk: Duration = Duration(mean=110.0, sigma=0.8)
    wrapup: Duration = Duration(mean=10.0, sigma=0.5)
    machine_talk: Duration = Duration(median=5.0, sigma=0.4)
    amd: Amd = Amd()


class Agents(_Strict):
    """How many agents, when they log in, and for how long."""

    count: int = Field(default=10, ge=1, le=5000)
    login_over: float = Field(default=0.0, ge=0)          # seconds over which log-ins spread
    logout_after_hours: float | None = Field(default=None, gt=0)


class SimulationSection(_Strict):
    """The `simulation:` section."""

    agents: Agents = Agents()
    customers: Customers = Customers()
    tick: float = Field(default=1.0, gt=0, le=10)


class PacingSection(_Strict):
    """The `pacing:` section (what the engine will read too)."""

    mode: Literal["preview", "progressive", "power", "predictive"] = "predictive"
    target_abandon_rate: float = Field(default=0.02, gt=0, lt=1)
    abandon_limit: float = Field(default=0.03, gt=0, lt=1)
    confidence: float = Field(default=0.95, ge=0.5, lt=1)
    lines_per_agent: float = Field(default=1.5, ge=1)
    max_lines_per_agent: float = Field(default=3.0, ge=1)
    max_lines: int | None = Field(default=None, ge=0)
    ring_timeout: float = Field(default=25.0, ge=15)
    connect_within: float = Field(default=2.0, gt=0)
    profile: Literal["cn", "us", "uk", "ca"] = "cn"
    amd_false_positive_estimate: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _consistent(self) -> PacingSection:
        if self.target_abandon_rate > self.abandon_limit:
            raise ValueError("target_abandon_rate must not exceed abandon_limit")
        if self.lines_per_agent > self.max_lines_per_agent:
            raise ValueError("lines_per_agent must not exceed max_lines_per_agent")
        return self


class SimulationFile(BaseModel):
    """A campaign file as `dialer simulate` sees it; other top-level keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    pacing: PacingSection = PacingSection()
    simulation: SimulationSection = SimulationSection()


def load_simulation_file(path: str | Path) -> SimulationFile:
    """Read and validate a campaign file's `pacing:` and `simulation:` sections."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping", file=path, line=1)
    try:
        return SimulationFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(path, lines, exc) from exc


def pacing_settings(section: PacingSection, amd_overrun: float) -> pacing.PacingSettings:
    """The `pacing.PacingSettings` of a `pacing:` section."""
    return pacing.PacingSettings(
        mode=pacing.Mode(section.mode), target_abandon_rate=section.target_abandon_rate,
        abandon_limit=section.abandon_limit, confidence=section.confidence,
        lines_per_agent=section.lines_per_agent,
        max_lines_per_agent=section.max_lines_per_agent, max_lines=section.max_lines,
        connect_within=section.connect_within, amd_overrun=amd_overrun,
        ring_timeout=section.ring_timeout)


def simulation_config(doc: SimulationFile, hours: float) -> pacing.SimulationConfig:
    """The `pacing.SimulationConfig` of a campaign file, for `hours` of simulated time."""
    sim, cust = doc.simulation, doc.simulation.customers
    amd = cust.amd
    model = pacing.CustomerModel(
        live=cust.mix.live, machine=cust.mix.machine, no_answer=cust.mix.no_answer,
        busy=cust.mix.busy, failed=cust.mix.failed, ring=cust.ring.lognormal(),
        reject=cust.reject.lognormal(), greeting=cust.greeting.lognormal(),
        amd_machine=amd.machine_delay.lognormal(), talk=cust.talk.lognormal(),
        wrapup=cust.wrapup.lognormal(), machine_talk=cust.machine_talk.lognormal(),
        amd=amd.enabled, amd_false_positive=amd.false_positive,
        amd_false_negative=amd.false_negative, amd_overrun=amd.overrun,
        connect_within=doc.pacing.connect_within, ring_timeout=doc.pacing.ring_timeout)
    duration = hours * 3600.0
    a = sim.agents
    shifts = []
    for i in range(a.count):
        login = a.login_over * i / a.count
        logout = duration if a.logout_after_hours is None else min(
            duration, login + a.logout_after_hours * 3600.0)
        shifts.append(pacing.AgentShift(login, logout))
    return pacing.SimulationConfig(
        customers=model, shifts=tuple(shifts), duration=duration, tick=sim.tick,
        windows=pacing.PROFILE_WINDOWS[doc.pacing.profile],
        amd_false_positive_estimate=doc.pacing.amd_false_positive_estimate)
