"""The engine on the real Asterisk 22 with SIPp customers and agents.

`dialer run` runs as a subprocess on a SQLite store the test fills in-process (campaign,
agents, leads, DNC entries); afterwards the store's attempts are held against the
INVITEs SIPp received, matched by the `X-Dialer-Attempt` header each one carries.
Customers act by the last digit of their number (tests/sipp/README.md). The built-in
`us` profile calls 08:00-21:00 in the callee's zone, so the numbers come from a demo
country whose window is open now (`dialer.demo.choose_country`), and the out-of-window
lead from one whose window is shut now. The opt-out test needs retries within seconds,
which no profile file may allow (they only tighten), so it runs the Engine in-process
on `AriTelephony` with a test-only profile.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import rig
import yaml
from dial_support import make_campaign, relaxed_profile
from sqlalchemy import select

from ari_bridge import AriClient
from dialer.campaign import load_campaign, save_campaign
from dialer.clock import WallClock
from dialer.compliance import BUILTIN_PROFILES
from dialer.demo import COUNTRIES, DemoCountry, choose_country, open_until
from dialer.engine import Engine
from dialer.keys import Keyring, new_keyring, write_keyring
from dialer.store import (
    AttemptRecord,
    AttemptState,
    CampaignStatus,
    LeadRecord,
    LeadStatus,
    NewLead,
    Store,
)
from dialer.telephony import AriTelephony
from dnc import Dnc, Source, dnc_entries, normalize, time_zones

pytestmark = pytest.mark.asterisk

REPO = Path(__file__).resolve().parents[3]
US = BUILTIN_PROFILES["us"]
PIN = "1234"
HUMAN, NO_ANSWER, BUSY, OPT_OUT, MACHINE, DEAD_AIR, DECLINE, FAILURE = "12345678"
RUN_TIMEOUT_S = 150.0


# -- numbers ----------------------------------------------------------------------------


def number_in(country: DemoCountry, digit: str, rng: random.Random, taken: set[str]) -> str:
    """A fresh valid mobile number of `country`, in its one zone, ending in `digit`."""
    for _ in range(1000):
        prefix = rng.choice(country.prefixes)
        middle = "".join(rng.choice("0123456789")
                         for _ in range(country.length - len(prefix) - 1))
        number = normalize(f"+{country.country_code}{prefix}{middle}{digit}").e164
        if number is not None and number not in taken and \
                time_zones(number) == (country.zone,):
            taken.add(number)
            return number
    raise AssertionError(f"no valid {country.region} number ending in {digit}")


def closed_country(now: datetime, stays_closed: timedelta = timedelta(minutes=15)) -> DemoCountry:
    """A demo country where the `us` hours are shut now and for `stays_closed` more."""
    for country in COUNTRIES:
        if open_until(US.calling_hours, country.zone, now) is None and \
                open_until(US.calling_hours, country.zone, now + stays_closed) is None:
            return country
    raise AssertionError(f"every demo country is inside 08:00-21:00 at {now:%H:%M} UTC")


# -- a node's home: store, key file, campaign file, `dialer run` --------------------------


@dataclass
class Home:
    """One node's files in tmp_path and how to run `dialer run` on them."""

    root: Path
    asterisk: rig.AsteriskInstance
    node_id: str = "it"
    keyring: Keyring = field(default_factory=new_keyring)
    runs: int = 0

    def __post_init__(self) -> None:
        write_keyring(self.keyring, self.key_file)

    @property
    def key_file(self) -> Path:
        """The node's key file."""
        return self.root / "keys.json"

    @property
    def db_path(self) -> Path:
        """The SQLite file."""
        return self.root / "dialer.db"

    @property
    def db_url(self) -> str:
        """The store's URL."""
        return f"sqlite+aiosqlite:///{self.db_path}"

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        """The store, opened by the test (another node id than the engine's)."""
        store = await Store.open(self.db_url, self.keyring, node_id="test", linger_s=0.001)
        try:
            yield store
        finally:
            await store.close()

    def env(self) -> dict[str, str]:
        """The environment of `dialer run`: the instance's ARI, this store and key file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        env.update({k: v for k, v in self.asterisk.env.items() if k.startswith("DIALER_ARI_")})
        env.update(DIALER_DB_URL=self.db_url, DIALER_KEY_FILE=str(self.key_file),
                   DIALER_NODE_ID=self.node_id,
                   DIALER_AGI_LISTEN=self.asterisk.env["DIALER_AST_AGI"])
        return env

    async def start_run(self, campaign_file: Path, *args: str) -> asyncio.subprocess.Process:
        """`dialer run --campaign FILE ARGS` in the background; output in run-N.log."""
        self.runs += 1
        log = (self.root / f"run-{self.runs}.log").open("wb")
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "dialer", "run", "--campaign", str(campaign_file),
                "--tick", "0.25", *args, cwd=REPO, env=self.env(), stdout=log,
                stderr=asyncio.subprocess.STDOUT)
        finally:
            log.close()

    def run_log(self, n: int | None = None) -> str:
        """The output of run `n` (the last by default)."""
        return (self.root / f"run-{n or self.runs}.log").read_text(errors="replace")

    async def finish(self, proc: asyncio.subprocess.Process, timeout: float = RUN_TIMEOUT_S
                     ) -> None:
        """Wait for `dialer run` to exit by itself; it must exit 0."""
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"dialer run still running after {timeout} s:\n"
                                 f"{self.run_log()[-3000:]}") from None
        assert proc.returncode == 0, self.run_log()[-3000:]

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """A read-only query on the store while the engine runs in another process."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(query).fetchall()


