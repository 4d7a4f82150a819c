"""`dialer keys`: create the key file, rotate data keys, show and prune their use."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialer.cli.store_args import actor_of
from dialer.crypto import FieldCipher
from dialer.errors import ConfigError, DialerError
from dialer.keys import Keyring, load_keyring, new_keyring, write_keyring
from dialer.recorder import open_vault
from dialer.settings import Settings
from dialer.store import Store
from dialer.store.rotation import KeyRotator, key_usage, unused_keys


def register(sub: Any) -> None:
    """Add the `keys` command group."""
    keys = sub.add_parser("keys", help="manage the key file (hash key, data keys)")
    verbs = keys.add_subparsers(dest="verb", metavar="VERB", required=True)
    init = verbs.add_parser("init", help="create a new key file, readable by its owner only")
    init.add_argument("file", type=Path)
    init.set_defaults(handler=init_keys)
    rotate = verbs.add_parser("rotate", help="add a data key and re-encrypt everything with "
                              "it (fields, and this node's recording files)")
    rotate.add_argument("--resume", action="store_true",
                        help="only finish re-encrypting under the current active key")
    rotate.add_argument("--batch-size", type=int, default=1000)
    rotate.add_argument("--actor", help="who is doing this (for the audit log)")
    rotate.set_defaults(handler=rotate_keys)
    status = verbs.add_parser("status", help="rows encrypted with each data key")
    status.set_defaults(handler=key_status)
    prune = verbs.add_parser("prune", help="drop data keys that no row uses any more")
    prune.add_argument("--actor", help="who is doing this (for the audit log)")
    prune.set_defaults(handler=prune_keys)


def init_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Write a fresh keyring to a new file (never over an existing one: data would be lost)."""
    path: Path = args.file
    if path.exists():
        raise ConfigError("already exists; a new key file would make its data unreadable",
                          file=path)
    write_keyring(new_keyring(), path)
    print(f"created {path} (mode 0600): a hash key and data key k1; keep a backup of it")
    return 0


def _key_file(settings: Settings) -> Path:
    if settings.key_file is None:
        raise ConfigError("rotation rewrites the key file: name it with --key-file or "
                          "DIALER_KEY_FILE", field="key_file")
    return settings.key_file


def print_usage(usage: Mapping[str, Mapping[str, int]], keyring: Keyring) -> None:
    """A table of rows per key id and table; `*` marks the active key, `!` a missing one."""
    tables = sorted(usage)
    print("key    " + "".join(f"{t:>12}" for t in tables))
    for key_id in sorted(keyring.data_keys):
        label = key_id + ("*" if key_id == keyring.active else "")
        print(f"{label:<7}" + "".join(f"{usage[t].get(key_id, 0):>12}" for t in tables))
    unknown = {k for counts in usage.values() for k in counts} - set(keyring.data_keys)
    for key_id in sorted(unknown):
        print(f"{key_id + '!':<7}" + "".join(f"{usage[t].get(key_id, 0):>12}" for t in tables)
              + "   (not in the key file!)")


async def rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Add a data key (unless --resume), re-encrypt every row with it, print key use."""
    path = _key_file(settings)
    keyring = load_keyring(path)
    now = datetime.now(UTC)
    actor = actor_of(args)
    async with await Store.open(settings.db_url, keyring, node_id=settings.node_id) as store:
        if not args.resume:
            usage = await key_usage(store.db)
            stale = sum(n for counts in usage.values() for k, n in counts.items()
                        if k != keyring.active)
            if stale:
                raise DialerError(f"{stale} rows still use older keys: finish the earlier "
                                  "rotation with `dialer keys rotate --resume` first")
            previous = keyring.active
            keyring = keyring.with_new_data_key()
            write_keyring(keyring, path)
            await store.audit(actor, "keys.rotate", at=now,
                              detail={"previous": previous, "active": keyring.active})
            print(f"{path}: new active data key {keyring.active} (previous {previous} kept)")
        rotator = KeyRotator(store, cipher=FieldCipher(keyring), batch_size=args.batch_size)
        done = await rotator.reencrypt(now=now, actor=actor)
        files = await open_vault(settings, store, keyring).rekey()
        print("re-encrypted: " + ", ".join(f"{t} {n}" for t, n in done.items())
              + f", recording files {files} (this node's)")
        print_usage(await key_usage(store.db), keyring)
    return 0


async def key_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the rows per data key id."""
    keyring = load_keyring(settings.key_file)
    async with await Store.open(settings.db_url, keyring, node_id=settings.node_id) as store:
        print_usage(await key_usage(store.db), keyring)
    return 0


async def prune_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Remove from the key file the data keys that no row uses and that are not active."""
    path = _key_file(settings)
    keyring = load_keyring(path)
    async with await Store.open(settings.db_url, keyring, node_id=settings.node_id) as store:
        usage = await key_usage(store.db)
        unused = unused_keys(usage, sorted(keyring.data_keys), keyring.active)
        if not unused:
            print("every data key is still in use (or active); nothing to prune")
            return 0
        kept = {k: v for k, v in keyring.data_keys.items() if k not in unused}
        write_keyring(Keyring(keyring.hash_key, kept, keyring.active), path)
        await store.audit(actor_of(args), "keys.prune", at=datetime.now(UTC),
                          detail={"removed": unused})
        print(f"{path}: removed unused data keys {', '.join(unused)}")
    return 0
