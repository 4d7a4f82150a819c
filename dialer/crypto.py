"""Field encryption at rest: AES-256-GCM with the key id in the envelope.

An encrypted value is one self-describing byte string::

    0x01 | len(key_id) | key_id (ASCII) | nonce (12 bytes) | ciphertext + tag (16 bytes)

The associated data binds it to its column (`"leads.number_enc"`) and to its own header,
so a value copied into another column, or whose key id was edited, fails to decrypt
instead of decrypting to something plausible. New values use the keyring's active key;
old values keep naming theirs until `dialer keys rotate` re-encrypts them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dialer.errors import DecryptionFailed, UnknownKeyId
from dialer.keys import Keyring

ENVELOPE_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_AAD_PREFIX = b"dialer-field\x00"


def envelope_key_id(envelope: bytes, column: str = "?") -> str:
    """The id of the data key a value was encrypted with (read from its header)."""
    key_id, _ = _split_header(envelope, column)
    return key_id


def _split_header(envelope: bytes, column: str) -> tuple[str, int]:
    if len(envelope) < 2 or envelope[0] != ENVELOPE_VERSION:
        raise DecryptionFailed("not an encrypted value of a known version", column=column)
    end = 2 + envelope[1]
    if envelope[1] == 0 or len(envelope) < end + NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed("truncated", column=column)
    try:
        return envelope[2:end].decode("ascii"), end
    except UnicodeDecodeError:
        raise DecryptionFailed("corrupt key id", column=column) from None


class FieldCipher:
    """Encrypts and decrypts column values with a keyring's data keys."""

    __slots__ = ("_aeads", "_keyring")

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aeads = {key_id: AESGCM(key) for key_id, key in keyring.data_keys.items()}

    def __repr__(self) -> str:
        return f"FieldCipher(active={self._keyring.active!r})"

    @property
    def active_key_id(self) -> str:
        """The id of the key new values are encrypted with."""
        return self._keyring.active

    def encrypt(self, plaintext: bytes | str, column: str, *, key_id: str | None = None) -> bytes:
        """Encrypt a value for `column` (with the active key unless `key_id` is given)."""
        key_id = key_id or self._keyring.active
        if key_id not in self._aeads:
            raise UnknownKeyId(key_id)
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        raw_id = key_id.encode("ascii")
        if not 0 < len(raw_id) < 256:
            raise ValueError("a key id must be 1 to 255 ASCII characters")
        header = bytes((ENVELOPE_VERSION, len(raw_id))) + raw_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[key_id].encrypt(nonce, data, self._aad(header, column))
        return header + nonce + sealed

    def decrypt(self, envelope: bytes, column: str) -> bytes:
        """The plaintext of a value of `column`; raises UnknownKeyId or DecryptionFailed."""
        key_id, end = _split_header(envelope, column)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise UnknownKeyId(key_id)
        nonce = envelope[end:end + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, envelope[end + NONCE_BYTES:],
                                self._aad(envelope[:end], column))
        except InvalidTag:
            raise DecryptionFailed("authentication failed (tampered, or not from this "
                                   "column)", column=column, key_id=key_id) from None

    def decrypt_str(self, envelope: bytes, column: str) -> str:
        """`decrypt` for text values."""
        return self.decrypt(envelope, column).decode("utf-8")

    def encrypt_json(self, value: Any, column: str) -> bytes:
        """Encrypt a JSON-serialisable value (e.g. a lead's custom fields)."""
        return self.encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")), column)

    def decrypt_json(self, envelope: bytes, column: str) -> Any:
        """The value `encrypt_json` sealed."""
        return json.loads(self.decrypt(envelope, column))

    def reencrypt(self, envelope: bytes, column: str) -> bytes:
        """The same plaintext under the active key (what key rotation does to each value)."""
        return self.encrypt(self.decrypt(envelope, column), column)

    @staticmethod
    def _aad(header: bytes, column: str) -> bytes:
        return _AAD_PREFIX + column.encode("utf-8") + b"\x00" + header