def campaign_yaml(path: Path, asterisk: rig.AsteriskInstance, agents: Sequence[str],
                  **overrides: Any) -> Path:
    """Write a campaign file under the `us` profile dialling the instance's trunk."""
    config: dict[str, Any] = {
        "id": path.stem, "tenant": "it", "profile": "us",
        "pacing": {"mode": "power", "power_lines_per_agent": 3},
        "caller_id": "+12025550100",
        "trunk": {"endpoint": f"PJSIP/{{number}}@{asterisk.trunk}", "number_format": "e164"},
        "ring_timeout": "15s",
        "amd": {"enabled": True, "machine_action": "hangup", "notsure": "human"},
        "safe_harbour": {"message": "please-try-call-later"},
        "opt_out_key": "9", "opt_out_confirmation": "removed",
        "wrap_up_seconds": 1,
        "lines": {"max_lines": 15, "lines_per_agent": 3},
        "agents": list(agents),
        **overrides,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def prepare(home: Home, campaign_file: Path, numbers: Iterable[str], *,
                  agents: Sequence[str], listed: Iterable[str] = (),
                  first: Iterable[str] = ()) -> int:
    """Store the campaign (running), its agents and a lead per number (those in `first`
    with a higher priority), and put `listed` on the global DNC; the campaign's id."""
    now = datetime.now(UTC)
    campaign = load_campaign(campaign_file)
    async with home.store() as store:
        info, tenant, _ = await save_campaign(store, campaign, now=now, actor="test")
        await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=now, actor="test")
        for agent_id in agents:
            await store.agents.create(tenant.id, agent_id, f"Agent {agent_id}", PIN, now=now)
        early = set(first)
        leads = [NewLead(n, "test", region=normalize(n).region, time_zones=time_zones(n),
                         priority=9 if n in early else 0) for n in numbers]
        result = await store.leads.add(info.id, leads, now=now)
        assert result.inserted == len(leads)
        dnc = await Dnc.open(store.db.engine, store.hasher)
        for number in listed:
            await dnc.refuse(number, Source.MANUAL, reason="test", actor="test")
    return info.id


