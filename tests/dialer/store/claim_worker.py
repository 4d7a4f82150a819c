"""A separate OS process that claims leads until none is left, then prints their ids.

Run by test_store_claim_processes.py: argv = db url, campaign id, node id, batch size;
the keyring comes in DIALER_KEYRING. It prints "ready", waits for a line on stdin (so
every worker starts claiming at once), then prints the JSON list of the ids it claimed.
"""

from __future__ import annotations

import asyncio
import json
import sys

from store_helpers import NOW

from dialer.keys import load_keyring
from dialer.store import Store


async def main(url: str, campaign_id: int, node_id: str, batch: int) -> None:
    store = await Store.open(url, load_keyring(None), node_id=node_id, migrate=False)
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        claimed: list[int] = []
        while leads := await store.claim_leads(campaign_id, node_id, batch, NOW):
            claimed += [lead.id for lead in leads]
    finally:
        await store.close()
    print(json.dumps(claimed), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
