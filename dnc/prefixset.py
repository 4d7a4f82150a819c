"""A compact set of 64-bit keys: sorted numpy buckets plus a small pending delta.

The keys are the first 8 bytes of keyed hashes, so they are uniform: bucket `b` holds
the keys whose top 8 bits are `b`, as a sorted `uint64` array. Single changes go into
Python sets (`added`, `removed`) and are folded into the buckets later, one bucket per
step, so no step copies more than one bucket (about 1/256 of the set) and memory never
doubles. Members may carry an expiry (epoch seconds); an expired member stops counting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

BUCKET_BITS = 8
BUCKETS = 1 << BUCKET_BITS
_SHIFT = 64 - BUCKET_BITS
_EMPTY: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
_BUCKET_IDS = np.arange(BUCKETS + 1, dtype=np.uint64)

U64Array = npt.NDArray[np.uint64]


def _as_keys(keys: Iterable[int] | npt.ArrayLike) -> U64Array:
    return np.asarray(list(keys) if isinstance(keys, (set, frozenset)) else keys,
                      dtype=np.uint64)


def _bucket_bounds(sorted_keys: U64Array) -> npt.NDArray[np.intp]:
    """Index bounds of each bucket's run inside a sorted key array (BUCKETS + 1 values)."""
    return np.searchsorted(sorted_keys >> np.uint64(_SHIFT), _BUCKET_IDS)


class PrefixSet:
    """Membership of 64-bit keys with optional expiries; lookups in about a microsecond."""

    __slots__ = ("_added", "_buckets", "_expiry", "_removed")

    def __init__(self) -> None:
        self._buckets: list[U64Array] = [_EMPTY] * BUCKETS
        self._added: set[int] = set()       # members not in the buckets
        self._removed: set[int] = set()     # keys in the buckets that are no longer members
        self._expiry: dict[int, float] = {}  # members that stop counting at this time

    @classmethod
    def build(cls, chunks: Iterable[npt.ArrayLike], expected: int | None = None) -> PrefixSet:
        """A set of permanent members from chunks of keys (see `PrefixSetBuilder`)."""
        builder = PrefixSetBuilder(expected)
        for chunk in chunks:
            builder.add(chunk)
        return builder.finish()

    def __len__(self) -> int:
        """Members, expired ones included until the next compaction."""
        return sum(a.size for a in self._buckets) + len(self._added) - len(self._removed)

    @property
    def nbytes(self) -> int:
        """Bytes held by the bucket arrays."""
        return sum(a.nbytes for a in self._buckets)

    @property
    def pending(self) -> int:
        """Changes not yet folded into the buckets."""
        return len(self._added) + len(self._removed)

    def _in_buckets(self, key: int) -> bool:
        arr = self._buckets[key >> _SHIFT]
        x = np.uint64(key)
        i = arr.searchsorted(x)
        return bool(i < arr.size and arr[i] == x)

    def _is_member(self, key: int) -> bool:
        """Membership ignoring expiry."""
        if key in self._added:
            return True
        return key not in self._removed and self._in_buckets(key)

    def contains(self, key: int, now: float) -> bool:
        """True if `key` is a member that has not expired at `now` (epoch seconds)."""
        if key not in self._added:
            if key in self._removed:
                return False
            arr = self._buckets[key >> _SHIFT]
            x = np.uint64(key)
            i = arr.searchsorted(x)
            if i == arr.size or arr[i] != x:
                return False
        if self._expiry:
            expires = self._expiry.get(key)
            return expires is None or expires > now
        return True

    def contains_many(self, keys: npt.ArrayLike, now: float) -> npt.NDArray[np.bool_]:
        """Vectorised `contains` over an array of keys."""
        keys = np.asarray(keys, dtype=np.uint64)
        order = np.argsort(keys)
        ordered = keys[order]
        bounds = _bucket_bounds(ordered)
        hits = np.zeros(keys.size, dtype=np.bool_)
        for b in range(BUCKETS):
            lo, hi = bounds[b], bounds[b + 1]
            arr = self._buckets[b]
            if hi == lo or arr.size == 0:
                continue
            seg = ordered[lo:hi]
            idx = np.minimum(arr.searchsorted(seg), arr.size - 1)
            hits[lo:hi] = arr[idx] == seg
        out = np.empty_like(hits)
        out[order] = hits
        if self._removed:
            out &= ~np.isin(keys, _as_keys(self._removed))
        if self._added:
            out |= np.isin(keys, _as_keys(self._added))
        expired = [k for k, t in self._expiry.items() if t <= now]
        if expired:
            out &= ~np.isin(keys, _as_keys(expired))
        return out

    def add(self, key: int, expires: float | None = None) -> None:
        """Make `key` a member; the later expiry wins and no expiry beats any."""
        if self._is_member(key):
            if key in self._expiry:
                if expires is None:
                    del self._expiry[key]
                else:
                    self._expiry[key] = max(self._expiry[key], expires)
            return
        if key in self._removed:
            self._removed.discard(key)
        else:
            self._added.add(key)
        if expires is not None:
            self._expiry[key] = expires

    def discard(self, key: int) -> None:
        """Make `key` a non-member."""
        self._expiry.pop(key, None)
        if key in self._added:
            self._added.discard(key)
        elif self._in_buckets(key):
            self._removed.add(key)

    def expired(self, now: float) -> list[int]:
        """Members whose expiry has passed at `now`."""
        return [k for k, t in self._expiry.items() if t <= now]

    def drop_expired(self, now: float) -> int:
        """Forget members whose expiry has passed at `now`; returns how many."""
        expired = self.expired(now)
        for key in expired:
            self.discard(key)
        return len(expired)

    def fold_steps(self) -> Iterator[None]:
        """Fold the pending delta into the buckets, one bucket per step.

        Each step is consistent on its own; changes made between steps stay pending
        for the next fold.
        """
        added: dict[int, list[int]] = {}
        removed: dict[int, list[int]] = {}
        for key in self._added:
            added.setdefault(key >> _SHIFT, []).append(key)
        for key in self._removed:
            removed.setdefault(key >> _SHIFT, []).append(key)
        for b in sorted(added.keys() | removed.keys()):
            adds = [k for k in added.get(b, ()) if k in self._added]
            rems = [k for k in removed.get(b, ()) if k in self._removed]
            self._buckets[b] = _merge(self._buckets[b], _as_keys(adds), _as_keys(rems))
            self._added.difference_update(adds)
            self._removed.difference_update(rems)
            yield

    def bulk_steps(self, adds: U64Array, removes: U64Array) -> Iterator[None]:
        """Add and remove many keys (permanent members; each key in one list only),
        one bucket per step."""
        adds = np.unique(np.asarray(adds, dtype=np.uint64))
        removes = np.unique(np.asarray(removes, dtype=np.uint64))
        if self._expiry:
            for key in adds.tolist():
                self._expiry.pop(key, None)
        for key in removes.tolist():
            self._expiry.pop(key, None)
            self._added.discard(key)
        add_bounds, rem_bounds = _bucket_bounds(adds), _bucket_bounds(removes)
        for b in range(BUCKETS):
            a = adds[add_bounds[b]:add_bounds[b + 1]]
            r = removes[rem_bounds[b]:rem_bounds[b + 1]]
            if a.size == 0 and r.size == 0:
                continue
            if a.size:
                a_keys = a.tolist()
                self._added.difference_update(a_keys)
                self._removed.difference_update(a_keys)
            self._buckets[b] = _merge(self._buckets[b], a, r)
            if r.size:
                self._removed.difference_update(r.tolist())
            yield


