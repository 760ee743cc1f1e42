"""The registry's response-signing key: Ed25519 signatures over pull-and-view responses (A5).

A connected registry keeps a pulled response as proof of what this registry stated: the exact
body bytes, the signature over them and the id of the key that made it (decision D29). The key
is generated on first start in the data directory (or read from a configured PEM file) and its
public half is published at `GET /v1/article6/pull/key`.

Envelope:
- the body is the response's exact bytes (UTF-8 JSON, or CSV/XLSX where a pull asks for it);
- `Registry-Signature: <base64 of the 64-byte Ed25519 signature over the body bytes>`;
- `Registry-Key-Id: <key id>`, the first 16 bytes (32 hex digits) of SHA-256 of the raw
  32-byte public key, so a receiver can tell which published key to check against after a
  rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from node.keys import atomic_write_text

__all__ = [
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "ResponseKey",
    "key_id",
    "verify_response",
]

SIGNATURE_HEADER = "Registry-Signature"
KEY_ID_HEADER = "Registry-Key-Id"


def key_id(public_raw: bytes) -> str:
    """Return the id of a raw Ed25519 public key: 32 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:32]


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class ResponseKey:
    """The private key this registry signs pull responses with."""

    private: Ed25519PrivateKey

    @classmethod
    def load_or_create(cls, path: Path) -> ResponseKey:
        """Read the PEM key at `path`; create it (mode 0600) when the file does not exist yet."""
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(
                    f"{path} holds a {type(loaded).__name__}, not an Ed25519 private key; "
                    "point REGISTRY_RESPONSE_KEY_PATH at an Ed25519 PKCS#8 PEM file or remove it "
                    "to have one generated"
                )
            return cls(loaded)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write_text(path, pem.decode("ascii"))
        return cls(private)

    @property
    def public_raw(self) -> bytes:
        """Return the 32-byte raw public key."""
        return _raw_public(self.private.public_key())

    @property
    def public_pem(self) -> str:
        """Return the public key as a SubjectPublicKeyInfo PEM."""
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    @property
    def key_id(self) -> str:
        """Return this key's id, as `Registry-Key-Id` carries it."""
        return key_id(self.public_raw)

    def sign(self, body: bytes) -> str:
        """Return the base64 Ed25519 signature of exact body bytes."""
        return base64.b64encode(self.private.sign(body)).decode("ascii")

    def headers(self, body: bytes) -> dict[str, str]:
        """Return the signature headers of a response body."""
        return {SIGNATURE_HEADER: self.sign(body), KEY_ID_HEADER: self.key_id}


def verify_response(public_key_b64: str, body: bytes, signature_b64: str) -> bool:
    """Return whether a signature (base64) over `body` verifies with a raw public key (base64)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        public.verify(base64.b64decode(signature_b64, validate=True), body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
