"""Webhooks over HTTP against a real chain, on SQLite and PostgreSQL, to a real HTTP receiver.

The receiver is a `http.server` on a free port that verifies every delivery with
`standardwebhooks.Webhook(secret).verify`. It is stopped to show that deliveries wait (and are
retried) while it is down, and told to answer 500 after accepting a delivery to force a repeat
that its `webhook-id` deduplicates.
"""

from __future__ import annotations

import dataclasses
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from api.app import create_app
from api.models import WebhookCursor, WebhookDelivery, WebhookSubscription
from api.webhooks.delivery import retry_delay
from api.webhooks.outbox import fill_outbox, newest_event_id
from api.webhooks.subscriptions import check_url
from indexer.models import Event, table_of
from node.contracts import ConsentScope, PlatformStatus, UnitState
from node.devchain import DevChain
from sdk import RegistryClient
from tests.api.conftest import API_DOMAIN, ApiNode, build_node
from tests.api.helpers import DATABASES, assert_problem, login, stranger, throwaway_postgres
from tests.indexer.script import LedgerScript

# Short retry settings (a real worker, real timeouts): retries every 0.05-0.5 s, for long enough
# that a receiver down for several seconds is waited for.
WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_poll_seconds": 0.05,
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_max_seconds": 0.5,
    "webhook_max_attempts": 200,
    "webhook_timeout_seconds": 2.0,
    "webhook_max_subscriptions": 3,
    # The receiver listens on loopback, which a production node refuses (api.webhooks.egress);
    # the example hosts are subscribed to by name and never delivered to.
    "webhook_allow_hosts": ",".join(
        ("127.0.0.1/32", "p.example", "q.example", "x.example", "platform.example", "admin.example")
    ),
    "webhook_allow_http": True,
}


# -- the receiver ----------------------------------------------------------------------------


@dataclass
class Received:
    """One POST the receiver got, verified."""

    path: str
    webhook_id: str
    payload: dict[str, Any]
    answered: int


@dataclass
class Receiver:
    """A real HTTP endpoint on a free port; each path has its subscription's secret."""

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # signature failures
    # Answer 500 to the first POST of each webhook-id, after recording it as accepted.
    fail_after_accept: bool = False
    # Hold the first POST of each webhook-id this long before answering.
    stall_seconds: float = 0.0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = int(probe.getsockname()[1])

    def url(self, path: str) -> str:
        """Return the URL of one of the receiver's paths."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Listen (again) on the receiver's port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                receiver.handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: BaseHTTPRequestHandler, body: str) -> None:
        """Verify a delivery's signature, record it and answer."""
        secret = self.secrets.get(request.path)
        headers = dict(request.headers.items())
        try:
            if secret is None:
                raise WebhookVerificationError(f"no secret for {request.path}")
            payload = Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self._lock:
                self.refused.append(f"{request.path}: {exc}")
            self._answer(request, 400)
            return
        webhook_id = headers["webhook-id"]
        with self._lock:
            repeat = any(r.webhook_id == webhook_id for r in self.received)
            status = 500 if self.fail_after_accept and not repeat else 204
            self.received.append(Received(request.path, webhook_id, payload, status))
        if self.stall_seconds and not repeat:
            time.sleep(self.stall_seconds)
        try:
            self._answer(request, status)
        except OSError:
            pass  # the sender gave up waiting

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int) -> None:
        request.send_response(status)
        request.send_header("content-length", "0")
        request.end_headers()

    def unique(self, path: str) -> dict[str, dict[str, Any]]:
        """Return what a path received, deduplicated by `webhook-id` as a receiver should."""
        with self._lock:
            seen: dict[str, dict[str, Any]] = {}
            for item in self.received:
                if item.path == path:
                    seen.setdefault(item.webhook_id, item.payload)
            return seen


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Yield a receiver (not yet listening)."""
    server = Receiver()
    try:
        yield server
    finally:
        server.stop()


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll until `condition()` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


# -- the node --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=DATABASES)
def node(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiNode]:
    """Yield an API node with short webhook retry settings, once per database."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres()) if request.param == "postgresql" else None
        nodes = build_node(
            session_chain,
            dev_keys,
            tmp_path_factory.mktemp(f"webhooks-{request.param}"),
            database_url=url,
            **WEBHOOK_SETTINGS,
        )
        yield next(nodes)
        next(nodes, None)


def _count(node: ApiNode, model: type[Any]) -> int:
    table = table_of(model)
    with node.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- pure rules ------------------------------------------------------------------------------


def test_retry_delays_double_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        ceiling = min(60.0, 1.0 * 2 ** (attempt - 1))
        for _ in range(20):
            delay = retry_delay(attempt, 1.0, 60.0, rng)
            assert ceiling / 2 <= delay <= ceiling
    assert retry_delay(10_000, 1.0, 60.0, rng) <= 60.0  # no overflow far out


@pytest.mark.parametrize(
    "url",
    [
        "https://platform.example/hooks",
        "http://127.0.0.1:8080/p?x=1",
        "HTTPS://platform.example:8443",
        "http://[::1]:9000/hooks",
    ],
)
def test_check_url_accepts_http_and_https(url: str) -> None:
    assert check_url(url) == url


