"""Crash-safe file steps (blocking; the vault runs them in a thread).

Each step leaves either its input or its complete output, never a half-written file
under a final name: outputs are written to a temporary name, fsynced, then renamed, and
the folder is fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from recordings.errors import ChecksumMismatch
from recordings.layout import DIR_MODE
from recordings.stream import (
    DEFAULT_CHUNK,
    PlaintextReader,
    StreamResult,
    decrypt_stream,
    encrypt_stream,
)

FILE_MODE = 0o600
PART_SUFFIX = ".part"
TMP_SUFFIX = ".enc.tmp"
REKEY_SUFFIX = ".rekey.tmp"


def fsync_dir(folder: Path) -> None:
    """Make renames and unlinks in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_private(path: Path) -> BinaryIO:
    """Create (or truncate) a file readable by its owner only, for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    return os.fdopen(fd, "wb")


def make_dirs(folder: Path) -> None:
    """Create a folder (and parents) readable by the owner only."""
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def take(src: Path, dst: Path) -> None:
    """Move a finished recording out of the spool into `dst` (a rename when both are on
    one file system, else copy, fsync, rename, then remove the source)."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        part = dst.with_name(dst.name + PART_SUFFIX)
        with src.open("rb") as fin, open_private(part) as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(part, dst)
        fsync_dir(dst.parent)
        src.unlink()
    else:
        os.chmod(dst, FILE_MODE)
        fsync_dir(dst.parent)


def seal(plain: Path, final: Path, tmp: Path, *, key_id: str, key: bytes, label: str,
         chunk_size: int = DEFAULT_CHUNK) -> StreamResult:
    """Encrypt `plain` into `tmp`, fsync it, then rename it to `final` (durably)."""
    with plain.open("rb") as src, open_private(tmp) as dst:
        result = encrypt_stream(src, dst, key_id=key_id, key=key, label=label,
                                chunk_size=chunk_size)
        dst.flush()
        os.fsync(dst.fileno())
    make_dirs(final.parent)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return result


def verify(path: Path, keys: Mapping[str, bytes], *, label: str | None = None) -> StreamResult:
    """Decrypt a file without keeping the audio: its size, SHA-256 and key id."""
    with path.open("rb") as src:
        return decrypt_stream(src, None, keys, label=label, path=str(path))


def reseal(path: Path, tmp: Path, keys: Mapping[str, bytes], *, key_id: str,
           label: str | None = None, expected_sha256: str | None = None,
           chunk_size: int = DEFAULT_CHUNK) -> StreamResult:
    """Re-encrypt a file under `key_id`, streamed (decrypt a chunk, encrypt it again),
    and replace it only if the audio's SHA-256 is the expected one."""
    with path.open("rb") as src, open_private(tmp) as dst:
        reader = PlaintextReader(src, keys, label=label, path=str(path))
        result = encrypt_stream(reader, dst, key_id=key_id, key=keys[key_id],
                                label=reader.header.label, chunk_size=chunk_size)
        dst.flush()
        os.fsync(dst.fileno())
    if expected_sha256 is not None and result.sha256 != expected_sha256:
        tmp.unlink(missing_ok=True)
        raise ChecksumMismatch(expected_sha256, result.sha256, path=path)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return result
