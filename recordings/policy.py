"""A campaign's recording policy, read from whatever object its config provides.

The campaign config carries::

    recording: {mode: never|on_demand|all, consent_announcement: <sound or null>,
                stereo: false, toggle_code: "*7"}

`policy_of` reads those attributes (or mapping keys) with defaults, so this package does
not depend on the campaign model. A compliance profile may require the announcement:
then a policy that records (`all`, `on_demand`) without one is refused (`PolicyError`)
and the call is not recorded: fail closed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recordings.errors import PolicyError

DEFAULT_TOGGLE_CODE = "*7"
_TOGGLE = re.compile(r"^[0-9*#]{1,8}$")
_SOUND = re.compile(r"^[A-Za-z0-9_./:-]{1,200}$")


class RecordingMode(enum.StrEnum):
    """When a campaign's calls are recorded."""

    NEVER = "never"
    ON_DEMAND = "on_demand"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    """How one campaign records: mode, announcement (an Asterisk sound), legs, toggle."""

    mode: RecordingMode = RecordingMode.NEVER
    consent_announcement: str | None = None
    stereo: bool = False
    toggle_code: str = DEFAULT_TOGGLE_CODE

    @property
    def records(self) -> bool:
        """True unless the mode is `never`."""
        return self.mode is not RecordingMode.NEVER

    @property
    def announcement_media(self) -> str | None:
        """The announcement as an ARI media URI (`sound:<name>` unless a scheme is given)."""
        sound = self.consent_announcement
        if sound is None:
            return None
        return sound if ":" in sound else f"sound:{sound}"


def _read(source: Any, name: str, default: Any) -> Any:
    if isinstance(source, Mapping):
        return source.get(name, default)
    return getattr(source, name, default)


def policy_of(recording: Any, *, announcement_required: bool = False) -> RecordingPolicy:
    """The policy of a campaign's `recording` settings (an object or a mapping; None:
    never record). Raises PolicyError naming the field that is wrong."""
    if recording is None:
        return RecordingPolicy()
    raw_mode = _read(recording, "mode", RecordingMode.NEVER)
    try:
        mode = RecordingMode(getattr(raw_mode, "value", raw_mode))
    except ValueError:
        raise PolicyError(f"{raw_mode!r} is not one of never, on_demand, all",
                          field="mode") from None
    sound = _read(recording, "consent_announcement", None)
    if sound is not None and (not isinstance(sound, str) or not _SOUND.match(sound)):
        raise PolicyError(f"{sound!r} is not a sound name", field="consent_announcement")
    code = str(_read(recording, "toggle_code", DEFAULT_TOGGLE_CODE))
    if not _TOGGLE.match(code):
        raise PolicyError(f"{code!r} is not a DTMF code such as *7", field="toggle_code")
    policy = RecordingPolicy(mode=mode, consent_announcement=sound or None,
                             stereo=bool(_read(recording, "stereo", False)), toggle_code=code)
    if announcement_required and policy.records and policy.consent_announcement is None:
        raise PolicyError("the compliance profile requires a consent announcement before "
                          "recording; name one (e.g. conf-now-recording)",
                          field="consent_announcement")
    return policy