# -- bad input -------------------------------------------------------------------------------

_PLATFORM = "0x" + "ab" * 20


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"platform": _PLATFORM, "url": "ftp://platform.example/x"}, 422, "INVALID_WEBHOOK_URL"),
        ({"platform": _PLATFORM, "url": "platform.example/x"}, 422, "INVALID_WEBHOOK_URL"),
        ({"platform": _PLATFORM, "url": "https://"}, 422, "INVALID_WEBHOOK_URL"),
        (
            {"platform": _PLATFORM, "url": "https://u:p@platform.example/"},
            422,
            "INVALID_WEBHOOK_URL",
        ),
        ({"platform": _PLATFORM, "url": "https://platform.example/#x"}, 422, "INVALID_WEBHOOK_URL"),
        (
            {"platform": _PLATFORM, "url": "https://platform.example:99999/"},
            422,
            "INVALID_WEBHOOK_URL",
        ),
        ({"platform": _PLATFORM, "url": "https://platform .example/"}, 422, "INVALID_WEBHOOK_URL"),
        (
            {"platform": _PLATFORM, "url": "https://x.example/" + "a" * 2100},
            422,
            "INVALID_WEBHOOK_URL",
        ),
        ({"platform": _PLATFORM, "url": "javascript:alert(1)"}, 422, "INVALID_WEBHOOK_URL"),
        (
            {"platform": _PLATFORM, "url": "https://p.example/", "event_types": ["Nope"]},
            422,
            "INVALID_EVENT_TYPE",
        ),
        (
            {"platform": _PLATFORM, "url": "https://p.example/", "event_types": []},
            422,
            "INVALID_EVENT_TYPE",
        ),
        ({"platform": "0x1234", "url": "https://p.example/"}, 422, "INVALID_REQUEST"),
        ({"url": "https://p.example/"}, 422, "INVALID_REQUEST"),
        (
            {"platform": _PLATFORM, "url": "https://p.example/", "secret": "x"},
            422,
            "INVALID_REQUEST",
        ),
        ({"platform": _PLATFORM, "url": 5}, 422, "INVALID_REQUEST"),
        # A well-formed subscription by a caller who signs for no platform.
        ({"platform": _PLATFORM, "url": "https://p.example/"}, 403, "NOT_AUTHORISED"),
        (
            {"platform": _PLATFORM, "url": "https://p.example/", "event_types": ["UnitsCancelled"]},
            403,
            "NOT_AUTHORISED",
        ),
    ],
)
def test_bad_subscriptions_are_refused_and_change_nothing(
    node: ApiNode, body: dict[str, Any], status: int, code: str
) -> None:
    headers = login(node.client, stranger())
    before = _count(node, WebhookSubscription)
    response = node.client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
    assert_problem(response, status, code)
    assert _count(node, WebhookSubscription) == before


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "code"),
    [
        ("GET", "/v1/webhooks/subscriptions/sub_" + "0" * 24, {}, 404, "SUBSCRIPTION_NOT_FOUND"),
        ("DELETE", "/v1/webhooks/subscriptions/sub_" + "0" * 24, {}, 404, "SUBSCRIPTION_NOT_FOUND"),
        ("GET", "/v1/webhooks/subscriptions/nope", {}, 422, "INVALID_REQUEST"),
        ("GET", "/v1/webhooks/deliveries/1", {}, 404, "DELIVERY_NOT_FOUND"),
        ("GET", "/v1/webhooks/deliveries/0", {}, 422, "INVALID_REQUEST"),
        ("GET", "/v1/webhooks/deliveries", {"status": "lost"}, 422, "INVALID_FILTER"),
        ("GET", "/v1/webhooks/deliveries", {"platform": "0x12"}, 422, "INVALID_FILTER"),
        ("GET", "/v1/webhooks/deliveries", {"colour": "red"}, 422, "INVALID_FILTER"),
        ("GET", "/v1/webhooks/deliveries", {"sort": "url"}, 422, "INVALID_SORT"),
        ("GET", "/v1/webhooks/deliveries", {"cursor": "garbage"}, 422, "INVALID_CURSOR"),
        ("GET", "/v1/webhooks/subscriptions", {"limit": 0}, 422, "INVALID_LIMIT"),
    ],
)
def test_bad_reads_and_deletes_are_refused(
    node: ApiNode, method: str, path: str, params: dict[str, Any], status: int, code: str
) -> None:
    headers = login(node.client, stranger())
    response = node.client.request(method, path, params=params, headers=headers)
    assert_problem(response, status, code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/webhooks/subscriptions"),
        ("GET", "/v1/webhooks/subscriptions"),
        ("GET", "/v1/webhooks/deliveries"),
        ("DELETE", "/v1/webhooks/subscriptions/sub_" + "0" * 24),
    ],
)
def test_webhooks_need_a_token(node: ApiNode, method: str, path: str) -> None:
    body = {"platform": _PLATFORM, "url": "https://p.example/"} if method == "POST" else None
    assert_problem(node.client.request(method, path, json=body), 401, "UNAUTHENTICATED")


