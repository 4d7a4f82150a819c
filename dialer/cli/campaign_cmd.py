"""`dialer campaign load|list|status|pause|resume|freeze|unfreeze`: campaigns by hand.

Changes go to the store (audited); a running engine sees them at its next tick. A
campaign is named by its store id or its name (`--tenant` when two tenants share one).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dialer.campaign import (
    Campaign,
    find_campaign,
    format_duration,
    frozen_at,
    load_campaign,
    parse_duration,
    save_campaign,
    stored_campaign,
)
from dialer.cli.store_args import actor_of, add_profiles_option, profiles_of
from dialer.compliance import WEEKDAYS
from dialer.settings import Settings
from dialer.store import CampaignInfo, CampaignStatus, LeadStatus, Store, TenantInfo

_NO_END_YEAR = 9999


def register(sub: Any) -> None:
    """Add the `campaign` command group."""
    campaign = sub.add_parser("campaign", help="load, inspect, pause, resume, freeze campaigns")
    verbs = campaign.add_subparsers(dest="verb", metavar="VERB", required=True)

    load = verbs.add_parser("load", help="validate a campaign file and save it in the store")
    load.add_argument("file", type=Path)
    load.add_argument("--start", action="store_true", help="set it running as well")
    load.add_argument("--check", action="store_true",
                      help="only validate the file and show what it resolves to")
    load.add_argument("--actor", help="who is doing this (for the audit log)")
    add_profiles_option(load)
    load.set_defaults(handler=load_file)

    listing = verbs.add_parser("list", help="every campaign with its status")
    listing.add_argument("--tenant", help="only this tenant's")
    listing.set_defaults(handler=list_campaigns)

    status = verbs.add_parser("status", help="status, freeze, leads by status, today's figures")
    status.add_argument("campaign", nargs="?", help="id or name (default: every campaign)")
    status.add_argument("--tenant", help="the tenant of a campaign named by name")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=show_status)

    for verb, text in (("pause", "stop dialling (live calls finish)"),
                       ("resume", "dial again (a draft starts)"),
                       ("unfreeze", "lift a freeze now")):
        parser = verbs.add_parser(verb, help=text)
        _target_args(parser)
        parser.set_defaults(handler=change_campaign)

    freeze = verbs.add_parser("freeze", help="stop all dialling, optionally until a time")
    _target_args(freeze)
    freeze.add_argument("--until", type=until_time,
                        help="ISO time (UTC if no offset) or +DURATION such as +2h; the "
                             "freeze lifts itself then (default: until unfrozen)")
    freeze.add_argument("--reason", default="", help="why (shown in status, audited)")
    freeze.set_defaults(handler=change_campaign)


def _target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign", help="id or name")
    parser.add_argument("--tenant", help="the tenant of a campaign named by name")
    parser.add_argument("--actor", help="who is doing this (for the audit log)")


def until_time(text: str, *, now: datetime | None = None) -> datetime:
    """`+2h` (from now) or an ISO time (UTC when it has no offset), as an aware datetime."""
    if text.startswith("+"):
        try:
            wait: timedelta = parse_duration(text[1:])
            return (now or datetime.now(UTC)) + wait
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO time or +DURATION: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def describe_campaign(campaign: Campaign) -> list[str]:
    """What a loaded campaign resolves to (profile values with the file's on top)."""
    config, caps = campaign.config, campaign.caps
    hours = "; ".join(f"{day} " + (", ".join(r.text for r in campaign.calling_hours
                                             .ranges_on(i)) or "closed")
                      for i, day in enumerate(WEEKDAYS))
    retries = ", ".join(f"{name} {format_duration(wait) if wait is not None else 'never'}"
                        for name, wait in config.retries)
    lines = [
        (f"profile {campaign.profile.name}, region {campaign.region}, "
        f"pacing {config.pacing.mode.value} (target abandon {campaign.target_abandon_rate:.1%},"
        f" limit {campaign.abandon_limit:.1%})"),
        f"calling hours: {hours}",
        (f"caps: {caps.per_number_daily}/number/24 h, {caps.min_gap_hours:g} h apart "
        f"({caps.gap_after_abandon_hours:g} h after an abandon), {caps.per_lead_lifetime}/lead"),
        f"retries (never sooner than the gap): {retries}",
        (f"ring {campaign.ring_timeout_s:g} s, AMD {'on' if config.amd.enabled else 'off'}, "
        f"consent {'required' if campaign.consent_required else 'not required'}, "
        f"recording {config.recording.mode.value}, "
        f"lines {config.lines.max_lines or 'unlimited'}"),
        (f"trunk {config.trunk.endpoint} ({config.trunk.number_format.value}), "
        f"caller id {campaign.caller_id or 'none'}"),
    ]
    return lines


async def load_file(args: argparse.Namespace, settings: Settings) -> int:
    """`campaign load`: validate, then upsert the campaign and its tenant."""
    campaign = load_campaign(args.file, profiles_of(args))
    if args.check:
        print(f"{args.file}: campaign {campaign.id!r} of tenant {campaign.tenant!r} is valid")
        for line in describe_campaign(campaign):
            print(f"  {line}")
        return 0
    now = datetime.now(UTC)
    actor = actor_of(args)
    async with await Store.from_settings(settings) as store:
        info, tenant, created = await save_campaign(store, campaign, now=now, actor=actor)
        if args.start and info.status is not CampaignStatus.RUNNING:
            info = await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=now,
                                                    actor=actor)
    print(f"campaign {info.name!r} (id {info.id}) of tenant {tenant.name!r} (id {tenant.id}) "
          f"{'created' if created else 'updated'}; status {info.status.value}")
    for line in describe_campaign(campaign):
        print(f"  {line}")
    return 0


