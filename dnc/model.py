"""The DNC's vocabulary: scopes, sources, journal changes, refusal events, check results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from dnc.normalize import Normalized, RejectReason


class Scope(StrEnum):
    """Where an entry blocks: everywhere, in one tenant, or in one campaign."""

    GLOBAL = "global"
    TENANT = "tenant"
    CAMPAIGN = "campaign"


class Source(StrEnum):
    """How a number came onto the list."""

    OPT_OUT_KEY = "opt_out_key"
    AGENT = "agent"
    SIP_DECLINE = "sip_decline"
    SPEECH = "speech"
    COMPLAINT = "complaint"
    IMPORT = "import"
    MANUAL = "manual"


class Op(StrEnum):
    """What a journal change did."""

    ADD = "add"
    REMOVE = "remove"


class ScopeKey(NamedTuple):
    """A scope and its reference ('' for global, else the tenant or campaign id)."""

    scope: Scope
    ref: str

    @classmethod
    def of(cls, scope: Scope | str, ref: str | None = None) -> ScopeKey:
        """Validate a scope and its reference: global has none, the others need one."""
        scope = Scope(scope)
        ref = ref or ""
        if scope is Scope.GLOBAL and ref:
            raise ValueError("a global entry has no scope reference")
        if scope is not Scope.GLOBAL and not ref:
            raise ValueError(f"a {scope.value} entry needs a scope reference")
        return cls(scope, ref)


GLOBAL = ScopeKey(Scope.GLOBAL, "")


def scope_keys(tenant: str | None = None, campaign: str | None = None) -> tuple[ScopeKey, ...]:
    """The scopes that apply to a call: global, plus its tenant and campaign if given."""
    keys = [GLOBAL]
    if tenant:
        keys.append(ScopeKey(Scope.TENANT, tenant))
    if campaign:
        keys.append(ScopeKey(Scope.CAMPAIGN, campaign))
    return tuple(keys)


def digest_prefix(digest: bytes) -> int:
    """The 64-bit index key of a 32-byte digest (same as `NumberHasher.prefix`)."""
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True, slots=True)
class Change:
    """One journal entry as the index needs it: at `version`, `op` on `digest` in a scope."""

    version: int
    op: Op
    digest: bytes
    key: ScopeKey
    source: Source | None = None
    expires_at: datetime | None = None

    @property
    def prefix(self) -> int:
        """The 64-bit index key of the digest."""
        return digest_prefix(self.digest)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What subscribers hear after a refusal is committed and indexed (hash only)."""

    digest: bytes
    version: int
    scope: Scope
    scope_ref: str
    source: Source

    @property
    def hash_hex(self) -> str:
        """The keyed hash as hex, as events carry it."""
        return self.digest.hex()


@dataclass(frozen=True, slots=True)
class RefuseOutcome:
    """The result of `refuse()`: the version that lists the number, and whether this call
    changed the list (a new entry, or a longer expiry) or found it already listed."""

    digest: bytes
    version: int
    changed: bool


class CheckStatus(StrEnum):
    """The answer of the dial gate's DNC check."""

    ALLOWED = "allowed"
    BLOCKED = "blocked"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A DNC check: the status, the DNC version it reflects, and why.

    `blocked_by` is the scope that blocks (for `blocked`); `reason` the rejection reason
    (for `invalid`); `number` the normalised number (its repr is masked).
    """

    status: CheckStatus
    version: int
    number: Normalized
    blocked_by: ScopeKey | None = None

    @property
    def reason(self) -> RejectReason | None:
        """Why the number is invalid, if it is."""
        return self.number.reason

    @property
    def allowed(self) -> bool:
        """True only for a valid number that no applicable entry blocks."""
        return self.status is CheckStatus.ALLOWED

    def channel_variables(self) -> dict[str, str]:
        """The channel variables a FastAGI `dnc-check` route returns to the dialplan."""
        out = {"DNC_RESULT": self.status.value, "DNC_VERSION": str(self.version)}
        if self.reason is not None:
            out["DNC_REASON"] = self.reason.value
        if self.blocked_by is not None:
            out["DNC_SCOPE"] = self.blocked_by.scope.value
        return out
