"""Operator keys: encrypted keystores for real networks, well-known keys for the dev chain."""

from __future__ import annotations

import builtins
import json
import os
import re
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from node.errors import KeystoreError

__all__ = [
    "DEV_KEYS_WARNING",
    "DEV_MNEMONIC",
    "DEV_ROLES",
    "Keystore",
    "atomic_write_text",
    "dev_account",
    "dev_accounts",
    "load_dev_accounts",
    "write_dev_accounts",
]

# anvil's (and hardhat's) default mnemonic. anvil pre-funds the accounts it derives from it, so the
# dev keys below hold ether on the dev chain without any funding transaction.
DEV_MNEMONIC = "test test test test test test test test test test test junk"

# One role per HD index, in this order: append new roles at the end so existing addresses never
# move. anvil must be started with at least len(DEV_ROLES) accounts for all of them to be funded.
DEV_ROLES: tuple[str, ...] = (
    "registry_admin",
    "issuer",
    "label_authority",
    "relayer",
    "deployer",
    "ar_1",
    "ar_2",
    "ar_3",
    "ar_4",
    "platform",
    "third_party_registry",
)

DEV_KEYS_WARNING = (
    "WARNING: DEVELOPMENT KEYS. The dev accounts are derived from the public test mnemonic "
    f"'{DEV_MNEMONIC}'. Their private keys are published on the internet and anyone can spend "
    "from them. Use them ONLY on the local dev chain; NEVER on a real network, and never send "
    "real funds to these addresses."
)