async def list_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    """`campaign list`: one line per campaign."""
    async with await Store.from_settings(settings) as store:
        tenants = {t.id: t for t in await store.tenants.list_all()}
        owner = None
        if args.tenant is not None:
            owner = (await store.tenants.by_name(args.tenant)).id
        campaigns = await store.campaigns.list_all(owner)
    now = datetime.now(UTC)
    print(f"{'id':>5}  {'tenant':<16} {'campaign':<24} {'profile':<10} status")
    for c in campaigns:
        print(f"{c.id:>5}  {tenants[c.tenant_id].name:<16} {c.name:<24} {c.profile:<10} "
              f"{_status_text(c, now)}")
    return 0


def _status_text(info: CampaignInfo, now: datetime) -> str:
    text = info.status.value
    if frozen_at(info.frozen_until, now):
        text += f", frozen {_until(info.frozen_until)}"
    return text


def _until(at: datetime | None) -> str:
    if at is None or at.year >= _NO_END_YEAR:
        return "until unfrozen"
    return f"until {at.isoformat(timespec='seconds')}"


async def show_status(args: argparse.Namespace, settings: Settings) -> int:
    """`campaign status`: one campaign in detail, or every campaign in short."""
    now = datetime.now(UTC)
    async with await Store.from_settings(settings) as store:
        if args.campaign is None:
            infos = await store.campaigns.list_all()
        else:
            infos = [await find_campaign(store, args.campaign, tenant=args.tenant)]
        statuses = [await campaign_status(store, info, now) for info in infos]
    if args.json:
        print(json.dumps(statuses if args.campaign is None else statuses[0], indent=2))
        return 0
    for status in statuses:
        print(render_status(status))
    return 0


async def campaign_status(store: Store, info: CampaignInfo, now: datetime) -> dict[str, Any]:
    """A campaign's status as plain data: status, freezes, leads by status, today so far."""
    tenant = await store.tenants.get(info.tenant_id)
    leads = await store.leads.count_by_status(info.id)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hours = await store.stats.hourly(info.id, since=midnight)
    today = {name: sum(getattr(h, name) for h in hours)
             for name in ("attempts", "answers", "live_answers", "abandons", "amd_machine")}
    live = today["live_answers"]
    return {
        "id": info.id, "name": info.name, "profile": info.profile, "status": info.status.value,
        "tenant": _tenant_status(tenant, now),
        "frozen": _freeze(info.frozen_until, info.freeze_reason, now),
        "leads": {s.value: leads.get(s, 0) for s in LeadStatus},
        "today_utc": {**today, "abandon_rate": (today["abandons"] / live) if live else None},
        "dialling": _dialling(info, tenant, now),
    }


