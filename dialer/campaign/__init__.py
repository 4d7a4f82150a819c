"""Campaigns: the YAML file (validated, bound to its compliance profile), its stored
state, and saving or finding it in the store.

    campaign = load_campaign("examples/campaigns/cn-predictive.yaml")
    info, tenant, created = await save_campaign(store, campaign, now=now, actor="cli:ops")
    state = await read_campaign_state(store, campaign, info.id)   # every tick
"""

from dialer.campaign.campaign import Campaign, CampaignRuleError, load_campaign, resolve_profile
from dialer.campaign.config import (
    AmdConfig,
    CampaignConfig,
    ConsentConfig,
    Disposition,
    HoursConfig,
    LinesConfig,
    MachineAction,
    NumberFormat,
    PacingConfig,
    PacingMode,
    PauseCode,
    RecordingConfig,
    RetentionConfig,
    RetryRules,
    SafeHarbourConfig,
    TrunkConfig,
)
from dialer.campaign.durations import Duration, format_duration, parse_duration
from dialer.campaign.rules import MIN_RING_S, PROFILE_REGIONS, min_gap
from dialer.campaign.state import CampaignState, frozen_at
from dialer.campaign.stored import (
    find_campaign,
    read_campaign_state,
    save_campaign,
    stored_campaign,
)

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "AmdConfig",
    "Campaign",
    "CampaignConfig",
    "CampaignRuleError",
    "CampaignState",
    "ConsentConfig",
    "Disposition",
    "Duration",
    "HoursConfig",
    "LinesConfig",
    "MIN_RING_S",
    "MachineAction",
    "NumberFormat",
    "PROFILE_REGIONS",
    "PacingConfig",
    "PacingMode",
    "PauseCode",
    "RecordingConfig",
    "RetentionConfig",
    "RetryRules",
    "SafeHarbourConfig",
    "TrunkConfig",
    "find_campaign",
    "format_duration",
    "frozen_at",
    "load_campaign",
    "min_gap",
    "parse_duration",
    "read_campaign_state",
    "resolve_profile",
    "save_campaign",
    "stored_campaign",
]
