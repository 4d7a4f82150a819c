"""Streamed recording encryption: round trips, and every kind of tampering fails loudly."""

from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recordings import (
    NotARecording,
    PlaintextReader,
    RecordingTampered,
    UnknownRecordingKey,
    decrypt_stream,
    encrypt_stream,
    read_header,
)

KEY = bytes(range(32))
KEYS = {"k1": KEY, "k2": bytes(32)}
CHUNK = 64


def seal(data: bytes, *, chunk: int = CHUNK, label: str = "a/1", key_id: str = "k1") -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key_id=key_id, key=KEYS[key_id], label=label,
                   chunk_size=chunk)
    return out.getvalue()


def unseal(blob: bytes, *, label: str | None = None) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, KEYS, label=label)
    return out.getvalue()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=700), chunk=st.integers(1, 200))
def test_any_length_round_trips_with_its_hash(data: bytes, chunk: int) -> None:
    sink = io.BytesIO()
    sealed = encrypt_stream(io.BytesIO(data), sink, key_id="k1", key=KEY, label="x/1",
                            chunk_size=chunk)
    blob = sink.getvalue()
    assert sealed.sealed_bytes == len(blob) and sealed.plain_bytes == len(data)
    out = io.BytesIO()
    opened = decrypt_stream(io.BytesIO(blob), out, KEYS)
    assert out.getvalue() == data
    assert opened.sha256 == sealed.sha256 and opened.sealed_bytes == len(blob)


def test_the_header_names_the_key_and_label_and_hides_the_audio() -> None:
    data = b"RIFF" + os.urandom(500)
    blob = seal(data, label="0195-attempt/2", key_id="k2")
    header = read_header(io.BytesIO(blob))
    assert (header.key_id, header.label, header.chunk_size) == ("k2", "0195-attempt/2", CHUNK)
    assert b"RIFF" not in blob and data[10:40] not in blob
    assert seal(data) != seal(data)        # fresh salt and nonce prefix per file


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    size = read_header(io.BytesIO(blob)).size
    body = blob[size:]
    step = CHUNK + 16
    return blob[:size], [body[i:i + step] for i in range(0, len(body), step)]


@pytest.mark.parametrize("how", ["flip_a_byte", "cut_mid_chunk", "cut_at_chunk_boundary",
                                 "drop_a_chunk", "swap_chunks", "append_a_chunk",
                                 "edit_label", "header_only"])
def test_tampering_fails_with_a_clear_error(how: str) -> None:
    blob = seal(os.urandom(CHUNK * 4 + 10))
    header, chunks = _chunks(blob)
    if how == "flip_a_byte":
        bad = bytearray(blob)
        bad[len(header) + CHUNK + 20] ^= 1
        bad_blob = bytes(bad)
    elif how == "cut_mid_chunk":
        bad_blob = blob[:-7]
    elif how == "cut_at_chunk_boundary":
        bad_blob = header + b"".join(chunks[:3])
    elif how == "drop_a_chunk":
        bad_blob = header + b"".join(chunks[:1] + chunks[2:])
    elif how == "swap_chunks":
        bad_blob = header + b"".join([chunks[1], chunks[0], *chunks[2:]])
    elif how == "append_a_chunk":
        bad_blob = blob + chunks[1]
    elif how == "edit_label":
        bad_blob = blob.replace(b"a/1", b"b/1", 1)
    else:
        bad_blob = header
    with pytest.raises(RecordingTampered) as info:
        unseal(bad_blob)
    assert "authentication failed" in str(info.value)


def test_a_file_of_another_recording_is_refused_by_label() -> None:
    blob = seal(b"audio", label="attempt-A/1")
    with pytest.raises(RecordingTampered, match="labelled 'attempt-A/1', not 'attempt-B/1'"):
        unseal(blob, label="attempt-B/1")
    assert unseal(blob, label="attempt-A/1") == b"audio"


def test_unknown_key_and_foreign_files_are_named() -> None:
    blob = seal(b"audio")
    with pytest.raises(UnknownRecordingKey, match="'k1' is not in the keyring"):
        decrypt_stream(io.BytesIO(blob), None, {"k9": KEY}, path="/r/x.wav.enc")
    with pytest.raises(NotARecording, match="no DREC header"):
        unseal(b"RIFF....WAVEfmt ")
    newer = b"DREC" + struct.pack("B", 9) + blob[5:]
    with pytest.raises(NotARecording, match="version 9"):
        unseal(newer)


def test_plaintext_reader_streams_the_audio_back() -> None:
    data = os.urandom(CHUNK * 3 + 5)
    reader = PlaintextReader(io.BytesIO(seal(data)), KEYS)
    parts = [reader.read(50) for _ in range(4)]
    assert b"".join(parts) + reader.read() == data
    assert reader.read(10) == b""
