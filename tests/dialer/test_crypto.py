"""Field encryption: AES-GCM envelopes bound to their column, naming their key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.crypto import FieldCipher, envelope_key_id
from dialer.errors import DecryptionFailed, UnknownKeyId
from dialer.keys import Keyring, new_keyring

COLUMN = "leads.number_enc"


@pytest.fixture
def ring() -> Keyring:
    return new_keyring()


@given(st.binary(max_size=512), st.sampled_from(["leads.number_enc", "attempts.number_enc"]))
def test_roundtrip_any_value(value: bytes, column: str) -> None:
    cipher = FieldCipher(new_keyring())
    assert cipher.decrypt(cipher.encrypt(value, column), column) == value


def test_envelope_names_its_key_and_hides_the_value(ring: Keyring) -> None:
    cipher = FieldCipher(ring)
    sealed = cipher.encrypt("+8613812345678", COLUMN)
    assert envelope_key_id(sealed) == "k1"
    assert b"13812345678" not in sealed
    assert cipher.encrypt("+8613812345678", COLUMN) != sealed  # fresh nonce each time
    assert cipher.decrypt_str(sealed, COLUMN) == "+8613812345678"


def test_a_value_cannot_move_to_another_column(ring: Keyring) -> None:
    cipher = FieldCipher(ring)
    sealed = cipher.encrypt("+8613812345678", "leads.number_enc")
    with pytest.raises(DecryptionFailed) as info:
        cipher.decrypt(sealed, "attempts.number_enc")
    assert info.value.column == "attempts.number_enc" and info.value.key_id == "k1"


@pytest.mark.parametrize("position", [0, 1, 2, 4, 10, -1])
def test_tampering_anywhere_fails_clearly(ring: Keyring, position: int) -> None:
    cipher = FieldCipher(ring)
    sealed = bytearray(cipher.encrypt("+8613812345678", COLUMN))
    sealed[position] ^= 0x01
    with pytest.raises((DecryptionFailed, UnknownKeyId)):
        cipher.decrypt(bytes(sealed), COLUMN)


def test_truncated_and_foreign_values(ring: Keyring) -> None:
    cipher = FieldCipher(ring)
    sealed = cipher.encrypt("x", COLUMN)
    for bad in (b"", b"\x01", sealed[:-1][:20], b"\x02" + sealed[1:]):
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(bad, COLUMN)


def test_missing_key_is_named(ring: Keyring) -> None:
    rotated = ring.with_new_data_key()
    sealed = FieldCipher(rotated).encrypt("+8613812345678", COLUMN)
    assert envelope_key_id(sealed) == "k2"
    with pytest.raises(UnknownKeyId, match="'k2'") as info:
        FieldCipher(ring).decrypt(sealed, COLUMN)
    assert info.value.key_id == "k2"


def test_reencrypt_moves_a_value_to_the_active_key(ring: Keyring) -> None:
    old = FieldCipher(ring).encrypt_json({"name": "Li"}, "leads.custom_enc")
    rotated = FieldCipher(ring.with_new_data_key())
    new = rotated.reencrypt(old, "leads.custom_enc")
    assert envelope_key_id(new) == "k2"
    assert rotated.decrypt_json(new, "leads.custom_enc") == {"name": "Li"}


def test_repr_shows_no_key(ring: Keyring) -> None:
    assert ring.active_key.hex() not in repr(FieldCipher(ring))
