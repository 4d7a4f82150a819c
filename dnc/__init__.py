"""Do-not-call: number normalisation and masking, the registry, its index, refusals.

The dial gate calls `Dnc.check` (or `Dnc.check_fresh` from the dialplan); refusals go
through `Dnc.refuse`, which commits, indexes and then tells subscribers.
"""

from dnc.checker import DncChecker, ScrubResult, prefixes_of
from dnc.errors import DncError, DncUnavailable, ImportFileError, InvalidNumber, NotListed
from dnc.hashing import DIGEST_BYTES, NumberHasher
from dnc.importer import ImportReport, LineProblem, NumberFile, Rejection, import_numbers
from dnc.index import DncIndex
from dnc.masking import MaskingFilter, mask_number, mask_numbers_in_text
from dnc.model import (
    GLOBAL,
    Change,
    CheckResult,
    CheckStatus,
    Op,
    Refusal,
    RefuseOutcome,
    Scope,
    ScopeKey,
    Source,
    scope_keys,
)
from dnc.normalize import Normalized, RejectReason, is_known_region, normalize, time_zones
from dnc.prefixset import PrefixSet, PrefixSetBuilder
from dnc.registry import BatchOutcome, DncRegistry, Listing, utc_now
from dnc.schema import create_schema, dnc_changes, dnc_entries, dnc_state, metadata
from dnc.service import Dnc, Subscriber, load_index

# Plain sorted() order, as tests/test_public_surface.py checks (not ruff's isort order).
__all__ = [  # noqa: RUF022
    "BatchOutcome",
    "Change",
    "CheckResult",
    "CheckStatus",
    "DIGEST_BYTES",
    "Dnc",
    "DncChecker",
    "DncError",
    "DncIndex",
    "DncRegistry",
    "DncUnavailable",
    "GLOBAL",
    "ImportFileError",
    "ImportReport",
    "InvalidNumber",
    "LineProblem",
    "Listing",
    "MaskingFilter",
    "Normalized",
    "NotListed",
    "NumberFile",
    "NumberHasher",
    "Op",
    "PrefixSet",
    "PrefixSetBuilder",
    "Refusal",
    "RefuseOutcome",
    "RejectReason",
    "Rejection",
    "Scope",
    "ScopeKey",
    "ScrubResult",
    "Source",
    "Subscriber",
    "create_schema",
    "dnc_changes",
    "dnc_entries",
    "dnc_state",
    "import_numbers",
    "is_known_region",
    "load_index",
    "mask_number",
    "mask_numbers_in_text",
    "metadata",
    "normalize",
    "prefixes_of",
    "scope_keys",
    "time_zones",
    "utc_now",
]
