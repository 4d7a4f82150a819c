"""Operators' commands over MQTT: pause, resume, freeze [until], unfreeze, drain.

A command is a JSON object on `dialer/<node>/cmd` (one node) or `dialer/all/cmd`
(every node)::

    {"id": "c-0042", "command": "freeze", "campaign": 12, "until": "2026-03-01T18:00:00+08:00",
     "reason": "complaint", "by": "alice", "at": "2026-03-01T09:30:00Z", "token": "<secret>"}

The node answers each one on `dialer/<node>/cmd/result` with its id and `ok`,
`rejected` (never acted on) or `failed` (valid, but the target could not do it), and a
reason. A command is acted on only if it is not a retained message, carries the
node's command token (compared in constant time; no token configured: every command
is rejected), is well-formed and known, is fresh (`at` no older than `max_age`, not
more than `max_skew` ahead) and its id has not been seen within that window. Rejections
are logged with the id and the reason, never with the token or the payload.

`CommandTarget` is what carries commands out: the engine implements it; so does
`StoreCommandTarget`, which writes campaign status and freezes to the store (the
engine reads them at every tick) and cannot drain.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from dialer.clock import Clock, WallClock
from dialer.errors import CommandRefused, CommandRejected, DialerError
from dialer.events import (
    ALL_NODES,
    EventBus,
    Message,
    command_result,
    command_topic,
    publish_event,
)
from dialer.metrics import Metrics
from dialer.settings import Settings
from dialer.store import CampaignStatus, Store
from dnc import mask_numbers_in_text

log = logging.getLogger(__name__)

FIELDS = frozenset({"id", "command", "campaign", "until", "reason", "by", "at", "token"})
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_BY = re.compile(r"[\w.@\-]{1,64}")
_FIELD_NAME = re.compile(r"[a-z_]{1,20}")
MAX_REASON = 200


class CommandKind(enum.StrEnum):
    """What a command asks for."""

    PAUSE = "pause"
    RESUME = "resume"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    DRAIN = "drain"


_KINDS = frozenset(k.value for k in CommandKind)
CAMPAIGN_COMMANDS = frozenset({CommandKind.PAUSE, CommandKind.RESUME, CommandKind.FREEZE,
                               CommandKind.UNFREEZE})


class CommandStatus(enum.StrEnum):
    """A command's result."""

    OK = "ok"
    REJECTED = "rejected"     # never acted on
    FAILED = "failed"         # valid, but the target could not carry it out


class RejectReason(enum.StrEnum):
    """Why a command was rejected."""

    RETAINED = "retained"
    UNAUTHORISED = "unauthorised"
    MALFORMED = "malformed"
    UNKNOWN_COMMAND = "unknown_command"
    STALE = "stale"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Command:
    """A checked command (numbers in `reason` already masked)."""

    id: str
    kind: CommandKind
    at: datetime
    campaign: int | None = None
    until: datetime | None = None
    reason: str | None = None
    by: str | None = None

    def describe(self) -> str:
        """What the target is told as the reason: the operator's words and the command."""
        origin = f"mqtt command {self.id}" + (f" by {self.by}" if self.by else "")
        return f"{self.reason} ({origin})" if self.reason else origin


@dataclass(frozen=True)
class CommandResult:
    """What a node answers to one command."""

    command_id: str | None
    command: CommandKind | None
    status: CommandStatus
    reason: str | None = None


class CommandTarget(Protocol):
    """What carries commands out (the engine; or `StoreCommandTarget`)."""

    async def pause_campaign(self, campaign: int, reason: str) -> None:
        """Stop starting calls for the campaign (live calls go on)."""
        ...

    async def resume_campaign(self, campaign: int) -> None:
        """Start dialling a paused campaign again."""
        ...

    async def freeze_campaign(self, campaign: int, until: datetime | None, reason: str) -> None:
        """Freeze the campaign until `until` (None: until unfrozen)."""
        ...

    async def unfreeze_campaign(self, campaign: int) -> None:
        """Lift the campaign's freeze."""
        ...

    async def drain(self, node: str) -> None:
        """Stop starting calls on `node` and let its live calls finish."""
        ...


