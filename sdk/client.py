"""`RegistryClient`: the registry's HTTP API as method calls.

    client = RegistryClient("http://127.0.0.1:8000", key)
    client.login()
    request = client.write("transfers", {"from_account": "AU-1000001", "to_account": "AU-1000002",
                                         "quantity": 100})
    holdings = client.get("/v1/accounts/AU-1000001/holdings")

Writes are checked before signing: the typed data must be for the registry's published EIP-712
domain and name this key as signer, so a compromised or buggy server cannot get anything else
signed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

__all__ = ["RegistryClient", "RegistryError"]


class RegistryError(Exception):
    """Raised when the API answers with a problem; carries its stable `code`."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code", "HTTP_ERROR"))
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")


class RegistryClient:
    """Talk to one registry API as the holder of one key."""

    def __init__(
        self,
        base_url: str | httpx.Client,
        key: LocalAccount | str,
        *,
        domain: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if isinstance(base_url, httpx.Client):
            self.http = base_url
        else:
            self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.key: LocalAccount = Account.from_key(key) if isinstance(key, str) else key
        self.domain = domain or urlparse(str(self.http.base_url)).netloc
        self._token: str | None = None
        self._chain: dict[str, Any] | None = None

    @property
    def address(self) -> str:
        """Return the address of this client's key."""
        return str(self.key.address)

    # -- plumbing ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self._token is not None:
            headers.setdefault("Authorization", f"Bearer {self._token}")
        response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text}
            raise RegistryError(response.status_code, problem)
        return response

    def get(self, path: str, **params: Any) -> Any:
        """GET a resource (with the bearer token after login) and return its JSON."""
        return self._call("GET", path, params=params or None).json()

    def chain(self) -> dict[str, Any]:
        """Return GET /v1/chain (cached)."""
        if self._chain is None:
            self._chain = self.get("/v1/chain")
        return self._chain

    # -- SIWE --------------------------------------------------------------------------------

    def siwe_message(self, nonce: str, lifetime: timedelta = timedelta(minutes=10)) -> str:
        """Return an EIP-4361 message for this key, the API's domain and chain."""
        now = datetime.now(UTC)

        def stamp(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        return "\n".join(
            [
                f"{self.domain} wants you to sign in with your Ethereum account:",
                self.address,
                "",
                "Sign in to the unit registry.",
                "",
                f"URI: http://{self.domain}",
                "Version: 1",
                f"Chain ID: {self.chain()['chain_id']}",
                f"Nonce: {nonce}",
                f"Issued At: {stamp(now)}",
                f"Expiration Time: {stamp(now + lifetime)}",
                f"Request ID: {secrets.token_hex(4)}",
            ]
        )

    def login(self) -> str:
        """Sign in with Ethereum and keep the bearer token for later reads; return it."""
        nonce = self._call("POST", "/v1/auth/siwe/nonce").json()["nonce"]
        message = self.siwe_message(nonce)
        signature = self.key.sign_message(encode_defunct(text=message)).signature.hex()
        body = self._call(
            "POST",
            "/v1/auth/siwe/verify",
            json={"message": message, "signature": "0x" + signature.removeprefix("0x")},
        ).json()
        self._token = str(body["access_token"])
        return self._token

    # -- writes ------------------------------------------------------------------------------

    def prepare(self, operation: str, intent: dict[str, Any]) -> dict[str, Any]:
        """Return the typed data the API resolved for an intent (signer filled in)."""
        body = {"signer": self.address, **intent}
        typed: dict[str, Any] = self._call("POST", f"/v1/{operation}/prepare", json=body).json()[
            "typed_data"
        ]
        return typed

    def check(self, typed: dict[str, Any]) -> None:
        """Refuse typed data that is not for the registry's domain or not for this key."""
        expected = self.chain()["eip712_domain"]
        domain = typed.get("domain", {})
        same = (
            domain.get("name") == expected["name"]
            and domain.get("version") == expected["version"]
            and int(domain.get("chainId", -1)) == int(expected["chainId"])
            and str(domain.get("verifyingContract", "")).lower()
            == str(expected["verifyingContract"]).lower()
        )
        if not same:
            raise ValueError(f"typed data is for domain {domain}, not the registry's {expected}")
        signer = str(typed.get("message", {}).get("signer", ""))
        if signer.lower() != self.address.lower():
            raise ValueError(f"typed data names signer {signer}, not this key {self.address}")

    def sign(self, typed: dict[str, Any]) -> str:
        """Check and sign typed data; return the 0x-prefixed signature."""
        self.check(typed)
        signed = self.key.sign_message(encode_typed_data(full_message=typed))
        return "0x" + bytes(signed.signature).hex()

    def submit(
        self, operation: str, typed: dict[str, Any], signature: str, *, wait: bool = False
    ) -> dict[str, Any]:
        """Submit signed typed data; with `wait`, return the request once indexed or failed."""
        params = {"wait": "indexed"} if wait else None
        result: dict[str, Any] = self._call(
            "POST",
            f"/v1/{operation}",
            json={"typed_data": typed, "signature": signature},
            params=params,
        ).json()
        return result

    def write(self, operation: str, intent: dict[str, Any], *, wait: bool = True) -> dict[str, Any]:
        """Prepare, check, sign and submit; with `wait`, return the final request resource."""
        typed = self.prepare(operation, intent)
        return self.submit(operation, typed, self.sign(typed), wait=wait)

    def request(self, request_id: str) -> dict[str, Any]:
        """Return GET /v1/requests/{request_id}."""
        if self._token is None:
            self.login()  # a request is private to its signer and the ARs of its accounts
        result: dict[str, Any] = self.get(f"/v1/requests/{request_id}")
        return result