def test_a_caller_without_platform_sees_empty_lists(node: ApiNode) -> None:
    headers = login(node.client, stranger())
    for path in ("/v1/webhooks/subscriptions", "/v1/webhooks/deliveries"):
        body = node.client.get(path, headers=headers).json()
        assert body["items"] == [] and body["next_cursor"] is None
        assert body["as_of_block"] >= 0


# -- the platform story ----------------------------------------------------------------------


@dataclass
class Market:
    """A seller, two platforms (P reserves, Q views holdings) and the actors of each.

    Every write goes through the HTTP API with the SDK (prepare, check, sign, submit, indexed),
    except `_in_one_block`, which needs two requests mined in one block in a chosen order.
    """

    node: ApiNode
    script: LedgerScript  # for `_in_one_block`: the node's signer and block index
    admin: RegistryClient
    seller: int  # the seller's account number, as events carry it
    seller_id: str  # ... and as the API writes it
    seller_ar: LocalAccount
    seller_client: RegistryClient
    p: str  # platform addresses
    q: str
    p_signer: LocalAccount
    q_signer: LocalAccount
    consents: dict[tuple[str, ConsentScope], int] = field(default_factory=dict)  # active ones

    def grant(self, platform: str, scope: ConsentScope) -> int:
        """Grant a platform a consent on the seller's account; return its id."""
        intent = {"account_id": self.seller_id, "platform": platform, "scope": scope.name.lower()}
        consent = int(_indexed(self.seller_client.write("consents", intent))["consent_id"])
        self.consents[(platform, scope)] = consent
        return consent

    def ensure(self, platform: str, scope: ConsentScope) -> int:
        """Return the platform's active consent of a scope, granting one if there is none."""
        return self.consents.get((platform, scope)) or self.grant(platform, scope)

    def revoke(self, platform: str, scope: ConsentScope) -> None:
        """Revoke the platform's consent of a scope."""
        consent = self.consents.pop((platform, scope))
        _indexed(self.seller_client.write(f"consents/{consent}/revoke", {}))

    def reserve(self, platform: str, quantity: int) -> int:
        """Reserve some of the seller's free units for a platform; return the reservation id."""
        intent = {"account_id": self.seller_id, "platform": platform, "quantity": quantity}
        return int(_indexed(self.seller_client.write("reservations", intent))["reservation_id"])

    def release(self, reservation: int) -> int:
        """Release a reservation; return the event id of its ReservationReleased."""
        request = self.seller_client.write(f"reservations/{reservation}/release", {})
        _indexed(request)
        events = self.admin.get(
            "/v1/events", tx_hash=request["tx_hash"], type="ReservationReleased"
        )["items"]
        (event,) = [e for e in events if e["data"]["reservation_id"] == reservation]
        return int(event["event_id"])

    def set_status(self, platform: str, status: PlatformStatus) -> None:
        """Suspend or reactivate a platform (the registry administrator)."""
        intent = {"status": status.name.lower()}
        _indexed(self.admin.write(f"admin/platforms/{platform}/status", intent))

    def block_of(self, event_id: int) -> int:
        """Return the block of an indexed event."""
        events = table_of(Event)
        with self.node.services.engine.connect() as conn:
            return int(
                conn.execute(
                    select(events.c.block_number).where(events.c.id == event_id)
                ).scalar_one()
            )

    def has_event(self, event_id: int) -> bool:
        """Return whether the mirror still holds an event."""
        events = table_of(Event)
        with self.node.services.engine.connect() as conn:
            found = conn.execute(select(events.c.id).where(events.c.id == event_id)).first()
        return found is not None

    def event_id(self, name: str, argument: str, value: int) -> int:
        """Return the mirror's newest id of an event `name` whose `argument` is `value`."""
        events = table_of(Event)
        with self.node.services.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.id, events.c.data).where(events.c.name == name)
            ).all()
        return max((int(r.id) for r in rows if dict(r.data).get(argument) == value), default=0)


def _indexed(request: dict[str, Any]) -> dict[str, Any]:
    assert request["status"] == "indexed", request
    result: dict[str, Any] = request["result"]
    return result


def _sdk(node: ApiNode, key: LocalAccount) -> RegistryClient:
    client = RegistryClient(node.client, key, domain=API_DOMAIN)
    client.login()
    return client


def _open_platform(admin: RegistryClient, name: str, signer: LocalAccount) -> str:
    custody = _indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": f"{name} custody",
                "kind": "custodial",
                "approval_policy": "single",
                "representatives": [{"address": signer.address, "primary": True}],
            },
        )
    )["account_id"]
    platform: str = Account.create().address
    registered = _indexed(
        admin.write(
            "admin/platforms",
            {
                "address": platform,
                "name": name,
                "custodial_account": custody,
                "signers": [signer.address],
            },
        )
    )
    assert registered["platform"] == platform
    return platform


