"""A campaign as the dial gate sees it at one tick: its rules and its stored state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dialer.campaign.campaign import Campaign
from dialer.store import CampaignInfo, CampaignStatus, TenantInfo, TenantStatus


def frozen_at(frozen_until: datetime | None, now: datetime) -> bool:
    """True while a freeze holds: it has no end, or its end is still to come."""
    return frozen_until is not None and now < frozen_until


@dataclass(frozen=True, slots=True)
class CampaignState:
    """The campaign's rules with its and its tenant's stored rows (status, freezes, limits).

    The runner reads it every tick (`read_campaign_state`), so a pause, a freeze or its
    expiry takes effect at the next tick on every node.
    """

    campaign: Campaign
    info: CampaignInfo
    tenant: TenantInfo

    def __post_init__(self) -> None:
        if self.info.tenant_id != self.tenant.id:
            raise ValueError(f"campaign {self.info.id} belongs to tenant {self.info.tenant_id}, "
                             f"not {self.tenant.id}")

    @property
    def id(self) -> int:
        """The campaign's id in the store."""
        return self.info.id

    @property
    def tenant_id(self) -> int:
        """The tenant's id in the store."""
        return self.tenant.id

    @property
    def running(self) -> bool:
        """True when the campaign's status lets it dial."""
        return self.info.status is CampaignStatus.RUNNING

    @property
    def tenant_active(self) -> bool:
        """False once the tenant is terminated."""
        return self.tenant.status is TenantStatus.ACTIVE

    def campaign_frozen(self, now: datetime) -> bool:
        """True while the campaign's freeze holds (an expired freeze lifts itself)."""
        return frozen_at(self.info.frozen_until, now)

    def tenant_frozen(self, now: datetime) -> bool:
        """True while the tenant's freeze holds (an expired freeze lifts itself)."""
        return frozen_at(self.tenant.frozen_until, now)
