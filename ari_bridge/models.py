"""Typed snapshots of ARI resources: channels, bridges, playbacks, recordings, endpoints.

Each is built from Asterisk's JSON with `from_json`; unknown keys are ignored, so a
newer Asterisk adding fields never breaks parsing. Reprs mask phone numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dnc import mask_number


@dataclass(frozen=True, slots=True)
class CallerId:
    """A caller or connected-line identity (name and number)."""

    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CallerId:
        """Parse ARI's CallerID object (a missing object gives an empty identity)."""
        if not data:
            return _NO_CALLER
        return cls(data.get("name", ""), data.get("number", ""))

    def __repr__(self) -> str:
        number = mask_number(self.number) if self.number else ""
        return f"CallerId(name={self.name!r}, number={number!r})"


_NO_CALLER = CallerId()


@dataclass(frozen=True, slots=True)
class DialplanLocation:
    """Where a channel is in the dialplan."""

    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DialplanLocation:
        """Parse ARI's DialplanCEP object."""
        if not data:
            return cls()
        return cls(data.get("context", ""), data.get("exten", ""), int(data.get("priority", 0)),
                   data.get("app_name", ""), data.get("app_data", ""))


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as Asterisk described it in one response or event."""

    id: str
    name: str
    state: str
    caller: CallerId = _NO_CALLER
    connected: CallerId = _NO_CALLER
    dialplan: DialplanLocation = field(default_factory=DialplanLocation)
    creationtime: str = ""
    language: str = ""
    channelvars: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        """Parse ARI's Channel object."""
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            state=data.get("state", ""),
            caller=CallerId.from_json(data.get("caller")),
            connected=CallerId.from_json(data.get("connected")),
            dialplan=DialplanLocation.from_json(data.get("dialplan")),
            creationtime=data.get("creationtime", ""),
            language=data.get("language", ""),
            channelvars=data.get("channelvars") or {},
        )

    @property
    def technology(self) -> str:
        """The channel driver, e.g. "PJSIP" or "Local"."""
        return self.name.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Bridge:
    """A bridge and the channels in it."""

    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bridge:
        """Parse ARI's Bridge object."""
        return cls(data["id"], data.get("technology", ""), data.get("bridge_type", ""),
                   data.get("bridge_class", ""), data.get("name", ""),
                   tuple(data.get("channels", ())))


def target_id(target_uri: str) -> str:
    """The resource id of a `channel:<id>` / `bridge:<id>` target URI."""
    return target_uri.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Playback:
    """A playback of media to a channel or bridge."""

    id: str
    media_uri: str = ""
    target_uri: str = ""
    language: str = ""
    state: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Playback:
        """Parse ARI's Playback object."""
        return cls(data["id"], data.get("media_uri", ""), data.get("target_uri", ""),
                   data.get("language", ""), data.get("state", ""))


@dataclass(frozen=True, slots=True)
class LiveRecording:
    """A recording in progress (or just finished) of a channel or bridge."""

    name: str
    format: str = ""
    target_uri: str = ""
    state: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveRecording:
        """Parse ARI's LiveRecording object."""
        return cls(data["name"], data.get("format", ""), data.get("target_uri", ""),
                   data.get("state", ""), data.get("duration"), data.get("talking_duration"),
                   data.get("silence_duration"), data.get("cause", ""))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint (e.g. an agent's phone) and its channels."""

    technology: str
    resource: str
    state: str = ""
    channel_ids: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        """Parse ARI's Endpoint object."""
        return cls(data["technology"], data["resource"], data.get("state", ""),
                   tuple(data.get("channel_ids", ())))

    @property
    def source(self) -> str:
        """The event source naming this endpoint, e.g. `endpoint:PJSIP/8001`."""
        return f"endpoint:{self.technology}/{self.resource}"
