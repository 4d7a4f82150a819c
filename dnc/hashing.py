"""Keyed hashes of E.164 numbers: how the DNC and the store recognise a number
without keeping it (HMAC-SHA256 with the node's hash key)."""

from __future__ import annotations

import hashlib
import hmac

DIGEST_BYTES = 32


class NumberHasher:
    """HMAC-SHA256 of an E.164 number under a secret key; the key never leaves it."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the hash key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "NumberHasher(<key hidden>)"

    def digest(self, e164: str) -> bytes:
        """The 32-byte keyed hash of a normalised number (`+8613812345678`)."""
        return hmac.new(self._key, e164.encode("ascii"), hashlib.sha256).digest()

    def prefix(self, e164: str) -> int:
        """The first 8 bytes of the digest as an unsigned integer (the index key)."""
        return int.from_bytes(self.digest(e164)[:8], "big")
