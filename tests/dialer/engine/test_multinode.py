"""Two engine nodes on one PostgreSQL, each with its own Asterisk, dialling one campaign.

Nodes `n1` and `n2` are two `dialer run` processes sharing the store (a fresh PostgreSQL
database) and the key file; each has its own Asterisk test instance with SIPp customers
behind its trunk and SIPp agents logged in to it, and both publish on a private Mosquitto
the test restarts. Afterwards the store's attempts are held against the INVITEs both SIPp
customer sets received.

Retries within seconds (so that a refused number *would* be redialled) need a profile no
profile file may allow (files only tighten), so `dialer run` is started through a
one-line launcher that adds the test-only `cn-test` profile (open all day, no minimum gap)
to the profiles `dialer run` loads, then calls the real `dialer` entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import rig
import yaml
from dial_support import relaxed_profile
from events.mqtt_broker import PrivateBroker
from sqlalchemy import select, text

from dialer.campaign import load_campaign, save_campaign
from dialer.compliance import BUILTIN_PROFILES, ComplianceProfile
from dialer.keys import Keyring, load_keyring, new_keyring, write_keyring
from dialer.store import AttemptRecord, AttemptState, CampaignStatus, LeadStatus, NewLead, Store
from dnc import Source, dnc_entries, normalize, time_zones

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
TESTS_DIALER = Path(__file__).resolve().parents[1]
PIN = "1234"
HUMAN, NO_ANSWER, BUSY, OPT_OUT, MACHINE, DEAD_AIR, DECLINE, FAILURE = "12345678"
CAPS = {"min_gap_hours": 0, "gap_after_abandon_hours": 0, "per_number_daily": 10,
        "per_lead_lifetime": 3}
LAUNCH = ("import sys; from dial_support import relaxed_profile; "
          "import dialer.cli.store_args as args; loaded = args.load_profiles; "
          "args.load_profiles = lambda paths=(): {**loaded(paths), 'cn-test': "
          f"relaxed_profile(all_day=True, **{CAPS!r})}}; "
          "from dialer.cli import main; sys.exit(main())")
SOON = dict.fromkeys(("busy", "no_answer", "machine", "failed", "abandoned", "cancelled",
                      "connected", "declined"), "2s")


def cn_test_profile() -> ComplianceProfile:
    """The profile the launcher adds (the same call, for the test's own campaign load)."""
    profile: ComplianceProfile = relaxed_profile(all_day=True, **CAPS)
    return profile


def cn_numbers(digits: Iterable[str], rng: random.Random) -> list[str]:
    """A fresh valid Chinese mobile number ending in each of `digits`."""
    taken: set[str] = set()
    out = []
    for digit in digits:
        while True:
            number = normalize(f"+86138{rng.randrange(10**7):07d}{digit}").e164
            if number is not None and number not in taken:
                taken.add(number)
                out.append(number)
                break
    return out


# -- the rig: two Asterisk instances with their customers, nodes, a broker ---------------


@dataclass
class Site:
    """One Asterisk instance and the SIPp customers behind its trunk."""

    asterisk: rig.AsteriskInstance
    customers: rig.SippProcess


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Site]]:
    """Two Asterisk test instances side by side, each with its own SIPp customers."""
    started: list[Site] = []
    try:
        for name in ("mn1", "mn2"):
            instance = rig.start_test_instance(name)
            try:
                customers = rig.start_customers(instance.trunk_port,
                                                tmp_path_factory.mktemp(f"{name}-customers"))
            except BaseException:
                instance.stop(remove=True)
                raise
            started.append(Site(instance, customers))
        yield started[0], started[1]
    finally:
        for site in started:
            site.customers.stop()
            site.asterisk.stop(remove=True)