@dataclass
class RunResult:
    """What a run left: attempts and leads (by number) from the store."""

    attempts: list[AttemptRecord]
    leads: dict[str, LeadRecord]
    refusals: dict[str, str]          # a DNC entry's evidence (an attempt id) -> its source

    def of(self, number: str) -> list[AttemptRecord]:
        """The attempts to one number, oldest first."""
        return [a for a in self.attempts if a.number == number]


async def read_outcome(home: Home, campaign_id: int, numbers: Iterable[str]) -> RunResult:
    """The campaign's attempts (numbers decrypted), its leads by number and the DNC
    entries whose evidence is an attempt id."""
    async with home.store() as store:
        attempts = await store.attempts.of_campaign(campaign_id, with_number=True)
        leads = {}
        for number in numbers:
            (lead_id,) = await store.leads.ids_for_number(store.hasher.digest(number))
            leads[number] = await store.leads.get(lead_id)
        async with store.db.engine.connect() as conn:
            rows = (await conn.execute(select(dnc_entries.c.source, dnc_entries.c.evidence)
                                       .where(dnc_entries.c.removed_at.is_(None)))).all()
    return RunResult(attempts, leads, {r.evidence: r.source for r in rows if r.evidence})


# -- what SIPp saw ----------------------------------------------------------------------


def log_offset(sipp: rig.SippProcess) -> int:
    """Where SIPp's message log ends now: INVITEs after it belong to this test."""
    return sipp.message_log.stat().st_size if sipp.message_log.exists() else 0


def received_since(sipp: rig.SippProcess, offset: int, method: str) -> list[rig.SipMessage]:
    """The requests of `method` SIPp received after `offset` (retransmissions included)."""
    with sipp.message_log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    return [m for m in rig.parse_message_log(text) if m.received and m.method == method]


def invites_since(sipp: rig.SippProcess, offset: int) -> list[rig.SipMessage]:
    """The INVITEs SIPp received after `offset`."""
    return received_since(sipp, offset, "INVITE")


def calls_by_attempt(invites: Iterable[rig.SipMessage]) -> dict[str, set[str]]:
    """Attempt id -> the Call-IDs of its INVITEs (a retransmission repeats its Call-ID;
    a second originate would bring a new one)."""
    calls: dict[str, set[str]] = defaultdict(set)
    for invite in invites:
        calls[invite.headers.get("x-dialer-attempt", "")].add(invite.headers["call-id"])
    return calls


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def settled_invites(sipp: rig.SippProcess, offset: int,
                          attempts: Sequence[AttemptRecord]) -> list[rig.SipMessage]:
    """SIPp's INVITEs of this test, once every originated attempt's INVITE is in its log
    (or after 10 s, for the assertions to say what is missing)."""
    originated = {str(a.id) for a in attempts if a.originated_at is not None}
    found: list[rig.SipMessage] = []

    def logged() -> bool:
        found[:] = invites_since(sipp, offset)
        return originated <= set(calls_by_attempt(found))

    with_timeout = time.monotonic() + 10
    while not logged() and time.monotonic() < with_timeout:
        await asyncio.sleep(0.2)
    return found


def assert_one_invite_per_originate(invites: Sequence[rig.SipMessage],
                                    attempts: Sequence[AttemptRecord]) -> None:
    """Every INVITE belongs to an attempt row, no attempt reached SIPp twice, and every
    attempt with an originate reached it once."""
    calls = calls_by_attempt(invites)
    ids = {str(a.id) for a in attempts}
    assert set(calls) <= ids, f"INVITEs without an attempt row: {sorted(set(calls) - ids)}"
    twice = {k: v for k, v in calls.items() if len(v) > 1}
    assert not twice, f"attempts originated more than once: {twice}"
    originated = {str(a.id) for a in attempts if a.originated_at is not None}
    assert originated <= set(calls), f"originated, never reached SIPp: {originated - set(calls)}"


