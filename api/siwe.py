"""Sign-In with Ethereum (EIP-4361): parse a message strictly and check its signature.

NOTE: the `siwe` package pins web3 < 8 and eth-account < 0.14, older than this project's, so the
message grammar is implemented here: one regular expression per line of EIP-4361's ABNF, matched
in order, which refuses anything the specification does not allow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address, to_checksum_address

__all__ = ["SiweError", "SiweMessage", "parse_siwe", "recover_siwe_signer"]

_HEADER = re.compile(
    r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+\-.]*)://)?(?P<domain>[^\s/?#]+) "
    r"wants you to sign in with your Ethereum account:$"
)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_FIELDS = (
    ("uri", "URI", re.compile(r"^[a-zA-Z][a-zA-Z0-9+\-.]*:\S+$")),
    ("version", "Version", re.compile(r"^1$")),
    ("chain_id", "Chain ID", re.compile(r"^[0-9]{1,20}$")),
    ("nonce", "Nonce", re.compile(r"^[a-zA-Z0-9]{8,}$")),
    ("issued_at", "Issued At", re.compile(r"^\S+$")),
)
_OPTIONAL = (
    ("expiration_time", "Expiration Time"),
    ("not_before", "Not Before"),
    ("request_id", "Request ID"),
)


class SiweError(ValueError):
    """Raised when a SIWE message is malformed or its signature does not match."""


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message."""

    domain: str
    address: str
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def _timestamp(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SiweError(f"{name} must be an RFC 3339 date-time, got {text!r}") from exc
    if value.tzinfo is None:
        raise SiweError(f"{name} must carry a time zone, got {text!r}")
    return value.astimezone(UTC)


def parse_siwe(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; raise SiweError naming the first line that is wrong."""
    lines = text.split("\n")
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        raise SiweError(
            "line 1 must be '<domain> wants you to sign in with your Ethereum account:'"
        )
    if len(lines) < 2 or not _ADDRESS.match(lines[1]):
        raise SiweError("line 2 must be the 0x-prefixed Ethereum address")
    address = lines[1]
    if address != address.lower() and not is_checksum_address(address):
        raise SiweError("the address must be EIP-55 checksummed (or all lower case)")
    if len(lines) < 3 or lines[2] != "":
        raise SiweError("line 3 must be empty")
    index = 3
    statement: str | None = None
    if index < len(lines) and not lines[index].startswith("URI: "):
        statement = lines[index]
        if "\n" in statement or not statement:
            raise SiweError("the statement must be one non-empty line")
        index += 1
        if index >= len(lines) or lines[index] != "":
            raise SiweError("the statement must be followed by an empty line")
        index += 1
    values: dict[str, str] = {}
    for key, label, pattern in _FIELDS:
        prefix = f"{label}: "
        if index >= len(lines) or not lines[index].startswith(prefix):
            raise SiweError(f"line {index + 1} must be '{label}: ...'")
        value = lines[index].removeprefix(prefix)
        if not pattern.match(value):
            raise SiweError(f"{label} is malformed: {value!r}")
        values[key] = value
        index += 1
    optional: dict[str, str] = {}
    for key, label in _OPTIONAL:
        prefix = f"{label}: "
        if index < len(lines) and lines[index].startswith(prefix):
            optional[key] = lines[index].removeprefix(prefix)
            index += 1
    resources: list[str] = []
    if index < len(lines) and lines[index] == "Resources:":
        index += 1
        while index < len(lines) and lines[index].startswith("- "):
            resources.append(lines[index].removeprefix("- "))
            index += 1
    if index != len(lines):
        raise SiweError(f"unexpected text at line {index + 1}: {lines[index]!r}")
    return SiweMessage(
        domain=header.group("domain"),
        address=to_checksum_address(address),
        statement=statement,
        uri=values["uri"],
        version=values["version"],
        chain_id=int(values["chain_id"]),
        nonce=values["nonce"],
        issued_at=_timestamp(values["issued_at"], "Issued At"),
        expiration_time=(
            _timestamp(optional["expiration_time"], "Expiration Time")
            if "expiration_time" in optional
            else None
        ),
        not_before=(
            _timestamp(optional["not_before"], "Not Before") if "not_before" in optional else None
        ),
        request_id=optional.get("request_id"),
        resources=tuple(resources),
    )


def recover_siwe_signer(text: str, signature: str) -> str:
    """Return the address that personal_sign-ed the message; raise SiweError if unreadable."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            raise ValueError(f"a signature has 65 bytes, not {len(raw)}")
        return str(Account.recover_message(encode_defunct(text=text), signature=raw))
    except Exception as exc:  # eth-keys raises several types for bad r/s/v
        raise SiweError(f"the signature cannot be read: {exc}") from exc
