"""WAV files as Asterisk writes them: their length, header repair, and two legs → stereo.

Asterisk's `wav` format is 8 kHz, 16-bit, mono PCM; its header sizes are written when
the recording closes, so after a crash they may be 0 or stale: `repair_header` makes
them match the data actually on disk.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recordings.errors import ArchiveError

_FRAMES_PER_BLOCK = 32 * 1024


@dataclass(frozen=True, slots=True)
class WavInfo:
    """The PCM layout of a WAV file and where its data is."""

    channels: int
    rate: int
    sample_width: int
    data_offset: int
    data_bytes: int
    header_data_bytes: int
    riff_size_field: int

    @property
    def frames(self) -> int:
        """Sample frames actually on disk."""
        return self.data_bytes // (self.channels * self.sample_width)

    @property
    def duration_s(self) -> float:
        """Seconds of audio actually on disk."""
        return self.frames / self.rate


def wav_info(path: Path) -> WavInfo:
    """Read a PCM WAV's `fmt ` and `data` chunks; sizes come from the file, not the header."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ArchiveError("not a RIFF/WAVE file", path=path)
        riff_size = struct.unpack("<I", head[4:8])[0]
        fmt: tuple[int, int, int] | None = None
        offset = 12
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise ArchiveError("no data chunk", path=path)
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            offset += 8
            if name == b"fmt ":
                body = fh.read(length)
                tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                if tag not in (1, 0xFFFE) or bits not in (8, 16, 24, 32) or channels < 1:
                    raise ArchiveError(f"not PCM audio (format {tag}, {bits} bits)", path=path)
                fmt = (channels, rate, bits // 8)
            elif name == b"data":
                if fmt is None:
                    raise ArchiveError("data before fmt chunk", path=path)
                on_disk = size - offset
                actual = on_disk - on_disk % (fmt[0] * fmt[2])
                return WavInfo(fmt[0], fmt[1], fmt[2], offset, actual, length, riff_size)
            else:
                fh.seek(length + (length & 1), 1)
            offset += length + (length & 1)


def repair_header(path: Path) -> WavInfo:
    """Make the RIFF and data sizes in the header match the data on disk (in place)."""
    info = wav_info(path)
    riff = info.data_offset + info.data_bytes - 8
    if info.header_data_bytes != info.data_bytes or info.riff_size_field != riff:
        with path.open("r+b") as fh:
            fh.seek(4)
            fh.write(struct.pack("<I", riff))
            fh.seek(info.data_offset - 4)
            fh.write(struct.pack("<I", info.data_bytes))
            fh.truncate(info.data_offset + info.data_bytes)
    return wav_info(path)


def merge_to_stereo(left: Path, right: Path, out: Path) -> WavInfo:
    """Write a 2-channel WAV with `left` and `right` (mono, same rate and width) as its
    channels; the shorter leg is padded with silence. Streams in blocks."""
    a, b = wav_info(left), wav_info(right)
    if (a.channels, b.channels) != (1, 1) or a.rate != b.rate or a.sample_width != 2 \
            or b.sample_width != 2:
        raise ArchiveError("legs must be mono 16-bit PCM at one rate", path=left)
    frames = max(a.frames, b.frames)
    with left.open("rb") as fa, right.open("rb") as fb, wave.open(str(out), "wb") as dst:
        dst.setnchannels(2)
        dst.setsampwidth(2)
        dst.setframerate(a.rate)
        fa.seek(a.data_offset)
        fb.seek(b.data_offset)
        left_left, right_left = a.frames, b.frames
        done = 0
        while done < frames:
            n = min(_FRAMES_PER_BLOCK, frames - done)
            block = np.zeros((n, 2), dtype="<i2")
            take_a, take_b = min(n, left_left), min(n, right_left)
            block[:take_a, 0] = np.frombuffer(fa.read(take_a * 2), dtype="<i2")
            block[:take_b, 1] = np.frombuffer(fb.read(take_b * 2), dtype="<i2")
            left_left -= take_a
            right_left -= take_b
            dst.writeframesraw(block.tobytes())
            done += n
    return wav_info(out)
