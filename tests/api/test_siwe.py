"""Sign-In with Ethereum over HTTP: a good sign-in, and every bad one refused without a token."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from api.models import Session
from tests.api.conftest import API_DOMAIN, ApiNode
from tests.api.helpers import (
    assert_problem,
    login,
    personal_sign,
    siwe_message,
    stranger,
)

VERIFY = "/v1/auth/siwe/verify"


def _sessions(node: ApiNode) -> int:
    with node.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Session)).scalar_one())


def _nonce(node: ApiNode) -> str:
    response = node.client.post("/v1/auth/siwe/nonce")
    assert response.status_code == 200
    nonce: str = response.json()["nonce"]
    return nonce


def _chain_id(node: ApiNode) -> int:
    return int(node.client.get("/v1/chain").json()["chain_id"])


def test_sign_in_issues_a_token_for_reads(node: ApiNode) -> None:
    key = node.keys["ar_1"]
    nonce = _nonce(node)
    assert len(nonce) >= 8 and nonce.isalnum()
    message = siwe_message(key.address, nonce, _chain_id(node))
    response = node.client.post(
        VERIFY, json={"message": message, "signature": personal_sign(key, message)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["address"] == key.address
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert datetime.now(UTC) < expires <= datetime.now(UTC) + timedelta(hours=2)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert node.client.get("/v1/accounts", headers=headers).status_code == 200


def test_login_helper_and_a_lower_case_address(node: ApiNode) -> None:
    key = node.keys["ar_2"]
    assert node.client.get("/v1/accounts", headers=login(node.client, key)).status_code == 200
    message = siwe_message(key.address.lower(), _nonce(node), _chain_id(node))
    response = node.client.post(
        VERIFY, json={"message": message, "signature": personal_sign(key, message)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["address"] == key.address


def test_a_token_stops_working_when_the_message_expires(node: ApiNode) -> None:
    key = node.keys["ar_3"]
    message = siwe_message(
        key.address,
        _nonce(node),
        _chain_id(node),
        expiration_time=datetime.now(UTC) + timedelta(seconds=2),
    )
    response = node.client.post(
        VERIFY, json={"message": message, "signature": personal_sign(key, message)}
    )
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert node.client.get("/v1/accounts", headers=headers).status_code == 200
    time.sleep(2.5)
    assert_problem(node.client.get("/v1/accounts", headers=headers), 401, "UNAUTHENTICATED")


@dataclass(frozen=True)
class Attempt:
    """A sign-in to send: the message and its signature."""

    message: str
    signature: str


def _signed(key: LocalAccount, message: str) -> Attempt:
    return Attempt(message, personal_sign(key, message))


def _other_domain(node: ApiNode, key: LocalAccount) -> Attempt:
    return _signed(
        key, siwe_message(key.address, _nonce(node), _chain_id(node), domain="evil.example")
    )


def _other_chain(node: ApiNode, key: LocalAccount) -> Attempt:
    return _signed(key, siwe_message(key.address, _nonce(node), _chain_id(node) + 1))


def _expired(node: ApiNode, key: LocalAccount) -> Attempt:
    past = datetime.now(UTC) - timedelta(minutes=5)
    message = siwe_message(
        key.address,
        _nonce(node),
        _chain_id(node),
        issued_at=past - timedelta(minutes=5),
        expiration_time=past,
    )
    return _signed(key, message)


def _reused_nonce(node: ApiNode, key: LocalAccount) -> Attempt:
    attempt = _signed(key, siwe_message(key.address, _nonce(node), _chain_id(node)))
    first = node.client.post(
        VERIFY, json={"message": attempt.message, "signature": attempt.signature}
    )
    assert first.status_code == 200, first.text
    return attempt  # the very same signed message, a second time


def _reused_nonce_new_message(node: ApiNode, key: LocalAccount) -> Attempt:
    nonce = _nonce(node)
    first = _signed(key, siwe_message(key.address, nonce, _chain_id(node)))
    response = node.client.post(
        VERIFY, json={"message": first.message, "signature": first.signature}
    )
    assert response.status_code == 200, response.text
    later = datetime.now(UTC) + timedelta(seconds=1)
    return _signed(key, siwe_message(key.address, nonce, _chain_id(node), issued_at=later))


def _unknown_nonce(node: ApiNode, key: LocalAccount) -> Attempt:
    return _signed(key, siwe_message(key.address, "abcdef0123456789", _chain_id(node)))


def _other_key(node: ApiNode, key: LocalAccount) -> Attempt:
    message = siwe_message(key.address, _nonce(node), _chain_id(node))
    return Attempt(message, personal_sign(stranger(), message))


def _future(node: ApiNode, key: LocalAccount) -> Attempt:
    later = datetime.now(UTC) + timedelta(hours=1)
    return _signed(key, siwe_message(key.address, _nonce(node), _chain_id(node), issued_at=later))


def _malformed(text: str) -> Callable[[ApiNode, LocalAccount], Attempt]:
    def attempt(node: ApiNode, key: LocalAccount) -> Attempt:
        return _signed(
            key, text.format(address=key.address, nonce=_nonce(node), chain=_chain_id(node))
        )

    return attempt


def _bad_signature(signature: str) -> Callable[[ApiNode, LocalAccount], Attempt]:
    def attempt(node: ApiNode, key: LocalAccount) -> Attempt:
        return Attempt(siwe_message(key.address, _nonce(node), _chain_id(node)), signature)

    return attempt


_GOOD_LINES = (
    f"{API_DOMAIN} wants you to sign in with your Ethereum account:\n{{address}}\n\n"
    "URI: http://testserver\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\n"
    "Issued At: 2030-01-01T00:00:00Z"
)

_CASES: list[tuple[str, Callable[[ApiNode, LocalAccount], Attempt], str]] = [
    ("other domain", _other_domain, "SIWE_WRONG_DOMAIN"),
    ("other chain id", _other_chain, "SIWE_WRONG_CHAIN"),
    ("expired", _expired, "SIWE_EXPIRED"),
    ("issued in the future", _future, "SIWE_NOT_YET_VALID"),
    ("reused message", _reused_nonce, "SIWE_NONCE_INVALID"),
    ("reused nonce", _reused_nonce_new_message, "SIWE_NONCE_INVALID"),
    ("unknown nonce", _unknown_nonce, "SIWE_NONCE_INVALID"),
    ("signed by another key", _other_key, "INVALID_SIGNATURE"),
    ("not a SIWE message", _malformed("hello, let me in"), "SIWE_INVALID"),
    ("empty message", _malformed(""), "SIWE_INVALID"),
    ("no version", _malformed(_GOOD_LINES.replace("Version: 1\n", "")), "SIWE_INVALID"),
    ("version 2", _malformed(_GOOD_LINES.replace("Version: 1", "Version: 2")), "SIWE_INVALID"),
    ("bad address", _malformed(_GOOD_LINES.replace("{address}", "0x1234")), "SIWE_INVALID"),
    (
        "bad checksum",
        _malformed(_GOOD_LINES.replace("{address}", "0xF39fd6e51aad88f6f4ce6ab8827279cfffb92266")),
        "SIWE_INVALID",
    ),
    ("bad chain id", _malformed(_GOOD_LINES.replace("{chain}", "one")), "SIWE_INVALID"),
    ("bad date", _malformed(_GOOD_LINES.replace("2030-01-01T00:00:00Z", "soon")), "SIWE_INVALID"),
    ("trailing text", _malformed(_GOOD_LINES + "\nP.S. hi"), "SIWE_INVALID"),
    ("CRLF lines", _malformed(_GOOD_LINES.replace("\n", "\r\n")), "SIWE_INVALID"),
    ("signature not hex", _bad_signature("0xnothex"), "SIWE_INVALID"),
    ("signature too short", _bad_signature("0x" + "ab" * 64), "SIWE_INVALID"),
    ("signature too long", _bad_signature("0x" + "ab" * 66), "SIWE_INVALID"),
    ("signature of zeros", _bad_signature("0x" + "00" * 65), "SIWE_INVALID"),
    ("empty signature", _bad_signature(""), "SIWE_INVALID"),
]


@pytest.mark.parametrize(
    ("make", "code"), [(make, code) for _, make, code in _CASES], ids=[c[0] for c in _CASES]
)
def test_bad_sign_ins_are_refused_without_a_token(
    node: ApiNode, make: Callable[[ApiNode, LocalAccount], Attempt], code: str
) -> None:
    attempt = make(node, node.keys["ar_4"])
    before = _sessions(node)
    response = node.client.post(
        VERIFY, json={"message": attempt.message, "signature": attempt.signature}
    )
    body = assert_problem(response, 401, code)
    assert "access_token" not in body
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert _sessions(node) == before


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"message": "x"},
        {"signature": "0x00"},
        {"message": 5, "signature": "0x00"},
        {"message": "x" * 5000, "signature": "0x00"},
    ],
)
def test_malformed_verify_bodies_are_refused(node: ApiNode, payload: dict[str, object]) -> None:
    before = _sessions(node)
    response = node.client.post(VERIFY, json=payload)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _sessions(node) == before


def test_a_nonce_is_single_use_across_failed_attempts(node: ApiNode) -> None:
    key = node.keys["ar_4"]
    nonce = _nonce(node)
    wrong_chain = siwe_message(key.address, nonce, _chain_id(node) + 1)
    response = node.client.post(
        VERIFY, json={"message": wrong_chain, "signature": personal_sign(key, wrong_chain)}
    )
    assert_problem(response, 401, "SIWE_WRONG_CHAIN")
    # A refused message does not burn the nonce; the right message still signs in, once.
    right = siwe_message(key.address, nonce, _chain_id(node))
    payload = {"message": right, "signature": personal_sign(key, right)}
    assert node.client.post(VERIFY, json=payload).status_code == 200
    assert_problem(node.client.post(VERIFY, json=payload), 401, "SIWE_NONCE_INVALID")
