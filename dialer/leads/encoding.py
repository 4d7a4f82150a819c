"""The text encoding of a leads file: UTF-8, UTF-8 with a byte-order mark, or GBK.

`detect_encoding` reads the file once in binary (twice if it is not UTF-8): a UTF-8
byte-order mark means `utf-8-sig`; otherwise the encoding that leaves fewer bytes
undecodable wins, UTF-8 on a tie (GBK text read as UTF-8 fails at nearly every Chinese
character, and the reverse fails wherever the pairs of bytes fall out of step). A file
is read with undecodable bytes replaced (U+FFFD); the importer rejects the rows that
contain one, so a damaged row never costs the valid ones. GBK is decoded with Python's
`gb18030` codec, its superset. UTF-16 is refused with a hint to save the file as UTF-8.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dialer.errors import ConfigError

Encoding = Literal["utf-8", "utf-8-sig", "gbk"]
ENCODINGS: tuple[str, ...] = ("auto", "utf-8", "utf-8-sig", "gbk")
REPLACEMENT = "\ufffd"
_CHUNK = 1 << 20
_CODECS: dict[str, str] = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030"}


def codec_of(encoding: Encoding) -> str:
    """The Python codec that reads a file of this encoding."""
    return _CODECS[encoding]


@dataclass(frozen=True, slots=True)
class Detected:
    """The encoding chosen for a file, and how many characters it cannot decode."""

    encoding: Encoding
    undecodable: int


def _undecodable(path: Path, codec: str) -> int:
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    count = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            count += decoder.decode(chunk).count(REPLACEMENT)
    return count + decoder.decode(b"", final=True).count(REPLACEMENT)


def detect_encoding(path: str | Path) -> Detected:
    """UTF-8 (with or without BOM) or GBK, whichever reads the file best."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from exc
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError("is UTF-16; save it as UTF-8 (or GBK) and import again", file=path,
                          line=1)
    if head.startswith(codecs.BOM_UTF8):
        return Detected("utf-8-sig", _undecodable(path, "utf-8-sig"))
    as_utf8 = _undecodable(path, "utf-8")
    if as_utf8 == 0:
        return Detected("utf-8", 0)
    as_gbk = _undecodable(path, "gb18030")
    return Detected("gbk", as_gbk) if as_gbk < as_utf8 else Detected("utf-8", as_utf8)