@pytest.fixture(scope="module")
def market(node: ApiNode) -> Market:
    """Register platforms P and Q, open a seller's account and issue 1,000 units to it."""
    admin = _sdk(node, node.keys["registry_admin"])
    issuer = _sdk(node, node.keys["issuer"])
    seller_ar: LocalAccount = Account.create()
    seller_id = _indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": "Seller Pty Ltd",
                "approval_policy": "single",
                "representatives": [{"address": seller_ar.address, "primary": True}],
            },
        )
    )["account_id"]
    project = _indexed(
        issuer.write(
            "admin/projects", {"project_id": "WEBHOOK-PRJ", "name": "Mulga", "country": "AU"}
        )
    )["project_id"]
    _indexed(
        issuer.write(
            "admin/issuances",
            {
                "project_id": project,
                "unit_type": "ACCU",
                "vintage": 2024,
                "monitoring_period_start": "2024-01-01",
                "monitoring_period_end": "2024-12-31",
                "quantity": 1_000,
                "to_account": seller_id,
            },
        )
    )
    p_signer: LocalAccount = Account.create()
    q_signer: LocalAccount = Account.create()
    return Market(
        node=node,
        script=LedgerScript(node.registry),
        admin=admin,
        seller=int(seller_id.split("-")[1]),
        seller_id=seller_id,
        seller_ar=seller_ar,
        seller_client=_sdk(node, seller_ar),
        p=_open_platform(admin, "Platform P", p_signer),
        q=_open_platform(admin, "Platform Q", q_signer),
        p_signer=p_signer,
        q_signer=q_signer,
    )