@pytest.fixture
def phones(sipp_agents: Callable[..., rig.SippProcess]) -> Iterator[Callable[[Sequence[str]], None]]:
    """Start agent phones that log in (again, until the application is there) with PIN;
    killed at the end: their calls would hold a graceful stop for its whole timeout."""
    started: list[rig.SippProcess] = []

    def start(ids: Sequence[str]) -> None:
        started.extend(sipp_agents(agent_id, PIN, relogin=True, max_loops=12) for agent_id in ids)

    yield start
    for proc in started:
        proc.stop(timeout=0.5)


# -- 1, 2, 4: a 200-lead campaign through `dialer run` -----------------------------------


async def test_200_leads_through_dialer_run_each_dialled_once_never_a_listed_or_shut_one(
        asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess,
        phones: Callable[[Sequence[str]], None], tmp_path: Path) -> None:
    now = datetime.now(UTC)
    rng = random.Random(11)
    taken: set[str] = set()
    country = choose_country(now, US.calling_hours, spare=timedelta(minutes=15)).country
    shut = closed_country(now)
    mix = {HUMAN: 4, OPT_OUT: 4, MACHINE: 4, DEAD_AIR: 2, NO_ANSWER: 3,
           FAILURE: 70, BUSY: 55, DECLINE: 47}                  # 189 dialled
    dialled = [number_in(country, d, rng, taken) for d, n in mix.items() for _ in range(n)]
    listed = [number_in(country, rng.choice((HUMAN, BUSY)), rng, taken) for _ in range(10)]
    out_of_window = number_in(shut, HUMAN, rng, taken)
    numbers = [*dialled, *listed, out_of_window]
    rng.shuffle(numbers)
    assert len(numbers) == 200
    assert not US.calling_window_open_everywhere(now, time_zones(out_of_window))

    agents = ["8001", "8002", "8003", "8004", "8005"]   # endpoints: asterisk-conf/agents.list
    home = Home(tmp_path, asterisk)
    campaign_file = campaign_yaml(tmp_path / "it-run.yaml", asterisk, agents)
    campaign_id = await prepare(home, campaign_file, numbers, agents=agents, listed=listed)
    offset = log_offset(sipp_customers)

    started = time.monotonic()
    proc = await home.start_run(campaign_file, "--until-done", "--report")
    phones(agents)
    await home.finish(proc)
    run_s = time.monotonic() - started

    result = await read_outcome(home, campaign_id, numbers)
    invites = await settled_invites(sipp_customers, offset, result.attempts)
    assert_one_invite_per_originate(invites, result.attempts)
    assert [a for a in result.attempts if a.state is not AttemptState.CLOSED] == []
    # each diallable lead exactly once (the profile's 4 h gap forbids a retry today)
    assert Counter(a.number for a in result.attempts) == Counter(dialled)
    assert all(a.originated_at is not None for a in result.attempts)
    leads_left = Counter(lead.status for lead in result.leads.values())
    assert leads_left[LeadStatus.IN_CALL] == leads_left[LeadStatus.CLAIMED] == 0
    assert leads_left[LeadStatus.NEW] == 0

    # 2. no listed number reached SIPp; the gate closed their leads as DNC
    users = {m.request_user for m in invites}
    assert not users & set(listed)
    assert {result.leads[n].status for n in listed} == {LeadStatus.DNC}
    # 4. the lead whose window is shut now: not dialled, due when its window opens
    assert out_of_window not in users
    later = result.leads[out_of_window]
    assert (later.status, later.attempt_count) == (LeadStatus.READY, 0)
    assert later.next_attempt_at is not None and later.next_attempt_at > now
    assert US.calling_window_open(later.next_attempt_at.astimezone(ZoneInfo(shut.zone)))
    # opt-outs: refused with the attempt as evidence, their leads DNC
    for number in (n for n in dialled if n.endswith(OPT_OUT)):
        (attempt,) = result.of(number)
        assert result.refusals.get(str(attempt.id)) == Source.OPT_OUT_KEY.value
        assert result.leads[number].status is LeadStatus.DNC
    outcomes = Counter(str(a.outcome) for a in result.attempts)
    print(f"\n200 leads ({country.region} open, {shut.region} shut) in {run_s:.1f} s: "
          f"{dict(outcomes)}")