def _freeze(until: datetime | None, reason: str | None, now: datetime) -> dict[str, Any] | None:
    if not frozen_at(until, now):
        return None
    return {"until": None if until is None or until.year >= _NO_END_YEAR else until.isoformat(),
            "reason": reason or ""}


def _tenant_status(tenant: TenantInfo, now: datetime) -> dict[str, Any]:
    return {"id": tenant.id, "name": tenant.name, "status": tenant.status.value,
            "frozen": _freeze(tenant.frozen_until, tenant.freeze_reason, now),
            "max_lines": tenant.max_lines}


def _dialling(info: CampaignInfo, tenant: TenantInfo, now: datetime) -> str:
    """Whether the gate lets this campaign dial now, and if not, the first reason."""
    if info.status is not CampaignStatus.RUNNING:
        return f"no: campaign {info.status.value}"
    if frozen_at(info.frozen_until, now):
        return f"no: campaign frozen {_until(info.frozen_until)}"
    if tenant.status.value != "active":
        return f"no: tenant {tenant.status.value}"
    if frozen_at(tenant.frozen_until, now):
        return f"no: tenant frozen {_until(tenant.frozen_until)}"
    return "yes (subject to windows, caps and the DNC per number)"


def render_status(status: dict[str, Any]) -> str:
    """A status as lines of text."""
    tenant = status["tenant"]
    lines = [(f"campaign {status['name']!r} (id {status['id']}, profile {status['profile']}) "
             f"of tenant {tenant['name']!r}: {status['status']}"),
             f"  dialling: {status['dialling']}"]
    for who, frozen in (("campaign", status["frozen"]), ("tenant", tenant["frozen"])):
        if frozen is not None:
            end = f"until {frozen['until']}" if frozen["until"] else "until unfrozen"
            lines.append(f"  {who} frozen {end}: {frozen['reason'] or '(no reason given)'}")
    leads = ", ".join(f"{k} {v}" for k, v in status["leads"].items() if v) or "none"
    lines.append(f"  leads: {leads}")
    today = status["today_utc"]
    rate = today["abandon_rate"]
    lines.append(f"  today (UTC): {today['attempts']} attempts, {today['answers']} answered, "
                 f"{today['live_answers']} live, {today['abandons']} abandoned"
                 + (f" ({rate:.1%} of live)" if rate is not None else ""))
    return "\n".join(lines)


async def change_campaign(args: argparse.Namespace, settings: Settings) -> int:
    """`campaign pause|resume|freeze|unfreeze`: change the store (audited)."""
    now = datetime.now(UTC)
    actor = actor_of(args)
    async with await Store.from_settings(settings) as store:
        info = await find_campaign(store, args.campaign, tenant=args.tenant)
        if args.verb == "pause":
            info = await store.campaigns.set_status(info.id, CampaignStatus.PAUSED, now=now,
                                                    actor=actor)
        elif args.verb == "resume":
            stored_campaign(info)  # refuse to run a campaign whose snapshot is unusable
            info = await store.campaigns.set_status(info.id, CampaignStatus.RUNNING, now=now,
                                                    actor=actor)
        elif args.verb == "freeze":
            info = await store.campaigns.freeze(info.id, until=args.until, reason=args.reason,
                                                now=now, actor=actor)
        else:
            info = await store.campaigns.unfreeze(info.id, now=now, actor=actor)
    print(f"campaign {info.name!r} (id {info.id}): {_status_text(info, now)}"
          + (f" ({_in(args.until, now)})" if getattr(args, "until", None) else ""))
    return 0


def _in(until: datetime, now: datetime) -> str:
    left = until - now
    return "already past" if left <= timedelta(0) else f"lifts in {format_duration(left)}"
