"""Signed writes: build typed data from intents (prepare) and journal signed requests (submit).

Submit checks, in order, and changes nothing when one fails: the typed data is exactly the
registry's (types, domain), the values fit their types, the signature is the named signer's, the
deadline is ahead; a request already journaled is answered with its first request id; then the
nonce is unused and the mirror shows the signer may do it. Only then is it journaled.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.constants import SECPK1_N
from eth_utils.address import to_checksum_address
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from api.chainview import UNORDERED_NONCE, split_nonce
from api.intents import Resolver, units_account
from api.models import JournalEntry, NonceCursor, RequestStatus
from api.operations.catalogue import ALTERNATE_OPERATIONS, OPERATION_TYPES, PRECHECKS
from api.operations.refusals import Refusal
from api.problems import Problem, refuse
from api.schemas import MAX_RANGES
from api.services import Services
from node.contracts import AUXILIARY_TYPES, REQUEST_TYPES, request_digest, typed_data

__all__ = [
    "accept",
    "checked_request",
    "fresh_mirror",
    "resolver",
    "wait_for_request",
]

T = TypeVar("T")

_CURSORS = NonceCursor.__table__  # type: ignore[attr-defined]
_JOURNAL = JournalEntry.__table__  # type: ignore[attr-defined]


def resolver(services: Services, conn: Connection) -> Resolver:
    """Return a resolver over the mirror for this deployment."""
    deployment = services.deployment
    return Resolver(
        conn,
        services.chain,
        deployment.chain_id,
        deployment.registry,
        deployment.registry_code,
        services.settings.request_deadline_seconds,
    )


# -- canonical typed data ----------------------------------------------------------------------


def _bad(detail: str) -> Problem:
    return refuse("INVALID_TYPED_DATA", detail)


def _normalize(typ: str, value: Any, path: str) -> Any:
    """Return a message value in canonical form, or raise INVALID_TYPED_DATA naming its path."""
    if typ.endswith("[]"):
        if not isinstance(value, list):
            raise _bad(f"{path} must be an array")
        if len(value) > MAX_RANGES:
            raise _bad(f"{path} has {len(value)} items; at most {MAX_RANGES}")
        return [_normalize(typ[:-2], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if typ in AUXILIARY_TYPES:
        return _normalize_struct(AUXILIARY_TYPES[typ], value, path)
    if typ.startswith("uint"):
        bits = int(typ[4:])
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _bad(f"{path} must be an integer")
        if isinstance(value, str):
            if not value.isascii() or not value.isdecimal():
                raise _bad(f"{path} must be a decimal integer")
            value = int(value)
        if not 0 <= value < 2**bits:
            raise _bad(f"{path} does not fit {typ}")
        return value
    if typ == "address":
        if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
            raise _bad(f"{path} must be a 0x-prefixed 20-byte address")
        try:
            return to_checksum_address(value)
        except ValueError as exc:
            raise _bad(f"{path} must be a 0x-prefixed 20-byte address") from exc
    if typ == "bool":
        if not isinstance(value, bool):
            raise _bad(f"{path} must be true or false")
        return value
    if typ == "string":
        if not isinstance(value, str):
            raise _bad(f"{path} must be a string")
        if len(value) > 200 or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise _bad(f"{path} must be at most 200 characters without control characters")
        return value
    if typ.startswith("bytes"):
        size = int(typ[5:])
        if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
            raise _bad(f"{path} must be 0x followed by {2 * size} hex digits")
        try:
            bytes.fromhex(value[2:])
        except ValueError as exc:
            raise _bad(f"{path} must be hex") from exc
        return value.lower()
    raise _bad(f"{path} has an unsupported type {typ}")


def _normalize_struct(fields: list[dict[str, str]], value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{path} must be an object")
    names = [f["name"] for f in fields]
    if set(value) != set(names):
        missing = sorted(set(names) - set(value))
        extra = sorted(set(value) - set(names))
        raise _bad(f"{path} fields differ from the type: missing {missing}, unexpected {extra}")
    return {
        f["name"]: _normalize(f["type"], value[f["name"]], f"{path}.{f['name']}") for f in fields
    }


def canonical(services: Services, primary_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Return the registry's own typed data for a submission, or raise naming what differs."""
    if not isinstance(data, dict) or data.get("primaryType") != primary_type:
        raise _bad(f"this operation takes a {primary_type} request")
    deployment = services.deployment
    ours = typed_data(
        primary_type,
        {f["name"]: None for f in REQUEST_TYPES[primary_type]},
        deployment.chain_id,
        deployment.registry,
    )
    domain = data.get("domain")
    if not isinstance(domain, dict) or {
        **domain,
        "verifyingContract": str(domain.get("verifyingContract", "")).lower(),
    } != {**ours["domain"], "verifyingContract": deployment.registry.lower()}:
        raise refuse(
            "WRONG_DOMAIN",
            "The typed data is for another EIP-712 domain; sign for the domain in GET /v1/chain.",
            extra={"expected_domain": ours["domain"]},
        )
    if data.get("types") != ours["types"]:
        raise _bad(f"the types are not the registry's {primary_type} types; use prepare")
    message = _normalize_struct(REQUEST_TYPES[primary_type], data.get("message"), "message")
    return {**ours, "message": message}


