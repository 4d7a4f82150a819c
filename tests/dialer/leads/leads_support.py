"""Values and builders shared by the lead import tests (imported by name)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dialer.campaign import Campaign, CampaignConfig
from dialer.compliance import BUILTIN_PROFILES

NOW = datetime(2025, 3, 12, 2, 30, tzinfo=UTC)
BASE = {"id": "spring", "tenant": "acme", "caller_id": "+861012345678",
        "trunk": {"endpoint": "PJSIP/{number}@customers"},
        "safe_harbour": {"message": "demo-thanks"}}


@dataclass
class Target:
    """A stored campaign to import into."""

    campaign: Campaign
    id: int
    tenant_id: int


def build(profile: str = "cn", **overrides: object) -> Campaign:
    """A campaign under `profile` with `overrides` (top-level keys)."""
    config = CampaignConfig.model_validate({**BASE, "profile": profile, **overrides})
    return Campaign.build(config, BUILTIN_PROFILES[profile])


CsvWriter = Callable[..., Path]


def quote(cell: str) -> str:
    """A CSV cell, quoted when it holds a comma, a quote or a line break."""
    return f'"{cell}"' if any(c in cell for c in ',"\n') else cell
