"""Streamed AES-256-GCM for recording files: constant memory, any length, tamper-evident.

A file is a header, then chunks (integers big-endian)::

    "DREC" | version=1 | len(key id) | key id | len(label) (2) | label (UTF-8)
           | chunk size (4) | salt (32) | nonce prefix (7)
    chunk i = AES-GCM(subkey, nonce = prefix | i (4) | final (1),
                      plaintext[i*size : (i+1)*size], aad = header | i (8) | final (1))

Every chunk but the last holds exactly `chunk size` bytes of plaintext; the last one
(possibly empty) is sealed with the final flag. The subkey is HKDF-SHA256 of the data
key with the file's random salt, so nonces never repeat across files under one key.
The chunk index and final flag in nonce and associated data make truncation,
reordering, dropping, appending and editing fail; the header (key id, label, chunk
size) is bound to every chunk. The label names what the file is (`<attempt>/<segment>`)
so a file put in another recording's place is noticed. SHA-256 of the plaintext is
computed on the way through in both directions.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.errors import NotARecording, RecordingTampered, UnknownRecordingKey

MAGIC = b"DREC"
FORMAT_VERSION = 1
DEFAULT_CHUNK = 64 * 1024
SALT_BYTES = 32
PREFIX_BYTES = 7
TAG_BYTES = 16
_MAX_CHUNK = 16 * 1024 * 1024
_HKDF_INFO = b"dialer-recording-v1"


class Readable(Protocol):
    """Anything with `read(n)`: a file opened for reading, or a `PlaintextReader`."""

    def read(self, n: int = -1, /) -> bytes:
        """Up to `n` bytes; fewer only at the end."""
        ...


class DataKeys(Protocol):
    """The data keys by id and the id of the one to encrypt with (a `Keyring` fits)."""

    @property
    def data_keys(self) -> Mapping[str, bytes]:
        """Every data key by id."""
        ...

    @property
    def active(self) -> str:
        """The id of the key new files are encrypted with."""
        ...


@dataclass(frozen=True, slots=True)
class Header:
    """What a recording file says about itself before its first chunk."""

    key_id: str
    label: str
    chunk_size: int
    salt: bytes
    prefix: bytes
    raw: bytes

    @property
    def size(self) -> int:
        """The header's length in bytes."""
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What went through: plaintext bytes and their SHA-256, the encrypted file's size,
    and the key id."""

    plain_bytes: int
    sha256: str
    sealed_bytes: int
    key_id: str


def _build_header(key_id: str, label: str, chunk_size: int) -> Header:
    raw_id = key_id.encode("ascii")
    raw_label = label.encode("utf-8")
    if not 0 < len(raw_id) < 256:
        raise ValueError("a key id must be 1 to 255 ASCII characters")
    if len(raw_label) > 0xFFFF:
        raise ValueError("a label must be at most 65535 bytes")
    if not 0 < chunk_size <= _MAX_CHUNK:
        raise ValueError(f"chunk size must be 1 to {_MAX_CHUNK} bytes")
    salt, prefix = os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES)
    raw = (MAGIC + bytes((FORMAT_VERSION, len(raw_id))) + raw_id
           + struct.pack(">H", len(raw_label)) + raw_label + struct.pack(">I", chunk_size)
           + salt + prefix)
    return Header(key_id, label, chunk_size, salt, prefix, raw)


def _read_exact(src: Readable, n: int) -> bytes:
    """Up to `n` bytes: fewer only at the end of the stream."""
    parts = []
    while n > 0:
        part = src.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_header(src: BinaryIO, *, path: str | None = None) -> Header:
    """Parse a recording file's header (the stream is left at its first chunk)."""
    fixed = _read_exact(src, 6)
    if len(fixed) < 6 or fixed[:4] != MAGIC:
        raise NotARecording("not an encrypted recording (no DREC header)", path=path)
    if fixed[4] != FORMAT_VERSION:
        raise NotARecording(f"recording format version {fixed[4]} is not supported", path=path)
    raw_id = _read_exact(src, fixed[5])
    label_len = _read_exact(src, 2)
    if len(raw_id) != fixed[5] or len(label_len) != 2:
        raise NotARecording("truncated header", path=path)
    raw_label = _read_exact(src, struct.unpack(">H", label_len)[0])
    rest = _read_exact(src, 4 + SALT_BYTES + PREFIX_BYTES)
    if len(raw_label) != struct.unpack(">H", label_len)[0] or len(rest) != 4 + SALT_BYTES \
            + PREFIX_BYTES:
        raise NotARecording("truncated header", path=path)
    try:
        key_id, label = raw_id.decode("ascii"), raw_label.decode("utf-8")
    except UnicodeDecodeError:
        raise NotARecording("corrupt header", path=path) from None
    chunk_size = struct.unpack(">I", rest[:4])[0]
    if not 0 < chunk_size <= _MAX_CHUNK or not key_id:
        raise NotARecording("corrupt header", path=path)
    raw = fixed + raw_id + label_len + raw_label + rest
    return Header(key_id, label, chunk_size, rest[4:4 + SALT_BYTES], rest[4 + SALT_BYTES:], raw)


