"""Imports: streamed, every good line kept, every bad line named, re-import idempotent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.db import create_engine
from dnc import (
    GLOBAL,
    DncRegistry,
    ImportFileError,
    ImportReport,
    LineProblem,
    NumberFile,
    NumberHasher,
    Rejection,
    RejectReason,
    Scope,
    ScopeKey,
    Source,
    create_schema,
    import_numbers,
    normalize,
)

GOOD = st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True)
BAD = st.sampled_from(["", "abc", "12", "+999 1234567", "138 1234 5678 999999", "n/a"])


async def run_import(registry: DncRegistry, hasher: NumberHasher, path: Path,
                     **kw: Any) -> tuple[ImportReport, list[Rejection]]:
    rejected: list[Rejection] = []
    column = kw.pop("column", None)
    kw.setdefault("region", "CN")
    kw.setdefault("key", GLOBAL)
    with NumberFile(path, column=column) as source:
        report = await import_numbers(registry, hasher, source, on_rejected=rejected.append, **kw)
    return report, rejected


async def listed(registry: DncRegistry, hasher: NumberHasher, number: str,
                 key: ScopeKey = GLOBAL) -> bool:
    e164 = normalize(number, "CN").e164
    assert e164 is not None
    return await registry.lookup(hasher.digest(e164), [key]) is not None


async def test_plain_file_with_bad_lines(engine: AsyncEngine, hasher: NumberHasher,
                                         tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes("\ufeff13812345678\n+86 139-1234-5678\r\nabc\n\n12\n"
                     "0086 150 1234 5678\n\xff\n13812345678\n".encode("utf-8").replace(
                         "\xff".encode(), b"\xff\xfe"))
    registry = DncRegistry(engine)
    report, rejected = await run_import(registry, hasher, path, batch_size=2)
    assert [(r.line, r.reason) for r in rejected] == [
        (3, RejectReason.NOT_A_NUMBER), (4, RejectReason.EMPTY), (5, RejectReason.TOO_SHORT),
        (7, LineProblem.BAD_ENCODING)]
    assert (report.lines, report.valid, report.rejected) == (8, 4, 4)
    assert (report.added, report.already_listed) == (3, 1)
    assert (report.first_version, report.last_version) == (1, 2)
    for n in ["13812345678", "13912345678", "15012345678"]:
        assert await listed(registry, hasher, n)


async def test_reimport_changes_nothing(engine: AsyncEngine, hasher: NumberHasher,
                                        tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("".join(f"138{i:08d}\n" for i in range(120)))
    registry = DncRegistry(engine)
    first, _ = await run_import(registry, hasher, path, batch_size=50)
    assert (first.added, first.first_version, first.last_version) == (120, 1, 3)
    again, _ = await run_import(registry, hasher, path, batch_size=50)
    assert (again.added, again.already_listed, again.last_version) == (0, 120, None)
    assert await registry.current_version() == 3


async def test_csv_column_in_a_scope(engine: AsyncEngine, hasher: NumberHasher,
                                     tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text('name,phone,note\n'
                    'Li,138 1234 5678,ok\n'
                    '"Wang, Jr.","+86 139 1234 5678","two\nlines"\n'
                    'Zhao\n'
                    'Sun,not a number,x\n'
                    'Zhou,15012345678,y\n')
    registry = DncRegistry(engine)
    campaign = ScopeKey(Scope.CAMPAIGN, "spring")
    report, rejected = await run_import(registry, hasher, path, column="phone", key=campaign,
                                        source=Source.COMPLAINT)
    assert [(r.line, r.reason) for r in rejected] == [
        (5, LineProblem.MISSING_FIELD), (6, RejectReason.NOT_A_NUMBER)]
    assert (report.lines, report.added) == (5, 3)
    assert await listed(registry, hasher, "13912345678", campaign)
    assert not await listed(registry, hasher, "13912345678")


async def test_csv_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,mobile\nLi,13812345678\n")
    with pytest.raises(ImportFileError) as info, NumberFile(path, column="phone") as source:
        list(source)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 1, "phone")
    assert "mobile" in str(info.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"), NumberFile(empty, column="phone") as s:
        list(s)
    with pytest.raises(ImportFileError, match="cannot open"):
        NumberFile(tmp_path / "missing.txt")


async def test_a_bad_csv_row_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(b"phone\n13812345678\n" + b"1" * 200_000 + b"\n15012345678\n")
    with NumberFile(path, column="phone") as source:
        rows = list(source)
    assert rows == [(2, "13812345678"), Rejection(3, LineProblem.BAD_CSV), (4, "15012345678")]


async def test_the_file_is_streamed_in_batches(engine: AsyncEngine, hasher: NumberHasher,
                                               tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("".join(f"139{i:08d}\n" for i in range(1000)))
    registry = DncRegistry(engine)
    progress: list[tuple[int, int]] = []
    with NumberFile(path) as source:
        await import_numbers(registry, hasher, source, region="CN", key=GLOBAL, batch_size=100,
                             on_batch=lambda r: progress.append((r.lines, source.bytes_read)))
    assert [lines for lines, _ in progress] == list(range(100, 1001, 100))
    assert progress[0][1] < path.stat().st_size / 5        # the first batch read ~1/10
    assert progress[-1][1] == path.stat().st_size


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(GOOD.map(lambda n: ("good", n)), BAD.map(lambda b: ("bad", b))),
                      max_size=40),
       batch=st.integers(1, 7))
def test_bad_lines_never_cost_a_good_one(sqlite_url: str, hasher: NumberHasher,
                                         tmp_path_factory: pytest.TempPathFactory,
                                         lines: list[tuple[str, str]], batch: int) -> None:
    path = tmp_path_factory.mktemp("imp") / "list.txt"
    path.write_text("".join(f"{text}\n" for _, text in lines))

    async def scenario() -> None:
        engine = create_engine(sqlite_url)
        try:
            await create_schema(engine)
            registry = DncRegistry(engine)
            report, rejected = await run_import(registry, hasher, path, batch_size=batch)
            assert sorted(r.line for r in rejected) == [
                i for i, (kind, _) in enumerate(lines, start=1) if kind == "bad"]
            assert report.valid == report.added + report.already_listed
            assert report.valid + report.rejected == report.lines == len(lines)
            for kind, text in lines:
                if kind == "good":
                    assert await listed(registry, hasher, text)
        finally:
            await engine.dispose()

    asyncio.run(scenario())


async def test_worker_processes_give_the_same_result(engine: AsyncEngine, hasher: NumberHasher,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    lines = [f"150{i:08d}" if i % 7 else "bad" for i in range(1, 400)]
    path.write_text("\n".join(lines) + "\n")
    registry = DncRegistry(engine)
    report, rejected = await run_import(registry, hasher, path, batch_size=25, workers=2)
    assert [r.line for r in rejected] == [i for i in range(1, 400) if i % 7 == 0]
    assert (report.lines, report.added, report.rejected) == (399, 342, 57)
    assert report.last_version == 16
    again, _ = await run_import(registry, hasher, path, batch_size=25)
    assert (again.added, again.already_listed) == (0, 342)
