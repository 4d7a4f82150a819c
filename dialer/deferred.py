"""Writes the engine may defer a moment and group: lead settlements and agent states.

Neither gates a call: a settled lead stays claimed by this node until its row is
written (nobody else dials it meanwhile), and agent state changes are the occupancy
record. Grouping them turns one transaction per call into one per `every` seconds.
A failed write is kept and retried with the next batch; `flush` writes what is queued.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from dialer.clock import real_io
from dialer.errors import StoreUnavailable
from dialer.store import AgentState, LeadStatus, Outcome, Store

log = logging.getLogger(__name__)

Settlement = tuple[int, LeadStatus, datetime | None, Outcome | None]
StateChange = tuple[int, AgentState, datetime]


class DeferredWrites:
    """Queues lead settlements and agent state changes; writes them in batches."""

    def __init__(self, store: Store, *, every: float = 0.25) -> None:
        self._store = store
        self._every = every
        self._settlements: list[Settlement] = []
        self._states: list[StateChange] = []
        self._lock = asyncio.Lock()

    def settle(self, lead_id: int, status: LeadStatus, next_attempt_at: datetime | None,
               outcome: Outcome | None) -> None:
        """Queue a lead's release with its status and next due time."""
        self._settlements.append((lead_id, status, next_attempt_at, outcome))

    def agent_state(self, session_id: int, state: AgentState, at: datetime) -> None:
        """Queue an agent state change."""
        self._states.append((session_id, state, at))

    async def run(self) -> None:
        """Flush every `every` seconds until cancelled (store outages are retried)."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except StoreUnavailable as exc:
                log.warning("deferred writes kept for the next try: %s", exc)

    async def flush(self) -> None:
        """Write everything queued now (raises `StoreUnavailable`; nothing is lost)."""
        async with self._lock:
            settlements, self._settlements = self._settlements, []
            states, self._states = self._states, []
            try:
                with real_io():
                    await self._store.leads.finish_many(settlements)
                settlements = []
                with real_io():
                    await self._store.agents.record_states(states)
            except StoreUnavailable:
                self._settlements[:0] = settlements
                self._states[:0] = states
                raise
