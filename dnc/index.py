"""The in-memory DNC index: membership per scope at a known DNC version.

Changes are applied strictly in version order, and the index's version only moves once
every change up to it is in: a check that reads version v has seen every change <= v.
A refusal delivered out of order (its commit raced another's) takes effect at once —
blocking early is safe — but the version waits for the gap to fill. Removals wait too.

Membership is by the 64-bit prefix of the keyed hash. A number that is not listed
collides with one of n listed prefixes with probability n / 2**64: 5.4e-12 per check at
n = 100 M, so about one false block per 1.8e11 checks of unlisted numbers. A false
positive blocks a call (fail-safe); `DncRegistry.lookup` confirms with the full hash.

Lookups and single changes are synchronous (no await between reading the version and
the membership); bulk changes and compaction run one bucket per step and yield to the
event loop between steps.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import AsyncIterable, Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from dnc.errors import DncUnavailable
from dnc.model import Change, Op, ScopeKey
from dnc.prefixset import PrefixSet

# Below this many changes a batch is applied change by change; above it, in bulk.
SMALL_BATCH = 512
# Fold a scope's pending delta into its buckets once it holds this many changes.
DELTA_LIMIT = 20_000

ChangeSource = Callable[[int], AsyncIterable[Sequence[Change]]]


def _epoch(change: Change) -> float | None:
    return change.expires_at.timestamp() if change.expires_at is not None else None


class DncIndex:
    """Which hash prefixes are listed in which scope, as of `version`."""

    def __init__(self, version: int = 0, sets: dict[ScopeKey, PrefixSet] | None = None) -> None:
        self._version = version
        self._sets: dict[ScopeKey, PrefixSet] = dict(sets or {})
        self._pending: dict[int, list[Change]] = {}
        self._lock = asyncio.Lock()

    @property
    def version(self) -> int:
        """The DNC version this index reflects completely."""
        return self._version

    def scopes(self) -> dict[ScopeKey, int]:
        """Members per scope (expired members included until compaction)."""
        return {key: len(s) for key, s in self._sets.items()}

    @property
    def nbytes(self) -> int:
        """Bytes held by the sorted arrays of every scope."""
        return sum(s.nbytes for s in self._sets.values())

    def lookup(self, prefix: int, keys: Sequence[ScopeKey], now: float) -> ScopeKey | None:
        """The first of `keys` whose scope lists `prefix` at `now`, else None."""
        for key in keys:
            members = self._sets.get(key)
            if members is not None and members.contains(prefix, now):
                return key
        return None

    def lookup_many(self, prefixes: npt.ArrayLike, keys: Sequence[ScopeKey],
                    now: float) -> npt.NDArray[np.bool_]:
        """For each prefix, True if any of `keys` lists it at `now`."""
        prefixes = np.asarray(prefixes, dtype=np.uint64)
        out = np.zeros(prefixes.size, dtype=np.bool_)
        for key in keys:
            members = self._sets.get(key)
            if members is not None:
                out |= members.contains_many(prefixes, now)
        return out

    async def apply(self, changes: Sequence[Change]) -> int:
        """Apply changes delivered in-process (a refusal, a removal, an import batch).

        Adds take effect at once; the version advances when no earlier version is missing.
        """
        fresh = [c for c in changes if c.version > self._version]
        if len(fresh) <= SMALL_BATCH:
            for change in fresh:
                if change.op is Op.ADD:
                    self._set(change.key).add(change.prefix, _epoch(change))
        for change in fresh:
            self._pending.setdefault(change.version, []).append(change)
        async with self._lock:
            await self._drain()
        return self._version

    async def catch_up(self, source: ChangeSource) -> int:
        """Apply every change after our version that `source(version)` yields, in order.

        `source` yields chunks of changes ordered by version, each chunk ending on a
        version boundary. A gap in the versions means the journal is damaged: fail closed.
        """
        async with self._lock:
            batch = _Batch()
            last = self._version
            async for chunk in source(self._version):
                for change in chunk:
                    if change.version == last + 1:
                        last += 1
                    elif change.version != last or last == self._version:
                        raise DncUnavailable(f"DNC journal gap: after version {last} "
                                             f"came version {change.version}")
                    batch.add(change)
            if batch:
                await self._apply_batch(batch)
                self._version = last
            await self._drain()
        return self._version

    async def compact(self, now: float) -> None:
        """Drop expired members and fold every scope's delta into its buckets."""
        async with self._lock:
            for members in list(self._sets.values()):
                members.drop_expired(now)
                await _run_steps(members.fold_steps())

    def _set(self, key: ScopeKey) -> PrefixSet:
        members = self._sets.get(key)
        if members is None:
            members = self._sets[key] = PrefixSet()
        return members

    async def _drain(self) -> None:
        """Apply pending changes while the next version is present (lock held)."""
        while self._version + 1 in self._pending:
            version = self._version
            batch = _Batch()
            while version + 1 in self._pending:
                version += 1
                for change in self._pending.pop(version):
                    batch.add(change)
            await self._apply_batch(batch)
            self._version = version
        for stale in [v for v in self._pending if v <= self._version]:
            del self._pending[stale]

    async def _apply_batch(self, batch: _Batch) -> None:
        if len(batch) <= SMALL_BATCH:
            for change in batch.changes():
                members = self._set(change.key)
                if change.op is Op.ADD:
                    members.add(change.prefix, _epoch(change))
                else:
                    members.discard(change.prefix)
        else:
            for key, (adds, expiring, removes) in batch.net_effect().items():
                members = self._set(key)
                await _run_steps(members.bulk_steps(adds, removes))
                for prefix, expires in expiring:
                    members.add(prefix, expires)
        for members in list(self._sets.values()):
            if members.pending > DELTA_LIMIT:
                await _run_steps(members.fold_steps())


