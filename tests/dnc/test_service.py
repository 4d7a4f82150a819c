"""The refusal pipeline and the check, on SQLite and PostgreSQL, one node and two."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import numpy as np
import pytest
from dnc_strategies import REGIONS, base_forms, valid_numbers, written_form
from dnc_support import FakeClock, NodeFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.db import create_engine
from dnc import (
    GLOBAL,
    CheckStatus,
    Dnc,
    DncRegistry,
    DncUnavailable,
    InvalidNumber,
    NumberHasher,
    Refusal,
    RejectReason,
    Scope,
    ScopeKey,
    Source,
    create_schema,
    dnc_state,
    prefixes_of,
)

NUMBER = "+8613812345678"
FORMS = ["+86 138-1234-5678", "0086 138 1234 5678", "138 1234 5678", "１３８１２３４５６７８"]


async def test_refusal_blocks_every_written_form(open_node: NodeFactory) -> None:
    node = await open_node()
    assert node.check(NUMBER).status is CheckStatus.ALLOWED
    outcome = await node.refuse("138-1234-5678", Source.OPT_OUT_KEY, evidence="call-9")
    assert outcome.changed and outcome.version == node.version == 1
    for form in FORMS:
        result = node.check(form)
        assert result.status is CheckStatus.BLOCKED and result.version == 1
        assert result.blocked_by == GLOBAL
    assert node.check("138 1234 5679").status is CheckStatus.ALLOWED


async def test_invalid_numbers(open_node: NodeFactory) -> None:
    node = await open_node()
    result = node.check("12")
    assert result.status is CheckStatus.INVALID and result.reason is RejectReason.TOO_SHORT
    assert result.channel_variables() == {"DNC_RESULT": "invalid", "DNC_VERSION": "0",
                                          "DNC_REASON": "too_short"}
    with pytest.raises(InvalidNumber) as info:
        await node.refuse("12345", Source.AGENT)
    assert info.value.reason is RejectReason.LOCAL_ONLY and "12345" not in str(info.value)


async def test_subscribers_hear_after_commit_and_index(open_node: NodeFactory,
                                                       engine: AsyncEngine,
                                                       hasher: NumberHasher) -> None:
    node = await open_node()
    heard: list[tuple[Refusal, bool, bool]] = []

    async def subscriber(refusal: Refusal) -> None:
        stored = await DncRegistry(engine).lookup(refusal.digest, [GLOBAL])
        heard.append((refusal, stored is not None, not node.check(NUMBER).allowed))

    unsubscribe = node.subscribe(subscriber)
    await node.refuse(NUMBER, "agent", evidence="call-1")
    await node.refuse(NUMBER, "agent")                    # idempotent: nobody is told twice
    assert heard == [(Refusal(hasher.digest(NUMBER), 1, Scope.GLOBAL, "", Source.AGENT),
                      True, True)]
    assert heard[0][0].hash_hex == hasher.digest(NUMBER).hex()
    unsubscribe()
    await node.refuse("+8613912345678", "agent")
    assert len(heard) == 1


async def test_a_failing_or_stuck_subscriber_never_undoes_a_refusal(
        open_node: NodeFactory, caplog: pytest.LogCaptureFixture) -> None:
    node = await open_node(subscriber_timeout=0.05)
    never = asyncio.Event()
    heard: list[int] = []

    async def broken(refusal: Refusal) -> None:
        raise RuntimeError("bus down")

    async def stuck(refusal: Refusal) -> None:
        await never.wait()

    async def fine(refusal: Refusal) -> None:
        heard.append(refusal.version)

    for s in (broken, stuck, fine):
        node.subscribe(s)
    with caplog.at_level(logging.ERROR, logger="dnc.service"):
        outcome = await node.refuse(NUMBER, Source.SIP_DECLINE)
    assert outcome.changed and heard == [1] and not node.check(NUMBER).allowed
    assert "failed on version 1" in caplog.text and "timed out on version 1" in caplog.text
    assert "13812345678" not in caplog.text


async def test_scopes_and_expiry(open_node: NodeFactory, clock: FakeClock) -> None:
    node = await open_node()
    await node.refuse(NUMBER, Source.COMPLAINT, scope="tenant", scope_ref="acme")
    await node.refuse("+8613912345678", Source.AGENT, scope=Scope.CAMPAIGN, scope_ref="spring",
                      expires_at=clock.now + timedelta(days=1))
    assert node.check(NUMBER).allowed
    assert not node.check(NUMBER, tenant="acme").allowed
    assert node.check(NUMBER, tenant="other").allowed
    blocked = node.check("+8613912345678", tenant="acme", campaign="spring")
    assert blocked.blocked_by == ScopeKey(Scope.CAMPAIGN, "spring")
    assert blocked.channel_variables()["DNC_SCOPE"] == "campaign"
    clock.advance(days=1, seconds=1)
    assert node.check("+8613912345678", campaign="spring").allowed
    with pytest.raises(ValueError, match="needs a scope reference"):
        await node.refuse(NUMBER, Source.AGENT, scope="tenant")


async def test_another_node_sees_a_refusal_after_one_sync(open_node: NodeFactory) -> None:
    a, b = await open_node(), await open_node()
    await a.refuse(NUMBER, Source.AGENT)
    assert b.check(NUMBER).allowed and b.version == 0
    assert await b.sync() == 1
    result = b.check(FORMS[2])
    assert result.status is CheckStatus.BLOCKED and result.version == 1
    await a.remove(NUMBER, reason="wrong number", actor="supervisor")
    assert not b.check(NUMBER).allowed
    await b.sync()
    assert b.check(NUMBER).allowed and b.version == a.version == 2


async def test_a_node_loads_what_is_listed(open_node: NodeFactory, clock: FakeClock) -> None:
    a = await open_node()
    await a.refuse(NUMBER, Source.AGENT)
    await a.refuse("+8613912345678", Source.AGENT, scope="tenant", scope_ref="acme",
                   expires_at=clock.now + timedelta(hours=1))
    await a.refuse("+8613712345678", Source.AGENT)
    await a.remove("+8613712345678", reason="consent given")
    b = await open_node()
    assert b.version == 4
    assert not b.check(NUMBER).allowed
    assert not b.check("+8613912345678", tenant="acme").allowed
    assert b.check("+8613712345678").allowed
    clock.advance(hours=2)
    assert b.check("+8613912345678", tenant="acme").allowed
    c = await open_node()                                  # loaded after the expiry
    assert c.index.scopes() == {GLOBAL: 1}


async def test_sync_is_one_query_when_nothing_changed(open_node: NodeFactory) -> None:
    node = await open_node()
    await node.refuse(NUMBER, Source.AGENT)
    statements: list[str] = []
    engine = node.registry.engine.sync_engine
    def listener(*args: object) -> None:
        if str(args[2]).strip().upper() not in {"BEGIN", "BEGIN IMMEDIATE", "COMMIT"}:
            statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        await node.sync()
        alone = list(statements)
        await asyncio.gather(*(node.sync() for _ in range(5)))   # coalesced into 2 rounds
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(alone) == 1 and "FROM dnc_state" in alone[0]
    assert len(statements) == 3 and all("FROM dnc_state" in s for s in statements)


async def test_concurrent_syncs_never_share_a_round_that_started_earlier(
        open_node: NodeFactory) -> None:
    a, b = await open_node(), await open_node()
    first = asyncio.create_task(b.sync())
    await asyncio.sleep(0)                     # b's first round is now under way
    await a.refuse(NUMBER, Source.AGENT)
    assert await b.sync() == 1                 # asked after the commit: must see it
    await first


async def test_a_store_behind_the_node_fails_closed(open_node: NodeFactory,
                                                    engine: AsyncEngine) -> None:
    node = await open_node()
    await node.refuse(NUMBER, Source.AGENT)
    async with engine.begin() as conn:
        await conn.execute(update(dnc_state).values(version=0))
    with pytest.raises(DncUnavailable, match="restored"):
        await node.sync()


async def test_scrub_lead_hashes(open_node: NodeFactory, hasher: NumberHasher) -> None:
    node = await open_node()
    leads = [f"+86138{i:04d}5678" for i in range(200)]
    for i in range(0, 200, 10):
        await node.refuse(leads[i], Source.IMPORT)
    await node.refuse(leads[5], Source.AGENT, scope="campaign", scope_ref="spring")
    prefixes = prefixes_of(hasher.digest(n) for n in leads)
    result = node.scrub(prefixes)
    assert result.version == node.version == 21
    assert np.flatnonzero(result.blocked).tolist() == list(range(0, 200, 10))
    spring = node.scrub(prefixes, campaign="spring").blocked
    assert np.flatnonzero(spring).tolist() == sorted([*range(0, 200, 10), 5])


async def test_compaction_keeps_answers(open_node: NodeFactory, clock: FakeClock) -> None:
    node = await open_node()
    numbers = [f"+86139{i:04d}5678" for i in range(30)]
    for i, n in enumerate(numbers):
        await node.refuse(n, Source.AGENT,
                          expires_at=clock.now + timedelta(hours=1) if i % 3 == 0 else None)
    clock.advance(hours=2)
    before = [node.check(n).status for n in numbers]
    await node.compact()
    assert [node.check(n).status for n in numbers] == before
    assert node.index.scopes() == {GLOBAL: 20}


async def test_check_fresh_syncs_first(open_node: NodeFactory) -> None:
    a, b = await open_node(), await open_node()
    await a.refuse(NUMBER, Source.SPEECH)
    result = await b.check_fresh(FORMS[1])
    assert result.status is CheckStatus.BLOCKED and result.version == 1
    assert result.channel_variables() == {"DNC_RESULT": "blocked", "DNC_VERSION": "1",
                                          "DNC_SCOPE": "global"}


async def test_maintain_keeps_a_node_fresh_through_outages(
        open_node: NodeFactory, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    a, b = await open_node(), await open_node()
    real = b.registry.current_version
    failures = 0

    async def flaky() -> int:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise DncUnavailable("store down")
        return await real()

    monkeypatch.setattr(b.registry, "current_version", flaky)
    await a.refuse(NUMBER, Source.AGENT)
    with caplog.at_level(logging.ERROR, logger="dnc.service"):
        task = asyncio.create_task(b.maintain(0.01))
        try:
            async with asyncio.timeout(5):
                while b.version < 1:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert failures == 2 and "DNC sync failed: store down" in caplog.text
    assert not b.check(NUMBER).allowed


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=valid_numbers(), default=st.sampled_from(REGIONS), data=st.data())
def test_a_number_refused_in_one_form_is_blocked_in_every_other(
        sqlite_url: str, hasher: NumberHasher, number: PhoneNumber, default: str,
        data: st.DataObject) -> None:
    forms = [data.draw(written_form(f)) for f in base_forms(number, default)]
    refused_as = data.draw(st.sampled_from(forms))

    async def scenario() -> None:
        engine = create_engine(sqlite_url)
        try:
            await create_schema(engine)
            node = await Dnc.open(engine, hasher, region=default)
            await node.refuse(refused_as, Source.AGENT)
            for form in forms:
                assert node.check(form).status is CheckStatus.BLOCKED, (refused_as, form)
            other = await Dnc.open(engine, hasher, region=default)   # and once loaded
            assert all(not other.check(form).allowed for form in forms)
        finally:
            await engine.dispose()

    asyncio.run(scenario())


async def test_a_node_hears_another_nodes_refusal_at_its_next_sync(
        open_node: NodeFactory) -> None:
    a, b = await open_node(), await open_node()
    heard: list[Refusal] = []

    async def listen(refusal: Refusal) -> None:
        heard.append(refusal)

    b.subscribe(listen)
    outcome = await a.refuse("+8613812345678", Source.OPT_OUT_KEY, evidence="call-1")
    imported = await a.registry.add_many([bytes(32)], key=GLOBAL,
                                         source=Source.IMPORT)
    assert imported.version == outcome.version + 1
    assert heard == []                               # nothing before b syncs
    assert await b.sync() == imported.version
    # the refusal is announced; the bulk import is indexed, not announced
    assert [(r.version, r.source) for r in heard] == [(outcome.version, Source.OPT_OUT_KEY)]
    await b.sync()
    assert len(heard) == 1                           # told once
