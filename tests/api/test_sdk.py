"""The SDK against the real API: typed writes, paging, re-login, Retry-After, resubmission after
a lost answer, and typed data that does not match the intent refused before signing.

Faults are injected by httpx transports wrapping the test app's own transport: the server
still answers every request that gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from api.problems import Problem
from api.ratelimit import RateLimiter
from sdk import (
    AsyncRegistryClient,
    RegistryClient,
    RegistryError,
    Request,
    Retry,
    TypedDataMismatch,
)
from tests.api.conftest import API_DOMAIN, ApiNode


class Faulty(httpx.BaseTransport):
    """Pass requests to the app; `fault` may answer instead, or alter what the app answered."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        fault: Callable[[httpx.Request, Callable[[], httpx.Response]], httpx.Response],
    ) -> None:
        self.inner = inner
        self.fault = fault
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return self.fault(request, lambda: self.inner.handle_request(request))


def _client(
    node: ApiNode,
    key: LocalAccount,
    fault: Callable[[httpx.Request, Callable[[], httpx.Response]], httpx.Response] | None = None,
    **options: Any,
) -> tuple[RegistryClient, Faulty]:
    transport = Faulty(node.client._transport, fault or (lambda _request, send: send()))
    http = httpx.Client(transport=transport, base_url=node.client.base_url, timeout=60)
    return RegistryClient(http, key, domain=API_DOMAIN, **options), transport


@pytest.fixture(scope="module")
def seller_ar(node: ApiNode) -> LocalAccount:
    return Account.create()


@pytest.fixture(scope="module")
def market(node: ApiNode, seller_ar: LocalAccount) -> dict[str, str]:
    """A seller (single approval) holding 600 units in two blocks, and a buyer; opened and
    issued with the typed methods."""
    admin, _ = _client(node, node.keys["registry_admin"])
    issuer, _ = _client(node, node.keys["issuer"])

    def opened(name: str, ar: str) -> str:
        request = admin.admin.open_account(
            holder_name=name,
            approval_policy="single",
            representatives=[{"address": ar, "primary": True}],
        )
        assert isinstance(request, Request) and request.indexed, request
        assert request.result is not None
        return str(request.result["account_id"])

    seller = opened("SDK Seller Pty Ltd", seller_ar.address)
    buyer = opened("SDK Buyer Ltd", Account.create().address)
    project = issuer.admin.register_project(project_id="SDK-1", name="Typed", country="AU")
    assert project.indexed, project
    for vintage, quantity in ((2025, 500), (2024, 100)):  # two blocks, so lists have pages
        issued = issuer.admin.issue(
            project_id="SDK-1",
            unit_type="ACCU",
            vintage=vintage,
            monitoring_period_start=f"{vintage}-01-01",
            monitoring_period_end=f"{vintage}-12-31",
            quantity=quantity,
            to_account=seller,
        )
        assert issued.indexed and issued.tx_hash and issued.block_number, issued
    return {"seller": seller, "buyer": buyer}


def _held(client: RegistryClient, account: str) -> int:
    return sum(
        item["end"] - item["start"] + 1
        for item in client.paginate(f"/v1/accounts/{account}/holdings", limit=1)
    )


def test_typed_transfer_and_paged_holdings(
    node: ApiNode, market: dict[str, str], seller_ar: LocalAccount
) -> None:
    ar, transport = _client(node, seller_ar)
    ar.login()
    before = _held(ar, market["seller"])
    request = ar.transfers.initiate(
        from_account=market["seller"], to_account=market["buyer"], quantity=30
    )
    assert request.indexed and request.result is not None, request
    assert _held(ar, market["seller"]) == before - 30
    pages = [path for method, path in transport.seen if path.endswith("/holdings")]
    assert len(pages) >= 4  # two reads of two blocks, limit=1: the iterator followed next_cursor


def test_a_read_refused_401_logs_in_again_once(
    node: ApiNode, market: dict[str, str], seller_ar: LocalAccount
) -> None:
    ar, transport = _client(node, seller_ar)
    ar.login()
    ar._token = "expired-or-unknown"
    assert _held(ar, market["seller"]) > 0
    assert transport.seen.count(("POST", "/v1/auth/siwe/verify")) == 2

    stranger, _ = _client(node, Account.create())
    stranger.login()  # a valid token, but not one allowed to see the account: no loop
    with pytest.raises(RegistryError) as refused:
        stranger.get(f"/v1/accounts/{market['seller']}/holdings")
    assert refused.value.status in (403, 404)


