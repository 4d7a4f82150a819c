"""Every package exports a sorted `__all__` of names that exist (its public door)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ["dialer", "pacing", "ari_bridge", "dnc", "recordings"]


def _packages() -> list[str]:
    names = []
    for top in PACKAGES:
        module = importlib.import_module(top)
        names.append(top)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{top}."):
            if info.ispkg:
                names.append(info.name)
    return names


@pytest.mark.parametrize("name", _packages())
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("lower", ["pacing", "ari_bridge", "dnc", "recordings"])
def test_lower_packages_never_import_dialer(lower: str) -> None:
    """Dependencies point one way: dialer uses the others, never the reverse."""
    import ast
    from pathlib import Path

    root = Path(importlib.import_module(lower).__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            offenders += [f"{path}:{node.lineno}" for m in mods if m.split(".")[0] == "dialer"]
    assert not offenders, offenders


def test_pacing_is_pure() -> None:
    """pacing/ does no I/O and reads no clock: no asyncio, sockets, time or files."""
    import ast
    from pathlib import Path

    forbidden = {"asyncio", "socket", "time", "datetime", "ari_bridge", "aiohttp", "sqlalchemy",
                 "logging", "os", "subprocess"}
    root = Path(importlib.import_module("pacing").__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            offenders += [f"{path}:{node.lineno} {m}" for m in mods
                          if m.split(".")[0] in forbidden]
    assert not offenders, offenders
