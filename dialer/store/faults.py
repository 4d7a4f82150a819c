"""Translate database failures into `StoreUnavailable` with the cause named.

A locked or corrupt SQLite file, a refused or lost PostgreSQL connection, a timeout:
each becomes `StoreUnavailable(cause=StoreFault.…)`, chained to the original, so the
engine can fail closed and say why. Errors that mean a bug (a constraint violated, bad
SQL) are not availability problems and pass through unchanged.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from dialer.errors import StoreFault, StoreUnavailable

_SQLITE_MESSAGES: tuple[tuple[str, StoreFault], ...] = (
    ("database is locked", StoreFault.LOCKED),
    ("database table is locked", StoreFault.LOCKED),
    ("database schema is locked", StoreFault.LOCKED),
    ("file is not a database", StoreFault.CORRUPT),
    ("malformed", StoreFault.CORRUPT),
    ("unable to open database", StoreFault.CANNOT_OPEN),
    ("readonly database", StoreFault.READ_ONLY),
    ("database or disk is full", StoreFault.DISK_FULL),
    ("disk i/o error", StoreFault.IO_ERROR),
)

_PG_TYPES: tuple[tuple[tuple[type[BaseException], ...], StoreFault], ...] = (
    ((asyncpg.InvalidAuthorizationSpecificationError,), StoreFault.AUTH_FAILED),
    ((asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError),
     StoreFault.SERVER_UNAVAILABLE),
    ((asyncpg.AdminShutdownError, asyncpg.ConnectionDoesNotExistError,
      asyncpg.PostgresConnectionError, ConnectionResetError, BrokenPipeError,
      ConnectionAbortedError), StoreFault.CONNECTION_LOST),
    ((ConnectionRefusedError, socket.gaierror), StoreFault.CONNECTION_REFUSED),
    ((TimeoutError, sa_exc.TimeoutError, asyncpg.QueryCanceledError), StoreFault.TIMEOUT),
)


def describe_url(url: str) -> str:
    """The database a URL names, without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite file {parsed.database or ':memory:'}"
    return f"postgresql {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


def classify(exc: BaseException) -> StoreFault | None:
    """The availability fault behind an exception, or None if it is not one."""
    chain = list(_chain(exc))
    for link in chain:
        if isinstance(link, sqlite3.Error):
            text = str(link).lower()
            for fragment, fault in _SQLITE_MESSAGES:
                if fragment in text:
                    return fault
    for types, fault in _PG_TYPES:
        if any(isinstance(link, types) for link in chain):
            return fault
    for link in chain:
        if isinstance(link, OSError) and link.errno == errno.ECONNREFUSED:
            return StoreFault.CONNECTION_REFUSED
        if isinstance(link, OSError) and link.errno in (errno.ECONNRESET, errno.EPIPE):
            return StoreFault.CONNECTION_LOST
        if isinstance(link, asyncpg.InterfaceError) and "closed" in str(link):
            return StoreFault.CONNECTION_LOST
        if isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated:
            return StoreFault.CONNECTION_LOST
    return None


def _reason(exc: BaseException) -> str:
    root = next((link for link in _chain(exc)
                 if not isinstance(link, sa_exc.StatementError)), exc)
    text = str(root).strip().splitlines()[0] if str(root).strip() else ""
    return f"{type(root).__name__}: {text}" if text else type(root).__name__


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Re-raise availability failures inside the block as `StoreUnavailable`."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        fault = classify(exc)
        if fault is None:
            raise
        raise StoreUnavailable(_reason(exc), cause=fault, where=where) from exc