def _aead(key: bytes, header: Header) -> AESGCM:
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=header.salt,
                  info=_HKDF_INFO).derive(key)
    return AESGCM(subkey)


def _nonce_aad(header: Header, index: int, final: bool) -> tuple[bytes, bytes]:
    flag = b"\x01" if final else b"\x00"
    return (header.prefix + struct.pack(">I", index) + flag,
            header.raw + struct.pack(">Q", index) + flag)


def encrypt_stream(src: Readable, dst: BinaryIO, *, key_id: str, key: bytes, label: str,
                   chunk_size: int = DEFAULT_CHUNK) -> StreamResult:
    """Encrypt all of `src` into `dst` (header and chunks); the caller fsyncs and renames."""
    header = _build_header(key_id, label, chunk_size)
    aead = _aead(key, header)
    digest = hashlib.sha256()
    dst.write(header.raw)
    sealed, plain, index = header.size, 0, 0
    block = _read_exact(src, chunk_size)
    while True:
        following = _read_exact(src, chunk_size) if len(block) == chunk_size else b""
        final = not following
        if index > 0xFFFFFFFF:
            raise ValueError("recording too long for its chunk size")
        nonce, aad = _nonce_aad(header, index, final)
        ciphertext = aead.encrypt(nonce, block, aad)
        dst.write(ciphertext)
        digest.update(block)
        sealed += len(ciphertext)
        plain += len(block)
        if final:
            return StreamResult(plain, digest.hexdigest(), sealed, key_id)
        block, index = following, index + 1


def iter_plaintext(src: BinaryIO, header: Header, keys: Mapping[str, bytes], *,
                   path: str | None = None) -> Iterator[bytes]:
    """The audio of a recording whose header was just read, chunk by chunk, each chunk
    authenticated before it is yielded."""
    key = keys.get(header.key_id)
    if key is None:
        raise UnknownRecordingKey(header.key_id, path=path)
    aead = _aead(key, header)
    size = header.chunk_size + TAG_BYTES
    index = 0
    block = _read_exact(src, size)
    while True:
        following = _read_exact(src, size) if len(block) == size else b""
        final = not following
        nonce, aad = _nonce_aad(header, index, final)
        try:
            yield aead.decrypt(nonce, block, aad)
        except InvalidTag:
            what = ("the file ends early, was cut at a chunk boundary, or was altered"
                    if final else "the file was altered, or its chunks reordered")
            raise RecordingTampered(f"authentication failed: {what}", chunk=index,
                                    path=path) from None
        if final:
            return
        block, index = following, index + 1


def _check_label(header: Header, label: str | None, path: str | None) -> None:
    if label is not None and header.label != label:
        raise RecordingTampered(f"the file is labelled {header.label!r}, not {label!r} "
                                "(another recording's file?)", chunk=-1, path=path)


def decrypt_stream(src: BinaryIO, dst: BinaryIO | None, keys: Mapping[str, bytes], *,
                   label: str | None = None, path: str | None = None) -> StreamResult:
    """Decrypt a recording into `dst` (None: only verify and hash it). With `label`, the
    file must carry that label. Raises a RecordingCryptoError; then `dst` holds a prefix
    of the audio at most, which the caller must discard."""
    header = read_header(src, path=path)
    _check_label(header, label, path)
    digest = hashlib.sha256()
    plain = 0
    for data in iter_plaintext(src, header, keys, path=path):
        if dst is not None:
            dst.write(data)
        digest.update(data)
        plain += len(data)
    chunks = max(1, -(-plain // header.chunk_size))
    return StreamResult(plain, digest.hexdigest(), header.size + plain + chunks * TAG_BYTES,
                        header.key_id)


class PlaintextReader:
    """A readable stream of a recording's audio, decrypted chunk by chunk (for
    re-encrypting under another key without holding the file in memory)."""

    def __init__(self, src: BinaryIO, keys: Mapping[str, bytes], *, label: str | None = None,
                 path: str | None = None) -> None:
        self.header = read_header(src, path=path)
        _check_label(self.header, label, path)
        self._chunks = iter_plaintext(src, self.header, keys, path=path)
        self._buffer = bytearray()

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes of audio (all that is left if `n` < 0)."""
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        cut = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        out = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return out
