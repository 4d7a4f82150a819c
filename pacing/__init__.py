"""Pacing: how many calls to start now. Pure computation: no I/O, no clock reads.

Decision API (the engine calls it every 0.25-1 s per campaign)::

    pacer = Pacer(PacingSettings(mode=Mode.PREDICTIVE, target_abandon_rate=0.02))
    decision = pacer.decide(snapshot, now)        # -> Decision(calls, mode, reason, ...)
    pacer.observe_calls(CallOutcomes(...))         # pre-agent outcomes, as they end
    pacer.observe_handles(HandleTimes(...))        # talks and wrap-ups, as each ends

`Snapshot` is one campaign now: `ready_agents`; `busy_elapsed` (seconds each talking
agent has been connected); `wrapup_elapsed`; per call not yet connected its
`call_stage` (`CallStage.RINGING` / `AMD` / `QUEUED`) and `call_elapsed` in that stage;
and `budget`, the `AbandonBudget` that `AbandonAccounting.budget(now)` returns.

Modes (`PacingSettings.mode`): PREVIEW never dials by itself; PROGRESSIVE keeps calls
not yet connected <= ready agents; POWER keeps `lines_per_agent` lines per ready or
talking agent; PREDICTIVE starts the largest number of calls whose expected abandons
(live answers with no agent within 2 s, AMD time counted) keep the target rate over
the forecast horizon and stay inside every window's budget at `confidence`. Hard caps
(`max_lines_per_agent`, `max_lines`) bind in every mode. When any window has less than
one abandon left at the legal limit, POWER and PREDICTIVE dial progressively; a cold
campaign (too few outcomes, answers or handle times seen — at least one finished
agent call per agent, as early finishes are the short calls) dials progressively too.

Estimators (`CampaignEstimators`): outcome shares and the live-answer Beta posterior,
ring time, busy/failed time, AMD time per verdict and wrap-up, each empirical with
exponential forgetting and a lognormal prior for the cold start; talk time (`TalkSurvival`)
counts the running talks too, censored, and forgets by when talks began.

Accounting (`AbandonAccounting`): answers and abandons per window (`Window`, as data:
rolling seconds or a calendar month), with the UK-style AMD false-positive estimate.

Simulator (`simulate`, `SimulationConfig`, `CustomerModel`): discrete-event, virtual
clock, seeded; drives any `PacingPolicy` and returns a `SimulationResult`.
"""

from pacing.accounting import (
                               DEFAULT_WINDOWS,
                               PROFILE_WINDOWS,
                               AbandonAccounting,
                               Window,
                               month_start,
)
from pacing.customers import CallFates, CustomerModel, Lognormal, Truth
from pacing.errors import InvalidSettings, InvalidSnapshot, PacingError
from pacing.estimators import (
                               BetaPosterior,
                               CampaignEstimators,
                               DurationEstimator,
                               EstimatorPriors,
                               OutcomeMix,
)
from pacing.metrics import SimulationResult
from pacing.model import (
                               Choice,
                               Forecast,
                               ModelForecaster,
                               choose_calls,
                               expected_abandons,
                               horizon_steps,
)
from pacing.pacer import (
                               Forecaster,
                               Pacer,
                               PacingPolicy,
                               limit_spent,
                               line_cap,
                               power_calls,
                               progressive_calls,
)
from pacing.simulator import AgentShift, Simulation, SimulationConfig, simulate
from pacing.talk_survival import TalkSurvival
from pacing.types import (
                               AbandonBudget,
                               CallOutcomes,
                               CallStage,
                               Decision,
                               HandleTimes,
                               Mode,
                               Outcome,
                               PacingSettings,
                               Reason,
                               Snapshot,
)

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "AbandonAccounting",
    "AbandonBudget",
    "AgentShift",
    "BetaPosterior",
    "CallFates",
    "CallOutcomes",
    "CallStage",
    "CampaignEstimators",
    "Choice",
    "CustomerModel",
    "DEFAULT_WINDOWS",
    "Decision",
    "DurationEstimator",
    "EstimatorPriors",
    "Forecast",
    "Forecaster",
    "HandleTimes",
    "InvalidSettings",
    "InvalidSnapshot",
    "Lognormal",
    "Mode",
    "ModelForecaster",
    "Outcome",
    "OutcomeMix",
    "PROFILE_WINDOWS",
    "Pacer",
    "PacingError",
    "PacingPolicy",
    "PacingSettings",
    "Reason",
    "Simulation",
    "SimulationConfig",
    "SimulationResult",
    "Snapshot",
    "TalkSurvival",
    "Truth",
    "Window",
    "choose_calls",
    "expected_abandons",
    "horizon_steps",
    "limit_spent",
    "line_cap",
    "month_start",
    "power_calls",
    "progressive_calls",
    "simulate",
]
