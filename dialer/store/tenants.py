"""Tenants and campaigns: create, read, terminate, freeze (every change audited)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from dialer.compliance import DataClass
from dialer.errors import NotFound
from dialer.store.audit import write_audit
from dialer.store.database import Database
from dialer.store.enums import CampaignStatus, TenantStatus
from dialer.store.records import CampaignInfo, TenantInfo
from dialer.store.schema import Campaign, Tenant

# `frozen_until` of a freeze without an end (lifted only by unfreezing).
FROZEN_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


def _tenant(row: Row[Any]) -> TenantInfo:
    return TenantInfo(id=row.id, name=row.name, status=row.status, created_at=row.created_at,
                      terminated_at=row.terminated_at, destroyed_at=row.destroyed_at,
                      frozen_until=row.frozen_until, freeze_reason=row.freeze_reason,
                      max_lines=row.max_lines)


def _campaign(row: Row[Any]) -> CampaignInfo:
    return CampaignInfo(id=row.id, tenant_id=row.tenant_id, name=row.name, profile=row.profile,
                        status=row.status, frozen_until=row.frozen_until,
                        freeze_reason=row.freeze_reason, config=row.config,
                        retention_overrides=row.retention_overrides,
                        created_at=row.created_at, updated_at=row.updated_at)


def check_retention_overrides(overrides: Mapping[str, int]) -> dict[str, int]:
    """Validate per-campaign retention days: known data classes, whole days >= 0."""
    known = {c.value for c in DataClass}
    for name, days in overrides.items():
        if name not in known:
            raise ValueError(f"unknown data class {name!r} (known: {', '.join(sorted(known))})")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError(f"retention of {name} must be a whole number of days >= 0")
    return dict(overrides)


class Tenants:
    """The tenants table."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def create(self, name: str, *, now: datetime, actor: str = "system") -> TenantInfo:
        """Add an active tenant."""
        async with self._db.write() as conn:
            row = (await conn.execute(insert(Tenant).values(
                name=name, status=TenantStatus.ACTIVE, created_at=now)
                .returning(Tenant.__table__))).one()
            await write_audit(conn, at=now, actor=actor, action="tenant.create",
                              subject_type="tenant", subject_id=row.id, node_id=self._node_id,
                              detail={"name": name})
        return _tenant(row)

    async def get(self, tenant_id: int) -> TenantInfo:
        """One tenant; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Tenant.__table__)
                                      .where(Tenant.id == tenant_id))).one_or_none()
        if row is None:
            raise NotFound("tenant", tenant_id)
        return _tenant(row)

    async def by_name(self, name: str) -> TenantInfo:
        """The tenant with this name; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Tenant.__table__)
                                      .where(Tenant.name == name))).one_or_none()
        if row is None:
            raise NotFound("tenant", name)
        return _tenant(row)

    async def get_or_create(self, name: str, *, now: datetime,
                            actor: str = "system") -> TenantInfo:
        """The tenant with this name, created (active, audited) if there is none."""
        async with self._db.write() as conn:
            row = (await conn.execute(select(Tenant.__table__)
                                      .where(Tenant.name == name))).one_or_none()
            if row is not None:
                return _tenant(row)
            row = (await conn.execute(insert(Tenant).values(
                name=name, status=TenantStatus.ACTIVE, created_at=now)
                .returning(Tenant.__table__))).one()
            await write_audit(conn, at=now, actor=actor, action="tenant.create",
                              subject_type="tenant", subject_id=row.id, node_id=self._node_id,
                              detail={"name": name})
        return _tenant(row)

    async def set_max_lines(self, tenant_id: int, max_lines: int | None, *, now: datetime,
                            actor: str) -> TenantInfo:
        """Limit the lines all of a tenant's campaigns may use at once (None: no limit)."""
        if max_lines is not None and max_lines < 0:
            raise ValueError("max_lines must be >= 0")
        return await self._change(tenant_id, now, actor, "tenant.max_lines",
                                  {"max_lines": max_lines})

    async def list_all(self) -> list[TenantInfo]:
        """Every tenant, by id."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(Tenant.__table__).order_by(Tenant.id))).all()
        return [_tenant(r) for r in rows]

    async def terminate(self, tenant_id: int, *, now: datetime, actor: str) -> TenantInfo:
        """End a tenant's service: its data is destroyed after the profile's deadline."""
        return await self._change(tenant_id, now, actor, "tenant.terminate",
                                  {"status": TenantStatus.TERMINATED, "terminated_at": now},
                                  only_if_active=True)

    async def freeze(self, tenant_id: int, *, until: datetime | None, reason: str,
                     now: datetime, actor: str) -> TenantInfo:
        """Stop all dialling for a tenant until `until` (None: until unfrozen)."""
        return await self._change(tenant_id, now, actor, "tenant.freeze",
                                  {"frozen_until": until or FROZEN_FOREVER,
                                   "freeze_reason": reason})

    async def unfreeze(self, tenant_id: int, *, now: datetime, actor: str) -> TenantInfo:
        """Lift a tenant's freeze."""
        return await self._change(tenant_id, now, actor, "tenant.unfreeze",
                                  {"frozen_until": None, "freeze_reason": None})

    async def _change(self, tenant_id: int, now: datetime, actor: str, action: str,
                      values: Mapping[str, Any], *, only_if_active: bool = False) -> TenantInfo:
        stmt = update(Tenant).where(Tenant.id == tenant_id).values(**values)
        if only_if_active:
            stmt = stmt.where(Tenant.status == TenantStatus.ACTIVE)
        async with self._db.write() as conn:
            row = (await conn.execute(stmt.returning(Tenant.__table__))).one_or_none()
            if row is None:
                current = (await conn.execute(select(Tenant.status)
                                              .where(Tenant.id == tenant_id))).scalar()
                if current is None:
                    raise NotFound("tenant", tenant_id)
                raise NotFound(f"active tenant (it is {current})", tenant_id)
            detail = {k: (v.isoformat() if isinstance(v, datetime) else v)
                      for k, v in values.items()}
            await write_audit(conn, at=now, actor=actor, action=action, subject_type="tenant",
                              subject_id=tenant_id, node_id=self._node_id, detail=detail)
        return _tenant(row)