@dataclass
class Node:
    """One `dialer run` node: its id, its site and its runs' logs."""

    node_id: str
    site: Site
    root: Path
    db_url: str
    key_file: Path
    mqtt_url: str
    runs: int = 0
    proc: asyncio.subprocess.Process | None = None
    agents: list[rig.SippProcess] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """`dialer run`'s environment: this node's ARI and AGI, the shared store and broker."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        ast = self.site.asterisk.env
        env.update({k: v for k, v in ast.items() if k.startswith("DIALER_ARI_")})
        env.update(DIALER_DB_URL=self.db_url, DIALER_KEY_FILE=str(self.key_file),
                   DIALER_NODE_ID=self.node_id, DIALER_AGI_LISTEN=ast["DIALER_AST_AGI"],
                   DIALER_MQTT_URL=self.mqtt_url, DIALER_COMMAND_TOKEN="multinode-test",
                   PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS_DIALER)]))
        return env

    async def start(self, campaign_file: Path, *args: str) -> asyncio.subprocess.Process:
        """`dialer run --campaign FILE --tick 0.25 ARGS` in the background."""
        self.runs += 1
        with (self.root / f"{self.node_id}-run-{self.runs}.log").open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", LAUNCH, "run", "--campaign", str(campaign_file),
                "--tick", "0.25", *args, cwd=REPO, env=self.env(), stdout=log,
                stderr=asyncio.subprocess.STDOUT)
        return self.proc

    def log(self) -> str:
        """The output of the last run."""
        return (self.root / f"{self.node_id}-run-{self.runs}.log").read_text(errors="replace")

    async def finish(self, timeout: float) -> None:
        """Wait for the run to exit by itself; it must exit 0."""
        assert self.proc is not None
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"{self.node_id} still running after {timeout} s:\n"
                                 f"{self.log()[-3000:]}") from None
        assert self.proc.returncode == 0, self.log()[-3000:]

    def login(self, agent_ids: Sequence[str]) -> None:
        """Agent phones logging in to this node's Asterisk (again until the app is up)."""
        self.agents.extend(
            rig.start_agent(a, PIN, self.site.asterisk.sip_port, self.root / f"agent-{a}",
                            relogin=True, max_loops=12) for a in agent_ids)

    async def stop(self) -> None:
        """Kill what is left of this node: its run and its agent phones."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for phone in self.agents:
            phone.stop(timeout=0.5)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    """A private Mosquitto the test may kill and restart on the same port."""
    folder = tmp_path / "broker"
    folder.mkdir()
    started = PrivateBroker(folder)
    await started.start()
    try:
        yield started
    finally:
        await started.kill()


@pytest.fixture
async def nodes(sites: tuple[Site, Site], pg_url: str, broker: PrivateBroker,
                tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    """Nodes n1 and n2 on the fresh database, one key file, the private broker."""
    key_file = tmp_path / "keys.json"
    write_keyring(new_keyring(), key_file)
    pair = tuple(Node(f"n{i}", site, tmp_path, pg_url, key_file, broker.url)
                 for i, site in enumerate(sites, 1))
    try:
        yield pair  # type: ignore[misc]
    finally:
        for node in pair:
            await node.stop()


def keyring_of(node: Node) -> Keyring:
    """The keyring both nodes share."""
    return load_keyring(node.key_file)


@contextlib.asynccontextmanager
async def shared_store(node: Node) -> AsyncIterator[Store]:
    """The shared store, opened by the test as node `test`."""
    store = await Store.open(node.db_url, keyring_of(node), node_id="test", linger_s=0.001)
    try:
        yield store
    finally:
        await store.close()


def campaign_file(path: Path, trunk: str, agents: Sequence[str], **overrides: Any) -> Path:
    """The shared campaign under the `cn-test` profile, in power mode."""
    config: dict[str, Any] = {
        "id": path.stem, "tenant": "mn", "profile": "cn-test",
        "pacing": {"mode": "power", "power_lines_per_agent": 3},
        "caller_id": "+861012345678",
        "trunk": {"endpoint": f"PJSIP/{{number}}@{trunk}", "number_format": "e164"},
        "ring_timeout": "15s",
        "amd": {"enabled": True, "machine_action": "hangup", "notsure": "human"},
        "safe_harbour": {"message": "please-try-call-later"},
        "opt_out_key": "9", "opt_out_confirmation": "removed",
        "wrap_up_seconds": 1,
        "lines": {"max_lines": 12, "lines_per_agent": 3},
        "agents": list(agents),
        **overrides,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def prepare(node: Node, path: Path, numbers: Iterable[str], agents: Sequence[str],
                  first: Iterable[str] = ()) -> int:
    """Store the campaign (running), its agents and one lead per number; its id."""
    now = datetime.now(UTC)
    campaign = load_campaign(path, {**BUILTIN_PROFILES, "cn-test": cn_test_profile()})
    early = set(first)
    async with shared_store(node) as store:
        info, tenant, _ = await save_campaign(store, campaign, now=now, actor="test")
        await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=now, actor="test")
        for agent_id in agents:
            await store.agents.create(tenant.id, agent_id, f"Agent {agent_id}", PIN, now=now)
        leads = [NewLead(n, "test", region="CN", time_zones=time_zones(n), consent=True,
                         priority=9 if n in early else 0) for n in numbers]
        assert (await store.leads.add(info.id, leads, now=now)).inserted == len(leads)
    return info.id


async def sql(node: Node, query: str) -> list[Any]:
    """A read-only query on the shared store while the nodes run."""
    async with shared_store(node) as store, store.db.engine.connect() as conn:
        return list((await conn.execute(text(query))).all())


async def until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll the async `condition` until it holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


@dataclass
class Outcome:
    """What the campaign left in the store: attempts (numbers decrypted), lead statuses
    by number, and the DNC entries' sources by evidence (an attempt id)."""

    attempts: list[AttemptRecord]
    statuses: dict[str, LeadStatus]
    refusals: dict[str, str]

    def by_number(self) -> dict[str, list[AttemptRecord]]:
        """Attempts per number, oldest first."""
        out: dict[str, list[AttemptRecord]] = defaultdict(list)
        for attempt in sorted(self.attempts, key=lambda a: a.created_at):
            assert attempt.number is not None
            out[attempt.number].append(attempt)
        return out


