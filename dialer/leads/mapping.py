"""Which CSV column holds what: the number, name, priority, consent, region, evidence.

`--map number=Phone,name=Name` names columns by their header; fields not mapped are
looked for under their usual headers (English or Chinese, any case). Every other
column is kept as a custom field of the lead (stored encrypted), under its header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dialer.errors import ConfigError

FIELDS = ("number", "name", "priority", "consent", "consent_evidence", "region")
USUAL_HEADERS: Mapping[str, tuple[str, ...]] = {
    "number": ("number", "phone", "phone_number", "mobile", "tel", "telephone", "msisdn",
               "号码", "电话", "手机", "手机号", "手机号码", "电话号码"),
    "name": ("name", "full_name", "姓名", "名字", "客户姓名"),
    "priority": ("priority", "优先级"),
    "consent": ("consent", "opt_in", "同意", "授权"),
    "consent_evidence": ("consent_evidence", "evidence", "同意凭证"),
    "region": ("region", "country", "国家", "地区"),
}


def parse_map(text: str | None) -> dict[str, str]:
    """`number=Phone,name=Name` -> {"number": "Phone", "name": "Name"}."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not key or not column:
            raise ValueError(f"expected FIELD=COLUMN, got {part.strip()!r}")
        if key not in FIELDS:
            raise ValueError(f"unknown field {key!r} (known: {', '.join(FIELDS)}; other "
                             "columns are kept as custom fields under their header)")
        mapping[key] = column
    return mapping


@dataclass(frozen=True, slots=True)
class Columns:
    """Positions of the known fields in a file's rows, and the custom columns."""

    header: tuple[str, ...]
    positions: Mapping[str, int]
    custom: tuple[int, ...] = field(default=())

    def name_of(self, field_name: str) -> str:
        """The header of the column holding a field (for error reports)."""
        return self.header[self.positions[field_name]]

    def has(self, field_name: str) -> bool:
        """True when the file has a column for this field."""
        return field_name in self.positions


def resolve_columns(header: Sequence[str], mapping: Mapping[str, str], path: str | Path,
                    *, consent_column: str | None = None) -> Columns:
    """Find each field's column in the header row; ConfigError (line 1) when a named
    column is missing or no number column can be found."""
    names = tuple(h.strip() for h in header)
    lowered = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
    wanted = dict(mapping)
    if consent_column is not None:
        wanted["consent"] = consent_column
    positions: dict[str, int] = {}
    for key, column in wanted.items():
        index = lowered.get(column.strip().lower())
        if index is None:
            raise ConfigError(f"no column {column!r} for {key} (columns: {', '.join(names)})",
                              file=path, line=1, field=key)
        positions[key] = index
    for key in FIELDS:
        if key not in positions:
            found = next((lowered[h] for h in USUAL_HEADERS[key] if h in lowered), None)
            if found is not None and found not in positions.values():
                positions[key] = found
    if "number" not in positions:
        raise ConfigError("no number column found (name it with --map number=COLUMN; "
                          f"columns: {', '.join(names)})", file=path, line=1, field="number")
    used = set(positions.values())
    custom = tuple(i for i, n in enumerate(names) if i not in used and n)
    return Columns(header=names, positions=positions, custom=custom)
