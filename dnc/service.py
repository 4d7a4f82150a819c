"""The DNC as a node uses it: check at the instant of dial, refuse, remove, stay in sync.

A refusal is committed first (bumping the version), then applied to this node's index,
then announced to subscribers (the engine cancels queued attempts and hangs up ringing
calls; the event bus broadcasts the hash and version). Other nodes see it after their
next `sync()`, which reads the journal from their index's version on and announces
what it learned to their own subscribers the same way (bulk imports excepted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncEngine

from dnc.checker import DncChecker, ScrubResult
from dnc.errors import DncUnavailable, InvalidNumber
from dnc.hashing import NumberHasher
from dnc.index import DncIndex
from dnc.masking import mask_number
from dnc.model import (
    Change,
    CheckResult,
    Op,
    Refusal,
    RefuseOutcome,
    Scope,
    ScopeKey,
    Source,
    digest_prefix,
)
from dnc.normalize import RejectReason, normalize
from dnc.prefixset import PrefixSet, PrefixSetBuilder
from dnc.registry import Clock, DncRegistry, utc_now

log = logging.getLogger(__name__)

Subscriber = Callable[[Refusal], Awaitable[None]]

SUBSCRIBER_TIMEOUT = 5.0
# A sync that learns more refusals than this (a restored backlog) tells subscribers of
# the first ones only; the index blocks them all the same.
MAX_LEARNED_NOTICES = 10_000


async def load_index(registry: DncRegistry, now: datetime) -> DncIndex:
    """Build the index from the store's active entries, then catch up on the journal.

    Memory stays near 8 bytes an entry: the counts size the buckets up front and each
    chunk of prefixes read from the store is scattered into them at once.
    """
    version = await registry.current_version()
    sets: dict[ScopeKey, PrefixSet] = {}
    for key, count in (await registry.count_active()).items():
        builder = PrefixSetBuilder(count)
        async for prefixes in registry.permanent_prefixes(key):
            builder.add(prefixes)
        sets[key] = builder.finish()
    async for entries in registry.expiring_entries(now):
        for entry in entries:
            members = sets.setdefault(entry.key, PrefixSet())
            members.add(digest_prefix(entry.digest), entry.expires_at.timestamp()
                        if entry.expires_at is not None else None)
    index = DncIndex(version, {key: s for key, s in sets.items() if len(s)})
    await index.catch_up(registry.changes_since)
    return index


class Dnc:
    """Check, refuse, remove and sync: the DNC registry with its in-memory index."""

    def __init__(self, registry: DncRegistry, index: DncIndex, hasher: NumberHasher, *,
                 region: str | None = None, clock: Clock = utc_now,
                 subscriber_timeout: float = SUBSCRIBER_TIMEOUT) -> None:
        self._registry = registry
        self._index = index
        self._hasher = hasher
        self._region = region
        self._clock = clock
        self._subscriber_timeout = subscriber_timeout
        self._subscribers: list[Subscriber] = []
        self._checker = DncChecker(index, hasher, region=region, clock=clock)
        self._sync_lock = asyncio.Lock()
        self._sync_requested = 0
        self._sync_done = 0

    @classmethod
    async def open(cls, engine: AsyncEngine, hasher: NumberHasher, *, region: str | None = None,
                   clock: Clock = utc_now,
                   subscriber_timeout: float = SUBSCRIBER_TIMEOUT) -> Dnc:
        """Load the index from the store (the schema must exist) and return a ready DNC."""
        registry = DncRegistry(engine, clock=clock)
        index = await load_index(registry, clock())
        log.info("DNC index loaded at version %d: %s", index.version,
                 {f"{k.scope.value}:{k.ref}": n for k, n in index.scopes().items()})
        return cls(registry, index, hasher, region=region, clock=clock,
                   subscriber_timeout=subscriber_timeout)

    @property
    def version(self) -> int:
        """The DNC version this node's index reflects."""
        return self._index.version

    @property
    def registry(self) -> DncRegistry:
        """The persistent registry."""
        return self._registry

    @property
    def index(self) -> DncIndex:
        """The in-memory index."""
        return self._index

    @property
    def checker(self) -> DncChecker:
        """The synchronous checker over this node's index."""
        return self._checker

    def check(self, raw_number: str, *, tenant: str | None = None,
              campaign: str | None = None) -> CheckResult:
        """Check a number against the index as it is now (no I/O)."""
        return self._checker.check(raw_number, tenant=tenant, campaign=campaign)

    async def check_fresh(self, raw_number: str, *, tenant: str | None = None,
                          campaign: str | None = None) -> CheckResult:
        """Sync with the store, then check: what a dialplan (FastAGI) check should call."""
        await self.sync()
        return self._checker.check(raw_number, tenant=tenant, campaign=campaign)

    def scrub(self, prefixes: npt.ArrayLike, *, tenant: str | None = None,
              campaign: str | None = None) -> ScrubResult:
        """Which of many numbers (by hash prefix) are blocked (see `prefixes_of`)."""
        return self._checker.scrub(prefixes, tenant=tenant, campaign=campaign)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` after each refusal is committed and indexed; returns an
        unsubscribe function. Its failures and timeouts are logged, never raised."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def _digest(self, number: str) -> tuple[bytes, str]:
        normalized = normalize(number, self._region)
        if normalized.e164 is None:
            raise InvalidNumber(normalized.reason or RejectReason.INVALID, mask_number(number))
        return self._hasher.digest(normalized.e164), normalized.masked

    async def refuse(self, number: str, source: Source | str, *, evidence: str | None = None,
                     reason: str | None = None, scope: Scope | str = Scope.GLOBAL,
                     scope_ref: str | None = None, expires_at: datetime | None = None,
                     actor: str | None = None) -> RefuseOutcome:
        """Put a number on the list now: commit, index, then tell subscribers.

        Idempotent: if an entry in that scope already covers the number (no expiry, or
        one no earlier than `expires_at`), nothing is written, nobody is told, and the
        outcome carries the existing entry's version with `changed=False`. A later
        expiry extends the entry (a new version, subscribers told).
        """
        digest, masked = self._digest(number)
        outcome = await self.refuse_digest(digest, source, evidence=evidence, reason=reason,
                                           scope=scope, scope_ref=scope_ref,
                                           expires_at=expires_at, actor=actor)
        log.info("refusal of %s (%s): %s at version %d", masked, Source(source).value,
                 "listed" if outcome.changed else "already listed", outcome.version)
        return outcome

    async def refuse_digest(self, digest: bytes, source: Source | str, *,
                            evidence: str | None = None, reason: str | None = None,
                            scope: Scope | str = Scope.GLOBAL, scope_ref: str | None = None,
                            expires_at: datetime | None = None,
                            actor: str | None = None) -> RefuseOutcome:
        """`refuse` for a number known only by its keyed hash."""
        key = ScopeKey.of(scope, scope_ref)
        source = Source(source)
        outcome, changes = await self._registry.add(
            digest, key=key, source=source, reason=reason, evidence=evidence,
            expires_at=expires_at, actor=actor)
        if changes:
            await self._index.apply(changes)
            await self._notify(Refusal(digest, outcome.version, key.scope, key.ref, source))
        return outcome

    async def remove(self, number: str, *, reason: str, actor: str | None = None,
                     scope: Scope | str = Scope.GLOBAL, scope_ref: str | None = None) -> int:
        """Take a number off the list in one scope (audited; needs a reason); its version."""
        digest, masked = self._digest(number)
        change = await self._registry.remove(digest, key=ScopeKey.of(scope, scope_ref),
                                             reason=reason, actor=actor)
        await self._index.apply([change])
        log.warning("DNC removal of %s from %s by %s at version %d", masked,
                    change.key.scope.value, actor or "?", change.version)
        return change.version

    async def sync(self) -> int:
        """Bring the index up to the store's version; one indexed query if nothing changed.

        Concurrent callers share a round, but never one that started before they asked.
        """
        self._sync_requested += 1
        ticket = self._sync_requested
        learned: list[Refusal] = []
        async with self._sync_lock:
            if self._sync_done < ticket:
                covers = self._sync_requested
                learned = await self._sync_once()
                self._sync_done = covers
        for refusal in learned:
            await self._notify(refusal)
        return self._index.version

    async def _sync_once(self) -> list[Refusal]:
        """Catch up with the journal; the refusals learned (another node's), which
        subscribers hear like this node's own (bulk imports excepted)."""
        # Read the index's version before the store's: a refusal on this node may commit
        # and raise the index while the read runs, which is no sign of a restored store.
        known = self._index.version
        stored = await self._registry.current_version()
        if stored < known:
            raise DncUnavailable(f"the DNC store is at version {stored}, behind this node's "
                                 f"{known}: was it restored? restart to reload")
        if stored <= self._index.version:
            return []
        learned: list[Refusal] = []

        async def changes(version: int) -> AsyncIterator[Sequence[Change]]:
            async for chunk in self._registry.changes_since(version):
                for c in chunk:
                    if c.op is Op.ADD and c.source is not Source.IMPORT \
                            and len(learned) < MAX_LEARNED_NOTICES:
                        learned.append(Refusal(c.digest, c.version, c.key.scope, c.key.ref,
                                               c.source or Source.MANUAL))
                yield chunk

        await self._index.catch_up(changes)
        if self._index.version < stored:
            raise DncUnavailable(f"the DNC journal ends at version {self._index.version}, "
                                 f"before the stored version {stored}")
        return learned

    async def compact(self) -> None:
        """Forget expired entries and fold pending changes into the sorted arrays."""
        await self._index.compact(self._clock().timestamp())

    async def maintain(self, interval: float) -> None:
        """Sync and compact every `interval` seconds until cancelled (run it in a task
        group); store outages are logged and retried."""
        while True:
            try:
                await self.sync()
                await self.compact()
            except DncUnavailable as exc:
                log.error("DNC sync failed: %s", exc)
            await asyncio.sleep(interval)

    async def _notify(self, refusal: Refusal) -> None:
        async def one(subscriber: Subscriber) -> None:
            try:
                async with asyncio.timeout(self._subscriber_timeout):
                    await subscriber(refusal)
            except TimeoutError:
                log.error("DNC subscriber %r timed out on version %d", subscriber,
                          refusal.version)
            except Exception:
                log.exception("DNC subscriber %r failed on version %d", subscriber,
                              refusal.version)

        await asyncio.gather(*(one(s) for s in list(self._subscribers)))