async def outcome(node: Node, campaign_id: int, numbers: Iterable[str]) -> Outcome:
    """Read the campaign's outcome from the shared store."""
    async with shared_store(node) as store:
        attempts = await store.attempts.of_campaign(campaign_id, with_number=True)
        statuses = {}
        for number in numbers:
            (lead_id,) = await store.leads.ids_for_number(store.hasher.digest(number))
            statuses[number] = (await store.leads.get(lead_id)).status
        async with store.db.engine.connect() as conn:
            rows = (await conn.execute(select(dnc_entries.c.source, dnc_entries.c.evidence)
                                       .where(dnc_entries.c.removed_at.is_(None)))).all()
    return Outcome(attempts, statuses, {r.evidence: r.source for r in rows if r.evidence})


def assert_never_overlapping(result: Outcome) -> None:
    """No number had two attempts at once: each ended before the next was written."""
    for number_attempts in result.by_number().values():
        for earlier, later in itertools.pairwise(number_attempts):
            assert earlier.ended_at is not None and earlier.ended_at <= later.created_at, \
                f"overlapping attempts {earlier.id} ({earlier.node_id}) and " \
                f"{later.id} ({later.node_id})"


def invites(sites: Iterable[Site], offsets: dict[int, int]) -> list[rig.SipMessage]:
    """The INVITEs both customer sets received since `offsets` (by id of the SIPp)."""
    found: list[rig.SipMessage] = []
    for site in sites:
        with site.customers.message_log.open("rb") as fh:
            fh.seek(offsets[id(site.customers)])
            text_ = fh.read().decode(errors="replace")
        found.extend(m for m in rig.parse_message_log(text_)
                     if m.received and m.method == "INVITE")
    return found


def log_offsets(sites: Iterable[Site]) -> dict[int, int]:
    """Where each customers' message log ends now."""
    return {id(s.customers): s.customers.message_log.stat().st_size
            if s.customers.message_log.exists() else 0 for s in sites}


