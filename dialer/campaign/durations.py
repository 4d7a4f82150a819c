"""Durations as campaign files write them: `90s`, `15m`, `2h`, `1d`, `1h30m`, or seconds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> Any:
    """`2h` -> timedelta(hours=2); numbers are seconds; timedeltas and ISO 8601 text pass."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = value.strip().lower().replace(" ", "") if isinstance(value, str) else ""
    if text.startswith("p"):
        return value  # ISO 8601 (how a stored snapshot may write it): pydantic parses it
    if text and _PART.sub("", text) == "" and _PART.match(text):
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    raise ValueError(f"expected a duration such as 90s, 15m, 2h or 1d, got {value!r}")


def format_duration(value: timedelta) -> str:
    """The shortest `1d2h30m`-style text of a duration (whole seconds)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration),
                     PlainSerializer(format_duration, return_type=str, when_used="json")]
