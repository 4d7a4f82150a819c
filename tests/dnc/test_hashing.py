"""Keyed hashes: stable per key, different across keys, key never shown."""

from __future__ import annotations

from dnc import NumberHasher


def test_digest_is_keyed_and_stable() -> None:
    a, b = NumberHasher(b"k" * 32), NumberHasher(b"j" * 32)
    n = "+8613812345678"
    assert a.digest(n) == a.digest(n) and len(a.digest(n)) == 32
    assert a.digest(n) != b.digest(n)
    assert a.prefix(n) == int.from_bytes(a.digest(n)[:8], "big")
    assert "k" * 8 not in repr(a)