async def settled_calls(sites: Sequence[Site], offsets: dict[int, int],
                        attempts: Sequence[AttemptRecord]) -> dict[str, set[str]]:
    """Attempt id -> Call-IDs of its INVITEs (both sites), once every originated attempt
    is in a log (or after 10 s, for the assertions to say what is missing)."""
    originated = {str(a.id) for a in attempts if a.originated_at is not None}
    deadline = time.monotonic() + 10
    while True:
        calls: dict[str, set[str]] = defaultdict(set)
        for invite in invites(sites, offsets):
            calls[invite.headers.get("x-dialer-attempt", "")].add(invite.headers["call-id"])
        if originated <= set(calls) or time.monotonic() > deadline:
            return calls
        await asyncio.sleep(0.2)


def assert_each_originate_reached_sipp_once(calls: dict[str, set[str]],
                                            attempts: Sequence[AttemptRecord]) -> None:
    """Every INVITE has an attempt row, none twice, and every originate reached SIPp."""
    ids = {str(a.id) for a in attempts}
    assert set(calls) <= ids, f"INVITEs without an attempt row: {sorted(set(calls) - ids)}"
    assert not {k: v for k, v in calls.items() if len(v) > 1}, "an attempt dialled twice"
    originated = {str(a.id) for a in attempts if a.originated_at is not None}
    assert originated <= set(calls), f"never reached SIPp: {originated - set(calls)}"


# -- call events through the broker, across its restart ----------------------------------


@dataclass
class CallEvents:
    """Call-state events received, with the monotonic time each arrived."""

    seen: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def since(self, moment: float, node: str | None = None) -> list[dict[str, Any]]:
        """The events that arrived after `moment` (of one node, if given)."""
        return [p for t, p in self.seen if t > moment and node in (None, p["node"])]


async def listen(url: str, events: CallEvents) -> None:
    """Subscribe to every node's call events; reconnect while the broker is away."""
    port = int(url.rsplit(":", 1)[1])
    while True:
        try:
            async with aiomqtt.Client("127.0.0.1", port) as client:
                await client.subscribe("dialer/+/call/+/state", qos=1)
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    events.seen.append((time.monotonic(), json.loads(message.payload)))
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def listening(url: str) -> AsyncIterator[CallEvents]:
    """Call events collected in the background for the block's duration."""
    events = CallEvents()
    task = asyncio.create_task(listen(url, events))
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- 1: both nodes dial one campaign; refusals hold across nodes; the broker restarts ----


async def test_two_nodes_share_a_campaign_no_overlap_refusals_hold_across_nodes_broker_restart(
        sites: tuple[Site, Site], nodes: tuple[Node, Node], broker: PrivateBroker,
        tmp_path: Path) -> None:
    n1, n2 = nodes
    assert n1.site.asterisk.trunk == n2.site.asterisk.trunk   # one campaign file for both
    rng = random.Random(8)
    busy = cn_numbers(BUSY * 10, rng)
    opt_outs = cn_numbers(OPT_OUT * 4, rng)
    humans = cn_numbers(HUMAN * 2, rng)
    numbers = [*busy, *opt_outs, *humans]
    agents1, agents2 = ["8015", "8016"], ["8017", "8018"]
    path = campaign_file(tmp_path / "mn-shared.yaml", n1.site.asterisk.trunk,
                         [*agents1, *agents2], retries=SOON)
    campaign_id = await prepare(n1, path, numbers, [*agents1, *agents2], first=opt_outs)
    offsets = log_offsets(sites)

    async with listening(broker.url) as events:
        for node, agents in ((n1, agents1), (n2, agents2)):
            await node.start(path, "--duration", "45")
            node.login(agents)

        async def both_published() -> bool:
            return {p["node"] for p in events.since(0)} == {"n1", "n2"}

        await until(both_published, 40, "call events from both nodes")
        before = len(events.seen)
        await broker.kill()
        await asyncio.sleep(2.0)
        await broker.start()
        restarted = time.monotonic()

        async def both_resumed() -> bool:
            return {p["node"] for p in events.since(restarted)} == {"n1", "n2"}

        await until(both_resumed, 30, "call events from both nodes after the restart")
        for node in nodes:
            await node.finish(120)
        after = len(events.since(restarted))

    result = await outcome(n1, campaign_id, numbers)
    calls = await settled_calls(sites, offsets, result.attempts)
    assert_each_originate_reached_sipp_once(calls, result.attempts)
    assert [a for a in result.attempts if a.state is not AttemptState.CLOSED] == []
    assert {a.node_id for a in result.attempts} == {"n1", "n2"}
    assert_never_overlapping(result)
    per_number = {n: len(a) for n, a in result.by_number().items()}
    # retries redial (a busy number is tried again, up to the lifetime cap of 3), and no
    # call is lost across the broker restart: every attempt closed with an outcome
    assert all(1 <= per_number.get(n, 0) <= 3 for n in busy), per_number
    assert max(per_number[n] for n in busy) == 3, per_number
    assert all(a.outcome is not None for a in result.attempts)
    # an opted-out number is refused by the node that called it and never dialled again
    # by either node, though its retry (2 s after a connected call) would redial it
    refused_by: Counter[str] = Counter()
    for number in opt_outs:
        (attempt,) = result.by_number()[number]
        assert result.refusals.get(str(attempt.id)) == Source.OPT_OUT_KEY.value
        assert result.statuses[number] is LeadStatus.DNC
        refused_by[attempt.node_id] += 1
    assert before > 0 and after > 0
    print(f"\nattempts by node {Counter(a.node_id for a in result.attempts)}; opt-outs "
          f"refused by {dict(refused_by)}; call events {before} before the broker restart, "
          f"{after} after")


