"""Streamed imports of registry lists: one number per line, or one column of a CSV file.

Lines are read, normalised and hashed in batches (in worker processes if asked); each
batch is one transaction (one DNC version). Memory stays bounded whatever the file size. A bad line is reported with
its line number and reason and skipped; every good line is kept. Re-importing the same
file changes nothing (already-listed numbers are counted, not added twice).
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from dnc.errors import ImportFileError
from dnc.hashing import NumberHasher
from dnc.model import ScopeKey, Source
from dnc.normalize import RejectReason, normalize
from dnc.registry import DncRegistry

DEFAULT_BATCH = 5000


class LineProblem(StrEnum):
    """Why a line yields no number at all (before normalisation)."""

    MISSING_FIELD = "missing_field"
    BAD_ENCODING = "bad_encoding"
    BAD_CSV = "bad_csv"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line that was not imported: its number (1-based) and why."""

    line: int
    reason: RejectReason | LineProblem


@dataclass(slots=True)
class ImportReport:
    """Counts of an import; `valid == added + already_listed`."""

    lines: int = 0
    valid: int = 0
    added: int = 0
    already_listed: int = 0
    rejected: int = 0
    first_version: int | None = None
    last_version: int | None = None


class NumberFile:
    """A file of numbers read as a stream of `(line, text)` or `Rejection`.

    Without `column`, each line is one number. With it, the file is CSV with a header
    row and the numbers are in that column. `bytes_read` follows the progress.
    """

    def __init__(self, path: str | Path, *, column: str | None = None) -> None:
        self.path = Path(path)
        self.column = column
        self.bytes_read = 0
        try:
            self._fh: BinaryIO = self.path.open("rb")
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise ImportFileError(f"cannot open: {exc.strerror}", file=self.path) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()

    def _lines(self) -> Iterator[str]:
        first = True
        for raw in self._fh:
            self.bytes_read += len(raw)
            text = raw.decode("utf-8", errors="surrogateescape")
            if first:
                text, first = text.removeprefix("\ufeff"), False
            yield text

    def __iter__(self) -> Iterator[tuple[int, str] | Rejection]:
        if self.column is None:
            for number, text in enumerate(self._lines(), start=1):
                yield _checked(number, text.strip())
        else:
            yield from self._csv_rows(self.column)

    def _csv_rows(self, column: str) -> Iterator[tuple[int, str] | Rejection]:
        reader = csv.reader(self._lines())
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError("the file is empty: no header row", file=self.path,
                                  line=1, field=column) from None
        except csv.Error as exc:
            raise ImportFileError(f"unreadable header row: {exc}", file=self.path,
                                  line=1) from exc
        names = [h.strip() for h in header]
        if column not in names:
            raise ImportFileError(f"no such column; the header has {names}", file=self.path,
                                  line=1, field=column)
        position = names.index(column)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield Rejection(start, LineProblem.BAD_CSV)
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if position >= len(row):
                yield Rejection(line, LineProblem.MISSING_FIELD)
            else:
                yield _checked(line, row[position].strip())


def _checked(line: int, text: str) -> tuple[int, str] | Rejection:
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return Rejection(line, LineProblem.BAD_ENCODING)
    return line, text


def prepare(rows: list[tuple[int, str] | Rejection], region: str | None,
            hasher: NumberHasher) -> tuple[list[bytes], list[Rejection]]:
    """Normalise and hash a chunk of rows: the digests of the good ones, and the
    rejections in line order. Pure, so it can run in a worker process."""
    digests: list[bytes] = []
    rejected: list[Rejection] = []
    for row in rows:
        if isinstance(row, Rejection):
            rejected.append(row)
            continue
        line, text = row
        number = normalize(text, region)
        if number.e164 is not None:
            digests.append(hasher.digest(number.e164))
        else:
            rejected.append(Rejection(line, number.reason or RejectReason.INVALID))
    return digests, rejected


def _chunks(rows: Iterable[tuple[int, str] | Rejection],
            size: int) -> Iterator[list[tuple[int, str] | Rejection]]:
    chunk: list[tuple[int, str] | Rejection] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def import_numbers(registry: DncRegistry, hasher: NumberHasher,
                         rows: Iterable[tuple[int, str] | Rejection], *, region: str | None,
                         key: ScopeKey, source: Source = Source.IMPORT,
                         reason: str | None = None, actor: str | None = None,
                         expires_at: datetime | None = None, batch_size: int = DEFAULT_BATCH,
                         workers: int = 0,
                         on_rejected: Callable[[Rejection], None] | None = None,
                         on_batch: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """List every good row, `batch_size` lines per transaction; report each bad one.

    With `workers` > 0, normalising and hashing run in that many processes while this
    one writes; at most two chunks per worker are in flight, so memory stays bounded.
    """
    report = ImportReport()

    async def store(lines: int, digests: list[bytes], rejected: list[Rejection]) -> None:
        report.lines += lines
        report.valid += len(digests)
        report.rejected += len(rejected)
        if on_rejected is not None:
            for rejection in rejected:
                on_rejected(rejection)
        if digests:
            outcome = await registry.add_many(digests, key=key, source=source, reason=reason,
                                              actor=actor, expires_at=expires_at)
            report.added += len(outcome.changes)
            report.already_listed += outcome.already_listed
            if outcome.version is not None:
                report.first_version = report.first_version or outcome.version
                report.last_version = outcome.version
        if on_batch is not None:
            on_batch(report)

    if workers <= 0:
        for chunk in _chunks(rows, batch_size):
            await store(len(chunk), *prepare(chunk, region, hasher))
        return report
    loop = asyncio.get_running_loop()
    in_flight: deque[tuple[int, asyncio.Future[tuple[list[bytes], list[Rejection]]]]] = deque()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for chunk in _chunks(rows, batch_size):
            in_flight.append((len(chunk), loop.run_in_executor(pool, prepare, chunk, region,
                                                               hasher)))
            if len(in_flight) >= 2 * workers:
                lines, future = in_flight.popleft()
                await store(lines, *await future)
        while in_flight:
            lines, future = in_flight.popleft()
            await store(lines, *await future)
    return report