# -- 3: opt-outs are never dialled again, though the retry rules would ------------------


async def test_opted_out_numbers_are_listed_and_never_redialled_though_retries_would(
        asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess,
        phones: Callable[[Sequence[str]], None], sqlite_url: str) -> None:
    rng = random.Random(3)
    taken: set[str] = set()
    cn = next(c for c in COUNTRIES if c.region == "CN")
    opt_outs = [number_in(cn, OPT_OUT, rng, taken) for _ in range(3)]
    declines = [number_in(cn, DECLINE, rng, taken) for _ in range(2)]   # cn: a refusal
    busy = [number_in(cn, BUSY, rng, taken) for _ in range(3)]
    agents = ["8006", "8007", "8008"]
    soon = dict.fromkeys(("busy", "no_answer", "machine", "failed", "abandoned",
                          "cancelled", "connected", "declined"), "2s")
    campaign = make_campaign(
        relaxed_profile(all_day=True, min_gap_hours=0, gap_after_abandon_hours=0,
                        per_number_daily=10, per_lead_lifetime=3),
        tenant="it3", pacing={"mode": "progressive"}, retries=soon, agents=agents,
        trunk={"endpoint": f"PJSIP/{{number}}@{asterisk.trunk}", "number_format": "e164"},
        opt_out_key="9", opt_out_confirmation="removed", wrap_up_seconds=1)
    offset = log_offset(sipp_customers)
    now = datetime.now(UTC)
    store = await Store.open(sqlite_url, new_keyring(), node_id="it3", linger_s=0.001)
    try:
        dnc = await Dnc.open(store.db.engine, store.hasher)
        async with AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password,
                             "dialer") as ari:
            await ari.wait_connected(10.0)
            telephony = AriTelephony(ari)
            engine = Engine(store, dnc, telephony, clock=WallClock(), tick=0.25)
            try:
                info, tenant, _ = await save_campaign(store, campaign, now=now, actor="test")
                for agent_id in agents:
                    await store.agents.create(tenant.id, agent_id, agent_id, PIN, now=now)
                await store.leads.add(info.id, [
                    NewLead(n, "test", region="CN", time_zones=time_zones(n), consent=True)
                    for n in [*opt_outs, *declines, *busy]], now=now)
                runner = await engine.add_campaign(campaign, start=True)
                phones(agents)
                await engine.run(until=lambda: not engine.calls and runner.leads_left == 0,
                                 duration=90)
                await engine.wind_down(30)
            finally:
                await engine.close()
                await telephony.close()
        attempts = await store.attempts.of_campaign(info.id, with_number=True)
        async with store.db.engine.connect() as conn:
            entries = {r.evidence: r.source for r in (await conn.execute(
                select(dnc_entries.c.source, dnc_entries.c.evidence))).all()}
        statuses = {n: (await store.leads.get((await store.leads.ids_for_number(
            store.hasher.digest(n)))[0])).status for n in [*opt_outs, *declines, *busy]}
    finally:
        await store.close()

    assert runner.leads_left == 0, "the campaign did not finish in time"
    invites = await settled_invites(sipp_customers, offset, attempts)
    assert_one_invite_per_originate(invites, attempts)
    per_call = Counter(user for user, _ in {(m.request_user, m.headers["call-id"])
                                            for m in invites})
    assert all(per_call[n] == 3 for n in busy), per_call   # retried up to the lifetime cap
    for number, source in [*((n, Source.OPT_OUT_KEY) for n in opt_outs),
                           *((n, Source.SIP_DECLINE) for n in declines)]:
        assert per_call[number] == 1, f"a refused number was dialled {per_call[number]} times"
        (attempt,) = [a for a in attempts if a.number == number]
        assert entries.get(str(attempt.id)) == source.value
        assert statuses[number] is LeadStatus.DNC
    assert {statuses[n] for n in busy} == {LeadStatus.DONE}


