"""The response-signing key: created once in the data dir, kept across restarts, Ed25519 only."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.responsekey import ResponseKey, verify_response


def test_the_key_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "response-ed25519.pem"
    first = ResponseKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ResponseKey.load_or_create(path)
    assert again.key_id == first.key_id and len(first.key_id) == 32
    assert again.public_raw == first.public_raw and len(first.public_raw) == 32
    assert first.public_pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_signatures_verify_over_the_exact_bytes(tmp_path: Path) -> None:
    key = ResponseKey.load_or_create(tmp_path / "k.pem")
    public = base64.b64encode(key.public_raw).decode()
    body = b'{"items":[]}'
    headers = key.headers(body)
    assert headers["Registry-Key-Id"] == key.key_id
    assert verify_response(public, body, headers["Registry-Signature"])
    assert not verify_response(public, body + b" ", headers["Registry-Signature"])
    other = ResponseKey.load_or_create(tmp_path / "other.pem")
    assert not verify_response(base64.b64encode(other.public_raw).decode(), body, key.sign(body))
    assert not verify_response(public, body, "not base64!")
    assert not verify_response("short", body, headers["Registry-Signature"])


def test_a_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        ResponseKey.load_or_create(path)
