"""PrefixSet: the same answers as a plain Python set, whatever the mix of operations."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dnc import PrefixSet

U64 = st.integers(min_value=0, max_value=2**64 - 1)
# Few distinct values, so that operations hit the same keys often; plus the extremes.
KEYS = st.one_of(st.sampled_from([0, 1, 2**63, 2**64 - 1, 2**56, 2**56 - 1]),
                 st.integers(0, 40).map(lambda i: (i * 0x9E3779B97F4A7C15) % 2**64))

OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), KEYS, st.none() | st.integers(0, 20)),
    st.tuples(st.just("discard"), KEYS, st.none()),
    st.tuples(st.just("fold"), st.none(), st.none()),
    st.tuples(st.just("expire"), st.none(), st.integers(0, 20)),
    st.tuples(st.just("bulk"), st.lists(KEYS, max_size=8), st.lists(KEYS, max_size=8)),
), max_size=60)


class Model:
    """The reference: a dict key -> expiry (None = never)."""

    def __init__(self) -> None:
        self.members: dict[int, float | None] = {}

    def add(self, key: int, expires: float | None) -> None:
        if key in self.members:
            old = self.members[key]
            self.members[key] = None if old is None or expires is None else max(old, expires)
        else:
            self.members[key] = expires

    def contains(self, key: int, now: float) -> bool:
        if key not in self.members:
            return False
        expires = self.members[key]
        return expires is None or expires > now


@settings(max_examples=300)
@given(initial=st.lists(KEYS, max_size=20), ops=OPS, now=st.integers(0, 20))
def test_prefixset_matches_a_python_model(initial: list[int], ops: list[tuple[Any, Any, Any]],
                                          now: int) -> None:
    pset = PrefixSet.build([np.array(initial, dtype=np.uint64)])
    model = Model()
    for key in initial:
        model.add(key, None)
    for op, a, b in ops:
        if op == "add":
            pset.add(a, b)
            model.add(a, b)
        elif op == "discard":
            pset.discard(a)
            model.members.pop(a, None)
        elif op == "fold":
            for _ in pset.fold_steps():
                pass
        elif op == "expire":
            pset.drop_expired(b)
            for key in [k for k, e in model.members.items() if e is not None and e <= b]:
                del model.members[key]
        else:
            removes = [k for k in set(b) if k not in set(a)]
            for _ in pset.bulk_steps(np.array(a, dtype=np.uint64),
                                     np.array(removes, dtype=np.uint64)):
                pass
            for key in a:
                model.members[key] = None
            for key in removes:
                model.members.pop(key, None)
    probe = sorted({*initial, *(k for _, k, _ in ops if isinstance(k, int)), 3, 2**64 - 2})
    expected = [model.contains(k, now) for k in probe]
    assert [pset.contains(k, now) for k in probe] == expected
    assert pset.contains_many(np.array(probe, dtype=np.uint64), now).tolist() == expected
    assert len(pset) == len(model.members)


@given(chunks=st.lists(st.lists(U64, max_size=50), max_size=6))
def test_build_from_chunks(chunks: list[list[int]]) -> None:
    pset = PrefixSet.build(np.array(c, dtype=np.uint64) for c in chunks)
    members = {k for c in chunks for k in c}
    assert len(pset) == len(members) and pset.nbytes == 8 * len(members)
    probe = np.array(sorted(members | {0, 2**64 - 1, 12345}), dtype=np.uint64)
    assert pset.contains_many(probe, 0.0).tolist() == [int(k) in members for k in probe]


def test_folding_empties_the_delta_bucket_by_bucket() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**64 - 1, 10_000, dtype=np.uint64, endpoint=True)
    pset = PrefixSet.build([base])
    extra = [int(k) for k in rng.integers(0, 2**64 - 1, 300, dtype=np.uint64, endpoint=True)]
    for key in extra:
        pset.add(key)
    gone = [int(k) for k in base[:200]]
    for key in gone:
        pset.discard(key)
    assert pset.pending == 500
    steps = sum(1 for _ in pset.fold_steps())
    assert pset.pending == 0 and 1 < steps <= 256
    assert pset.contains_many(np.array(extra, dtype=np.uint64), 0.0).all()
    assert not pset.contains_many(np.array(gone, dtype=np.uint64), 0.0).any()
    assert len(pset) == 10_000 + 300 - 200 and pset.nbytes == 8 * len(pset)