# -- 5: kill -9 mid-campaign, then restart on the same store -----------------------------


async def test_a_node_killed_mid_campaign_restarts_without_redialling_or_leaving_leads_stuck(
        asterisk: rig.AsteriskInstance, sipp_customers: rig.SippProcess,
        phones: Callable[[Sequence[str]], None], tmp_path: Path) -> None:
    now = datetime.now(UTC)
    rng = random.Random(5)
    taken: set[str] = set()
    country = choose_country(now, US.calling_hours, spare=timedelta(minutes=15)).country
    mix = {HUMAN: 3, MACHINE: 2, BUSY: 8, FAILURE: 9, DECLINE: 8}
    numbers = [number_in(country, d, rng, taken) for d, n in mix.items() for _ in range(n)]
    rng.shuffle(numbers)
    agents = ["8012", "8013", "8014"]
    home = Home(tmp_path, asterisk)
    campaign_file = campaign_yaml(tmp_path / "it-kill.yaml", asterisk, agents)
    campaign_id = await prepare(home, campaign_file, numbers, agents=agents,
                                first=[n for n in numbers if n.endswith(HUMAN)])
    offset = log_offset(sipp_customers)

    first = await home.start_run(campaign_file, "--until-done")
    phones(agents)
    open_sql = "SELECT lead_id FROM attempts WHERE state = 'open'"
    talking_sql = "SELECT count(*) FROM attempts WHERE state = 'open' AND " \
                  "agent_connected_at IS NOT NULL"
    await until(lambda: first.returncode is None and len(home.sql(open_sql)) >= 3 and
                home.sql(talking_sql)[0][0] >= 1, 60, "calls in flight, one with an agent")
    first.send_signal(signal.SIGKILL)
    await first.wait()
    in_flight = {lead_id for (lead_id,) in home.sql(open_sql)}
    assert len(in_flight) >= 3

    second = await home.start_run(campaign_file, "--until-done")
    await home.finish(second)

    result = await read_outcome(home, campaign_id, numbers)
    invites = await settled_invites(sipp_customers, offset, result.attempts)
    assert_one_invite_per_originate(invites, result.attempts)
    assert [a for a in result.attempts if a.state is not AttemptState.CLOSED] == []
    by_lead: dict[int | None, list[AttemptRecord]] = defaultdict(list)
    for attempt in result.attempts:
        by_lead[attempt.lead_id].append(attempt)
    for attempts in by_lead.values():
        attempts.sort(key=lambda a: a.created_at)
        for earlier, later in itertools.pairwise(attempts):
            assert earlier.ended_at is not None and earlier.ended_at <= later.created_at
    statuses = {lead.id: lead.status for lead in result.leads.values()}
    assert {statuses[i] for i in in_flight} <= {LeadStatus.READY, LeadStatus.DONE,
                                                 LeadStatus.DNC}
    # the calls with an agent at the kill were hung up by the restarted node (a customer
    # hangs up by itself only 25 s after answering)
    calls = calls_by_attempt(invites)
    talking = [str(a.id) for a in result.attempts if a.agent_connected_at is not None and
               a.lead_id in in_flight]
    hung_up = {m.headers["call-id"] for m in received_since(sipp_customers, offset, "BYE")}
    assert talking and all(calls[a] <= hung_up for a in talking)
    left = Counter(statuses.values())
    assert left[LeadStatus.CLAIMED] == left[LeadStatus.IN_CALL] == left[LeadStatus.NEW] == 0
    # every lead was dialled, those in flight at the kill once only (the 4 h gap)
    assert {a.number for a in result.attempts} == set(numbers)
    assert all(len(by_lead[i]) == 1 for i in in_flight)