_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to `path` atomically, creating the file with `mode` permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # NOTE: mkstemp creates the file 0600 from the start, so the secret is never readable by others,
    # not even for the moment between writing and chmod.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Keystore:
    """Store operator keys as encrypted keystore v3 files, one `<name>.json` per key."""

    def __init__(
        self,
        directory: Path,
        *,
        kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
        iterations: int | None = None,
    ) -> None:
        """Use `directory` for keystore files; `kdf`/`iterations` tune encryption of new keys."""
        self.directory = Path(directory)
        self._kdf: Literal["scrypt", "pbkdf2"] = kdf
        self._iterations = iterations

    def path(self, name: str) -> Path:
        """Return the file of the key called `name`."""
        if not _KEY_NAME.match(name):
            raise KeystoreError(
                f"invalid key name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        return self.directory / f"{name}.json"

    def exists(self, name: str) -> bool:
        """Return True if a key called `name` is stored."""
        return self.path(name).is_file()

    def create(self, name: str, password: str, *, overwrite: bool = False) -> str:
        """Generate a new key, store it encrypted under `name` and return its address."""
        account: LocalAccount = Account.create()
        return self.import_key(name, account.key, password, overwrite=overwrite)

    def import_key(
        self, name: str, private_key: str | bytes, password: str, *, overwrite: bool = False
    ) -> str:
        """Store an existing private key encrypted under `name` and return its address."""
        path = self.path(name)
        if path.exists() and not overwrite:
            raise KeystoreError(
                f"a key named {name!r} already exists in {self.directory}; choose another name "
                "or delete the file first if you really mean to replace it"
            )
        if not password:
            raise KeystoreError("refusing to store a key with an empty password; choose one")
        try:
            account: LocalAccount = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise KeystoreError(
                f"not a valid secp256k1 private key for {name!r}: expect 32 bytes as 64 hex digits"
            ) from exc
        keyfile = Account.encrypt(account.key, password, kdf=self._kdf, iterations=self._iterations)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(path, json.dumps(keyfile, indent=2) + "\n")
        return account.address

    def load(self, name: str, password: str) -> LocalAccount:
        """Decrypt and return the key called `name`."""
        keyfile = self._read(name)
        try:
            private_key = Account.decrypt(keyfile, password)
        except ValueError as exc:
            raise KeystoreError(
                f"cannot decrypt key {name!r}: wrong password (or a corrupted keystore file "
                f"{self.path(name)}); check the password and try again"
            ) from exc
        account: LocalAccount = Account.from_key(private_key)
        return account

    def address(self, name: str) -> str:
        """Return the checksum address of the key called `name` without decrypting it."""
        return _keyfile_address(self._read(name), self.path(name))

    def list(self) -> builtins.list[tuple[str, str]]:
        """Return `(name, address)` for every stored key, sorted by name."""
        if not self.directory.is_dir():
            return []
        entries: builtins.list[tuple[str, str]] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                keyfile = json.loads(path.read_text(encoding="utf-8"))
                entries.append((path.stem, _keyfile_address(keyfile, path)))
            except (ValueError, KeystoreError):
                # A stray or half-written file must not hide the healthy keys next to it.
                continue
        return entries

    def _read(self, name: str) -> dict[str, Any]:
        path = self.path(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeystoreError(
                f"no key named {name!r} in {self.directory}; create or import it first"
            ) from exc
        except ValueError as exc:
            raise KeystoreError(f"keystore file {path} is not valid JSON; restore it") from exc
        if not isinstance(data, dict):
            raise KeystoreError(f"keystore file {path} is not a keystore v3 object; restore it")
        return data


def _keyfile_address(keyfile: Mapping[str, Any], path: Path) -> str:
    raw = keyfile.get("address")
    if not isinstance(raw, str):
        raise KeystoreError(f"keystore file {path} has no address field; re-import the key")
    try:
        return to_checksum_address(raw if raw.startswith("0x") else "0x" + raw)
    except ValueError as exc:
        raise KeystoreError(f"keystore file {path} has a malformed address {raw!r}") from exc


@cache
def _derive(index: int) -> LocalAccount:
    # eth-account gates BIP-32/44 derivation behind this flag; deriving well-known test keys is the
    # one use where "unaudited" does not matter.
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


def dev_account(role: str) -> LocalAccount:
    """Return the well-known dev key of `role` (see `DEV_ROLES`)."""
    try:
        index = DEV_ROLES.index(role)
    except ValueError as exc:
        raise KeystoreError(
            f"unknown dev role {role!r}; known roles: {', '.join(DEV_ROLES)}"
        ) from exc
    return _derive(index)


def dev_accounts() -> dict[str, LocalAccount]:
    """Return the well-known dev key of every role, in `DEV_ROLES` order."""
    return {role: _derive(index) for index, role in enumerate(DEV_ROLES)}


def write_dev_accounts(path: Path) -> dict[str, dict[str, str]]:
    """Write every dev role's address and private key to `path` (0600); return the data."""
    data = {
        role: {"address": account.address, "private_key": "0x" + account.key.hex()}
        for role, account in dev_accounts().items()
    }
    atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")
    return data


def load_dev_accounts(path: Path) -> dict[str, LocalAccount]:
    """Read a dev accounts file written by `write_dev_accounts` and return its accounts by role."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeystoreError(
            f"no dev accounts file at {path}; start the dev chain (`registry up`) to write it"
        ) from exc
    except ValueError as exc:
        raise KeystoreError(f"{path} is not valid JSON; delete it and run `registry up`") from exc
    if not isinstance(data, dict):
        raise KeystoreError(f"{path} is not a dev accounts file; delete it and run `registry up`")
    accounts: dict[str, LocalAccount] = {}
    for role, entry in data.items():
        try:
            account: LocalAccount = Account.from_key(entry["private_key"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KeystoreError(
                f"dev account {role!r} in {path} has no valid private_key; delete the file and "
                "run `registry up` to rewrite it"
            ) from exc
        address = entry.get("address")
        if address is not None and str(address).lower() != account.address.lower():
            raise KeystoreError(
                f"dev account {role!r} in {path}: address does not match its private key; "
                "delete the file and run `registry up` to rewrite it"
            )
        accounts[str(role)] = account
    return accounts
