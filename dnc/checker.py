"""The dial gate's DNC check: normalise, hash, look up in the index. No I/O, no await."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from dnc.hashing import NumberHasher
from dnc.index import DncIndex
from dnc.model import CheckResult, CheckStatus, scope_keys
from dnc.normalize import normalize

Clock = Callable[[], datetime]


def prefixes_of(digests: Iterable[bytes]) -> npt.NDArray[np.uint64]:
    """The 64-bit index keys of many 32-byte digests, as an array for `scrub`."""
    joined = b"".join(d[:8] for d in digests)
    return np.frombuffer(joined, dtype=">u8").astype(np.uint64)


@dataclass(frozen=True, slots=True)
class ScrubResult:
    """Which of a list of numbers (by hash prefix) are blocked, at one DNC version."""

    blocked: npt.NDArray[np.bool_]
    version: int


class DncChecker:
    """Answers `allowed`, `blocked` or `invalid` for a number, with the DNC version read."""

    def __init__(self, index: DncIndex, hasher: NumberHasher, *, region: str | None,
                 clock: Clock) -> None:
        self._index = index
        self._hasher = hasher
        self._region = region
        self._clock = clock

    @property
    def version(self) -> int:
        """The DNC version the index reflects."""
        return self._index.version

    def check(self, raw_number: str, *, tenant: str | None = None,
              campaign: str | None = None) -> CheckResult:
        """Check one written number against the global list and its tenant's and campaign's."""
        number = normalize(raw_number, self._region)
        if number.e164 is None:
            return CheckResult(CheckStatus.INVALID, self._index.version, number)
        prefix = self._hasher.prefix(number.e164)
        now = self._clock().timestamp()
        version = self._index.version
        blocked_by = self._index.lookup(prefix, scope_keys(tenant, campaign), now)
        status = CheckStatus.ALLOWED if blocked_by is None else CheckStatus.BLOCKED
        return CheckResult(status, version, number, blocked_by)

    def scrub(self, prefixes: npt.ArrayLike, *, tenant: str | None = None,
              campaign: str | None = None) -> ScrubResult:
        """Vectorised check of many numbers given by hash prefix (see `prefixes_of`)."""
        now = self._clock().timestamp()
        version = self._index.version
        blocked = self._index.lookup_many(prefixes, scope_keys(tenant, campaign), now)
        return ScrubResult(blocked, version)
