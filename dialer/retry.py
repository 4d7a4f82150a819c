"""When a lead may be tried again after an attempt: by outcome, disposition and caps.

    policy = RetryPolicy.for_campaign(campaign)
    policy.next_attempt(Outcome.BUSY, attempts_made=1, now=now)   # now + max(30 min, gap)
    await settle_lead(store, policy, lead.id, Outcome.NO_ANSWER, attempts_made=2, now=now)

The wait after an outcome comes from the campaign's `retries:` (busy sooner, no answer
later, machine the next day, `null` = never again) and is never shorter than the gap
the caps put between two attempts to one number: `min_gap_hours`, or
`gap_after_abandon_hours` after an abandoned call (72 h under `uk`). A lead that has
used its lifetime cap is done. An agent's disposition overrides the outcome: a refusal
or a final disposition ends the lead; `retry_after` schedules a callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.campaign import Campaign, Disposition, RetryRules, min_gap
from dialer.compliance import AttemptCaps
from dialer.store import LeadStatus, Outcome, Store


@dataclass(frozen=True, slots=True)
class Settlement:
    """What becomes of a lead after an attempt: its status and when it is next due."""

    status: LeadStatus
    next_attempt_at: datetime | None = None


class RetryPolicy:
    """A campaign's retry rules with its caps."""

    def __init__(self, rules: RetryRules, caps: AttemptCaps) -> None:
        self.rules = rules
        self.caps = caps

    @classmethod
    def for_campaign(cls, campaign: Campaign) -> RetryPolicy:
        """The policy of a loaded campaign (its rules, its effective caps)."""
        return cls(campaign.config.retries, campaign.caps)

    def delay(self, outcome: Outcome, *, abandoned: bool = False) -> timedelta | None:
        """The wait the rules give an outcome (None: never again), before the caps' gap."""
        if abandoned or outcome is Outcome.ABANDONED:
            return self.rules.abandoned
        wait: timedelta | None = getattr(self.rules, outcome.value)
        return wait

    def next_attempt(self, outcome: Outcome, attempts_made: int, now: datetime, *,
                     abandoned: bool = False) -> datetime | None:
        """When the lead may be tried again after this outcome; None: the lead is done.

        `attempts_made` counts every attempt of the lead, this one included.
        """
        if attempts_made >= self.caps.per_lead_lifetime:
            return None
        wait = self.delay(outcome, abandoned=abandoned)
        if wait is None:
            return None
        is_abandon = abandoned or outcome is Outcome.ABANDONED
        return now + max(wait, min_gap(self.caps, abandoned=is_abandon))

    def after_disposition(self, disposition: Disposition, attempts_made: int, now: datetime,
                          *, abandoned: bool = False) -> datetime | None:
        """When a lead may be tried again after an agent's callback disposition."""
        if disposition.ends_lead or disposition.retry_after is None:
            return None
        if attempts_made >= self.caps.per_lead_lifetime:
            return None
        return now + max(disposition.retry_after, min_gap(self.caps, abandoned=abandoned))

    def settle(self, outcome: Outcome, attempts_made: int, now: datetime, *,
               abandoned: bool = False, disposition: Disposition | None = None) -> Settlement:
        """The lead's status and next due time after an attempt (and the agent's code)."""
        if disposition is not None:
            if disposition.refusal:
                return Settlement(LeadStatus.DNC)
            if disposition.final:
                return Settlement(LeadStatus.DONE)
            if disposition.retry_after is not None:
                at = self.after_disposition(disposition, attempts_made, now, abandoned=abandoned)
                return _due(at)
        return _due(self.next_attempt(outcome, attempts_made, now, abandoned=abandoned))


def _due(at: datetime | None) -> Settlement:
    return Settlement(LeadStatus.DONE) if at is None else Settlement(LeadStatus.READY, at)


async def settle_lead(store: Store, policy: RetryPolicy, lead_id: int, outcome: Outcome,
                      attempts_made: int, now: datetime, *, abandoned: bool = False,
                      disposition: Disposition | None = None) -> LeadStatus:
    """Release a lead after its attempt with the status and due time the policy gives.

    A final status set meanwhile (a refusal's DNC) is kept; the lead's status is returned.
    """
    settled = policy.settle(outcome, attempts_made, now, abandoned=abandoned,
                            disposition=disposition)
    return await store.leads.finish(lead_id, settled.status, now=now,
                                    next_attempt_at=settled.next_attempt_at, outcome=outcome)