def parse_command(payload: Mapping[str, Any], *, token: str | None, now: datetime,
                  max_age: timedelta, max_skew: timedelta, retained: bool = False) -> Command:
    """Check one command; CommandRejected (with its reason) unless it may be acted on.

    The token is checked before anything else is looked at, so a sender without it
    learns nothing but `unauthorised`."""
    raw_id = payload.get("id")
    command_id = raw_id if isinstance(raw_id, str) and _ID.fullmatch(raw_id) else None

    def reject(reason: RejectReason, detail: str) -> CommandRejected:
        return CommandRejected(reason.value, detail, command_id=command_id)

    if retained:
        raise reject(RejectReason.RETAINED, "retained commands are never acted on")
    if token is None:
        raise reject(RejectReason.UNAUTHORISED, "commands are disabled: no command token is set")
    sent = payload.get("token")
    if not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")):
        raise reject(RejectReason.UNAUTHORISED, "missing or wrong token")
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        named = [k for k in unknown if _FIELD_NAME.fullmatch(k)]     # echo only plain names
        raise reject(RejectReason.MALFORMED, f"{len(unknown)} unknown field(s)"
                     + (f": {', '.join(named[:5])}" if named else ""))
    if command_id is None:
        raise reject(RejectReason.MALFORMED, "'id' must be 1-64 of A-Z a-z 0-9 _ . : -")
    kind = _known_kind(payload.get("command"))
    if kind is None:
        raise reject(RejectReason.UNKNOWN_COMMAND,
                     f"'command' must be one of {', '.join(k.value for k in CommandKind)}")
    at = _time(payload.get("at"), "at", reject)
    if at < now - max_age:
        raise reject(RejectReason.STALE, f"issued more than {max_age.total_seconds():g} s ago")
    if at > now + max_skew:
        raise reject(RejectReason.STALE, "issued in the future (check the sender's clock)")
    campaign = payload.get("campaign")
    if kind in CAMPAIGN_COMMANDS:
        if not isinstance(campaign, int) or isinstance(campaign, bool) or campaign < 1:
            raise reject(RejectReason.MALFORMED, "'campaign' must be a positive integer")
    elif campaign is not None:
        raise reject(RejectReason.MALFORMED, f"'{kind}' takes no campaign")
    until = None
    if payload.get("until") is not None:
        if kind is not CommandKind.FREEZE:
            raise reject(RejectReason.MALFORMED, "only 'freeze' takes 'until'")
        until = _time(payload["until"], "until", reject)
        if until <= now:
            raise reject(RejectReason.MALFORMED, "'until' is not in the future")
    reason = payload.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON
                               or not reason.isprintable()):
        raise reject(RejectReason.MALFORMED,
                     f"'reason' must be printable text of at most {MAX_REASON} characters")
    by = payload.get("by")
    if by is not None and (not isinstance(by, str) or not _BY.fullmatch(by)):
        raise reject(RejectReason.MALFORMED, "'by' must be 1-64 of letters, digits, _ . @ -")
    return Command(command_id, kind, at, campaign, until,
                   None if reason is None else mask_numbers_in_text(reason), by)


def _time(value: object, name: str,
          reject: Callable[[RejectReason, str], CommandRejected]) -> datetime:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise reject(RejectReason.MALFORMED, f"'{name}' must be an ISO 8601 time with a zone")
    return when


