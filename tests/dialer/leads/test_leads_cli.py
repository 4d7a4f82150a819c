"""`dialer leads import`: the summary, the first reported rows, the report file."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from leads_support import CsvWriter

from dialer.cli import main

CAMPAIGN = """\
id: spring
tenant: acme
caller_id: "+861012345678"
trunk: {endpoint: "PJSIP/{number}@customers"}
safe_harbour: {message: demo-thanks}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("DIALER_CONFIG", "DIALER_DB_URL", "DIALER_KEY_FILE", "DIALER_NODE_ID"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def run(db_url: str, tmp_path: Path) -> Callable[..., int]:
    keys = tmp_path / "keys.json"
    assert main(["keys", "init", str(keys)]) == 0
    campaign = tmp_path / "spring.yaml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")

    def invoke(*argv: str) -> int:
        return main(["--db-url", db_url, "--key-file", str(keys), *argv])

    assert invoke("campaign", "load", str(campaign)) == 0
    return invoke


def test_import_gbk_with_a_mapping(run: Callable[..., int], csv_file: CsvWriter,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file([["电话", "客户", "ok"], ["13800138000", "张三", "是"],
                     ["13800138001", "李四", "否"], ["13800138000", "张三", "是"]],
                    encoding="gbk")
    capsys.readouterr()
    assert run("leads", "import", str(path), "--campaign", "spring", "--tenant", "acme",
               "--map", "number=电话,name=客户", "--consent-column", "ok",
               "--show-rejected", "1") == 0
    out, err = capsys.readouterr()
    assert "(gbk) into campaign 'spring': 3 rows" in out
    assert "1 leads added, 0 kept as dnc (never dialled), 2 rejected" in out
    assert "duplicate_in_file 1, missing_consent 1" in out
    assert err.count("field '") == 1  # only the first reported row is printed
    assert f"{path}:3: field 'ok': missing_consent (rejected)" in err
    with (path.parent / (path.name + ".rejected.csv")).open(encoding="utf-8") as fh:
        assert [r["problem"] for r in csv.DictReader(fh)] == ["missing_consent",
                                                               "duplicate_in_file"]
    assert "13800138000" not in out + err


def test_bad_options(run: Callable[..., int], csv_file: CsvWriter,
                     capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file([["phone"], ["13800138000"]])
    with pytest.raises(SystemExit):
        run("leads", "import", str(path), "--campaign", "spring", "--map", "colour=x")
    with pytest.raises(SystemExit):
        run("leads", "import", str(path), "--campaign", "spring", "--region", "XX")
    assert run("leads", "import", str(path), "--campaign", "autumn") == 1
    assert "no campaign 'autumn'" in capsys.readouterr().err
    assert run("leads", "import", str(path.with_name("missing.csv")), "--campaign",
               "spring") == 2
