"""Lead import: encodings, mapping, per-row problems, DNC kept, every valid row kept."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import pytest
from leads_support import NOW, CsvWriter, Target, build
from sqlalchemy import select

from dialer.campaign import save_campaign
from dialer.errors import ConfigError
from dialer.leads import RowProblem, RowReport, detect_encoding, import_leads, parse_map
from dialer.store import LeadStatus, Store
from dialer.store.schema import Lead
from dnc import Dnc, Scope, Source

HEADER = ["手机号", "姓名", "同意", "城市"]
ROWS = [["13800138000", "张伟", "是", "北京"],
        ["139 0013 8001", "王芳", "是", "上海"],
        ["+86 137 0013 8002", "欧阳娜娜", "1", "广州"]]
E164 = ["+8613800138000", "+8613900138001", "+8613700138002"]


async def _leads(store: Store, campaign_id: int) -> dict[str, tuple[LeadStatus, dict]]:
    """number -> (status, custom) of every lead of the campaign (decrypted)."""
    async with store.db.read() as conn:
        ids = (await conn.execute(select(Lead.id).where(Lead.campaign_id == campaign_id))).scalars()
    out = {}
    for lead_id in ids:
        lead = await store.leads.get(lead_id, decrypt=True)
        assert lead.number is not None
        out[lead.number] = (lead.status, dict(lead.custom or {}))
    return out


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
async def test_chinese_names_in_every_encoding(store: Store, dnc: Dnc, target: Target,
                                               csv_file: CsvWriter, encoding: str) -> None:
    path = csv_file([HEADER, *ROWS], encoding=encoding)
    assert detect_encoding(path).encoding == encoding
    report = await import_leads(store, target.campaign, target.id, path, dnc=dnc, now=NOW,
                                actor="t")
    assert (report.encoding, report.rows, report.inserted, report.rejected_total) == \
        (encoding, 3, 3, 0)
    assert report.report_path is None
    leads = await _leads(store, target.id)
    assert {n: c["name"] for n, (_, c) in leads.items()} == dict(zip(
        E164, ["张伟", "王芳", "欧阳娜娜"], strict=True))
    assert leads[E164[0]] == (LeadStatus.NEW, {"name": "张伟", "城市": "北京"})


async def test_an_explicit_encoding(store: Store, dnc: Dnc, target: Target,
                                    csv_file: CsvWriter) -> None:
    path = csv_file([HEADER, *ROWS], encoding="gbk")
    report = await import_leads(store, target.campaign, target.id, path, dnc=dnc, now=NOW,
                                actor="t", encoding="gbk")
    assert report.inserted == 3 and report.undecodable == -1


async def test_every_problem_is_reported_and_valid_rows_kept(
        store: Store, dnc: Dnc, target: Target, csv_file: CsvWriter) -> None:
    await dnc.refuse("13800138009", Source.AGENT)
    await dnc.refuse("13800138010", Source.AGENT, scope=Scope.CAMPAIGN,
                     scope_ref=str(target.id))
    header = ["Phone", "Name", "Consent", "Prio", "Evidence"]
    rows = [
        ["13800138001", "A", "yes", "1", "form-1"],     # 2 ok
        ["12345", "B", "yes", "0", ""],                 # 3 invalid number
        ["138 0013 8001", "C", "yes", "0", ""],         # 4 duplicate of line 2
        ["13800138003", "D", "no", "0", ""],            # 5 no consent
        ["13800138004", "E", "maybe", "0", ""],         # 6 unreadable consent
        ["13800138005", "F", "yes", "high", ""],        # 7 bad priority
        ["13800138006", "G", "yes"],                    # 8 too few fields
        ["13800138009", "H", "yes", "0", ""],           # 9 DNC (global): kept as dnc
        ["13800138010", "I", "yes", "0", ""],           # 10 DNC (this campaign): kept
        ["", "J", "yes", "0", ""],                      # 11 empty number
        ["13800138011", "K", "是", "-3", ""],            # 12 ok
    ]
    path = csv_file([header, *rows])
    seen: list[RowReport] = []
    report = await import_leads(store, target.campaign, target.id, path, dnc=dnc, now=NOW,
                                actor="t", mapping=parse_map("number=Phone,name=Name,"
                                                             "consent=Consent,priority=Prio"),
                                on_problem=seen.append)
    assert (report.rows, report.inserted, report.kept_dnc) == (11, 2, 2)
    expected = [(3, "Phone", RowProblem.INVALID_NUMBER), (4, "Phone", RowProblem.DUPLICATE_IN_FILE),
                (5, "Consent", RowProblem.MISSING_CONSENT),
                (6, "Consent", RowProblem.BAD_CONSENT), (7, "Prio", RowProblem.BAD_PRIORITY),
                (8, "(row)", RowProblem.COLUMN_COUNT), (9, "Phone", RowProblem.DNC),
                (10, "Phone", RowProblem.DNC), (11, "Phone", RowProblem.INVALID_NUMBER)]
    assert [(r.line, r.field, r.problem) for r in seen] == expected
    assert report.rejected_total == 7 and report.rejected[RowProblem.INVALID_NUMBER] == 2
    with report.report_path.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
        written = list(csv.DictReader(fh))
    assert [(int(r["line"]), r["field"], r["problem"]) for r in written] == \
        [(line, field, p.value) for line, field, p in expected]
    assert {r["outcome"] for r in written if r["problem"] == "dnc"} == {"kept_as_dnc"}
    assert not any("138001380" in v for r in written for v in r.values())  # no numbers
    leads = await _leads(store, target.id)
    assert {n: s for n, (s, _) in leads.items()} == {
        "+8613800138001": LeadStatus.NEW, "+8613800138011": LeadStatus.NEW,
        "+8613800138009": LeadStatus.DNC, "+8613800138010": LeadStatus.DNC}
    assert leads["+8613800138001"][1] == {"name": "A"}  # Evidence: the consent evidence
    stored = await store.leads.get((await store.leads.ids_for_number(
        store.hasher.digest("+8613800138011")))[0])
    assert stored.priority == -3 and stored.consent and stored.time_zones == ("Asia/Shanghai",)
    audit = await store.audit_log.entries(action="leads.import")
    assert audit[0].detail["inserted"] == 2 and audit[0].detail["rejected"]["invalid_number"] == 2


async def test_a_second_import_reports_numbers_already_in_the_campaign(
        store: Store, dnc: Dnc, target: Target, csv_file: CsvWriter) -> None:
    first = csv_file([HEADER, *ROWS], name="a.csv")
    await import_leads(store, target.campaign, target.id, first, dnc=dnc, now=NOW, actor="t")
    second = csv_file([HEADER, ROWS[1], ["13600138003", "新", "是", "天津"]], name="b.csv")
    report = await import_leads(store, target.campaign, target.id, second, dnc=dnc, now=NOW,
                                actor="t")
    assert report.inserted == 1 and report.rejected == {RowProblem.DUPLICATE_IN_CAMPAIGN: 1}


async def test_duplicates_across_chunks(store: Store, dnc: Dnc, target: Target,
                                        csv_file: CsvWriter) -> None:
    rows = [[f"1380013{i:04d}", f"n{i}", "1", ""] for i in range(25)]
    rows.append(["13800130003", "again", "1", ""])
    report = await import_leads(store, target.campaign, target.id, csv_file([HEADER, *rows]),
                                dnc=dnc, now=NOW, actor="t", chunk_rows=7)
    assert report.inserted == 25 and report.rejected == {RowProblem.DUPLICATE_IN_FILE: 1}


async def test_a_damaged_row_does_not_cost_the_others(store: Store, dnc: Dnc, target: Target,
                                                      tmp_path: Path) -> None:
    good = ("号码,姓名,同意\n13800138000,张三,是\n13800138001,李四,是\n"
            "13800138002,王五,是\n").encode()
    damaged = good.replace("李四".encode(), b"\xe6\x9d\x8e\xff")  # a byte that is not UTF-8
    path = tmp_path / "damaged.csv"
    path.write_bytes(damaged)
    report = await import_leads(store, target.campaign, target.id, path, dnc=dnc, now=NOW,
                                actor="t")
    assert report.encoding == "utf-8" and report.undecodable > 0
    assert report.inserted == 2 and report.rejected == {RowProblem.BAD_ENCODING: 1}


async def test_region_column_and_campaign_region(store: Store, dnc: Dnc,
                                                 csv_file: CsvWriter) -> None:
    campaign = build("us", id="us1", caller_id="+12015550123")
    info, _, _ = await save_campaign(store, campaign, now=NOW, actor="t")
    rows = [["number", "region"], ["201 555 0123", ""], ["138 0013 8000", "cn"],
            ["555", "ZZ"]]
    seen: list[RowReport] = []
    report = await import_leads(store, campaign, info.id, csv_file(rows), dnc=dnc, now=NOW,
                                actor="t", on_problem=seen.append)
    assert report.inserted == 2
    assert [(r.line, r.field, r.problem) for r in seen] == [(4, "region", RowProblem.BAD_REGION)]
    assert set(await _leads(store, info.id)) == {"+12015550123", "+8613800138000"}


async def test_consent_evidence_required(store: Store, dnc: Dnc, csv_file: CsvWriter) -> None:
    campaign = build(id="ev", consent={"required": True, "evidence_required": True})
    info, _, _ = await save_campaign(store, campaign, now=NOW, actor="t")
    rows = [["phone", "consent", "consent_evidence"], ["13800138000", "1", "call-17"],
            ["13800138001", "1", ""]]
    seen: list[RowReport] = []
    report = await import_leads(store, campaign, info.id, csv_file(rows), dnc=dnc, now=NOW,
                                actor="t", on_problem=seen.append)
    assert report.inserted == 1
    assert [(r.line, r.field, r.problem) for r in seen] == \
        [(3, "consent_evidence", RowProblem.MISSING_EVIDENCE)]


async def test_without_a_consent_column_every_row_lacks_consent(
        store: Store, dnc: Dnc, target: Target, csv_file: CsvWriter) -> None:
    report = await import_leads(store, target.campaign, target.id,
                                csv_file([["phone"], ["13800138000"]]), dnc=dnc, now=NOW,
                                actor="t")
    assert report.rejected == {RowProblem.MISSING_CONSENT: 1}


async def test_consent_column_option_and_usual_headers(store: Store, dnc: Dnc, target: Target,
                                                       csv_file: CsvWriter) -> None:
    rows = [["Mobile", "Full_Name", "Agreed"], ["13800138000", "A", "true"]]
    report = await import_leads(store, target.campaign, target.id, csv_file(rows), dnc=dnc,
                                now=NOW, actor="t", consent_column="agreed")
    assert report.inserted == 1
    assert (await _leads(store, target.id))["+8613800138000"][1] == {"name": "A"}


@pytest.mark.parametrize(("rows", "mapping", "field", "reason"), [
    ([["name", "city"], ["a", "b"]], {}, "number", "no number column found"),
    ([["phone"], ["13800138000"]], {"name": "Name"}, "name", "no column 'Name'"),
])
async def test_file_level_errors_name_line_one(store: Store, dnc: Dnc, target: Target,
                                               csv_file: CsvWriter, rows: list[list[str]],
                                               mapping: dict[str, str], field: str,
                                               reason: str) -> None:
    path = csv_file(rows)
    with pytest.raises(ConfigError, match=reason) as info:
        await import_leads(store, target.campaign, target.id, path, dnc=dnc, now=NOW,
                           actor="t", mapping=mapping)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 1, field)


async def test_an_empty_file_imports_nothing(store: Store, dnc: Dnc, target: Target,
                                             tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    report = await import_leads(store, target.campaign, target.id, path, dnc=dnc, now=NOW,
                                actor="t")
    assert (report.rows, report.inserted) == (0, 0)


def test_utf16_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "phone\n".encode("utf-16-le"))
    with pytest.raises(ConfigError, match="UTF-16") as info:
        detect_encoding(path)
    assert info.value.line == 1


@pytest.mark.parametrize(("text", "error"), [
    ("number", "expected FIELD=COLUMN"), ("number=", "expected FIELD=COLUMN"),
    ("colour=C", "unknown field 'colour'")])
def test_bad_maps(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_map(text)


def test_maps() -> None:
    assert parse_map("number=Phone, name = Name,,") == {"number": "Phone", "name": "Name"}
    assert parse_map(None) == {}
