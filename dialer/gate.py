"""The dial gate (invariant 1): the one place where a call may start.

`DialGate.admit(lead, state, now, lines_in_use=…)` first syncs the DNC with the store
(`Dnc.sync`, coalesced between concurrent callers), then checks, in this order:

 1. the campaign is running and not frozen (an expired freeze lifts itself);
 2. its tenant is active and not frozen;
 3. the campaign's line limit, then the tenant's (`lines_in_use` excludes this call);
 4. consent, where the campaign or its profile requires it;
 5. the DNC index at its current version: global, tenant and campaign lists (scope
    refs: the tenant's and the campaign's store ids, as text);
 6. the calling window, open in every time zone of the number (daylight saving
    included); a number with no known zone is denied (fail closed);
 7. in the attempt's own transaction, under the number's lock (so two campaigns or two
    nodes never both pass): that the lead is still claimed by this node, then the
    number's daily cap across campaigns (rolling 24 h), the minimum gap, the gap after
    an abandon and the lead's lifetime cap;

and only then commits the attempt row (durable, with the DNC version and the decision)
and returns a `DialTicket`. `Telephony.originate` takes nothing else. Store or DNC
errors deny (`store_unavailable`, `dnc_unavailable`): fail closed. A denial carries
`retry_at` when the lead may be offered again (the window's next opening, the end of a
gap or a freeze); `DenyReason.lead_action` says what the denial means for the lead and
`settle_denied` applies it. Denials are counted by reason in `denials`.

A `DialTicket` is sealed with a key private to this module: constructing one anywhere
else, or `dataclasses.replace`-ing one to point it at another number, raises TypeError.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from dialer.campaign import CampaignState
from dialer.campaign.caps import CapReason, check_caps, history_start
from dialer.campaign.windows import HORIZON, next_opening, number_zones, open_everywhere
from dialer.errors import CryptoError, StoreUnavailable
from dialer.store import ClaimedLead, DialHistory, LeadStatus, NewAttempt, Store
from dnc import CheckStatus, Dnc, DncUnavailable, mask_number

log = logging.getLogger(__name__)

ADMITTED = "admitted"  # the attempt row's gate_decision
_SEAL_KEY = secrets.token_bytes(32)
_NO_END_YEAR = 9999  # a freeze "until unfrozen" (the store's FROZEN_FOREVER)


class LeadAction(enum.StrEnum):
    """What a denial means for the lead it was about."""

    CLOSE = "close"            # it can never be dialled: give it its final status
    RESCHEDULE = "reschedule"  # not now: due again at `retry_at`
    RELEASE = "release"        # nothing against this lead: hand the claim back
    FORGET = "forget"          # no longer this node's lead: leave it alone


class DenyReason(enum.StrEnum):
    """Why the gate refused to start a call (in the order the checks run)."""

    DNC_UNAVAILABLE = "dnc_unavailable"
    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    CAMPAIGN_FROZEN = "campaign_frozen"
    TENANT_TERMINATED = "tenant_terminated"
    TENANT_FROZEN = "tenant_frozen"
    LINE_LIMIT = "line_limit"
    TENANT_LINE_LIMIT = "tenant_line_limit"
    NO_CONSENT = "no_consent"
    DNC = "dnc"
    INVALID_NUMBER = "invalid_number"
    UNKNOWN_TIME_ZONE = "unknown_time_zone"
    OUTSIDE_WINDOW = "outside_window"
    DAILY_CAP = "daily_cap"
    MIN_GAP = "min_gap"
    ABANDON_GAP = "abandon_gap"
    LIFETIME_CAP = "lifetime_cap"
    LEAD_NOT_CLAIMED = "lead_not_claimed"
    STORE_UNAVAILABLE = "store_unavailable"

    @property
    def lead_status(self) -> LeadStatus | None:
        """The final status of a lead this denial ends; None if the lead stays diallable
        (put it back, with `retry_at` as its next attempt time when there is one)."""
        return _FINAL.get(self)

    @property
    def campaign_wide(self) -> bool:
        """True when the denial holds for every lead of the campaign right now (stop
        dialling it this tick), not only for this one."""
        return self in _CAMPAIGN_WIDE

    @property
    def lead_action(self) -> LeadAction:
        """What to do with the lead (see `settle_denied`)."""
        if self in _FINAL:
            return LeadAction.CLOSE
        if self is DenyReason.LEAD_NOT_CLAIMED:
            return LeadAction.FORGET
        return LeadAction.RELEASE if self in _CAMPAIGN_WIDE else LeadAction.RESCHEDULE


_FINAL = {
    DenyReason.DNC: LeadStatus.DNC,
    DenyReason.NO_CONSENT: LeadStatus.CANCELLED,
    DenyReason.INVALID_NUMBER: LeadStatus.INVALID,
    DenyReason.UNKNOWN_TIME_ZONE: LeadStatus.INVALID,
    DenyReason.LIFETIME_CAP: LeadStatus.DONE,
}
_CAMPAIGN_WIDE = frozenset({
    DenyReason.DNC_UNAVAILABLE, DenyReason.CAMPAIGN_NOT_RUNNING, DenyReason.CAMPAIGN_FROZEN,
    DenyReason.TENANT_TERMINATED, DenyReason.TENANT_FROZEN, DenyReason.LINE_LIMIT,
    DenyReason.TENANT_LINE_LIMIT, DenyReason.STORE_UNAVAILABLE,
})
_CAP_REASONS = {CapReason.DAILY_CAP: DenyReason.DAILY_CAP, CapReason.MIN_GAP: DenyReason.MIN_GAP,
                CapReason.ABANDON_GAP: DenyReason.ABANDON_GAP,
                CapReason.LIFETIME_CAP: DenyReason.LIFETIME_CAP}


def _seal_of(attempt_id: uuid.UUID, campaign_id: int, lead_id: int, number: str,
             number_hash: bytes, dnc_version: int, decided_at: datetime) -> bytes:
    message = "|".join((str(attempt_id), str(campaign_id), str(lead_id), number,
                        number_hash.hex(), str(dnc_version), decided_at.isoformat()))
    return hmac.new(_SEAL_KEY, message.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class DialTicket:
    """Proof that the gate admitted this call and wrote its attempt row; only
    `DialGate.admit` can make one (see the module docstring)."""

    attempt_id: uuid.UUID
    campaign_id: int
    lead_id: int
    number: str = field(repr=False)
    number_hash: bytes = field(repr=False)
    dnc_version: int
    decided_at: datetime
    _seal: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        expected = _seal_of(self.attempt_id, self.campaign_id, self.lead_id, self.number,
                            self.number_hash, self.dnc_version, self.decided_at)
        if not hmac.compare_digest(self._seal, expected):
            raise TypeError("only the dial gate issues dial tickets (DialGate.admit)")

    @property
    def masked_number(self) -> str:
        """The number as it may appear in logs and events."""
        return mask_number(self.number)


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's answer: a ticket, or the reason it said no (and when to try again)."""

    ticket: DialTicket | None
    reason: DenyReason | None
    dnc_version: int
    retry_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        """True when the call may start (`ticket` is set)."""
        return self.ticket is not None


