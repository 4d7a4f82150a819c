"""Hooks the engine calls around a connected call (recording is the first user).

The engine calls every registered hook at these moments; a hook's failure is logged
with the attempt id and never breaks the call. Hooks must be quick or spawn their own
owned work: the engine awaits them in the call's own task.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol


class CallHooks(Protocol):
    """What a plug-in learns about a call once a customer and an agent are bridged."""

    async def bridged(self, attempt_id: uuid.UUID, bridge_id: str, customer_channel: str,
                      agent_channel: str, campaign: Any) -> None:
        """The customer has just joined the agent's bridge (`campaign`: the loaded
        `dialer.campaign.Campaign`, with its config and compliance profile)."""
        ...

    async def agent_code(self, attempt_id: uuid.UUID, code: str) -> bool:
        """The agent keyed `code` during the call; return True if this hook consumed it."""
        ...

    async def ended(self, attempt_id: uuid.UUID) -> None:
        """The customer's leg has ended (after `bridged`); finish any work for the call."""
        ...
