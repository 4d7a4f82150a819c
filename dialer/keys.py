"""The node's keyring: the DNC hash key and the data keys for encryption at rest.

A key file is JSON, readable by its owner only::

    {"hash_key": "<base64, 32 bytes>",
     "data_keys": {"k1": "<base64, 32 bytes>", "k2": "..."},
     "active": "k2"}

The hash key never rotates (DNC entries are stored only as keyed hashes of it); data
keys rotate: new data is encrypted with the active key, old data names its key id.
The file is `--key-file`, `DIALER_KEY_FILE`, or the JSON itself in `DIALER_KEYRING`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialer.errors import ConfigError

KEY_BYTES = 32


@dataclass(frozen=True)
class Keyring:
    """The hash key and the data keys by id, with the id of the one to encrypt with."""

    hash_key: bytes
    data_keys: Mapping[str, bytes] = field(repr=False)
    active: str

    def __repr__(self) -> str:
        return f"Keyring(active={self.active!r}, data_keys={sorted(self.data_keys)})"

    @property
    def active_key(self) -> bytes:
        """The data key new data is encrypted with."""
        return self.data_keys[self.active]

    def with_new_data_key(self) -> Keyring:
        """A copy with one more, freshly generated data key, made active."""
        n = 1 + max((int(k[1:]) for k in self.data_keys if k[1:].isdigit()), default=0)
        key_id = f"k{n}"
        keys = dict(self.data_keys, **{key_id: secrets.token_bytes(KEY_BYTES)})
        return Keyring(self.hash_key, keys, key_id)

    def to_json(self) -> str:
        """The key file's contents."""
        return json.dumps({"hash_key": _encode(self.hash_key),
                           "data_keys": {k: _encode(v) for k, v in sorted(self.data_keys.items())},
                           "active": self.active}, indent=2)


def _encode(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def new_keyring() -> Keyring:
    """A keyring with a fresh hash key and one fresh data key."""
    return Keyring(secrets.token_bytes(KEY_BYTES), {"k1": secrets.token_bytes(KEY_BYTES)}, "k1")


def parse_keyring(text: str, source: str) -> Keyring:
    """Parse a key file's JSON; `source` names it in errors (never its contents)."""
    try:
        data = json.loads(text)
        hash_key = _decode(data["hash_key"], source, "hash_key")
        data_keys = {str(k): _decode(v, source, f"data_keys.{k}")
                     for k, v in data["data_keys"].items()}
        active = str(data["active"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"not a valid key file ({type(exc).__name__}: {exc})",
                          file=source) from None
    if active not in data_keys:
        raise ConfigError(f"active key {active!r} is not among data_keys", file=source,
                          field="active")
    return Keyring(hash_key, data_keys, active)


def _decode(value: object, source: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except binascii.Error as exc:
        raise ConfigError("not base64", file=source, field=name) from exc
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"must be {KEY_BYTES} bytes, is {len(raw)}", file=source, field=name)
    return raw


def load_keyring(key_file: str | Path | None, env: Mapping[str, str] | None = None) -> Keyring:
    """Load the keyring from `key_file`, else from `DIALER_KEYRING`; fail clearly if neither."""
    env = os.environ if env is None else env
    if key_file is not None:
        path = Path(key_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read key file: {exc.strerror}", file=path) from exc
        return parse_keyring(text, str(path))
    if env.get("DIALER_KEYRING"):
        return parse_keyring(env["DIALER_KEYRING"], "DIALER_KEYRING")
    raise ConfigError("no key file: set DIALER_KEY_FILE or --key-file "
                      "(create one with `dialer keys init FILE`)", field="key_file")


def write_keyring(keyring: Keyring, path: str | Path) -> None:
    """Write a key file readable by its owner only, replacing any old one atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(keyring.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