class DialGate:
    """Decides, at the instant of dial, whether a lead's number may be called."""

    def __init__(self, store: Store, dnc: Dnc) -> None:
        self._store = store
        self._dnc = dnc
        self._node_id = store.node_id
        self.denials: Counter[DenyReason] = Counter()
        self.admitted = 0

    async def admit(self, lead: ClaimedLead, campaign: CampaignState, now: datetime, *,
                    lines_in_use: int, tenant_lines_in_use: int | None = None) -> GateDecision:
        """Check everything; on success write the attempt row and return the ticket.

        `lines_in_use`: this campaign's calls in flight on this node, this one not
        included; `tenant_lines_in_use`: the tenant's (default: the same).
        """
        if lead.campaign_id != campaign.id:
            raise ValueError(f"lead {lead.id} belongs to campaign {lead.campaign_id}, "
                             f"not {campaign.id}")
        try:
            version = await self._dnc.sync()
        except DncUnavailable as exc:
            log.warning("gate: DNC unavailable, no call starts: %s", exc)
            return self._deny(lead, DenyReason.DNC_UNAVAILABLE, self._dnc.version)
        reason, retry_at = self._campaign_check(campaign, now, lines_in_use,
                                                tenant_lines_in_use)
        if reason is None and campaign.campaign.consent_required and not lead.consent:
            reason = DenyReason.NO_CONSENT
        if reason is not None:
            return self._deny(lead, reason, version, retry_at)
        result = self._dnc.check(lead.number, tenant=str(campaign.tenant_id),
                                 campaign=str(campaign.id))
        version = result.version
        if result.status is not CheckStatus.ALLOWED:
            blocked = result.status is CheckStatus.BLOCKED
            return self._deny(lead, DenyReason.DNC if blocked else DenyReason.INVALID_NUMBER,
                              version)
        reason, retry_at = self._window_check(lead, campaign, now)
        if reason is not None:
            return self._deny(lead, reason, version, retry_at)
        return await self._write(lead, campaign, now, version)

    def _campaign_check(self, state: CampaignState, now: datetime, lines_in_use: int,
                        tenant_lines_in_use: int | None
                        ) -> tuple[DenyReason | None, datetime | None]:
        if not state.running:
            return DenyReason.CAMPAIGN_NOT_RUNNING, None
        if state.campaign_frozen(now):
            return DenyReason.CAMPAIGN_FROZEN, _freeze_end(state.info.frozen_until)
        if not state.tenant_active:
            return DenyReason.TENANT_TERMINATED, None
        if state.tenant_frozen(now):
            return DenyReason.TENANT_FROZEN, _freeze_end(state.tenant.frozen_until)
        max_lines = state.campaign.config.lines.max_lines
        if max_lines is not None and lines_in_use >= max_lines:
            return DenyReason.LINE_LIMIT, None
        tenant_max = state.tenant.max_lines
        tenant_lines = lines_in_use if tenant_lines_in_use is None else tenant_lines_in_use
        if tenant_max is not None and tenant_lines >= tenant_max:
            return DenyReason.TENANT_LINE_LIMIT, None
        return None, None

    @staticmethod
    def _window_check(lead: ClaimedLead, state: CampaignState,
                      now: datetime) -> tuple[DenyReason | None, datetime | None]:
        zones = number_zones(lead.number, lead.time_zones)
        if not zones:
            return DenyReason.UNKNOWN_TIME_ZONE, None
        hours = state.campaign.calling_hours
        if open_everywhere(hours, zones, now):
            return None, None
        return DenyReason.OUTSIDE_WINDOW, next_opening(hours, zones, now) or now + HORIZON

    async def _write(self, lead: ClaimedLead, state: CampaignState, now: datetime,
                     version: int) -> GateDecision:
        caps = state.campaign.caps
        node_id = self._node_id

        def check(history: DialHistory) -> tuple[DenyReason, datetime | None] | None:
            if history.lead_status is not LeadStatus.CLAIMED or \
                    history.lead_claimed_by != node_id:
                return DenyReason.LEAD_NOT_CLAIMED, None
            capped = check_caps(history, caps, now)
            return None if capped is None else (_CAP_REASONS[capped[0]], capped[1])

        attempt = NewAttempt(campaign_id=state.id, number=lead.number, created_at=now,
                             lead_id=lead.id, dnc_version=version, gate_decision=ADMITTED)
        try:
            written = await self._store.attempts.create_checked(
                attempt, since=history_start(caps, now), check=check)
        except (StoreUnavailable, CryptoError) as exc:
            log.warning("gate: store unavailable, no call starts: %s", exc)
            return self._deny(lead, DenyReason.STORE_UNAVAILABLE, version)
        if not isinstance(written, uuid.UUID):
            reason, retry_at = written
            return self._deny(lead, reason, version, retry_at)
        ticket = DialTicket(
            attempt_id=written, campaign_id=state.id, lead_id=lead.id, number=lead.number,
            number_hash=lead.number_hash, dnc_version=version, decided_at=now,
            _seal=_seal_of(written, state.id, lead.id, lead.number, lead.number_hash, version,
                           now))
        self.admitted += 1
        log.debug("gate: admitted %s (lead %d, campaign %d) at DNC version %d as attempt %s",
                  lead.masked_number, lead.id, state.id, version, written)
        return GateDecision(ticket, None, version)

    def _deny(self, lead: ClaimedLead, reason: DenyReason, version: int,
              retry_at: datetime | None = None) -> GateDecision:
        self.denials[reason] += 1
        log.debug("gate: denied %s (lead %d): %s%s", lead.masked_number, lead.id, reason.value,
                  f", retry at {retry_at.isoformat()}" if retry_at else "")
        return GateDecision(None, reason, version, retry_at)


async def settle_denied(store: Store, lead: ClaimedLead, decision: GateDecision,
                        now: datetime) -> LeadStatus | None:
    """Apply a denial to its lead: close it, reschedule it at `retry_at`, hand its claim
    back, or leave it alone when another node holds it now. Returns its new status."""
    reason = decision.reason
    if reason is None:
        raise ValueError("the gate admitted this lead; there is nothing to settle")
    action = reason.lead_action
    if action is LeadAction.FORGET:
        return None
    if action is LeadAction.RELEASE:
        await store.leads.release_claims([lead.id])
        return LeadStatus.READY
    status = reason.lead_status or LeadStatus.READY
    return await store.leads.finish(lead.id, status, now=now, next_attempt_at=decision.retry_at)


def _freeze_end(until: datetime | None) -> datetime | None:
    return None if until is None or until.year >= _NO_END_YEAR else until
