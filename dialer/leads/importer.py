"""Import leads from a CSV file into a campaign, row by row, keeping every valid row.

    report = await import_leads(store, campaign, campaign_id, "leads.csv", dnc=dnc,
                                now=now, actor="cli:ops")

The file is streamed in chunks of rows. Each row's number is normalised to E.164 (the
campaign's region, or the row's own `region` column, for numbers written without a
country code). A row is rejected, and reported with its line, its column and why, when
its number is invalid, it repeats a number earlier in the file or already in the
campaign, consent is missing where the campaign needs it, a value cannot be read, or
its bytes cannot be decoded. A number on the do-not-call list (global, the tenant's or
the campaign's) is kept, with status `dnc`, so it is never dialled and the record shows
why; it is reported too. The report is a CSV beside the input (`<file>.rejected.csv`:
line, field, problem, outcome, detail); it holds no phone number. Numbers and custom
fields are stored encrypted by the store; the import is audited (counts only).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import enum
import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from dialer.campaign import Campaign
from dialer.errors import ConfigError
from dialer.leads.encoding import REPLACEMENT, Encoding, codec_of, detect_encoding
from dialer.leads.mapping import Columns, resolve_columns
from dialer.store import LeadStatus, NewLead, Store
from dnc import Dnc, is_known_region, normalize, prefixes_of, time_zones

CHUNK_ROWS = 1000
REPORT_COLUMNS = ("line", "field", "problem", "outcome", "detail")
_YES = frozenset({"1", "y", "yes", "true", "t", "x", "ok", "是", "同意", "有", "已同意"})
_NO = frozenset({"", "0", "n", "no", "false", "f", "否", "不同意", "无", "未同意"})
_MAX_PRIORITY = 1_000_000


class RowProblem(enum.StrEnum):
    """Why a row was not imported as a diallable lead."""

    COLUMN_COUNT = "column_count"
    BAD_ENCODING = "bad_encoding"
    BAD_REGION = "bad_region"
    INVALID_NUMBER = "invalid_number"
    BAD_PRIORITY = "bad_priority"
    BAD_CONSENT = "bad_consent"
    MISSING_CONSENT = "missing_consent"
    MISSING_EVIDENCE = "missing_evidence"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    DUPLICATE_IN_CAMPAIGN = "duplicate_in_campaign"
    DNC = "dnc"  # kept, with status dnc: never dialled


@dataclass(frozen=True, slots=True)
class RowReport:
    """One reported row: where, which column, what, and whether it was kept (as DNC)."""

    line: int
    field: str
    problem: RowProblem
    detail: str = ""

    @property
    def kept(self) -> bool:
        """True for a row stored anyway (a DNC hit, stored as `dnc`)."""
        return self.problem is RowProblem.DNC

    @property
    def outcome(self) -> str:
        """`kept_as_dnc` or `rejected`."""
        return "kept_as_dnc" if self.kept else "rejected"


@dataclass
class LeadImportReport:
    """What an import did: rows read, leads added (diallable and DNC), rows rejected."""

    path: Path
    encoding: Encoding
    undecodable: int
    batch: str
    rows: int = 0
    inserted: int = 0
    kept_dnc: int = 0
    rejected: Counter[RowProblem] = field(default_factory=Counter)
    report_path: Path | None = None

    @property
    def rejected_total(self) -> int:
        """Rows not stored at all."""
        return sum(self.rejected.values())


@dataclass(frozen=True, slots=True)
class _Candidate:
    line: int
    lead: NewLead
    digest: bytes


class _ReportFile:
    """The rejected-rows CSV, opened on the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None

    def write(self, row: RowReport) -> None:
        if self._writer is None:
            self._fh = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.DictWriter(self._fh, fieldnames=REPORT_COLUMNS)
            self._writer.writeheader()
        self._writer.writerow({"line": row.line, "field": row.field,
                               "problem": row.problem.value, "outcome": row.outcome,
                               "detail": row.detail})

    @property
    def written(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _records(fh: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank CSV record."""
    reader = csv.reader(fh)
    previous = 0
    for cells in reader:
        first, previous = previous + 1, reader.line_num
        if any(c.strip() for c in cells):
            yield first, cells


class _RowReader:
    """Turns one CSV row into a lead to insert, or a problem."""

    def __init__(self, columns: Columns, campaign: Campaign, region: str, source: str,
                 hash_of: Callable[[str], bytes]) -> None:
        self._columns = columns
        self._region = region
        self._source = source
        self._hash_of = hash_of
        self._consent_required = campaign.consent_required
        self._evidence_required = campaign.config.consent.evidence_required
        self._seen: dict[int, int] = {}

    def read(self, line: int, cells: Sequence[str]) -> _Candidate | RowReport:
        cols = self._columns
        if len(cells) != len(cols.header):
            return RowReport(line, "(row)", RowProblem.COLUMN_COUNT,
                             f"{len(cells)} fields; the header has {len(cols.header)}")
        damaged = next((i for i, c in enumerate(cells) if REPLACEMENT in c), None)
        if damaged is not None:
            return RowReport(line, cols.header[damaged], RowProblem.BAD_ENCODING,
                             "bytes that cannot be decoded")

        def value(key: str) -> str:
            return cells[cols.positions[key]].strip() if cols.has(key) else ""

        region = value("region").upper() or self._region
        if not is_known_region(region):
            return RowReport(line, cols.name_of("region"), RowProblem.BAD_REGION,
                             "not an ISO 3166 region code")
        number = normalize(value("number"), region)
        if number.e164 is None:
            return RowReport(line, cols.name_of("number"), RowProblem.INVALID_NUMBER,
                             str(number.reason))
        try:
            priority = int(value("priority") or 0)
            if abs(priority) > _MAX_PRIORITY:
                raise ValueError
        except ValueError:
            return RowReport(line, cols.name_of("priority"), RowProblem.BAD_PRIORITY,
                             f"not a whole number within ±{_MAX_PRIORITY}")
        consent = value("consent").lower()
        if consent not in _YES and consent not in _NO:
            return RowReport(line, cols.name_of("consent"), RowProblem.BAD_CONSENT,
                             "not yes/no (1/0, true/false, 是/否)")
        if self._consent_required and consent not in _YES:
            return RowReport(line, cols.name_of("consent") if cols.has("consent") else "consent",
                             RowProblem.MISSING_CONSENT, "the campaign requires consent")
        evidence = value("consent_evidence") or None
        if self._evidence_required and evidence is None:
            where = cols.name_of("consent_evidence") if cols.has("consent_evidence") \
                else "consent_evidence"
            return RowReport(line, where, RowProblem.MISSING_EVIDENCE,
                             "the campaign requires consent evidence")
        digest = self._hash_of(number.e164)
        key = int.from_bytes(digest[:8], "big")
        if key in self._seen:
            return RowReport(line, cols.name_of("number"), RowProblem.DUPLICATE_IN_FILE,
                             f"same number as line {self._seen[key]}")
        self._seen[key] = line
        custom = {cols.header[i]: cells[i].strip() for i in cols.custom if cells[i].strip()}
        if value("name"):
            custom["name"] = value("name")
        lead = NewLead(number=number.e164, source=self._source, region=number.region,
                       time_zones=time_zones(number.e164), custom=custom or None,
                       consent=consent in _YES, consent_evidence=evidence, priority=priority)
        return _Candidate(line, lead, digest)


class _Source:
    """The file's rows in chunks, read and checked off the event loop (`asyncio.to_thread`)."""

    def __init__(self, path: Path, encoding: Encoding) -> None:
        self._fh = path.open(encoding=codec_of(encoding), errors="replace", newline="")
        self._records = _records(self._fh)
        self.header = next(self._records, None)
        self.rows = 0

    def chunk(self, reader: _RowReader, size: int) -> list[_Candidate | RowReport]:
        out: list[_Candidate | RowReport] = []
        for line, cells in itertools.islice(self._records, size):
            self.rows += 1
            out.append(reader.read(line, cells))
        return out

    def close(self) -> None:
        self._fh.close()


async def import_leads(store: Store, campaign: Campaign, campaign_id: int, path: str | Path,
                       *, dnc: Dnc, now: datetime, actor: str,
                       mapping: Mapping[str, str] | None = None,
                       encoding: Encoding | None = None, region: str | None = None,
                       consent_column: str | None = None, report_path: Path | None = None,
                       on_problem: Callable[[RowReport], None] | None = None,
                       chunk_rows: int = CHUNK_ROWS) -> LeadImportReport:
    """Import a CSV file of leads into a stored campaign (see the module docstring).

    `encoding` None detects it; `region` defaults to the campaign's; `on_problem` sees
    every reported row as it is written to the report.
    """
    path = Path(path)
    info = await store.campaigns.get(campaign_id)
    if encoding is None:
        detected = await asyncio.to_thread(detect_encoding, path)
        encoding, undecodable = detected.encoding, detected.undecodable
    else:
        undecodable = -1  # not counted when the encoding is given
    report = LeadImportReport(path=path, encoding=encoding, undecodable=undecodable,
                              batch=uuid.uuid4().hex[:16])
    out = _ReportFile(report_path or path.with_name(path.name + ".rejected.csv"))

    def problem(row: RowReport) -> None:
        out.write(row)
        if not row.kept:
            report.rejected[row.problem] += 1
        if on_problem is not None:
            on_problem(row)

    try:
        source = await asyncio.to_thread(_Source, path, encoding)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from exc
    try:
        if source.header is None:
            return report
        columns = resolve_columns(source.header[1], mapping or {}, path,
                                  consent_column=consent_column)
        reader = _RowReader(columns, campaign, region or campaign.region,
                            f"import:{path.name}"[:128], store.hasher.digest)
        target = _Target(store, dnc, campaign_id, str(info.tenant_id), now, report.batch,
                         columns.name_of("number"))
        while chunk := await asyncio.to_thread(source.chunk, reader, chunk_rows):
            problems = [read for read in chunk if isinstance(read, RowReport)]
            problems += await target.add([c for c in chunk if isinstance(c, _Candidate)],
                                         report)
            for row in sorted(problems, key=lambda r: r.line):
                problem(row)
        report.rows = source.rows
    finally:
        await asyncio.to_thread(source.close)
        out.close()
        report.report_path = out.path if out.written else None
    await store.audit(actor, "leads.import", at=now, subject_type="campaign",
                      subject_id=campaign_id,
                      detail={"file": path.name, "batch": report.batch, "encoding": encoding,
                              "rows": report.rows, "inserted": report.inserted,
                              "kept_dnc": report.kept_dnc,
                              "rejected": {k.value: v for k, v in report.rejected.items()}})
    return report


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a chunk goes: the campaign, with its DNC scopes."""

    store: Store
    dnc: Dnc
    campaign_id: int
    tenant_ref: str
    now: datetime
    batch: str
    number_column: str

    async def add(self, chunk: list[_Candidate], report: LeadImportReport) -> list[RowReport]:
        """Mark the chunk's DNC hits and insert it; the rows listed or duplicated."""
        if not chunk:
            return []
        blocked = self.dnc.scrub(prefixes_of(c.digest for c in chunk), tenant=self.tenant_ref,
                                 campaign=str(self.campaign_id)).blocked
        leads = [dataclasses.replace(c.lead, status=LeadStatus.DNC) if hit else c.lead
                 for c, hit in zip(chunk, blocked, strict=True)]
        ids = await self.store.leads.insert_batch(self.campaign_id, leads, now=self.now,
                                                  import_batch=self.batch)
        found = []
        for candidate, lead, lead_id in zip(chunk, leads, ids, strict=True):
            if lead_id is None:
                found.append(RowReport(candidate.line, self.number_column,
                                       RowProblem.DUPLICATE_IN_CAMPAIGN,
                                       "the number is already in the campaign"))
            elif lead.status is LeadStatus.DNC:
                report.kept_dnc += 1
                found.append(RowReport(candidate.line, self.number_column, RowProblem.DNC,
                                       "on the do-not-call list: stored as dnc, never dialled"))
            else:
                report.inserted += 1
        return found
