"""Tests for operator keystores and the well-known dev keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from node.errors import KeystoreError
from node.keys import (
    DEV_KEYS_WARNING,
    DEV_MNEMONIC,
    DEV_ROLES,
    Keystore,
    dev_account,
    dev_accounts,
    load_dev_accounts,
    write_dev_accounts,
)

# anvil's first accounts for the test mnemonic, as printed by `anvil` at startup.
ANVIL_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ANVIL_ACCOUNT_2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
ANVIL_ACCOUNT_9 = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    """Return a keystore with cheap key derivation, so tests stay fast."""
    return Keystore(tmp_path / "keystore", kdf="pbkdf2", iterations=2)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- keystore ----------------------------------------------------------------------------------


def test_create_and_load_roundtrip(keystore: Keystore) -> None:
    address = keystore.create("relayer", "correct horse")
    account = keystore.load("relayer", "correct horse")
    assert account.address == address
    assert keystore.address("relayer") == address


def test_import_and_load_roundtrip(keystore: Keystore) -> None:
    address = keystore.import_key("admin", ANVIL_KEY_0, "pw")
    assert address == ANVIL_ACCOUNT_0
    assert keystore.load("admin", "pw").key.hex() == ANVIL_KEY_0[2:]


def test_default_scrypt_roundtrip(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    address = store.import_key("operator", ANVIL_KEY_0, "pw")
    keyfile = json.loads(store.path("operator").read_text())
    assert keyfile["version"] == 3
    assert keyfile["crypto"]["kdf"] == "scrypt"
    assert store.load("operator", "pw").address == address


def test_wrong_password_raises(keystore: Keystore) -> None:
    keystore.create("relayer", "right")
    with pytest.raises(KeystoreError, match="wrong password"):
        keystore.load("relayer", "wrong")


def test_keystore_file_is_private_and_encrypted(keystore: Keystore) -> None:
    keystore.import_key("admin", ANVIL_KEY_0, "pw")
    path = keystore.path("admin")
    assert _mode(path) == 0o600
    assert _mode(keystore.directory) == 0o700
    text = path.read_text()
    assert ANVIL_KEY_0[2:] not in text
    assert json.loads(text)["version"] == 3
    # The atomic write leaves no temporary files behind.
    assert [p.name for p in keystore.directory.iterdir()] == ["admin.json"]


def test_list_returns_names_and_addresses(keystore: Keystore) -> None:
    assert keystore.list() == []
    second = keystore.create("b-second", "pw")
    first = keystore.import_key("a-first", ANVIL_KEY_0, "pw")
    (keystore.directory / "junk.json").write_text("not json")
    assert keystore.list() == [("a-first", first), ("b-second", second)]


def test_existing_key_is_not_overwritten_by_accident(keystore: Keystore) -> None:
    original = keystore.create("relayer", "pw")
    with pytest.raises(KeystoreError, match="already exists"):
        keystore.create("relayer", "pw")
    assert keystore.load("relayer", "pw").address == original
    replaced = keystore.create("relayer", "pw", overwrite=True)
    assert keystore.load("relayer", "pw").address == replaced


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 65, "spa ce"])
def test_invalid_key_names_are_rejected(keystore: Keystore, name: str) -> None:
    with pytest.raises(KeystoreError, match="invalid key name"):
        keystore.create(name, "pw")


@pytest.mark.parametrize("private_key", ["0x1234", "zz", "0x" + "00" * 32, b"short"])
def test_invalid_private_keys_are_rejected(keystore: Keystore, private_key: str | bytes) -> None:
    with pytest.raises(KeystoreError, match="not a valid"):
        keystore.import_key("bad", private_key, "pw")


def test_empty_password_is_rejected(keystore: Keystore) -> None:
    with pytest.raises(KeystoreError, match="empty password"):
        keystore.create("relayer", "")


def test_loading_a_missing_key_says_what_to_do(keystore: Keystore) -> None:
    with pytest.raises(KeystoreError, match="create or import"):
        keystore.load("nobody", "pw")


def test_corrupted_keystore_file_raises(keystore: Keystore) -> None:
    keystore.directory.mkdir(parents=True)
    keystore.path("broken").write_text("{")
    with pytest.raises(KeystoreError, match="not valid JSON"):
        keystore.load("broken", "pw")


# -- dev keys ----------------------------------------------------------------------------------


def test_dev_roles_are_unique_and_fit_anvil_prefunded_accounts() -> None:
    assert len(set(DEV_ROLES)) == len(DEV_ROLES)
    assert DEV_ROLES[0] == "registry_admin"
    assert len(DEV_ROLES) <= 20  # DevChain starts anvil with 20 funded accounts


def test_dev_accounts_match_anvil_defaults() -> None:
    assert dev_account("registry_admin").address == ANVIL_ACCOUNT_0
    assert dev_account("registry_admin").key.hex() == ANVIL_KEY_0[2:]
    assert dev_account("issuer").address == ANVIL_ACCOUNT_1
    assert dev_account("label_authority").address == ANVIL_ACCOUNT_2
    assert dev_account("platform").address == ANVIL_ACCOUNT_9


def test_dev_accounts_are_deterministic_hd_derivations() -> None:
    Account.enable_unaudited_hdwallet_features()
    accounts = dev_accounts()
    assert list(accounts) == list(DEV_ROLES)
    for index, role in enumerate(DEV_ROLES):
        expected = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        assert accounts[role].address == expected.address
    assert len({a.address for a in accounts.values()}) == len(DEV_ROLES)


def test_unknown_dev_role_raises() -> None:
    with pytest.raises(KeystoreError, match="unknown dev role"):
        dev_account("auditor")


def test_write_dev_accounts(tmp_path: Path) -> None:
    path = tmp_path / "data" / "dev-accounts.json"
    written = write_dev_accounts(path)
    assert _mode(path) == 0o600
    on_disk = json.loads(path.read_text())
    assert on_disk == written
    assert list(on_disk) == list(DEV_ROLES)
    for entry in on_disk.values():
        assert set(entry) == {"address", "private_key"}
        assert Account.from_key(entry["private_key"]).address == entry["address"]
    assert on_disk["registry_admin"] == {"address": ANVIL_ACCOUNT_0, "private_key": ANVIL_KEY_0}

    first = path.read_bytes()
    write_dev_accounts(path)
    assert path.read_bytes() == first


def test_load_dev_accounts_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "dev-accounts.json"
    write_dev_accounts(path)
    loaded = load_dev_accounts(path)
    assert {role: a.address for role, a in loaded.items()} == {
        role: a.address for role, a in dev_accounts().items()
    }


def test_load_dev_accounts_errors(tmp_path: Path) -> None:
    path = tmp_path / "dev-accounts.json"
    with pytest.raises(KeystoreError, match="registry up"):
        load_dev_accounts(path)
    path.write_text(
        json.dumps({"issuer": {"address": ANVIL_ACCOUNT_1, "private_key": ANVIL_KEY_0}})
    )
    with pytest.raises(KeystoreError, match="does not match"):
        load_dev_accounts(path)
    path.write_text(json.dumps({"issuer": {"address": ANVIL_ACCOUNT_1}}))
    with pytest.raises(KeystoreError, match="no valid private_key"):
        load_dev_accounts(path)


def test_dev_keys_warning_is_loud() -> None:
    assert "DEVELOPMENT" in DEV_KEYS_WARNING
    assert "NEVER" in DEV_KEYS_WARNING
    assert DEV_MNEMONIC in DEV_KEYS_WARNING