def _subscribe(
    node: ApiNode, signer: LocalAccount, platform: str, url: str, types: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"platform": platform, "url": url}
    if types is not None:
        body["event_types"] = types
    response = node.client.post(
        "/v1/webhooks/subscriptions", json=body, headers=login(node.client, signer)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["secret"].startswith("whsec_")
    return created


Subscribe = Callable[..., dict[str, Any]]


@pytest.fixture
def subscribe(node: ApiNode) -> Iterator[Subscribe]:
    """Yield a function that subscribes; the subscriptions are deleted after the test."""
    made: list[tuple[LocalAccount, str]] = []

    def create(
        signer: LocalAccount, platform: str, url: str, types: list[str] | None = None
    ) -> dict[str, Any]:
        created = _subscribe(node, signer, platform, url, types)
        made.append((signer, created["subscription_id"]))
        return created

    yield create
    for signer, subscription_id in made:
        response = node.client.delete(
            f"/v1/webhooks/subscriptions/{subscription_id}", headers=login(node.client, signer)
        )
        assert response.status_code in (204, 404), response.text


def _deliveries(node: ApiNode, signer: LocalAccount, **params: Any) -> list[dict[str, Any]]:
    headers = login(node.client, signer)
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = node.client.get("/v1/webhooks/deliveries", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def _detail(node: ApiNode, signer: LocalAccount, delivery_id: int) -> dict[str, Any]:
    response = node.client.get(
        f"/v1/webhooks/deliveries/{delivery_id}", headers=login(node.client, signer)
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def test_deliveries_wait_for_a_receiver_that_is_down_then_arrive_once_each(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    # Subscriptions first: they receive the events indexed after them.
    sub_p = subscribe(market.p_signer, market.p, receiver.url("/p"))
    sub_q = subscribe(market.q_signer, market.q, receiver.url("/q"))
    sub_released = subscribe(
        market.p_signer, market.p, receiver.url("/p-released"), ["ReservationReleased"]
    )
    receiver.secrets = {
        "/p": sub_p["secret"],
        "/q": sub_q["secret"],
        "/p-released": sub_released["secret"],
    }
    # The receiver is down while the seller consents, reserves and releases.
    market.grant(market.p, ConsentScope.RESERVED)
    market.grant(market.q, ConsentScope.HOLDINGS)
    reservation = market.reserve(market.p, 100)
    released = market.release(reservation)

    def waiting() -> list[dict[str, Any]]:
        items = _deliveries(node, market.p_signer, subscription_id=sub_p["subscription_id"])
        types = {d["event_type"] for d in items}
        if types == {"ConsentGranted", "UnitsReserved", "ReservationReleased"} and all(
            d["attempts"] >= 2 for d in items
        ):
            return items
        return []

    pending = wait_until(waiting, what="failed attempts while the receiver is down")
    for delivery in pending:
        assert delivery["status"] == "pending"
        assert delivery["last_status_code"] is None
        assert "ConnectError" in delivery["last_error"]
        assert delivery["next_attempt_at"] is not None
    log_entries = _detail(node, market.p_signer, pending[0]["delivery_id"])["attempt_log"]
    assert len(log_entries) >= 2
    assert all(a["status_code"] is None and a["error"] for a in log_entries)
    assert all(a["duration_ms"] >= 0 for a in log_entries)
    assert receiver.received == []
    metrics = node.client.get("/metrics").text
    (line,) = [
        x for x in metrics.splitlines() if x.startswith("registry_webhook_deliveries_pending")
    ]
    assert float(line.split()[-1]) >= len(pending)

    # Back up, but answering 500 to the first copy of each delivery after accepting it.
    receiver.fail_after_accept = True
    receiver.start()
    subscriptions = [sub_p, sub_q, sub_released]
    signers = {
        sub_p["subscription_id"]: market.p_signer,
        sub_released["subscription_id"]: market.p_signer,
        sub_q["subscription_id"]: market.q_signer,
    }

    def delivered() -> dict[str, list[dict[str, Any]]]:
        result = {}
        for sub in subscriptions:
            sid = sub["subscription_id"]
            items = _deliveries(node, signers[sid], subscription_id=sid)
            if not items or any(d["status"] != "delivered" for d in items):
                return {}
            result[sid] = items
        return result

    done = wait_until(delivered, what="every delivery delivered")
    assert receiver.refused == []

    expected_types = {
        "/p": {"ConsentGranted", "UnitsReserved", "ReservationReleased"},
        "/q": {"ConsentGranted", "ReservationReleased"},
        "/p-released": {"ReservationReleased"},
    }
    admin = login(node.client, node.keys["registry_admin"])
    for sub, path in ((sub_p, "/p"), (sub_q, "/q"), (sub_released, "/p-released")):
        deliveries = done[sub["subscription_id"]]
        unique = receiver.unique(path)
        # Each event arrived; the repeat forced by the 500 carried the same webhook-id.
        assert set(unique) == {d["webhook_id"] for d in deliveries}
        assert {p["type"] for p in unique.values()} == expected_types[path]
        copies = [r for r in receiver.received if r.path == path]
        assert len(copies) == 2 * len(unique)
        assert [r.answered for r in copies].count(500) == len(unique)
        # Each webhook-id came exactly twice, refused then accepted, with the same body.
        for webhook_id, first in unique.items():
            repeats = [r for r in copies if r.webhook_id == webhook_id]
            assert [r.answered for r in repeats] == [500, 204], webhook_id
            assert all(r.payload == first for r in repeats), webhook_id
        for delivery in deliveries:
            attempts = _detail(node, signers[sub["subscription_id"]], delivery["delivery_id"])
            codes = [a["status_code"] for a in attempts["attempt_log"]]
            assert codes[-2:] == [500, 204] and all(c is None for c in codes[:-2])
            assert attempts["attempts"] == len(codes)
            # The payload is the indexed event, as the admin's feed shows it.
            payload = unique[delivery["webhook_id"]]
            assert payload == attempts["payload"]
            data = payload["data"]
            (event,) = node.client.get(
                "/v1/events",
                params={"tx_hash": data["tx_hash"], "type": payload["type"]},
                headers=admin,
            ).json()["items"]
            assert event["event_id"] == data["event_id"] == delivery["event_id"]
            assert event["block_number"] == data["block_number"]
            assert {k: data[k] for k in event["data"]} == event["data"]
    releases = [p for p in receiver.unique("/q").values() if p["type"] == "ReservationReleased"]
    assert [p["data"]["event_id"] for p in releases] == [released]
    assert releases[0]["data"]["reservation_id"] == reservation
    assert releases[0]["data"]["platform"] == market.p
    assert releases[0]["data"]["account_id"] == f"AU-{market.seller}"


def _rpc(node: ApiNode, method: str, *params: Any) -> Any:
    return node.registry.client.request(method, list(params))  # raises ChainError on an error


def _in_one_block(market: Market, *requests: tuple[str, dict[str, Any], list[int]]) -> list[Any]:
    """Relay signed requests of the seller's AR in one block, in this order; return outcomes."""
    node = market.node
    relayer = node.registry.relayer
    signer = market.script.signer
    sent = threading.Semaphore(0)
    _rpc(node, "evm_setAutomine", False)
    try:
        futures = []
        for primary_type, fields, hints in requests:
            # A fresh nonce lane each (decision D12), so no request waits for another's nonce.
            lane = random.getrandbits(64) << 64
            request = signer.sign(market.seller_ar, primary_type, fields, hints, nonce=lane)
            futures.append(relayer.submit(request, on_sent=lambda _tx: sent.release()))
        for _ in requests:
            assert sent.acquire(timeout=30)
        _rpc(node, "evm_mine")
    finally:
        _rpc(node, "evm_setAutomine", True)
    outcomes = [f.result(60) for f in futures]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    (block,) = {o.block_number for o in outcomes}
    node.wait_indexed(block)
    return outcomes


def _delivered_event_ids(node: ApiNode, signer: LocalAccount, subscription_id: str) -> set[int]:
    return {d["event_id"] for d in _deliveries(node, signer, subscription_id=subscription_id)}


def _routed(node: ApiNode, signer: LocalAccount, subscription_id: str, event_id: int) -> bool:
    """Wait until the outbox has routed past an event; return whether the subscription got it."""
    wait_until(lambda: _cursor(node) >= event_id, what=f"the outbox to route event {event_id}")
    return event_id in _delivered_event_ids(node, signer, subscription_id)


def test_a_release_reaches_other_platforms_only_under_a_holdings_consent_at_that_event(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.start()
    sub_p = subscribe(market.p_signer, market.p, receiver.url("/p"))
    sub_q = subscribe(market.q_signer, market.q, receiver.url("/q"))
    receiver.secrets = {"/p": sub_p["secret"], "/q": sub_q["secret"]}
    market.ensure(market.p, ConsentScope.RESERVED)
    holdings = market.ensure(market.q, ConsentScope.HOLDINGS)
    # Q's `reserved` consent shows it units reserved for Q only, not P's reservation.
    market.ensure(market.q, ConsentScope.RESERVED)
    first, second, third = (market.reserve(market.p, 10) for _ in range(3))

    def release(reservation: int) -> tuple[str, dict[str, Any], list[int]]:
        blocks = market.script.registry.blocks().locked_by(UnitState.RESERVED, reservation)
        return ("ReleaseReservation", {"reservationId": reservation}, [b.start for b in blocks])

    # One block: Q's holdings consent is revoked, then P's reservation is released.
    _in_one_block(market, ("RevokeConsent", {"consentId": holdings}, []), release(first))
    del market.consents[(market.q, ConsentScope.HOLDINGS)]
    # One block: a reservation is released, then Q is granted holdings again.
    grant = {"accountId": market.seller, "platform": market.q, "scope": int(ConsentScope.HOLDINGS)}
    _, granted = _in_one_block(market, release(second), ("GrantConsent", grant, []))
    consent = int(granted.event("ConsentGranted").args["consentId"])
    market.consents[(market.q, ConsentScope.HOLDINGS)] = consent
    # And now under that consent.
    third_event = market.release(third)
    events = {
        reservation: market.event_id("ReservationReleased", "reservationId", reservation)
        for reservation in (first, second, third)
    }
    assert events[third] == third_event
    for reservation, event_id in events.items():
        # P is named by each release; Q only by the last, under an active holdings consent.
        assert _routed(node, market.p_signer, sub_p["subscription_id"], event_id)
        assert _routed(node, market.q_signer, sub_q["subscription_id"], event_id) == (
            reservation == third
        ), reservation
    wait_until(
        lambda: third_event in {p["data"]["event_id"] for p in receiver.unique("/q").values()},
        what="Q to receive the release",
    )
    market.revoke(market.q, ConsentScope.RESERVED)


def test_a_suspended_platform_cannot_subscribe_and_hears_only_of_its_status(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.start()
    sub_p = subscribe(market.p_signer, market.p, receiver.url("/p"))
    sub_q = subscribe(market.q_signer, market.q, receiver.url("/q"))
    receiver.secrets = {"/p": sub_p["secret"], "/q": sub_q["secret"]}
    market.ensure(market.p, ConsentScope.RESERVED)
    market.ensure(market.q, ConsentScope.HOLDINGS)
    reservation = market.reserve(market.p, 5)
    market.set_status(market.q, PlatformStatus.SUSPENDED)
    before = _count(node, WebhookSubscription)
    response = node.client.post(
        "/v1/webhooks/subscriptions",
        json={"platform": market.q, "url": receiver.url("/q2")},
        headers=login(node.client, market.q_signer),
    )
    assert_problem(response, 403, "PLATFORM_SUSPENDED")
    assert _count(node, WebhookSubscription) == before
    while_suspended = market.release(reservation)
    market.set_status(market.q, PlatformStatus.ACTIVE)
    after = market.release(market.reserve(market.p, 5))
    assert _routed(node, market.p_signer, sub_p["subscription_id"], while_suspended)
    assert not _routed(node, market.q_signer, sub_q["subscription_id"], while_suspended)
    assert _routed(node, market.q_signer, sub_q["subscription_id"], after)

    def statuses() -> list[str]:
        payloads = receiver.unique("/q").values()
        if after not in {p["data"]["event_id"] for p in payloads}:
            return []
        return [p["data"]["status"] for p in payloads if p["type"] == "PlatformStatusChanged"]

    assert wait_until(statuses, what="Q's deliveries") == ["suspended", "active"]
    assert receiver.refused == []


def test_deleting_a_subscription_cancels_what_it_has_not_delivered(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    sub = subscribe(market.p_signer, market.p, receiver.url("/p"))
    receiver.secrets = {"/p": sub["secret"]}
    market.ensure(market.p, ConsentScope.RESERVED)
    released = market.release(market.reserve(market.p, 5))
    sid = sub["subscription_id"]
    wait_until(
        lambda: [
            d for d in _deliveries(node, market.p_signer, subscription_id=sid) if d["attempts"]
        ],
        what="a failed attempt",
    )
    headers = login(node.client, market.p_signer)
    # Another platform's signer cannot see or delete it.
    other = login(node.client, market.q_signer)
    assert_problem(
        node.client.delete(f"/v1/webhooks/subscriptions/{sid}", headers=other),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    assert (
        node.client.delete(f"/v1/webhooks/subscriptions/{sid}", headers=headers).status_code == 204
    )
    assert_problem(
        node.client.get(f"/v1/webhooks/subscriptions/{sid}", headers=headers),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    assert_problem(
        node.client.delete(f"/v1/webhooks/subscriptions/{sid}", headers=headers),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    deliveries = _deliveries(node, market.p_signer, subscription_id=sid)
    assert {d["event_id"] for d in deliveries} >= {released}
    assert {d["status"] for d in deliveries} == {"cancelled"}
    # Back up: nothing more is sent to it, and later events are not routed to it.
    receiver.start()
    later = market.release(market.reserve(market.p, 5))
    wait_until(lambda: _cursor(node) >= later, what="the outbox to pass the later release")
    time.sleep(1.0)  # longer than the longest retry wait: anything still due would be sent
    assert receiver.received == []
    assert later not in {
        d["event_id"] for d in _deliveries(node, market.p_signer, subscription_id=sid)
    }


def test_a_delivery_never_accepted_is_failed_after_the_last_attempt(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    worker = node.client.app.state.webhooks  # type: ignore[attr-defined]
    settings = worker.settings
    worker.settings = settings.model_copy(update={"webhook_max_attempts": 3})
    try:
        receiver.start()
        sub = subscribe(market.p_signer, market.p, receiver.url("/p"), ["UnitsReserved"])
        receiver.secrets = {"/p": "whsec_" + "A" * 43}  # the wrong secret: every POST is refused
        market.ensure(market.p, ConsentScope.RESERVED)
        reservation = market.reserve(market.p, 5)
        sid = sub["subscription_id"]
        (delivery,) = wait_until(
            lambda: [
                d
                for d in _deliveries(node, market.p_signer, subscription_id=sid)
                if d["status"] == "failed"
            ],
            what="the delivery to fail",
        )
    finally:
        worker.settings = settings
    assert delivery["attempts"] == 3 and delivery["next_attempt_at"] is None
    assert delivery["last_status_code"] == 400 and delivery["last_error"] == "HTTP 400"
    detail = _detail(node, market.p_signer, delivery["delivery_id"])
    assert [a["status_code"] for a in detail["attempt_log"]] == [400, 400, 400]
    assert [a["attempt"] for a in detail["attempt_log"]] == [1, 2, 3]
    assert len(receiver.refused) == 3
    assert detail["payload"]["data"]["reservation_id"] == reservation
    market.release(reservation)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/admin",
        "https://[::1]:8443/",
        "https://no-such-host.invalid/hooks",
    ],
)
def test_webhooks_cannot_target_internal_addresses(node: ApiNode, market: Market, url: str) -> None:
    headers = login(node.client, market.p_signer)
    before = node.client.get("/v1/webhooks/subscriptions", headers=headers).json()["items"]
    response = node.client.post(
        "/v1/webhooks/subscriptions", json={"platform": market.p, "url": url}, headers=headers
    )
    assert_problem(response, 422, "WEBHOOK_URL_FORBIDDEN")
    after = node.client.get("/v1/webhooks/subscriptions", headers=headers).json()["items"]
    assert after == before


def test_platforms_see_their_own_webhooks_and_the_administrator_sees_all(
    node: ApiNode, market: Market, subscribe: Subscribe
) -> None:
    sub_p = subscribe(market.p_signer, market.p, "https://p.example/hooks")
    sub_q = subscribe(market.q_signer, market.q, "https://q.example/hooks", ["ConsentRevoked"])
    for extra in range(WEBHOOK_SETTINGS["webhook_max_subscriptions"] - 1):
        subscribe(market.p_signer, market.p, f"https://p.example/{extra}")
    response = node.client.post(
        "/v1/webhooks/subscriptions",
        json={"platform": market.p, "url": "https://p.example/one-too-many"},
        headers=login(node.client, market.p_signer),
    )
    assert_problem(response, 409, "TOO_MANY_SUBSCRIPTIONS")
    p_headers = login(node.client, market.p_signer)
    listed = node.client.get("/v1/webhooks/subscriptions", headers=p_headers).json()["items"]
    assert {s["platform"] for s in listed} == {market.p}
    assert sub_p["subscription_id"] in {s["subscription_id"] for s in listed}
    assert all("secret" not in s for s in listed)
    assert_problem(
        node.client.get(
            f"/v1/webhooks/subscriptions/{sub_q['subscription_id']}", headers=p_headers
        ),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    one = node.client.get(
        f"/v1/webhooks/subscriptions/{sub_q['subscription_id']}",
        headers=login(node.client, market.q_signer),
    ).json()
    assert one["event_types"] == ["ConsentRevoked"] and one["url"] == "https://q.example/hooks"
    assert {d["platform"] for d in _deliveries(node, market.p_signer)} <= {market.p}
    as_csv = node.client.get(
        "/v1/webhooks/subscriptions", params={"format": "csv"}, headers=p_headers
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    header, *lines = as_csv.text.splitlines()
    assert header.split(",")[0] == "subscription_id" and len(lines) == len(listed)
    admin = login(node.client, node.keys["registry_admin"])
    everything = node.client.get("/v1/webhooks/subscriptions", headers=admin).json()["items"]
    assert {s["platform"] for s in everything} == {market.p, market.q}
    only_q = node.client.get(
        "/v1/webhooks/subscriptions", params={"platform": market.q.lower()}, headers=admin
    ).json()["items"]
    assert [s["subscription_id"] for s in only_q] == [sub_q["subscription_id"]]
    # The administrator reads, but a subscription is the platform's own.
    response = node.client.post(
        "/v1/webhooks/subscriptions",
        json={"platform": market.p, "url": "https://admin.example/"},
        headers=admin,
    )
    assert_problem(response, 403, "NOT_AUTHORISED")


def _cursor(node: ApiNode) -> int:
    with node.services.engine.connect() as conn:
        return int(conn.execute(select(table_of(WebhookCursor).c.event_id)).scalar_one())


def test_racing_outbox_fillers_enqueue_every_event_exactly_once(
    node: ApiNode, market: Market, subscribe: Subscribe
) -> None:
    sub = subscribe(market.p_signer, market.p, "https://p.example/race")
    market.ensure(market.p, ConsentScope.RESERVED)
    errors: list[Exception] = []
    stop = threading.Event()

    def fill() -> None:
        while not stop.is_set():
            try:
                fill_outbox(node.services.engine, node.services.event_shape, batch=3)
            except Exception as exc:  # reported below
                errors.append(exc)
                return

    # Four more fillers race the app's own worker while events are indexed.
    threads = [threading.Thread(target=fill) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(4):
            market.release(market.reserve(market.p, 3))
    finally:
        newest = market.node.services.indexed_block()
        assert newest > 0
        with node.services.engine.connect() as conn:
            last = newest_event_id(conn)
        wait_until(lambda: _cursor(node) >= last, what="the outbox to catch up")
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    events = table_of(Event)
    deliveries = table_of(WebhookDelivery)
    with node.services.engine.connect() as conn:
        # Every event naming P since the subscription (consents, reservations, releases).
        expected = {
            int(r.id)
            for r in conn.execute(
                select(events.c.id, events.c.data).where(events.c.id > sub["after_event_id"])
            )
            if dict(r.data).get("platform") == market.p
        }
        rows = (
            conn.execute(
                select(deliveries.c.event_id).where(
                    deliveries.c.subscription_id == sub["subscription_id"]
                )
            )
            .scalars()
            .all()
        )
    assert len(expected) >= 8
    assert sorted(rows) == sorted(expected)  # each once: no duplicate, none missing


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    timeout = WEBHOOK_SETTINGS["webhook_timeout_seconds"]
    receiver.stall_seconds = timeout + 1.0
    receiver.start()
    sub = subscribe(market.p_signer, market.p, receiver.url("/p"), ["UnitsReserved"])
    receiver.secrets = {"/p": sub["secret"]}
    market.ensure(market.p, ConsentScope.RESERVED)
    reservation = market.reserve(market.p, 5)
    sid = sub["subscription_id"]
    (delivery,) = wait_until(
        lambda: [
            d
            for d in _deliveries(node, market.p_signer, subscription_id=sid)
            if d["status"] == "delivered"
        ],
        what="the delivery after a timeout",
    )
    log_entries = _detail(node, market.p_signer, delivery["delivery_id"])["attempt_log"]
    first, *_, last = log_entries
    assert first["status_code"] is None and "Timeout" in first["error"]
    assert timeout * 1000 <= first["duration_ms"] < (timeout + 1.0) * 1000
    assert last["status_code"] == 204
    assert len(receiver.unique("/p")) == 1
    market.release(reservation)


def test_a_delivery_whose_event_a_reorg_removed_is_orphaned_and_never_sent(
    node: ApiNode, market: Market, receiver: Receiver, subscribe: Subscribe
) -> None:
    sub = subscribe(market.p_signer, market.p, receiver.url("/p"))
    receiver.secrets = {"/p": sub["secret"]}
    sid = sub["subscription_id"]
    market.ensure(market.p, ConsentScope.RESERVED)
    reservation = market.reserve(market.p, 5)
    released = market.release(reservation)
    head = node.registry.client.block_number()
    assert market.block_of(released) == head  # the release is alone in the newest block

    def attempted(event_id: int) -> Any:
        return [
            d
            for d in _deliveries(node, market.p_signer, subscription_id=sid)
            if d["event_id"] == event_id and d["attempts"] >= 1
        ]

    (orphan,) = wait_until(lambda: attempted(released), what="a failed attempt")
    # The chain drops the release's block; the indexer deletes its events.
    _rpc(node, "anvil_rollback", 1)
    wait_until(lambda: not market.has_event(released), what="the mirror to roll back")
    wait_until(
        lambda: _detail(node, market.p_signer, orphan["delivery_id"])["status"] == "orphaned",
        what="the delivery to be orphaned",
    )
    # The API's journal sends the release again (its effect vanished): a new event, with a new
    # id and its own delivery.
    again = wait_until(
        lambda: market.event_id("ReservationReleased", "reservationId", reservation),
        what="the journal to send the release again",
    )
    assert again > released
    receiver.start()
    wait_until(
        lambda: again in {p["data"]["event_id"] for p in receiver.unique("/p").values()},
        what="the new release to arrive",
    )
    received = {p["data"]["event_id"] for p in receiver.unique("/p").values()}
    assert released not in received
    assert orphan["webhook_id"] not in receiver.unique("/p")
    detail = _detail(node, market.p_signer, orphan["delivery_id"])
    assert detail["status"] == "orphaned" and detail["next_attempt_at"] is None
    assert all(a["status_code"] is None for a in detail["attempt_log"])


@pytest.mark.parametrize("delivery", [True, False])
def test_a_replica_can_leave_delivery_to_others(node: ApiNode, delivery: bool) -> None:
    settings = node.services.settings.model_copy(update={"webhook_delivery": delivery})
    services = dataclasses.replace(node.services, settings=settings, relayer=None)
    app = create_app(services)
    with TestClient(app) as client:
        assert (app.state.webhooks is not None) == delivery
        assert client.get("/v1/health").status_code == 200
