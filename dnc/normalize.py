"""Phone numbers as people write them -> E.164, or a typed reason why not.

Spaces, dashes, dots, brackets, `tel:` URIs, `+86`, `0086` (the default region's
international prefix), the national trunk prefix and full-width digits all normalise to
the same E.164 string, which is what the DNC hashes. Invalid or impossible numbers are
rejected with a `RejectReason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from phonenumbers import timezone as pn_timezone

from dnc.masking import mask_number

_UNKNOWN_TIMEZONE = "Etc/Unknown"


class RejectReason(StrEnum):
    """Why a written number is not a dialable E.164 number."""

    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    NO_REGION = "no_region"
    INVALID_COUNTRY_CODE = "invalid_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_LENGTH = "invalid_length"
    LOCAL_ONLY = "local_only"
    INVALID = "invalid"


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: RejectReason.INVALID_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: RejectReason.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: RejectReason.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: RejectReason.TOO_SHORT,
    NumberParseException.TOO_LONG: RejectReason.TOO_LONG,
}

_POSSIBILITY_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: RejectReason.INVALID_COUNTRY_CODE,
    ValidationResult.TOO_SHORT: RejectReason.TOO_SHORT,
    ValidationResult.TOO_LONG: RejectReason.TOO_LONG,
    ValidationResult.INVALID_LENGTH: RejectReason.INVALID_LENGTH,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: RejectReason.LOCAL_ONLY,
}


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome of normalising one written number: E.164 and region, or a reason.

    Exactly one of `e164` and `reason` is set. The repr masks the number.
    """

    e164: str | None
    region: str | None
    reason: RejectReason | None

    @property
    def ok(self) -> bool:
        """True if the number is a valid E.164 number."""
        return self.e164 is not None

    @property
    def masked(self) -> str:
        """The number masked for logs and events (empty when rejected)."""
        return mask_number(self.e164) if self.e164 is not None else ""

    def __repr__(self) -> str:
        if self.e164 is None:
            return f"Normalized(rejected={self.reason})"
        return f"Normalized({self.masked}, region={self.region!r})"


def is_known_region(region: str) -> bool:
    """True if `region` is an ISO 3166 region code phonenumbers knows (`CN`, `US`, …)."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def normalize(raw: str, region: str | None = None) -> Normalized:
    """Normalise a written number; `region` is the default for numbers without `+`/IDD."""
    if region is not None and not is_known_region(region):
        raise ValueError(f"unknown default region {region!r}")
    text = raw.strip()
    if not text:
        return Normalized(None, None, RejectReason.EMPTY)
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, RejectReason.NOT_A_NUMBER)
        if (reason is RejectReason.INVALID_COUNTRY_CODE and region is None
                and not text.lstrip("(").startswith(("+", "\uff0b"))):
            reason = RejectReason.NO_REGION
        return Normalized(None, None, reason)
    possibility = phonenumbers.is_possible_number_with_reason(number)
    if possibility != ValidationResult.IS_POSSIBLE:
        return Normalized(None, None, _POSSIBILITY_REASONS.get(possibility, RejectReason.INVALID))
    if not phonenumbers.is_valid_number(number):
        return Normalized(None, None, RejectReason.INVALID)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Normalized(e164, phonenumbers.region_code_for_number(number), None)


def time_zones(e164: str) -> tuple[str, ...]:
    """The time zones a normalised number may ring in; empty if unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return ()
    zones = pn_timezone.time_zones_for_number(number)
    return tuple(z for z in zones if z != _UNKNOWN_TIMEZONE)
