"""The dialer's exception tree.

    DialerError
     ├── ConfigError        bad configuration: names the file, line and field
     ├── StoreUnavailable   the store cannot be read or written (the engine fails closed)
     ├── NotFound           a tenant, campaign, agent, attempt… named by the caller is absent
     ├── CryptoError        an encrypted value cannot be decrypted
     │    ├── UnknownKeyId      it names a data key the keyring does not hold
     │    └── DecryptionFailed  it was tampered with, truncated, or moved to another column
     ├── CommandError       an operator's command (MQTT) is not carried out
     │    ├── CommandRejected   malformed, unknown, unauthorised, stale, duplicate, retained
     │    └── CommandRefused    valid, but its target cannot do it (e.g. resume a draft)
     └── NoDemoRegion       no demo country's calling window is open now (`dialer demo leads`)
"""

from __future__ import annotations

import enum
from pathlib import Path


class DialerError(Exception):
    """Base of every error the dialer raises on purpose."""


class ConfigError(DialerError):
    """A configuration file or value is invalid; carries where and what."""

    def __init__(self, message: str, *, file: str | Path | None = None,
                 line: int | None = None, field: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = ":".join(str(p) for p in (self.file, line) if p is not None)
        parts = [p for p in (where, f"field '{field}'" if field else None, message) if p]
        super().__init__(": ".join(parts))


class StoreFault(enum.StrEnum):
    """Why the store is unavailable."""

    LOCKED = "locked"
    CORRUPT = "corrupt"
    CANNOT_OPEN = "cannot_open"
    READ_ONLY = "read_only"
    DISK_FULL = "disk_full"
    IO_ERROR = "io_error"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_LOST = "connection_lost"
    SERVER_UNAVAILABLE = "server_unavailable"
    AUTH_FAILED = "auth_failed"
    TIMEOUT = "timeout"
    SCHEMA_MISMATCH = "schema_mismatch"
    UNKNOWN = "unknown"


class StoreUnavailable(DialerError):
    """The SQL store cannot be reached or read; no call may start until it is back.

    `cause` says why (a `StoreFault`); `where` names the database without secrets.
    """

    def __init__(self, message: str, *, cause: StoreFault = StoreFault.UNKNOWN,
                 where: str | None = None) -> None:
        self.cause = cause
        self.where = where
        self.reason = message
        prefix = f"store unavailable ({cause.value})"
        super().__init__(f"{prefix}: {message}" + (f" [{where}]" if where else ""))


class NotFound(DialerError):
    """A record the caller named does not exist; carries its kind and id."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no {kind} {ident!r}")


class CryptoError(DialerError):
    """An encrypted value cannot be turned back into its plaintext."""


class UnknownKeyId(CryptoError):
    """The value was encrypted with a data key this keyring does not hold."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"data key {key_id!r} is not in the keyring "
                         "(was it removed, or is this the wrong key file?)")


class DecryptionFailed(CryptoError):
    """The value fails authentication: tampered, truncated, or from another column."""

    def __init__(self, message: str, *, column: str, key_id: str | None = None) -> None:
        self.column = column
        self.key_id = key_id
        super().__init__(f"cannot decrypt {column}"
                         + (f" (key {key_id!r})" if key_id else "") + f": {message}")


class CommandError(DialerError):
    """An operator's command is not carried out."""


class CommandRejected(CommandError):
    """A command that is never acted on; `reason` says why (a `RejectReason` value).

    `command_id` is the command's id when it was readable; the message never
    repeats the command's token or payload.
    """

    def __init__(self, reason: str, detail: str, *, command_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.command_id = command_id
        super().__init__(f"{reason}: {detail}")


class CommandRefused(CommandError):
    """A valid command its target cannot carry out now (says why)."""


class NoDemoRegion(DialerError):
    """No candidate country of the demo leads is inside its calling window right now."""