class CommandService:
    """Listens for this node's commands, checks them, has the target carry them out and
    publishes each result. Run `run()` in a task the node owns; `ready` is set once
    both command topics are subscribed."""

    def __init__(self, bus: EventBus, target: CommandTarget, *, node_id: str,
                 token: str | None, clock: Clock | None = None,
                 max_age: timedelta = timedelta(seconds=60),
                 max_skew: timedelta = timedelta(seconds=30),
                 target_timeout: float = 10.0, metrics: Metrics | None = None) -> None:
        self.node_id = node_id
        self.ready = asyncio.Event()
        self._bus = bus
        self._target = target
        self._token = token
        self._clock = clock or WallClock()
        self._max_age = max_age
        self._max_skew = max_skew
        self._target_timeout = target_timeout
        self._metrics = metrics
        self._seen: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        if token is None:
            log.warning("commands[%s]: no command token is set; every command is rejected",
                        node_id)

    @classmethod
    def from_settings(cls, bus: EventBus, target: CommandTarget, settings: Settings,
                      **options: Any) -> CommandService:
        """A service with the node id, command token and maximum age of the settings."""
        return cls(bus, target, node_id=settings.node_id, token=settings.secret("command_token"),
                   max_age=timedelta(seconds=settings.command_max_age_s), **options)

    async def run(self) -> None:
        """Handle commands on `dialer/<node>/cmd` and `dialer/all/cmd` until cancelled."""
        async with self._bus.subscribe(command_topic(self.node_id)) as mine, \
                self._bus.subscribe(command_topic(ALL_NODES)) as everyone:
            self.ready.set()
            async with asyncio.TaskGroup() as tg:
                for messages in (mine, everyone):
                    tg.create_task(self._listen(messages), name=f"commands[{self.node_id}]")

    async def _listen(self, messages: AsyncIterator[Message]) -> None:
        async for message in messages:
            await self.handle(message)

    async def handle(self, message: Message) -> CommandResult:
        """Check, carry out and answer one command message."""
        async with self._lock:
            result = await self._execute(message)
        if self._metrics is not None:
            self._metrics.command_handled(None if result.command is None else result.command.value,
                                          result.status.value)
        await publish_event(self._bus, command_result(
            self.node_id, command_id=result.command_id,
            command=None if result.command is None else result.command.value,
            status=result.status.value, reason=result.reason, at=self._clock.now()))
        return result

    async def _execute(self, message: Message) -> CommandResult:
        now = self._clock.now()
        self._seen = {k: at for k, at in self._seen.items()
                      if at >= now - self._max_age - self._max_skew}
        try:
            command = parse_command(message.payload, token=self._token, now=now,
                                    max_age=self._max_age, max_skew=self._max_skew,
                                    retained=message.retain)
            if command.id in self._seen:
                raise CommandRejected(RejectReason.DUPLICATE.value,
                                      "this command id was already handled",
                                      command_id=command.id)
        except CommandRejected as rejected:
            kind = _known_kind(message.payload.get("command"))
            log.warning("commands[%s]: command %s (%s) on %s rejected: %s", self.node_id,
                        rejected.command_id, kind or "?", message.topic, rejected)
            return CommandResult(rejected.command_id, kind, CommandStatus.REJECTED,
                                 str(rejected))
        self._seen[command.id] = command.at
        try:
            async with asyncio.timeout(self._target_timeout):
                await self._dispatch(command)
        except TimeoutError:
            return self._failed(command, f"not done within {self._target_timeout:g} s")
        except DialerError as exc:
            return self._failed(command, mask_numbers_in_text(str(exc)))
        log.info("commands[%s]: %s: %s%s by %s: ok", self.node_id, command.id, command.kind,
                 "" if command.campaign is None else f" campaign {command.campaign}",
                 command.by or "?")
        return CommandResult(command.id, command.kind, CommandStatus.OK)

    def _failed(self, command: Command, reason: str) -> CommandResult:
        log.warning("commands[%s]: %s: %s failed: %s", self.node_id, command.id, command.kind,
                    reason)
        return CommandResult(command.id, command.kind, CommandStatus.FAILED, reason)

    async def _dispatch(self, command: Command) -> None:
        if command.kind is CommandKind.DRAIN:
            await self._target.drain(self.node_id)
            return
        campaign = command.campaign
        assert campaign is not None     # parse_command requires it of campaign commands
        match command.kind:
            case CommandKind.PAUSE:
                await self._target.pause_campaign(campaign, command.describe())
            case CommandKind.RESUME:
                await self._target.resume_campaign(campaign)
            case CommandKind.FREEZE:
                await self._target.freeze_campaign(campaign, command.until, command.describe())
            case CommandKind.UNFREEZE:
                await self._target.unfreeze_campaign(campaign)


def _known_kind(value: object) -> CommandKind | None:
    return CommandKind(value) if isinstance(value, str) and value in _KINDS else None


class StoreCommandTarget:
    """Carries campaign commands out in the store (status, freeze), audited as `actor`;
    the engine sees them at its next tick. It cannot drain a node."""

    def __init__(self, store: Store, *, clock: Clock | None = None, actor: str = "mqtt") -> None:
        self._store = store
        self._clock = clock or WallClock()
        self._actor = actor

    async def pause_campaign(self, campaign: int, reason: str) -> None:
        """A running campaign becomes paused (already paused: nothing to do)."""
        await self._move(campaign, CampaignStatus.RUNNING, CampaignStatus.PAUSED)

    async def resume_campaign(self, campaign: int) -> None:
        """A paused campaign runs again (already running: nothing to do)."""
        await self._move(campaign, CampaignStatus.PAUSED, CampaignStatus.RUNNING)

    async def freeze_campaign(self, campaign: int, until: datetime | None, reason: str) -> None:
        """Freeze the campaign in the store until `until` (None: until unfrozen)."""
        await self._store.campaigns.freeze(campaign, until=until, reason=reason,
                                           now=self._clock.now(), actor=self._actor)

    async def unfreeze_campaign(self, campaign: int) -> None:
        """Lift the campaign's freeze in the store."""
        await self._store.campaigns.unfreeze(campaign, now=self._clock.now(), actor=self._actor)

    async def drain(self, node: str) -> None:
        """Refused: draining is the running engine's to do."""
        raise CommandRefused(f"node {node} has no engine attached to drain")

    async def _move(self, campaign: int, source: CampaignStatus, target: CampaignStatus) -> None:
        info = await self._store.campaigns.get(campaign)
        if info.status == target:
            return
        if info.status != source:
            raise CommandRefused(f"campaign {campaign} is {info.status}, not {source}")
        await self._store.campaigns.set_status(campaign, target, now=self._clock.now(),
                                               actor=self._actor)
