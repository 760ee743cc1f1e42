"""`RegistryClient` and `AsyncRegistryClient`: the registry's HTTP API as method calls.

    client = RegistryClient("https://registry.example", key)
    client.login()
    request = client.transfers.initiate(from_account="AU-1000001", to_account="AU-1000002",
                                        quantity=100)
    for holding in client.paginate("/v1/accounts/AU-1000001/holdings", state="held"):
        ...

Writes are checked before signing (`sdk.checks`): the typed data must be for the registry's
published EIP-712 domain, name this key as signer, be the operation's request type and carry the
intent's accounts, units and text, so a compromised or buggy API cannot get anything else signed.
A signed write is kept and resubmitted as is after a network error or a 5xx; the API answers a
resubmission with the first request's id, so a retry never writes twice. Answers 429 and 503 are
retried after their `Retry-After`; a read refused 401 after login signs in again, once.

Both clients share everything but the I/O (`_Core`); the typed operations (`client.transfers`,
`client.escrows`, ...) are generated over the same table (`sdk.operations.OPERATIONS`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlparse

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

from sdk.checks import check_domain_and_signer, check_typed_data
from sdk.models import RegistryError, Request, SignedWrite
from sdk.operations import OPERATIONS, resolve

__all__ = ["AsyncRegistryClient", "RegistryClient", "RegistryError", "Retry"]

R = TypeVar("R")
Range = dict[str, int]


@dataclass(frozen=True)
class Retry:
    """How often and how long to retry: `attempts` tries in all, exponential backoff from
    `backoff` seconds, and never a wait longer than `max_delay` (a longer `Retry-After` is
    not waited for: the error is raised)."""

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 30.0


_RETRY_STATUSES = frozenset({429, 503})  # the server asks to come back later
_SERVER_ERRORS = frozenset({500, 502, 504})  # retried only when repeating is harmless


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _compact(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


class _Core:
    """What both clients share: identity, SIWE text, problems, retry decisions, checks."""

    def __init__(
        self,
        base_url: str,
        key: LocalAccount | str,
        domain: str | None,
        retry: Retry | None,
    ) -> None:
        self.key: LocalAccount = Account.from_key(key) if isinstance(key, str) else key
        parsed = urlparse(base_url)
        self.scheme = parsed.scheme or "http"
        self.domain = domain or parsed.netloc
        self.retry = retry or Retry()
        self._token: str | None = None
        self._chain: dict[str, Any] | None = None

    @property
    def address(self) -> str:
        """Return the address of this client's key."""
        return str(self.key.address)

    # -- HTTP plumbing -----------------------------------------------------------------------

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if self._token is not None:
            merged.setdefault("Authorization", f"Bearer {self._token}")
        return merged

    def _delay(self, attempt: int, response: httpx.Response | None, repeatable: bool) -> float:
        """Seconds to wait before another attempt, or -1 to give up (attempt counts from 0)."""
        if attempt + 1 >= self.retry.attempts:
            return -1
        if response is None or response.status_code in _SERVER_ERRORS:
            if not repeatable:
                return -1
            delay = None
        elif response.status_code in _RETRY_STATUSES:
            delay = _retry_after(response)
        else:
            return -1
        if delay is None:
            delay = self.retry.backoff * 2**attempt
        return delay if delay <= self.retry.max_delay else -1

    @staticmethod
    def _problem(response: httpx.Response) -> RegistryError:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text}
        if not isinstance(problem, dict):
            problem = {"detail": str(problem)}
        return RegistryError(response.status_code, problem)

    def _expired_login(self, response: httpx.Response, relogged: bool) -> bool:
        return response.status_code == 401 and self._token is not None and not relogged

    # -- SIWE --------------------------------------------------------------------------------

    def siwe_message(
        self, nonce: str, chain_id: int, lifetime: timedelta = timedelta(minutes=10)
    ) -> str:
        """Return an EIP-4361 message for this key, the API's domain, scheme and chain."""
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
                f"URI: {self.scheme}://{self.domain}",
                "Version: 1",
                f"Chain ID: {chain_id}",
                f"Nonce: {nonce}",
                f"Issued At: {stamp(now)}",
                f"Expiration Time: {stamp(now + lifetime)}",
                f"Request ID: {secrets.token_hex(4)}",
            ]
        )

    def _siwe_body(self, nonce: str, chain_id: int) -> dict[str, str]:
        message = self.siwe_message(nonce, chain_id)
        signature = bytes(self.key.sign_message(encode_defunct(text=message)).signature)
        return {"message": message, "signature": "0x" + signature.hex()}

    # -- writes ------------------------------------------------------------------------------

    def _prepare_body(self, intent: dict[str, Any]) -> dict[str, Any]:
        return {"signer": self.address, **intent}

    def _check(
        self, operation: str, intent: dict[str, Any], typed: dict[str, Any], chain: dict[str, Any]
    ) -> None:
        spec, ids = resolve(operation)
        check_typed_data(
            typed,
            spec,
            {**intent, **ids},
            domain=chain["eip712_domain"],
            signer=self.address,
        )

    def _check_any(
        self,
        typed: dict[str, Any],
        operation: str | None,
        intent: dict[str, Any] | None,
        chain: dict[str, Any],
    ) -> None:
        if operation is None:
            check_domain_and_signer(typed, domain=chain["eip712_domain"], signer=self.address)
        else:
            self._check(operation, intent or {}, typed, chain)

    def _signature(self, typed: dict[str, Any]) -> str:
        signed = self.key.sign_message(encode_typed_data(full_message=typed))
        return "0x" + bytes(signed.signature).hex()

    @staticmethod
    def _path(operation: str) -> str:
        return "/v1/" + operation.strip("/").removeprefix("v1/")


