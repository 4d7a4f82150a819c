"""`dialer dnc …`: exit codes, masked output, imports with a report, hash exports."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialer.cli import main
from dialer.keys import new_keyring
from dnc import NumberHasher


@pytest.fixture
def hasher(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[NumberHasher]:
    """The CLI's environment (store and keyring); yields the keyring's hasher."""
    ring = new_keyring()
    monkeypatch.setenv("DIALER_DB_URL", db_url)
    monkeypatch.setenv("DIALER_KEYRING", ring.to_json())
    monkeypatch.delenv("DIALER_KEY_FILE", raising=False)
    monkeypatch.delenv("DIALER_CONFIG", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield NumberHasher(ring.hash_key)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["dnc", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_check_remove(hasher: NumberHasher, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "138 1234 5678")
    assert (code, out) == (0, "allowed\n") and "1234" not in err
    code, out, _ = run(capsys, "add", "+86 138-1234-5678", "--source", "agent",
                       "--evidence", "call-1", "--reason", "asked")
    assert code == 0 and out == "+86138****5678 added to the global list (DNC version 1)\n"
    code, out, _ = run(capsys, "add", "13812345678")
    assert code == 0 and "already on the global list (DNC version 1)" in out
    for form in ["0086 138 1234 5678", "+8613812345678", "１３８１２３４５６７８"]:
        assert run(capsys, "check", form)[:2] == (1, "blocked\n")
    code, out, err = run(capsys, "remove", "13812345678", "--reason", "wrong number")
    assert code == 0 and "removed from the global list (DNC version 2)" in out
    assert run(capsys, "check", "13812345678")[:2] == (0, "allowed\n")
    code, _, err = run(capsys, "remove", "13812345678", "--reason", "again")
    assert code == 1 and "+86138****5678 is not on the global list" in err


def test_remove_requires_a_reason(hasher: NumberHasher,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["dnc", "remove", "13812345678"])
    assert info.value.code == 2 and "--reason" in capsys.readouterr().err


def test_scoped_entries_and_check_flags(hasher: NumberHasher,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "add", "13812345678", "--tenant", "acme")[0] == 0
    assert run(capsys, "add", "13912345678", "--campaign", "spring",
               "--expires", "2999-01-01")[0] == 0
    assert run(capsys, "check", "13812345678")[:2] == (0, "allowed\n")
    assert run(capsys, "check", "13812345678", "--tenant", "acme")[:2] == (1, "blocked\n")
    assert run(capsys, "check", "13912345678", "--tenant", "acme",
               "--campaign", "spring")[:2] == (1, "blocked\n")
    assert run(capsys, "add", "13712345678", "--campaign", "x", "--expires", "2000-01-01")[0] == 0
    assert run(capsys, "check", "13712345678", "--campaign", "x")[:2] == (0, "allowed\n")


def test_invalid_numbers(hasher: NumberHasher, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "12")
    assert (code, out) == (0, "allowed\n") and "not a valid number (too_short)" in err
    code, out, err = run(capsys, "add", "99999999")
    assert code == 1 and "not a valid phone number" in err and "99999999" not in err


def test_numbers_are_masked_unless_asked(hasher: NumberHasher,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "add", "13812345678")
    assert "13812345678" not in out
    code = main(["--show-numbers", "dnc", "add", "13812345678"])
    assert code == 0 and "+8613812345678 already on" in capsys.readouterr().out


def test_import_with_a_report_then_export_hashes(hasher: NumberHasher, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    good = [f"139{i:08d}" for i in range(30)]
    lines = good[:10] + ["abc", "12"] + good[10:] + ["", "+999 1"]
    path = tmp_path / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "import", str(path), "--batch-size", "7",
                         "--show-rejected", "2")
    assert code == 0
    assert "34 lines" in out and "30 added, 0 already listed, 4 rejected" in out
    assert "line 11: not_a_number" in err and "line 12: too_short" in err
    assert "line 33" not in err                          # only the first 2 are printed
    report = tmp_path / "list.txt.rejected.csv"
    assert report.read_text().splitlines() == [
        "line,reason", "11,not_a_number", "12,too_short", "33,empty", "34,invalid_country_code"]
    assert "all 4 in" in out and str(report) in out

    code, out, _ = run(capsys, "import", str(path))
    assert code == 0 and "0 added, 30 already listed" in out and "no change" in out

    target = tmp_path / "hashes.txt"
    code, _, err = run(capsys, "export-hashes", "--output", str(target))
    exported = target.read_text().splitlines()
    assert code == 0 and "30 hashes" in err
    assert sorted(exported) == sorted(hasher.digest(f"+86{n}").hex() for n in good)
    assert not any(n in target.read_text() for n in good)
    code, out, _ = run(capsys, "export-hashes", "--tenant", "acme")
    assert code == 0 and out == ""


def test_import_file_errors_exit_2(hasher: NumberHasher, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text("name,mobile\nLi,13812345678\n")
    code, _, err = run(capsys, "import", str(csv_file), "--column", "phone")
    assert code == 2 and f"{csv_file}:1: field 'phone': no such column" in err
    code, _, err = run(capsys, "import", str(tmp_path / "missing.txt"))
    assert code == 2 and "cannot open" in err
