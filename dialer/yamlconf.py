"""Load YAML into pydantic models with errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dialer.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A safe loader that remembers the line of every mapping key and sequence item."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.lines: dict[Loc, int] = {}

    def construct_document(self, node: yaml.Node) -> Any:
        self._record(node, ())
        return super().construct_document(node)

    def _record(self, node: yaml.Node, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                self.lines[loc + (key,)] = key_node.start_mark.line + 1
                self._record(value_node, loc + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[loc + (i,)] = item.start_mark.line + 1
                self._record(item, loc + (i,))


def read_yaml(path: str | Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file; return the data and the line of every key path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from exc
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=path, line=line) from exc
    finally:
        loader.dispose()
    return data, loader.lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest prefix of `loc` that the file spells out."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def validation_error(path: str | Path, lines: dict[Loc, int],
                     exc: ValidationError) -> ConfigError:
    """Turn a pydantic error into a ConfigError for its first problem, listing all."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(lines, loc)
        problems.append((line, field, err["msg"]))
    line, field, msg = problems[0]
    more = "".join(f"\n  {path}:{ln}: field '{f}': {m}" for ln, f, m in problems[1:])
    return ConfigError(msg + more, file=path, line=line, field=field)


def load_model(path: str | Path, model: type[M], *, overrides: dict[str, Any] | None = None) -> M:
    """Read a YAML mapping into `model`; `overrides` win over the file's values."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping", file=path, line=1)
    data.update(overrides or {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(path, lines, exc) from exc