class _Operations(Generic[R]):
    """Typed methods over one group of operations; `R` is `Request` or an awaitable of it."""

    def __init__(self, run: Callable[[str, dict[str, Any], dict[str, Any]], R]) -> None:
        self._run = run


class Transfers(_Operations[R]):
    """Transfers between accounts (two-person approval unless the account says single)."""

    def initiate(
        self,
        *,
        from_account: str,
        to_account: str,
        quantity: int | None = None,
        ranges: list[Range] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> R:
        """Initiate a transfer of a quantity (optionally filtered) or of explicit ranges."""
        intent = _compact(
            from_account=from_account,
            to_account=to_account,
            quantity=quantity,
            ranges=ranges,
            filters=filters,
        )
        return self._run("transfers.initiate", {}, intent)

    def approve(self, transfer_id: int | str) -> R:
        """Approve a pending transfer (a second AR of the sending account)."""
        return self._run("transfers.approve", {"transfer_id": transfer_id}, {})

    def rescind(self, transfer_id: int | str) -> R:
        """Rescind a pending transfer."""
        return self._run("transfers.rescind", {"transfer_id": transfer_id}, {})

    def out(self, *, from_account: str, to_account: str, **intent: Any) -> R:
        """Transfer units to a peer registry's account, e.g. NZ-1000002 (quantity or ranges)."""
        body = {"from_account": from_account, "to_account": to_account, **intent}
        return self._run("transfers.out", {}, body)

    def approve_out(self, transfer_id: int | str) -> R:
        """Approve a pending transfer to a peer registry (a second AR)."""
        return self._run("transfers.approve_out", {"transfer_id": transfer_id}, {})


class Cancellations(_Operations[R]):
    """Cancellation (retirement) of units."""

    def create(
        self,
        *,
        account_id: str,
        quantity: int | None = None,
        ranges: list[Range] | None = None,
        filters: dict[str, Any] | None = None,
        purpose: str | None = None,
        beneficiary: str | None = None,
        reason: str | None = None,
    ) -> R:
        """Cancel units of an account, voluntarily or for a purpose."""
        intent = _compact(
            account_id=account_id,
            quantity=quantity,
            ranges=ranges,
            filters=filters,
            purpose=purpose,
            beneficiary=beneficiary,
            reason=reason,
        )
        return self._run("cancellations.create", {}, intent)


class _Locks(_Operations[R]):
    """Locks a platform holds over an account's units (reservations, escrows)."""

    _group = ""

    def create(
        self,
        *,
        account_id: str,
        platform: str,
        quantity: int | None = None,
        ranges: list[Range] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> R:
        """Lock units of an account for a platform."""
        intent = _compact(
            account_id=account_id,
            platform=platform,
            quantity=quantity,
            ranges=ranges,
            filters=filters,
        )
        return self._run(f"{self._group}.create", {}, intent)


class Reservations(_Locks[R]):
    """Reservations for a platform (CER B.4)."""

    _group = "reservations"

    def release(self, reservation_id: int | str) -> R:
        """Release a reservation back to the account."""
        return self._run("reservations.release", {"reservation_id": reservation_id}, {})

    def transfer(self, reservation_id: int | str) -> R:
        """Transfer reserved units into the platform's custody."""
        return self._run("reservations.transfer", {"reservation_id": reservation_id}, {})


class Escrows(_Locks[R]):
    """Escrows under a platform's control (CER B.5)."""

    _group = "escrows"

    def settle(self, escrow_id: int | str, *, to_account: str) -> R:
        """Settle an escrow to a buyer's account."""
        return self._run("escrows.settle", {"escrow_id": escrow_id}, {"to_account": to_account})

    def release(self, escrow_id: int | str) -> R:
        """Release an escrow back to the seller."""
        return self._run("escrows.release", {"escrow_id": escrow_id}, {})


class Consents(_Operations[R]):
    """Consents that let a platform see one scope of an account (CER B.1)."""

    def grant(self, *, account_id: str, platform: str, scope: str) -> R:
        """Grant a platform a view of `holdings`, `reserved` or `escrowed` units."""
        intent = {"account_id": account_id, "platform": platform, "scope": scope}
        return self._run("consents.grant", {}, intent)

    def revoke(self, consent_id: int | str) -> R:
        """Revoke a consent."""
        return self._run("consents.revoke", {"consent_id": consent_id}, {})


class Associations(_Operations[R]):
    """Units associated with a third party's certificate (CER C.1)."""

    def create(
        self,
        *,
        account_id: str,
        third_party_registry: str,
        certificate_id: str,
        quantity: int | None = None,
        ranges: list[Range] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> R:
        """Associate units 1:1 with a certificate, locking them."""
        intent = _compact(
            account_id=account_id,
            third_party_registry=third_party_registry,
            certificate_id=certificate_id,
            quantity=quantity,
            ranges=ranges,
            filters=filters,
        )
        return self._run("associations.create", {}, intent)

    def dissociate(self, association_id: int | str) -> R:
        """Dissociate the units, unlocking them."""
        return self._run("associations.dissociate", {"association_id": association_id}, {})

    def retire(
        self,
        association_id: int | str,
        *,
        beneficiary: str | None = None,
        reason: str | None = None,
    ) -> R:
        """Retire the certificate: its units are cancelled."""
        intent = _compact(beneficiary=beneficiary, reason=reason)
        return self._run("associations.retire", {"association_id": association_id}, intent)


class Labels(_Operations[R]):
    """Eligibility labels on serial ranges (the label's authority)."""

    def apply(
        self,
        label: str,
        *,
        ranges: list[Range] | None = None,
        quantity: int | None = None,
        account_id: str | None = None,
    ) -> R:
        """Apply a label to ranges, or to a quantity of an account's units."""
        intent = _compact(ranges=ranges, quantity=quantity, account_id=account_id)
        return self._run("labels.apply", {"label": label}, intent)

    def remove(
        self,
        label: str,
        *,
        ranges: list[Range] | None = None,
        quantity: int | None = None,
        account_id: str | None = None,
    ) -> R:
        """Remove a label from ranges, or from a quantity of an account's units."""
        intent = _compact(ranges=ranges, quantity=quantity, account_id=account_id)
        return self._run("labels.remove", {"label": label}, intent)


class Admin(_Operations[R]):
    """The registry administrator's and issuer's writes."""

    def open_account(self, **intent: Any) -> R:
        """Open an account: holder_name, representatives, party, kind, approval_policy."""
        return self._run("admin.open_account", {}, intent)

    def set_representative(self, account_id: str, **intent: Any) -> R:
        """Appoint, change or remove (all rights false) an account's representative."""
        return self._run("admin.set_representative", {"account_id": account_id}, intent)

    def set_account_status(self, account_id: str, status: str) -> R:
        """Suspend, reopen or close an account."""
        return self._run("admin.set_account_status", {"account_id": account_id}, {"status": status})

    def register_project(self, **intent: Any) -> R:
        """Register a project: project_id, name, methodology, country."""
        return self._run("admin.register_project", {}, intent)

    def update_project(self, project_id: str, *, name: str, methodology: str = "") -> R:
        """Correct a registered project's name and methodology (its id and country stay)."""
        return self._run(
            "admin.update_project",
            {"project_id": project_id},
            {"name": name, "methodology": methodology},
        )

    def set_peer(self, **intent: Any) -> R:
        """Record a peer registry: registry_code, api_url, operator_address, chain_id and
        registry_address (as its GET /v1/interop/identity shows them)."""
        return self._run("admin.set_peer", {}, intent)

    def define_label(self, *, name: str, authority: str) -> R:
        """Define an eligibility label and the address that may apply it."""
        return self._run("admin.define_label", {}, {"name": name, "authority": authority})

    def issue(self, **intent: Any) -> R:
        """Issue units: project_id, unit_type, vintage, monitoring period, quantity, to_account."""
        return self._run("admin.issue", {}, intent)

    def register_platform(self, **intent: Any) -> R:
        """Register a platform: address, name, custodial_account, signers."""
        return self._run("admin.register_platform", {}, intent)

    def set_platform_signer(self, platform: str, *, address: str, enabled: bool = True) -> R:
        """Enable or disable an address that signs for a platform."""
        intent = {"address": address, "enabled": enabled}
        return self._run("admin.set_platform_signer", {"platform": platform}, intent)

    def set_platform_status(self, platform: str, status: str) -> R:
        """Suspend or reinstate a platform."""
        return self._run("admin.set_platform_status", {"platform": platform}, {"status": status})


class Article6(_Operations[R]):
    """Article 6 writes (Party sections, authorizations, ITMO transfers and cancellations);
    each intent is the API's, as keywords."""

    def register_party(self, **intent: Any) -> R:
        """Register a Party's section, or replace its authority and administrators."""
        return self._run("article6.register_party", {}, intent)

    def register_cooperative_approach(self, **intent: Any) -> R:
        """Register a cooperative approach."""
        return self._run("article6.register_cooperative_approach", {}, intent)

    def set_mechanism_accounts(self, **intent: Any) -> R:
        """Set the Article 6.4 mechanism accounts."""
        return self._run("article6.set_mechanism_accounts", {}, intent)

    def authorize(self, **intent: Any) -> R:
        """Authorize units as ITMOs."""
        return self._run("article6.authorize", {}, intent)

    def issue(self, **intent: Any) -> R:
        """Issue Article 6.4 units with share of proceeds and OMGE."""
        return self._run("article6.issue", {}, intent)

    def transfer(self, **intent: Any) -> R:
        """Initiate an ITMO transfer."""
        return self._run("article6.transfer", {}, intent)

    def transfer_out(self, **intent: Any) -> R:
        """Transfer ITMOs to a peer registry's account, in its Party's section (decision D47)."""
        return self._run("article6.transfer_out", {}, intent)

    def approve_transfer(self, transfer_id: int | str) -> R:
        """Approve a pending ITMO transfer."""
        return self._run("article6.approve_transfer", {"transfer_id": transfer_id}, {})

    def rescind_transfer(self, transfer_id: int | str) -> R:
        """Rescind a pending ITMO transfer."""
        return self._run("article6.rescind_transfer", {"transfer_id": transfer_id}, {})

    def cancel(self, **intent: Any) -> R:
        """Cancel ITMOs for a use or voluntarily."""
        return self._run("article6.cancel", {}, intent)


class _Typed(Generic[R]):
    """The typed operations, grouped as the API groups them."""

    def _bind(self, run: Callable[[str, dict[str, Any], dict[str, Any]], R]) -> None:
        self.transfers = Transfers(run)
        self.cancellations = Cancellations(run)
        self.reservations = Reservations(run)
        self.escrows = Escrows(run)
        self.consents = Consents(run)
        self.associations = Associations(run)
        self.labels = Labels(run)
        self.admin = Admin(run)
        self.article6 = Article6(run)


class RegistryClient(_Core, _Typed[Request]):
    """Talk to one registry API as the holder of one key (blocking)."""

    def __init__(
        self,
        base_url: str | httpx.Client,
        key: LocalAccount | str,
        *,
        domain: str | None = None,
        timeout: float = 60.0,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(base_url, httpx.Client):
            self.http = base_url
        else:
            self.http = httpx.Client(base_url=base_url, timeout=timeout)
        super().__init__(str(self.http.base_url), key, domain, retry)
        self.sleep = sleep
        self._bind(self.operate)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, *, repeatable: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", None)
        relogged = False
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, headers=self._headers(headers), **kwargs)
            except httpx.TransportError:
                delay = self._delay(attempt, None, repeatable)
                if delay < 0:
                    raise
                self.sleep(delay)
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if method == "GET" and self._expired_login(response, relogged):
                relogged = True
                self.login()
                continue
            delay = self._delay(attempt, response, repeatable)
            if delay < 0:
                raise self._problem(response)
            self.sleep(delay)
            attempt += 1

    def get(self, path: str, **params: Any) -> Any:
        """GET a resource (with the bearer token after login) and return its JSON."""
        return self._call("GET", path, params=params or None).json()

    def paginate(self, path: str, **params: Any) -> Iterator[Any]:
        """Yield every item of a list endpoint, following `next_cursor` page after page."""
        while True:
            page = self.get(path, **params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params = {**params, "cursor": page["next_cursor"]}

    def chain(self) -> dict[str, Any]:
        """Return GET /v1/chain (cached)."""
        if self._chain is None:
            self._chain = self.get("/v1/chain")
        return self._chain

    def login(self) -> str:
        """Sign in with Ethereum and keep the bearer token for later reads; return it."""
        self._token = None
        nonce = self._call("POST", "/v1/auth/siwe/nonce").json()["nonce"]
        body = self._siwe_body(nonce, int(self.chain()["chain_id"]))
        answer = self._call("POST", "/v1/auth/siwe/verify", json=body, repeatable=False).json()
        self._token = str(answer["access_token"])
        return self._token

    def prepare(self, operation: str, intent: dict[str, Any]) -> dict[str, Any]:
        """Return the typed data the API resolved for an intent (signer filled in)."""
        path = self._path(operation) + "/prepare"
        answer = self._call("POST", path, json=self._prepare_body(intent)).json()
        typed: dict[str, Any] = answer["typed_data"]
        return typed

    def check(self, operation: str, intent: dict[str, Any], typed: dict[str, Any]) -> None:
        """Refuse typed data that is not what `intent` asks `operation` for (raises
        `TypedDataMismatch`)."""
        self._check(operation, intent, typed, self.chain())

    def sign(
        self,
        typed: dict[str, Any],
        *,
        operation: str | None = None,
        intent: dict[str, Any] | None = None,
    ) -> str:
        """Check and sign typed data; return the 0x-prefixed signature. With `operation` (and
        its `intent`) the check is `check`'s; without, only the domain and the signer."""
        self._check_any(typed, operation, intent, self.chain())
        return self._signature(typed)

    def sign_write(self, operation: str, intent: dict[str, Any]) -> SignedWrite:
        """Prepare, check and sign a write, without submitting it."""
        typed = self.prepare(operation, intent)
        return SignedWrite(operation, typed, self.sign(typed, operation=operation, intent=intent))

    def submit(
        self, operation: str, typed: dict[str, Any], signature: str, *, wait: bool = False
    ) -> dict[str, Any]:
        """Submit signed typed data; with `wait`, return the request once indexed or failed."""
        return self.submit_signed(SignedWrite(operation, typed, signature), wait=wait)

    def submit_signed(self, signed: SignedWrite, *, wait: bool = False) -> dict[str, Any]:
        """Submit a signed write; retried as is after a network error or a 5xx."""
        params = {"wait": "indexed"} if wait else None
        body = {"typed_data": signed.typed_data, "signature": signed.signature}
        answer: dict[str, Any] = self._call(
            "POST", self._path(signed.operation), json=body, params=params
        ).json()
        return answer

    def write(self, operation: str, intent: dict[str, Any], *, wait: bool = True) -> dict[str, Any]:
        """Prepare, check, sign and submit; with `wait`, return the final request resource."""
        return self.submit_signed(self.sign_write(operation, intent), wait=wait)

    def operate(self, name: str, ids: dict[str, Any], intent: dict[str, Any]) -> Request:
        """Run the operation `name` of `sdk.operations.OPERATIONS` and wait for its outcome."""
        return Request.from_json(self.write(OPERATIONS[name].path(**ids), intent))

    def request(self, request_id: str) -> dict[str, Any]:
        """Return GET /v1/requests/{request_id}."""
        if self._token is None:
            self.login()  # a request is private to its signer and the ARs of its accounts
        result: dict[str, Any] = self.get(f"/v1/requests/{request_id}")
        return result


async def _async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class AsyncRegistryClient(_Core, _Typed[Awaitable[Request]]):
    """Talk to one registry API as the holder of one key (asyncio)."""

    def __init__(
        self,
        base_url: str | httpx.AsyncClient,
        key: LocalAccount | str,
        *,
        domain: str | None = None,
        timeout: float = 60.0,
        retry: Retry | None = None,
        sleep: Callable[[float], Awaitable[None]] = _async_sleep,
    ) -> None:
        if isinstance(base_url, httpx.AsyncClient):
            self.http = base_url
        else:
            self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        super().__init__(str(self.http.base_url), key, domain, retry)
        self.sleep = sleep
        self._bind(self.operate)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.http.aclose()

    async def __aenter__(self) -> AsyncRegistryClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _call(
        self, method: str, path: str, *, repeatable: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", None)
        relogged = False
        attempt = 0
        while True:
            try:
                response = await self.http.request(
                    method, path, headers=self._headers(headers), **kwargs
                )
            except httpx.TransportError:
                delay = self._delay(attempt, None, repeatable)
                if delay < 0:
                    raise
                await self.sleep(delay)
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if method == "GET" and self._expired_login(response, relogged):
                relogged = True
                await self.login()
                continue
            delay = self._delay(attempt, response, repeatable)
            if delay < 0:
                raise self._problem(response)
            await self.sleep(delay)
            attempt += 1

    async def get(self, path: str, **params: Any) -> Any:
        """GET a resource (with the bearer token after login) and return its JSON."""
        return (await self._call("GET", path, params=params or None)).json()

    async def paginate(self, path: str, **params: Any) -> AsyncIterator[Any]:
        """Yield every item of a list endpoint, following `next_cursor` page after page."""
        while True:
            page = await self.get(path, **params)
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            params = {**params, "cursor": page["next_cursor"]}

    async def chain(self) -> dict[str, Any]:
        """Return GET /v1/chain (cached)."""
        if self._chain is None:
            self._chain = await self.get("/v1/chain")
        return self._chain

    async def login(self) -> str:
        """Sign in with Ethereum and keep the bearer token for later reads; return it."""
        self._token = None
        nonce = (await self._call("POST", "/v1/auth/siwe/nonce")).json()["nonce"]
        body = self._siwe_body(nonce, int((await self.chain())["chain_id"]))
        answer = await self._call("POST", "/v1/auth/siwe/verify", json=body, repeatable=False)
        self._token = str(answer.json()["access_token"])
        return self._token

    async def prepare(self, operation: str, intent: dict[str, Any]) -> dict[str, Any]:
        """Return the typed data the API resolved for an intent (signer filled in)."""
        path = self._path(operation) + "/prepare"
        answer = await self._call("POST", path, json=self._prepare_body(intent))
        typed: dict[str, Any] = answer.json()["typed_data"]
        return typed

    async def check(self, operation: str, intent: dict[str, Any], typed: dict[str, Any]) -> None:
        """Refuse typed data that is not what `intent` asks `operation` for."""
        self._check(operation, intent, typed, await self.chain())

    async def sign(
        self,
        typed: dict[str, Any],
        *,
        operation: str | None = None,
        intent: dict[str, Any] | None = None,
    ) -> str:
        """Check and sign typed data; return the 0x-prefixed signature (see `RegistryClient`)."""
        self._check_any(typed, operation, intent, await self.chain())
        return self._signature(typed)

    async def sign_write(self, operation: str, intent: dict[str, Any]) -> SignedWrite:
        """Prepare, check and sign a write, without submitting it."""
        typed = await self.prepare(operation, intent)
        signature = await self.sign(typed, operation=operation, intent=intent)
        return SignedWrite(operation, typed, signature)

    async def submit(
        self, operation: str, typed: dict[str, Any], signature: str, *, wait: bool = False
    ) -> dict[str, Any]:
        """Submit signed typed data; with `wait`, return the request once indexed or failed."""
        return await self.submit_signed(SignedWrite(operation, typed, signature), wait=wait)

    async def submit_signed(self, signed: SignedWrite, *, wait: bool = False) -> dict[str, Any]:
        """Submit a signed write; retried as is after a network error or a 5xx."""
        params = {"wait": "indexed"} if wait else None
        body = {"typed_data": signed.typed_data, "signature": signed.signature}
        answer = await self._call("POST", self._path(signed.operation), json=body, params=params)
        result: dict[str, Any] = answer.json()
        return result

    async def write(
        self, operation: str, intent: dict[str, Any], *, wait: bool = True
    ) -> dict[str, Any]:
        """Prepare, check, sign and submit; with `wait`, return the final request resource."""
        return await self.submit_signed(await self.sign_write(operation, intent), wait=wait)

    async def operate(self, name: str, ids: dict[str, Any], intent: dict[str, Any]) -> Request:
        """Run the operation `name` of `sdk.operations.OPERATIONS` and wait for its outcome."""
        return Request.from_json(await self.write(OPERATIONS[name].path(**ids), intent))

    async def request(self, request_id: str) -> dict[str, Any]:
        """Return GET /v1/requests/{request_id}."""
        if self._token is None:
            await self.login()
        result: dict[str, Any] = await self.get(f"/v1/requests/{request_id}")
        return result