# -- 2: a node is killed; the other hands back its leads and closes its calls -------------


async def test_a_killed_node_leaves_nothing_stuck_the_other_node_takes_over(
        sites: tuple[Site, Site], nodes: tuple[Node, Node], tmp_path: Path) -> None:
    n1, n2 = nodes
    rng = random.Random(9)
    ringing = cn_numbers(NO_ANSWER * 8, rng)        # calls that stay up 15 s: in flight
    busy = cn_numbers(BUSY * 24, rng)
    numbers = [*ringing, *busy]
    agents1, agents2 = ["8015", "8016"], ["8017", "8018"]
    path = campaign_file(tmp_path / "mn-kill.yaml", n1.site.asterisk.trunk,
                         [*agents1, *agents2], retries=SOON)
    campaign_id = await prepare(n1, path, numbers, [*agents1, *agents2], first=ringing)
    lease = "6"
    await n2.start(path, "--duration", "120", "--claim-lease", lease)
    n2.login(agents2)

    async def n2_has_calls_up() -> bool:
        rows = await sql(n1, "SELECT count(*) FROM attempts WHERE node_id = 'n2' "
                             "AND state = 'open' AND originated_at IS NOT NULL")
        return bool(rows[0][0] >= 2)

    await until(n2_has_calls_up, 60, "n2 with calls in flight")
    assert n2.proc is not None
    n2.proc.kill()                                   # SIGKILL: no wind-down, no reconcile
    await n2.proc.wait()
    killed_at = datetime.now(UTC)
    open_at_kill = {r[0] for r in await sql(
        n1, "SELECT id FROM attempts WHERE node_id = 'n2' AND state = 'open'")}
    await n1.start(path, "--duration", "40", "--claim-lease", lease)
    n1.login(agents1)
    await n1.finish(150)

    result = await outcome(n1, campaign_id, numbers)
    assert open_at_kill
    assert [a for a in result.attempts if a.state is not AttemptState.CLOSED] == []
    closed_by_n1 = [a for a in result.attempts if str(a.id) in {str(i) for i in open_at_kill}]
    assert closed_by_n1 and all(a.outcome is not None for a in closed_by_n1)
    # n2's leads (claimed or in a call when it died) were dialled again by n1
    taken_over = {a.number for a in closed_by_n1}
    redialled = {a.number for a in result.attempts
                 if a.node_id == "n1" and a.created_at > killed_at}
    assert taken_over <= redialled, taken_over - redialled
    stuck = {n: s for n, s in result.statuses.items()
             if s in (LeadStatus.CLAIMED, LeadStatus.IN_CALL)}
    assert stuck == {}
    assert_never_overlapping(result)