# -- submit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A submission that passed the stateless checks."""

    data: dict[str, Any]
    signature: bytes
    digest: str
    signer: str


def _check_signature(data: dict[str, Any], signature: str) -> Checked:
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise refuse("INVALID_SIGNATURE", "The signature is not hex.") from exc
    if len(raw) != 65:
        raise refuse("INVALID_SIGNATURE", f"A signature has 65 bytes, not {len(raw)}.")
    _require_canonical(raw)
    try:
        recovered = Account.recover_message(encode_typed_data(full_message=data), signature=raw)
    except Exception as exc:  # eth-keys raises several types for invalid r, s or v
        raise refuse("INVALID_SIGNATURE", f"The signature cannot be verified: {exc}.") from exc
    signer = data["message"]["signer"]
    if recovered != signer:
        raise refuse(
            "INVALID_SIGNATURE",
            f"The signature is by {recovered}, not by the request's signer {signer}; or the "
            "typed data changed after signing.",
        )
    return Checked(data, raw, "0x" + request_digest(data).hex(), signer)


def _require_canonical(raw: bytes) -> None:
    """Refuse a signature the contract's ECDSA check would refuse: s in the upper half, or v.

    NOTE: for every valid signature (r, s, v) the copy (r, n - s, v ^ 1) recovers the same
    signer, and anyone who sees a request can make it. OpenZeppelin's ECDSA refuses it
    (`ECDSAInvalidSignatureS`); if submit took it, the copy would be journaled under the request's
    digest, fail on-chain, and answer the genuine signature with that failure.
    """
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    if not (0 < r < SECPK1_N and 0 < s <= SECPK1_N // 2):
        raise refuse(
            "INVALID_SIGNATURE",
            "The signature is not canonical: its s value must be in the lower half of the curve "
            "order (EIP-2), as every standard signer produces; sign the request again.",
        )
    if raw[64] not in (27, 28):
        raise refuse(
            "INVALID_SIGNATURE",
            f"The signature's v byte is {raw[64]}; the registry takes 27 or 28.",
        )


def checked_request(r: Resolver, primary_type: str, message: dict[str, Any]) -> dict[str, Any]:
    """Return the typed data of a message (signer included) that passes its operation's check.

    `prepare` runs the check `submit` runs (PRECHECKS), so both refuse the same requests with the
    same codes. Operations on ranges check the rest of the message first (`lock_head`,
    `association_head`) and their units as they resolve them (`Resolver.units`).
    """
    PRECHECKS[primary_type](r, message, {})
    return r.typed(primary_type, message["signer"], message)


class _GroupInsert:
    """Journal inserts of one process, committed together: one transaction for the requests
    that arrive while the previous commit runs (decision D42).

    Each `insert` waits for the commit holding its row, so an acknowledged request is always
    durable. A batch that meets a duplicate (the same signed request submitted twice at once)
    is retried row by row, and the duplicate answers False.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future[bool]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="journal-inserts", daemon=True)
        self._thread.start()

    def insert(self, row: dict[str, Any]) -> bool:
        done: Future[bool] = Future()
        self._queue.put((row, done))
        return done.result(timeout=60)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _INSERT_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception as exc:  # the database is away: each submit answers with it
                for _row, done in batch:
                    if not done.done():
                        done.set_exception(exc)

    def _commit(self, batch: list[tuple[dict[str, Any], Future[bool]]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(_JOURNAL.insert(), [row for row, _done in batch])
        except IntegrityError:
            for row, done in batch:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(_JOURNAL.insert().values(**row))
                    done.set_result(True)
                except IntegrityError:
                    done.set_result(False)
            return
        for _row, done in batch:
            done.set_result(True)


_INSERT_BATCH = 256
_INSERTERS: dict[int, _GroupInsert] = {}
_INSERTERS_LOCK = threading.Lock()


def _inserter(engine: Engine) -> _GroupInsert:
    with _INSERTERS_LOCK:
        found = _INSERTERS.get(id(engine))
        if found is None or found.engine is not engine:
            found = _INSERTERS[id(engine)] = _GroupInsert(engine)
        return found


def _existing(conn: Connection, request_id: str) -> Any:
    return conn.execute(select(_JOURNAL).where(_JOURNAL.c.request_id == request_id)).first()


def accept(
    services: Services,
    operation: str,
    body: dict[str, Any],
    signature: str,
    path: dict[str, str] | None = None,
) -> tuple[Any, bool]:
    """Check and journal a signed request; return (journal row, whether it was new)."""
    path = path or {}
    if isinstance(body, dict):
        operation = ALTERNATE_OPERATIONS.get((operation, str(body.get("primaryType"))), operation)
    primary_type = OPERATION_TYPES[operation]
    data = canonical(services, primary_type, body)
    checked = _check_signature(data, signature)
    services.limiter.take(checked.signer)
    with services.engine.connect() as conn:
        existing = _existing(conn, checked.digest)
    if existing is not None:
        return existing, False
    message = data["message"]
    if message["deadline"] <= time.time():
        raise refuse(
            "DEADLINE_EXPIRED",
            f"The request's deadline {message['deadline']} has passed; prepare it again.",
        )
    _check_nonce(services, checked)
    _precheck(services, primary_type, message, path)
    now = time.time()
    row = {
        "request_id": checked.digest,
        "operation": operation,
        "primary_type": primary_type,
        "signer": checked.signer,
        "nonce": message["nonce"],
        "typed_data": data,
        "signature": "0x" + checked.signature.hex(),
        "units_account": units_account(message),
        "status": RequestStatus.ACCEPTED,
        "attempts": 0,
        "accepted_at": now,
        "updated_at": now,
    }
    inserted = _inserter(services.engine).insert(row)
    with services.engine.connect() as conn:
        # Not inserted: the same signed request, submitted concurrently; answer with the first.
        return _existing(conn, checked.digest), inserted


def _check_nonce(services: Services, checked: Checked) -> None:
    nonce = int(checked.data["message"]["nonce"])
    if nonce & UNORDERED_NONCE:
        _check_unordered_nonce(services, checked.signer, nonce)
        return
    key, sequence = split_nonce(nonce)
    current = services.chain.next_nonce(checked.signer, key)
    if sequence < current:
        raise refuse("NONCE_USED", "The request's nonce was already used; prepare a new request.")
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(_JOURNAL.c.nonce).where(
                _JOURNAL.c.signer == checked.signer,
                _JOURNAL.c.status.in_(RequestStatus.OPEN),
            )
        ).all()
    queued = {split_nonce(int(n))[1] for (n,) in rows if split_nonce(int(n))[0] == key}
    if sequence in queued:
        raise refuse(
            "NONCE_USED",
            "Another journaled request uses this nonce; prepare a new request.",
        )
    if any(s not in queued for s in range(current, sequence)):
        raise refuse(
            "NONCE_GAP",
            f"Nonce {sequence} of this lane is ahead of the next usable one ({current}); "
            "submit the earlier requests first, or prepare a new request.",
        )


def _check_unordered_nonce(services: Services, signer: str, nonce: int) -> None:
    """Refuse an unordered nonce (D33) the chain has used or another request holds.

    NOTE: a nonce `prepare` handed out (below the signer's cursor) was checked unused on-chain
    when it was claimed, and since then only a request journaled here can have used it: the
    journal answers, by (signer, nonce), with no eth_call on the hot path and while the chain is
    away. A nonce the client chose itself (at or above the cursor) is asked of the chain. The
    contract refuses a used nonce either way.
    """
    sequence = nonce & (UNORDERED_NONCE - 1)
    with services.engine.connect() as conn:
        taken = conn.execute(
            select(_JOURNAL.c.request_id).where(
                _JOURNAL.c.signer == signer,
                _JOURNAL.c.nonce == nonce,
                _JOURNAL.c.status != RequestStatus.FAILED,
            )
        ).first()
        cursor = conn.execute(
            select(_CURSORS.c.next_sequence).where(_CURSORS.c.signer == signer.lower())
        ).scalar()
    if taken is not None:
        raise refuse(
            "NONCE_USED",
            "Another journaled request uses this nonce; prepare a new request.",
        )
    if (cursor is None or sequence >= int(cursor)) and services.chain.nonce_used(signer, nonce):
        raise refuse("NONCE_USED", "The request's nonce was already used; prepare a new request.")


def _precheck(
    services: Services, primary_type: str, message: dict[str, Any], path: dict[str, str]
) -> None:
    check = PRECHECKS[primary_type]
    fresh_mirror(services, lambda r: check(r, message, path))


def fresh_mirror(services: Services, work: Callable[[Resolver], T]) -> T:
    """Run a mirror check; if it refuses while the mirror trails the chain, retry once caught up.

    NOTE: the mirror may trail the chain by a block or two. A refusal is final only when judged
    against at least the head the client could have seen when it called.
    """
    head: int | None = None
    deadline = time.monotonic() + min(5.0, services.settings.wait_timeout_seconds)
    while True:
        # What the mirror held before the check: the check saw at least this block.
        seen = services.indexed_block()
        try:
            with services.engine.connect() as conn:
                return work(resolver(services, conn))
        except (Problem, Refusal) as refused:
            if isinstance(refused, Problem) and refused.status >= 500:
                raise
            if refused.code in _FINAL_CODES:
                raise
            if head is None:
                head = services.client.block_number()  # only a refusal needs the head
            if seen >= head or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_FINAL_CODES = frozenset({"INVALID_TYPED_DATA", "INVALID_ACCOUNT_ID", "INVALID_RANGE"})


def wait_for_request(services: Services, request_id: str, timeout: float) -> Any:
    """Wait until a request is indexed or failed, or the timeout passes.

    The journal worker (in whichever process relays) publishes `requests` whenever a request
    changes status; the short timed wait is only the fallback for a lost signal (decision D41).
    """
    deadline = time.monotonic() + timeout
    changed = services.notifier.event("requests")
    try:
        while True:
            changed.clear()
            with services.engine.connect() as conn:
                row = _existing(conn, request_id)
            if row.status in (RequestStatus.INDEXED, RequestStatus.FAILED):
                return row
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return row
            changed.wait(min(remaining, 0.25))
    finally:
        services.notifier.release(changed)