class PrefixSetBuilder:
    """Builds a PrefixSet from chunks of keys in little more than 8 bytes a key.

    Each chunk is scattered into its buckets, which `finish` sorts in place. With
    `expected` (the number of keys, if known) the buckets are sized once up front, which
    keeps the heap unfragmented; without it they grow as needed. Capacity never written
    costs address space, not memory.
    """

    def __init__(self, expected: int | None = None) -> None:
        capacity = int(expected * 1.02 / BUCKETS) + 1024 if expected else 1024
        self._store = [np.empty(capacity, dtype=np.uint64) for _ in range(BUCKETS)]
        self._fill = [0] * BUCKETS

    def add(self, chunk: npt.ArrayLike) -> None:
        """Scatter a chunk of keys into the buckets."""
        keys = np.asarray(chunk, dtype=np.uint64)
        ids = (keys >> np.uint64(_SHIFT)).astype(np.uint8)
        grouped = keys[np.argsort(ids, kind="stable")]
        bounds = np.concatenate(([0], np.cumsum(np.bincount(ids, minlength=BUCKETS))))
        for b in np.flatnonzero(bounds[1:] - bounds[:-1]).tolist():
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            start, end = self._fill[b], self._fill[b] + hi - lo
            if end > self._store[b].size:
                grown = np.empty(max(end, self._store[b].size * 5 // 4), dtype=np.uint64)
                grown[:start] = self._store[b][:start]
                self._store[b] = grown
            self._store[b][start:end] = grouped[lo:hi]
            self._fill[b] = end

    def finish(self) -> PrefixSet:
        """Sort each bucket in place and hand them over; the builder is empty after."""
        out = PrefixSet()
        for b in range(BUCKETS):
            arr = self._store[b][:self._fill[b]]
            arr.sort()
            if arr.size > 1 and not (arr[1:] != arr[:-1]).all():
                arr = np.unique(arr)
            out._buckets[b] = arr if arr.size else _EMPTY
            self._store[b], self._fill[b] = _EMPTY, 0
        return out


def _merge(arr: U64Array, adds: U64Array, removes: U64Array) -> U64Array:
    """A sorted bucket with `removes` taken out and `adds` put in (no duplicates)."""
    if removes.size:
        arr = arr[~np.isin(arr, removes)]
    if adds.size:
        adds = np.unique(adds)
        adds = adds[~np.isin(adds, arr)]
        arr = np.insert(arr, arr.searchsorted(adds), adds)
    return arr
