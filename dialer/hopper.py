"""The hopper: a campaign's prefetched, claimed leads, handed out in priority order.

    hopper = Hopper(store, campaign_id, size=50, low_water=10)
    lead = await hopper.take(now)        # refills from store.claim_leads below low water
    hopper.drop_number(refusal.digest)   # a refusal: forget that number's queued leads
    await hopper.close()                 # release the claims nobody dialled

Leads come out by priority (highest first), then by when they fell due (never
scheduled first), then in the order they were claimed. When the store has nothing due,
the hopper asks again only after `empty_retry`. A claim is a lease (`Store.release_expired_claims` frees a dead
node's claims after a while), so a lead held longer than `max_hold` is released rather
than handed out: another node may have been given it since.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

from dialer.store import ClaimedLead, Store

DEFAULT_MAX_HOLD = timedelta(minutes=2)
DEFAULT_EMPTY_RETRY = timedelta(seconds=1)
_FIRST = datetime(1970, 1, 1, tzinfo=UTC)  # the due time of a lead never scheduled

_Entry = tuple[int, datetime, int, ClaimedLead]


class Hopper:
    """Prefetches one campaign's leads for this node."""

    def __init__(self, store: Store, campaign_id: int, *, size: int = 50,
                 low_water: int = 10, max_hold: timedelta = DEFAULT_MAX_HOLD,
                 empty_retry: timedelta = DEFAULT_EMPTY_RETRY) -> None:
        if not 0 <= low_water < size:
            raise ValueError("need 0 <= low_water < size")
        self._store = store
        self._campaign_id = campaign_id
        self._size = size
        self._low_water = low_water
        self._max_hold = max_hold
        self._empty_retry = empty_retry
        self._heap: list[_Entry] = []
        self._order = itertools.count()
        self._refill_lock = asyncio.Lock()
        self._closed = False
        self._empty_at: datetime | None = None
        self.claimed = 0
        self.released = 0

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def exhausted(self) -> bool:
        """True when nothing is queued and the store had no due lead at the last ask."""
        return not self._heap and self._empty_at is not None

    @property
    def lead_ids(self) -> list[int]:
        """The leads queued now (in no particular order)."""
        return [entry[3].id for entry in self._heap]

    async def take(self, now: datetime) -> ClaimedLead | None:
        """The next lead to dial, refilling from the store when few are left; None when
        the campaign has no due lead (or the hopper is closed)."""
        if self._closed:
            return None
        await self._release_stale(now)
        if len(self._heap) <= self._low_water:
            await self._refill(now)
        if not self._heap:
            return None
        return heapq.heappop(self._heap)[3]

    async def _refill(self, now: datetime) -> None:
        async with self._refill_lock:
            if self._closed or len(self._heap) > self._low_water:
                return
            if self._empty_at is not None and now - self._empty_at < self._empty_retry:
                return  # the store had nothing due a moment ago
            leads = await self._store.claim_leads(self._campaign_id, self._store.node_id,
                                                  self._size - len(self._heap), now)
            self._empty_at = None if leads else now
            self.claimed += len(leads)
            for lead in leads:
                due = lead.next_attempt_at or _FIRST
                heapq.heappush(self._heap, (-lead.priority, due, next(self._order), lead))

    async def _release_stale(self, now: datetime) -> None:
        stale = [e for e in self._heap if now - e[3].claimed_at > self._max_hold]
        if not stale:
            return
        self._heap = [e for e in self._heap if now - e[3].claimed_at <= self._max_hold]
        heapq.heapify(self._heap)
        await self._release([e[3].id for e in stale])

    def drop_number(self, number_hash: bytes) -> int:
        """Forget queued leads with this number (a refusal marks them DNC in the store);
        returns how many were dropped."""
        kept = [e for e in self._heap if e[3].number_hash != number_hash]
        dropped = len(self._heap) - len(kept)
        if dropped:
            self._heap = kept
            heapq.heapify(self._heap)
        return dropped

    def drop_lead(self, lead_id: int) -> bool:
        """Forget one queued lead (its claim is left to the caller); True if it was queued."""
        kept = [e for e in self._heap if e[3].id != lead_id]
        if len(kept) == len(self._heap):
            return False
        self._heap = kept
        heapq.heapify(self._heap)
        return True

    async def release(self) -> int:
        """Hand every queued lead back to the store undialled (e.g. the campaign was
        paused); the hopper stays open and refills on the next `take`."""
        ids = [e[3].id for e in self._heap]
        self._heap = []
        return await self._release(ids)

    async def close(self) -> None:
        """Release the claims of every queued lead; `take` returns None afterwards."""
        self._closed = True
        await self.release()

    async def _release(self, lead_ids: list[int]) -> int:
        if not lead_ids:
            return 0
        released = await self._store.leads.release_claims(lead_ids)
        self.released += released
        return released
