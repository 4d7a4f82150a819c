"""Several OS processes claim from one campaign at once: every lead is claimed exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from store_helpers import new_leads

from dialer.keys import Keyring
from dialer.store import CampaignInfo, Store

WORKER = Path(__file__).with_name("claim_worker.py")
ROOT = Path(__file__).resolve().parents[3]
PROCESSES = 4
LEADS = 1500


async def test_processes_never_claim_the_same_lead(store: Store, db_url: str, keyring: Keyring,
                                                   campaign: CampaignInfo) -> None:
    await store.leads.add(campaign.id, new_leads(LEADS), now=campaign.created_at)
    env = {**os.environ, "DIALER_KEYRING": keyring.to_json(),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(WORKER.parent)])}
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), db_url, str(campaign.id), f"node{i}", "5",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        for i in range(PROCESSES)]
    async with asyncio.timeout(120):
        for worker in workers:
            assert (await worker.stdout.readline()).strip() == b"ready"  # type: ignore[union-attr]
        for worker in workers:
            worker.stdin.write(b"go\n")  # type: ignore[union-attr]
            await worker.stdin.drain()  # type: ignore[union-attr]
        outputs = [await worker.communicate() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    claims = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    every = [lead_id for ids in claims for lead_id in ids]
    assert len(every) == len(set(every)) == LEADS
    assert sum(1 for ids in claims if ids) >= 2, "the workers did not run concurrently"