def test_retry_after_of_the_rate_limiter_is_honoured(
    node: ApiNode, market: dict[str, str], seller_ar: LocalAccount, monkeypatch: Any
) -> None:
    import time

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    limiter = RateLimiter(1.0, 1)
    monkeypatch.setattr(node.services, "limiter", limiter)
    ar, _ = _client(node, seller_ar, sleep=sleep)
    for _ in range(2):
        # Spend the signer's one token first, so the submit is throttled however long the
        # previous write took (under load it can take longer than the bucket's refill).
        with contextlib.suppress(Problem):
            limiter.take(seller_ar.address)
        request = ar.transfers.initiate(
            from_account=market["seller"], to_account=market["buyer"], quantity=1
        )
        assert request.indexed, request
    assert slept and all(delay >= 1 for delay in slept)  # the server's Retry-After, in seconds


def test_503_is_retried_a_bounded_number_of_times(node: ApiNode) -> None:
    def busy(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        body = {"code": "BUSY", "detail": "come back later"}
        return httpx.Response(503, headers={"Retry-After": "2"}, json=body)

    slept: list[float] = []
    client, transport = _client(
        node, Account.create(), busy, retry=Retry(attempts=3), sleep=slept.append
    )
    with pytest.raises(RegistryError) as refused:
        client.chain()
    assert refused.value.status == 503 and refused.value.code == "BUSY"
    assert slept == [2.0, 2.0] and len(transport.seen) == 3


def test_a_lost_submit_answer_is_resubmitted_and_writes_once(
    node: ApiNode, market: dict[str, str], seller_ar: LocalAccount
) -> None:
    """The first submit reaches the server, which journals it; its answer is lost. The SDK
    sends the same signed request again and gets the same request id: one transfer."""
    lost: list[httpx.Response] = []

    def drop_first_answer(
        request: httpx.Request, send: Callable[[], httpx.Response]
    ) -> httpx.Response:
        response = send()
        if request.url.path == "/v1/transfers" and not lost:
            response.read()
            lost.append(response)
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response

    ar, transport = _client(node, seller_ar, drop_first_answer, sleep=lambda _s: None)
    ar.login()
    seller_before = _held(ar, market["seller"])
    request = ar.transfers.initiate(
        from_account=market["seller"], to_account=market["buyer"], quantity=7
    )
    assert request.indexed, request
    (first,) = lost
    assert first.json()["request_id"] == request.request_id
    submits = [seen for seen in transport.seen if seen == ("POST", "/v1/transfers")]
    assert len(submits) == 2
    assert transport.seen.count(("POST", "/v1/transfers/prepare")) == 1
    assert _held(ar, market["seller"]) == seller_before - 7  # moved once, not twice


def _tamper(change: Callable[[dict[str, Any]], None]) -> Any:
    def fault(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        response = send()
        if not request.url.path.endswith("/prepare") or response.status_code != 200:
            return response
        body = json.loads(response.read())
        change(body["typed_data"]["message"])
        return httpx.Response(200, json=body)

    return fault


def _other_recipient(message: dict[str, Any]) -> None:
    message["toAccount"] = int(message["toAccount"]) + 1


def _more_units(message: dict[str, Any]) -> None:
    message["ranges"][-1]["end"] = int(message["ranges"][-1]["end"]) + 1


def _extra_range(message: dict[str, Any]) -> None:
    last = message["ranges"][-1]
    message["ranges"].append({"start": int(last["end"]) + 1, "end": int(last["end"]) + 1})


def _other_sender(message: dict[str, Any]) -> None:
    message["fromAccount"] = int(message["fromAccount"]) - 1


@pytest.mark.parametrize("change", [_other_recipient, _more_units, _extra_range, _other_sender])
def test_typed_data_unlike_the_intent_is_refused_before_signing(
    node: ApiNode,
    market: dict[str, str],
    seller_ar: LocalAccount,
    change: Callable[[dict[str, Any]], None],
) -> None:
    ar, transport = _client(node, seller_ar, _tamper(change))
    with pytest.raises(TypedDataMismatch):
        ar.transfers.initiate(from_account=market["seller"], to_account=market["buyer"], quantity=3)
    assert ("POST", "/v1/transfers") not in transport.seen  # nothing signed was sent


def test_explicit_ranges_and_the_operation_are_checked(
    node: ApiNode, market: dict[str, str], seller_ar: LocalAccount
) -> None:
    ar, _ = _client(node, seller_ar)
    typed = ar.prepare(
        "transfers",
        {"from_account": market["seller"], "to_account": market["buyer"], "quantity": 2},
    )
    ranges = typed["message"]["ranges"]
    intent = {"from_account": market["seller"], "to_account": market["buyer"], "ranges": ranges}
    ar.check("transfers", intent, typed)  # the same ranges pass
    shifted = [{"start": r["start"] + 1, "end": r["end"] + 1} for r in ranges]
    with pytest.raises(TypedDataMismatch):
        ar.check("transfers", {**intent, "ranges": shifted}, typed)
    with pytest.raises(TypedDataMismatch):  # an InitiateTransfer is not a cancellation
        ar.check("cancellations", {"account_id": market["seller"], "quantity": 2}, typed)
    other = Account.create()
    with pytest.raises(TypedDataMismatch):
        RegistryClient(node.client, other, domain=API_DOMAIN).check("transfers", intent, typed)


def test_async_client_writes_and_pages(
    node: ApiNode, market: dict[str, str], seller_ar: LocalAccount
) -> None:
    async def run() -> tuple[Request, list[Any]]:
        transport = httpx.ASGITransport(app=node.client.app)
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)
        async with AsyncRegistryClient(http, seller_ar, domain=API_DOMAIN) as ar:
            await ar.login()
            request = await ar.transfers.initiate(
                from_account=market["seller"], to_account=market["buyer"], quantity=4
            )
            items = [
                item
                async for item in ar.paginate(f"/v1/accounts/{market['seller']}/holdings", limit=1)
            ]
            return request, items

    request, items = asyncio.run(run())
    assert request.indexed and request.result is not None, request
    assert all("start" in item for item in items)


@pytest.mark.parametrize(
    "change",
    [
        lambda message: message.update(purpose=2),  # OMGE, though the intent left the default
        lambda message: message.update(beneficiary="Someone else"),
        lambda message: message.update(accountId=int(message["accountId"]) + 1),
    ],
    ids=["purpose", "beneficiary", "account"],
)
def test_a_cancellation_unlike_its_intent_or_defaults_is_refused(
    node: ApiNode,
    market: dict[str, str],
    seller_ar: LocalAccount,
    change: Callable[[dict[str, Any]], None],
) -> None:
    ar, transport = _client(node, seller_ar, _tamper(change))
    with pytest.raises(TypedDataMismatch):
        ar.cancellations.create(account_id=market["seller"], quantity=1)
    assert ("POST", "/v1/cancellations") not in transport.seen


def test_an_account_with_an_added_representative_is_refused(node: ApiNode) -> None:
    intruder = Account.create().address

    def add(message: dict[str, Any]) -> None:
        message["representatives"].append(
            {"addr": intruder, "primary": False, "canInitiate": True, "canApprove": True}
        )

    admin, transport = _client(node, node.keys["registry_admin"], _tamper(add))
    with pytest.raises(TypedDataMismatch):
        admin.admin.open_account(
            holder_name="Tampered Pty Ltd",
            representatives=[{"address": Account.create().address, "primary": True}],
        )
    assert ("POST", "/v1/admin/accounts") not in transport.seen


def test_a_platform_with_an_added_signer_is_refused(node: ApiNode) -> None:
    platform = Account.create().address
    admin, _ = _client(node, node.keys["registry_admin"])
    custody = admin.admin.open_account(
        holder_name="Custody Pty Ltd",
        kind="custodial",
        approval_policy="single",
        representatives=[{"address": platform, "primary": True}],
    )
    assert custody.indexed and custody.result is not None, custody

    def add(message: dict[str, Any]) -> None:
        message["signers"] = [*message["signers"], Account.create().address]

    tampered, transport = _client(node, node.keys["registry_admin"], _tamper(add))
    with pytest.raises(TypedDataMismatch):
        tampered.admin.register_platform(
            address=platform, name="P", custodial_account=custody.result["account_id"]
        )
    assert ("POST", "/v1/admin/platforms") not in transport.seen
