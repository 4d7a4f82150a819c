"""`dialer campaign|tenant|agents|drain|nodes`: the commands change the store, audited."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from campaign_support import MINIMAL, WriteFile

from dialer.cli import main
from dialer.cli.campaign_cmd import until_time
from dialer.keys import Keyring, load_keyring
from dialer.store import CampaignStatus, Store, TenantStatus

T = TypeVar("T")
PIN = "482913"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("DIALER_CONFIG", "DIALER_DB_URL", "DIALER_KEY_FILE", "DIALER_NODE_ID"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    assert main(["keys", "init", str(path)]) == 0
    return path


@pytest.fixture
def run(db_url: str, key_file: Path) -> Callable[..., int]:
    def invoke(*argv: str) -> int:
        return main(["--db-url", db_url, "--key-file", str(key_file), "--node-id", "n1", *argv])
    return invoke


@pytest.fixture
def with_store(db_url: str, key_file: Path) -> Callable[[Callable[[Store], Awaitable[T]]], T]:
    keyring: Keyring = load_keyring(key_file)

    def call(body: Callable[[Store], Awaitable[T]]) -> T:
        async def go() -> T:
            async with await Store.open(db_url, keyring) as store:
                return await body(store)
        return asyncio.run(go())
    return call


def test_load_check_and_start(run: Callable[..., int], write: WriteFile, with_store: Any,
                              capsys: pytest.CaptureFixture[str]) -> None:
    path = write(MINIMAL + "tenant: acme\n")
    assert run("campaign", "load", str(path), "--check") == 0
    assert "is valid" in capsys.readouterr().out
    assert with_store(lambda s: s.campaigns.list_all()) == []
    assert run("campaign", "load", str(path)) == 0
    out = capsys.readouterr().out
    assert "created; status draft" in out and "calling hours: mon 09:00-12:00" in out
    assert run("campaign", "load", str(path), "--start", "--actor", "ops") == 0
    assert "updated; status running" in capsys.readouterr().out
    info = with_store(lambda s: s.campaigns.by_name(1, "spring"))
    assert info.status is CampaignStatus.RUNNING


def test_a_bad_file_is_a_configuration_error(run: Callable[..., int], write: WriteFile,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write(MINIMAL + "ring_timeout: 3s\n")
    assert run("campaign", "load", str(path)) == 2
    assert f"{path}:7: field 'ring_timeout'" in capsys.readouterr().err


def test_pause_resume_freeze_unfreeze_and_status(run: Callable[..., int], write: WriteFile,
                                                 with_store: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run("campaign", "load", str(write(MINIMAL))) == 0
    assert run("campaign", "resume", "spring") == 0
    assert run("campaign", "pause", "1", "--actor", "ops") == 0
    assert run("campaign", "freeze", "spring", "--until", "+2h", "--reason", "abuse") == 0
    assert "frozen until " in (out := capsys.readouterr().out) and "lifts in 1h59m" in out
    info = with_store(lambda s: s.campaigns.get(1))
    assert info.status is CampaignStatus.PAUSED and info.freeze_reason == "abuse"
    assert timedelta(hours=1, minutes=59) < info.frozen_until - datetime.now(UTC) \
        <= timedelta(hours=2)
    capsys.readouterr()
    assert run("campaign", "status", "spring", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "paused" and status["frozen"]["reason"] == "abuse"
    assert status["dialling"].startswith("no: campaign paused")
    assert run("campaign", "unfreeze", "spring") == 0
    assert run("campaign", "resume", "spring") == 0
    capsys.readouterr()
    assert run("campaign", "status") == 0
    out = capsys.readouterr().out
    assert "'spring' (id 1, profile cn) of tenant 'default': running" in out
    assert "dialling: yes" in out
    actions = [e.action for e in with_store(lambda s: s.audit_log.entries(
        subject_type="campaign"))]
    assert actions == ["campaign.create", "campaign.status", "campaign.status",
                       "campaign.freeze", "campaign.unfreeze", "campaign.status"]
    assert run("campaign", "list") == 0
    assert "spring" in capsys.readouterr().out


def test_unknown_campaign(run: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("campaign", "pause", "nothing") == 1
    assert "no campaign 'nothing'" in capsys.readouterr().err


def test_until_times() -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    assert until_time("+90m", now=now) == now + timedelta(minutes=90)
    assert until_time("2025-03-02T10:00") == datetime(2025, 3, 2, 10, tzinfo=UTC)
    assert until_time("2025-03-02T10:00+08:00") == datetime(2025, 3, 2, 2, tzinfo=UTC)
    for bad in ("tomorrow", "+soon"):
        with pytest.raises(Exception, match="ISO time|duration"):
            until_time(bad)


def test_tenant_freeze_limit_terminate(run: Callable[..., int], write: WriteFile,
                                       with_store: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run("campaign", "load", str(write(MINIMAL + "tenant: acme\n"))) == 0
    assert run("tenant", "freeze", "acme", "--until", "2999-01-01T00:00", "--reason", "r") == 0
    assert run("tenant", "limit", "acme", "--max-lines", "12") == 0
    capsys.readouterr()
    assert run("tenant", "list") == 0
    out = capsys.readouterr().out
    assert "frozen until 2999-01-01T00:00:00+00:00 (r)" in out and "at most 12 lines" in out
    assert run("tenant", "unfreeze", "1") == 0
    assert run("tenant", "limit", "acme", "--max-lines", "none") == 0
    with pytest.raises(SystemExit):
        run("tenant", "terminate", "acme")  # needs --yes
    assert run("tenant", "terminate", "acme", "--yes") == 0
    tenant = with_store(lambda s: s.tenants.get(1))
    assert tenant.status is TenantStatus.TERMINATED and tenant.max_lines is None
    assert tenant.frozen_until is None


def test_agents_add_list_set_pin_never_print_the_pin(
        run: Callable[..., int], with_store: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("agents", "add", "8001", "--pin", PIN, "--name", "Ann", "--tenant", "acme") == 0
    pin_file = tmp_path / "pin"
    pin_file.write_text("905511\n")
    assert run("agents", "add", "8002", "--pin-file", str(pin_file), "--tenant", "acme") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("777001\n"))
    assert run("agents", "set-pin", "8001", "--pin-file", "-", "--tenant", "acme") == 0
    assert run("agents", "list", "--tenant", "acme") == 0
    assert run("agents", "disable", "8002", "--tenant", "acme") == 0
    out = capsys.readouterr()
    assert "Ann" in out.out and "disabled" in out.out
    for secret in (PIN, "905511", "777001"):
        assert secret not in out.out + out.err

    async def logins(store: Store) -> list[bool]:
        tenant = await store.tenants.by_name("acme")
        return [await store.agents.authenticate(tenant.id, a, p) is not None
                for a, p in (("8001", PIN), ("8001", "777001"), ("8002", "905511"))]

    assert with_store(logins) == [False, True, False]  # new PIN; 8002 disabled
    audit = with_store(lambda s: s.audit_log.entries(subject_type="agent"))
    assert all(PIN not in json.dumps(e.detail) for e in audit)


@pytest.mark.parametrize("pin", ["12", "12ab", "1234567890123456789"])
def test_a_malformed_pin_is_refused(run: Callable[..., int], pin: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run("agents", "add", "8001", "--pin", pin) == 2
    err = capsys.readouterr().err
    assert "4-16 digits" in err and pin not in err


def test_drain_and_cancel(run: Callable[..., int], with_store: Any,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run("drain", "--cancel", "--node", "n7") == 1
    assert run("drain", "--node", "n7", "--actor", "ops") == 0
    assert "node n7: never reported; drain requested" in capsys.readouterr().out
    assert with_store(lambda s: s.nodes.drain_requested("n7"))
    assert run("drain") == 0  # this node (--node-id n1)
    assert run("nodes") == 0
    out = capsys.readouterr().out
    assert "node n1" in out and "node n7" in out
    assert run("drain", "--cancel", "--node", "n7") == 0
    assert not with_store(lambda s: s.nodes.drain_requested("n7"))
    actions = [e.action for e in with_store(lambda s: s.audit_log.entries(subject_type="node"))]
    assert actions == ["node.drain", "node.drain", "node.drain_cancel"]
