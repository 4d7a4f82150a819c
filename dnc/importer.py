"""Streamed imports of registry lists: one number per line, or one column of a CSV file.

Lines are read, normalised and hashed in batches; each batch is one transaction (one
DNC version). Memory stays bounded whatever the file size. A bad line is reported with
its line number and reason and skipped; every good line is kept. Re-importing the same
file changes nothing (already-listed numbers are counted, not added twice).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
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


async def import_numbers(registry: DncRegistry, hasher: NumberHasher,
                         rows: Iterable[tuple[int, str] | Rejection], *, region: str | None,
                         key: ScopeKey, source: Source = Source.IMPORT,
                         reason: str | None = None, actor: str | None = None,
                         expires_at: datetime | None = None, batch_size: int = DEFAULT_BATCH,
                         on_rejected: Callable[[Rejection], None] | None = None,
                         on_batch: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """Normalise, hash and list every good row in batches; report each bad one."""
    report = ImportReport()
    batch: list[bytes] = []

    async def flush() -> None:
        outcome = await registry.add_many(batch, key=key, source=source, reason=reason,
                                          actor=actor, expires_at=expires_at)
        report.added += len(outcome.changes)
        report.already_listed += outcome.already_listed
        if outcome.version is not None:
            report.first_version = report.first_version or outcome.version
            report.last_version = outcome.version
        batch.clear()
        if on_batch is not None:
            on_batch(report)

    for row in rows:
        report.lines += 1
        if not isinstance(row, Rejection):
            line, text = row
            number = normalize(text, region)
            if number.e164 is not None:
                report.valid += 1
                batch.append(hasher.digest(number.e164))
                if len(batch) >= batch_size:
                    await flush()
                continue
            row = Rejection(line, number.reason or RejectReason.INVALID)
        report.rejected += 1
        if on_rejected is not None:
            on_rejected(row)
    if batch:
        await flush()
    return report