class Campaigns:
    """The campaigns table."""

    def __init__(self, db: Database, node_id: str) -> None:
        self._db = db
        self._node_id = node_id

    async def create(self, tenant_id: int, name: str, profile: str, *, now: datetime,
                     config: Mapping[str, Any] | None = None,
                     retention_overrides: Mapping[str, int] | None = None,
                     actor: str = "system") -> CampaignInfo:
        """Add a draft campaign under a compliance profile (by name)."""
        overrides = check_retention_overrides(retention_overrides or {})
        async with self._db.write() as conn:
            status = (await conn.execute(select(Tenant.status)
                                         .where(Tenant.id == tenant_id))).scalar()
            if status is None:
                raise NotFound("tenant", tenant_id)
            if status is not TenantStatus.ACTIVE:
                raise NotFound(f"active tenant (it is {status})", tenant_id)
            row = (await conn.execute(insert(Campaign).values(
                tenant_id=tenant_id, name=name, profile=profile, status=CampaignStatus.DRAFT,
                config=dict(config or {}), retention_overrides=overrides,
                created_at=now, updated_at=now).returning(Campaign.__table__))).one()
            await write_audit(conn, at=now, actor=actor, action="campaign.create",
                              subject_type="campaign", subject_id=row.id, node_id=self._node_id,
                              detail={"tenant_id": tenant_id, "name": name, "profile": profile})
        return _campaign(row)

    async def get(self, campaign_id: int) -> CampaignInfo:
        """One campaign; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Campaign.__table__)
                                      .where(Campaign.id == campaign_id))).one_or_none()
        if row is None:
            raise NotFound("campaign", campaign_id)
        return _campaign(row)

    async def by_name(self, tenant_id: int, name: str) -> CampaignInfo:
        """A tenant's campaign by name; NotFound if absent."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(Campaign.__table__).where(
                Campaign.tenant_id == tenant_id, Campaign.name == name))).one_or_none()
        if row is None:
            raise NotFound("campaign", name)
        return _campaign(row)

    async def upsert(self, tenant_id: int, name: str, profile: str, *, now: datetime,
                     config: Mapping[str, Any],
                     retention_overrides: Mapping[str, int] | None = None,
                     actor: str = "system") -> tuple[CampaignInfo, bool]:
        """Create a tenant's campaign (draft) or replace its profile, configuration
        snapshot and retention overrides; audited. Returns it and whether it is new."""
        overrides = check_retention_overrides(retention_overrides or {})
        values = {"profile": profile, "config": dict(config), "retention_overrides": overrides}
        async with self._db.write() as conn:
            found = (await conn.execute(select(Campaign.id).where(
                Campaign.tenant_id == tenant_id, Campaign.name == name))).scalar()
            if found is None:
                status = (await conn.execute(select(Tenant.status)
                                             .where(Tenant.id == tenant_id))).scalar()
                if status is None:
                    raise NotFound("tenant", tenant_id)
                if status is not TenantStatus.ACTIVE:
                    raise NotFound(f"active tenant (it is {status})", tenant_id)
                row = (await conn.execute(insert(Campaign).values(
                    tenant_id=tenant_id, name=name, status=CampaignStatus.DRAFT,
                    created_at=now, updated_at=now, **values)
                    .returning(Campaign.__table__))).one()
                action = "campaign.create"
            else:
                row = (await conn.execute(update(Campaign).where(Campaign.id == found)
                                          .values(updated_at=now, **values)
                                          .returning(Campaign.__table__))).one()
                action = "campaign.config"
            await write_audit(conn, at=now, actor=actor, action=action,
                              subject_type="campaign", subject_id=row.id, node_id=self._node_id,
                              detail={"tenant_id": tenant_id, "name": name, "profile": profile,
                                      "retention_overrides": overrides})
        return _campaign(row), found is None

    async def list_all(self, tenant_id: int | None = None) -> list[CampaignInfo]:
        """Campaigns (of one tenant, or all), by id."""
        stmt = select(Campaign.__table__).order_by(Campaign.id)
        if tenant_id is not None:
            stmt = stmt.where(Campaign.tenant_id == tenant_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_campaign(r) for r in rows]

    async def set_status(self, campaign_id: int, status: CampaignStatus, *, now: datetime,
                         actor: str) -> CampaignInfo:
        """Change a campaign's status (audited)."""
        return await self._change(campaign_id, now, actor, "campaign.status",
                                  {"status": status})

    async def freeze(self, campaign_id: int, *, until: datetime | None, reason: str,
                     now: datetime, actor: str) -> CampaignInfo:
        """Stop a campaign's dialling until `until` (None: until unfrozen)."""
        return await self._change(campaign_id, now, actor, "campaign.freeze",
                                  {"frozen_until": until or FROZEN_FOREVER,
                                   "freeze_reason": reason})

    async def unfreeze(self, campaign_id: int, *, now: datetime, actor: str) -> CampaignInfo:
        """Lift a campaign's freeze."""
        return await self._change(campaign_id, now, actor, "campaign.unfreeze",
                                  {"frozen_until": None, "freeze_reason": None})

    async def update_config(self, campaign_id: int, config: Mapping[str, Any], *,
                            now: datetime, actor: str) -> CampaignInfo:
        """Replace the campaign's configuration snapshot."""
        return await self._change(campaign_id, now, actor, "campaign.config",
                                  {"config": dict(config)})

    async def set_retention_overrides(self, campaign_id: int, overrides: Mapping[str, int], *,
                                      now: datetime, actor: str) -> CampaignInfo:
        """Replace the per-campaign retention days (by data class name)."""
        return await self._change(campaign_id, now, actor, "campaign.retention",
                                  {"retention_overrides": check_retention_overrides(overrides)})

    async def _change(self, campaign_id: int, now: datetime, actor: str, action: str,
                      values: Mapping[str, Any]) -> CampaignInfo:
        async with self._db.write() as conn:
            row = (await conn.execute(update(Campaign).where(Campaign.id == campaign_id)
                                      .values(updated_at=now, **values)
                                      .returning(Campaign.__table__))).one_or_none()
            if row is None:
                raise NotFound("campaign", campaign_id)
            detail = {k: (v.isoformat() if isinstance(v, datetime) else v)
                      for k, v in values.items() if k != "config"}
            await write_audit(conn, at=now, actor=actor, action=action,
                              subject_type="campaign", subject_id=campaign_id,
                              node_id=self._node_id, detail=detail)
        return _campaign(row)