async def _run_steps(steps: Iterator[None]) -> None:
    for _ in steps:
        await asyncio.sleep(0)


class _Batch:
    """Changes in version order, kept compactly (a few bytes each) for bulk application."""

    def __init__(self) -> None:
        self._small: list[Change] = []
        self._cols: dict[ScopeKey, tuple[array[int], array[int], array[float]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, change: Change) -> None:
        self._count += 1
        if self._count <= SMALL_BATCH:
            self._small.append(change)
        if self._count == SMALL_BATCH + 1:
            for earlier in self._small:
                self._column(earlier)
            self._small = []
        if self._count > SMALL_BATCH:
            self._column(change)

    def _column(self, change: Change) -> None:
        cols = self._cols.get(change.key)
        if cols is None:
            cols = self._cols[change.key] = (array("Q"), array("B"), array("d"))
        prefixes, ops, expiries = cols
        prefixes.append(change.prefix)
        ops.append(change.op is Op.ADD)
        expires = _epoch(change)
        expiries.append(math.nan if expires is None else expires)

    def changes(self) -> list[Change]:
        """The changes in order (small batches only)."""
        return self._small

    def net_effect(self) -> dict[ScopeKey, tuple[npt.NDArray[np.uint64],
                                                 list[tuple[int, float]],
                                                 npt.NDArray[np.uint64]]]:
        """Per scope, the last change per key wins: permanent adds, expiring adds, removes."""
        out = {}
        for key, (p, o, e) in self._cols.items():
            prefixes = np.frombuffer(p, dtype=np.uint64)[::-1]
            ops = np.frombuffer(o, dtype=np.uint8)[::-1]
            expiries = np.frombuffer(e, dtype=np.float64)[::-1]
            uniq, first = np.unique(prefixes, return_index=True)
            last_ops, last_exp = ops[first], expiries[first]
            is_add = last_ops == 1
            permanent = is_add & np.isnan(last_exp)
            timed = is_add & ~np.isnan(last_exp)
            out[key] = (uniq[permanent],
                        list(zip(uniq[timed].tolist(), last_exp[timed].tolist(), strict=True)),
                        uniq[~is_add])
        return out
