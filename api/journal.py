"""The request journal's worker: relay accepted requests and follow each one to `indexed`.

Every state lives in the `api_requests` table, never only in memory, so any restart resumes:

- `accepted`: journaled, waiting for the relayer. The worker computes fresh block hints from the
  mirror (they are unsigned, decision D1) and hands the request to `node`'s relayer.
- `submitted`: handed to the relayer; `tx_hash` is set once the transaction is sent. A process
  that dies here loses only its in-memory futures: at start-up such requests go back to
  `accepted` and are sent again, which is safe because the contract refuses a used nonce.
- `confirmed`: applied in a mined block (`block_number`). It becomes `indexed` when the mirror
  holds its `RequestExecuted`. If the mirror has indexed past that block without it, the block
  was rolled back (a reorg, a dev chain restarted from an older state): the request is sent again.
- `indexed` goes back to `confirmed` when the mirror itself rolls back below its block.
- `failed`: the contract refused it, with the decoded error.

A resent request that finds its nonce used (`InvalidAccountNonce` of a keyed lane, `NonceUsed` of
an unordered nonce) was applied by an earlier attempt whose outcome was lost; it is marked
`confirmed` and settles to `indexed` (found in the mirror) or to `failed` with NONCE_USED (another
request used the nonce).
"""

from __future__ import annotations

import bisect
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, exists, select, update

from api.chainview import split_nonce
from api.mirrorq import executed_requests, lock_blocks, range_hints, request_events
from api.models import JournalEntry, RequestStatus
from api.operations.catalogue import LOCK_DECISIONS
from api.problems import HINT_ERRORS, contract_problem
from api.results import result_from_events
from api.services import Services
from indexer.models import ExecutedRequest, table_of
from node.contracts import DecodedError, SignedRequest
from node.relayer import RelayOutcome

__all__ = ["JournalWorker", "signed_request"]

log = logging.getLogger(__name__)

_JOURNAL = JournalEntry.__table__  # type: ignore[attr-defined]
_NONCE_MARKER = "nonce_used_on_resend"
_MAX_HINT_RETRIES = 5
_DISPATCH_LIMIT = 256
# How far back (in blocks) indexed requests are re-checked against the mirror after a rollback.
_REORG_WINDOW = 10_000


def signed_request(entry: Any, hints: list[int]) -> SignedRequest:
    """Return a journal row as a SignedRequest with the given block hints."""
    return SignedRequest(entry.typed_data, bytes.fromhex(entry.signature[2:]), tuple(hints))


def _lock_hints(blocks: list[tuple[int, int]], splits: list[int]) -> list[int]:
    """Return the starts of a lock's blocks, split where requests still in flight split them.

    NOTE: only a label change can split a locked block; when one is in flight, its boundaries
    inside the lock's blocks become block starts once it applies (decision D14). A prediction
    that turns out wrong makes the request fail with a hint error and be resent later.
    """
    starts = []
    for start, end in blocks:
        starts.append(start)
        index = bisect.bisect_right(splits, start)
        while index < len(splits) and splits[index] <= end:
            if splits[index] != starts[-1]:
                starts.append(splits[index])
            index += 1
    return starts


class JournalWorker:
    """Move journaled requests through their statuses; one per API process."""

    def __init__(self, services: Services, interval: float = 0.1) -> None:
        if services.relayer is None:
            raise ValueError("the journal worker needs services with a relayer")
        self.services = services
        self.relayer = services.relayer
        # NOTE: `interval` is only the fallback: the worker is woken by notification when a
        # request is journaled (in any API process) or the mirror advances (decision D41).
        self.interval = interval
        self._wake = services.notifier.event("journal", "mirror")
        self._changed = False  # a request changed status since the waiters were told
        self._last_mined = ""  # the last transaction whose receipt woke the indexer
        self._stop = threading.Event()
        self._done: queue.Queue[tuple[str, Future[RelayOutcome]]] = queue.Queue()
        self._sent: queue.Queue[tuple[str, str]] = queue.Queue()  # (request id, tx hash)
        self._checkpoint = -2  # the mirror checkpoint the last reconciliation saw
        self._unsettled = True  # confirmed requests may be waiting for the mirror
        self._retry_after: dict[str, float] = {}  # request id -> not before (unix time)
        self._after_block: dict[str, int] = {}  # request id -> mirror block to wait for
        self._hint_retries: dict[str, int] = {}  # request id -> resends for stale hints
        self._thread = threading.Thread(target=self._run, name="journal-worker", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> JournalWorker:
        """Recover what a previous process left in flight, then start relaying."""
        with self.services.engine.begin() as conn:
            conn.execute(
                update(_JOURNAL)
                .where(_JOURNAL.c.status == RequestStatus.SUBMITTED)
                .values(status=RequestStatus.ACCEPTED, updated_at=time.time())
            )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the worker thread (requests in flight stay journaled)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def is_alive(self) -> bool:
        """Return whether the worker thread runs."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """Ask the worker to look at the journal now (a request was just accepted)."""
        self._wake.set()

    # -- loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._flush_sent()
                self._settle_outcomes()
                self._dispatch()
                self._reconcile()
            except Exception:  # a database or chain outage: log, back off, carry on
                log.exception("journal worker step failed; retrying")
                self._stop.wait(1.0)
            if self._changed:
                self._changed = False
                self.services.notifier.publish("requests")
            self._wake.wait(self.interval)
            self._wake.clear()

    def _dispatch(self) -> None:
        now = time.time()
        indexed = self.services.indexed_block() if self._after_block else -1
        with self.services.engine.begin() as conn:
            rows = conn.execute(
                select(_JOURNAL)
                .where(_JOURNAL.c.status == RequestStatus.ACCEPTED)
                .order_by(_JOURNAL.c.seq)
                .limit(_DISPATCH_LIMIT)
            ).all()
            # Split points of requests sent but not yet in the mirror, and of those sent in this
            # round before each request: the blocks the chain will have when it gets there.
            splits = self._pending_splits(conn) if rows else []
            chosen: dict[str, tuple[Any, list[int]]] = {}
            for row in rows:
                if self._retry_after.get(row.request_id, 0) > now:
                    continue
                if self._after_block.get(row.request_id, -1) > indexed:
                    continue
                chosen[row.request_id] = (row, self._hints(conn, row, splits))
            if not chosen:
                return
            # Claim them in one statement; only rows still `accepted` are ours to send.
            claimed = set(
                conn.execute(
                    update(_JOURNAL)
                    .where(
                        _JOURNAL.c.request_id.in_(list(chosen)),
                        _JOURNAL.c.status == RequestStatus.ACCEPTED,
                    )
                    .values(
                        status=RequestStatus.SUBMITTED,
                        attempts=_JOURNAL.c.attempts + 1,
                        updated_at=now,
                    )
                    .returning(_JOURNAL.c.request_id)
                ).scalars()
            )
        batch = [chosen[rid] for rid in chosen if rid in claimed]
        for row, hints in batch:
            self._retry_after.pop(row.request_id, None)
            self._after_block.pop(row.request_id, None)
            future = self.relayer.submit(
                signed_request(row, hints), on_sent=self._on_sent(row.request_id)
            )
            future.add_done_callback(self._on_done(row.request_id))

    def _on_sent(self, request_id: str) -> Callable[[str], None]:
        def sent(tx_hash: str) -> None:
            self._sent.put((request_id, tx_hash))

        return sent

    def _on_done(self, request_id: str) -> Callable[[Future[RelayOutcome]], None]:
        def done(future: Future[RelayOutcome]) -> None:
            self._finished(request_id, future)

        return done

    def _pending_splits(self, conn: Connection) -> list[int]:
        rows = conn.execute(
            select(_JOURNAL.c.typed_data).where(
                _JOURNAL.c.status.in_((RequestStatus.SUBMITTED, RequestStatus.CONFIRMED))
            )
        )
        points: list[int] = []
        for (data,) in rows:
            for item in data["message"].get("ranges", ()):
                points.extend((int(item["start"]), int(item["end"]) + 1))
        return sorted(points)

    def _hints(self, conn: Connection, row: Any, splits: list[int]) -> list[int]:
        message = row.typed_data["message"]
        lock = LOCK_DECISIONS.get(row.primary_type)
        if lock is not None:
            # A decision on a lock names no ranges: its hints are the starts of the lock's blocks.
            return _lock_hints(lock_blocks(conn, lock.state, int(message[lock.field])), splits)
        if "ranges" not in message:
            return []
        ranges = [(int(r["start"]), int(r["end"])) for r in message["ranges"]]
        hints = []
        for (start, end), mirrored in zip(ranges, range_hints(conn, ranges), strict=True):
            # NOTE: blocks only ever split (decision D2), so the block holding `start` begins at
            # the greatest known split point at or below it, including the request's own earlier
            # ranges, which the contract applies first.
            index = bisect.bisect_right(splits, start)
            hints.append(max(mirrored, splits[index - 1]) if index else mirrored)
            bisect.insort(splits, start)
            bisect.insort(splits, end + 1)
        return hints

    def _flush_sent(self) -> None:
        by_tx: dict[str, list[str]] = {}
        while True:
            try:
                request_id, tx_hash = self._sent.get_nowait()
            except queue.Empty:
                break
            by_tx.setdefault(tx_hash, []).append(request_id)
        if not by_tx:
            return
        with self.services.engine.begin() as conn:
            for tx_hash, ids in by_tx.items():
                conn.execute(
                    update(_JOURNAL)
                    .where(
                        _JOURNAL.c.request_id.in_(ids),
                        _JOURNAL.c.status == RequestStatus.SUBMITTED,
                    )
                    .values(tx_hash=tx_hash, updated_at=time.time())
                )

    def _finished(self, request_id: str, future: Future[RelayOutcome]) -> None:
        if future.exception() is None:
            tx_hash = future.result().tx_hash
            if tx_hash != self._last_mined:
                # Its block is mined: wake the indexer now, while this worker settles the batch.
                self._last_mined = tx_hash
                self.services.notifier.publish("chain")
        self._done.put((request_id, future))
        self._wake.set()

    # -- outcomes ----------------------------------------------------------------------------

    def _settle_outcomes(self) -> None:
        done = []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        if not done:
            return
        self._flush_sent()  # a transaction's hash is recorded before its outcome
        self._unsettled = True
        with self.services.engine.begin() as conn:
            for request_id, future in done:
                row = conn.execute(
                    select(_JOURNAL).where(_JOURNAL.c.request_id == request_id)
                ).first()
                if row is None or row.status != RequestStatus.SUBMITTED:
                    continue
                exc = future.exception()
                if exc is not None:
                    # Not sent, or no receipt (the chain went away): try again shortly.
                    log.warning("request %s not relayed (%s); will resend", request_id, exc)
                    self._retry_after[request_id] = time.time() + min(0.5 * row.attempts, 5.0)
                    self._set(conn, request_id, status=RequestStatus.ACCEPTED)
                    continue
                self._apply_outcome(conn, row, future.result())

    def _apply_outcome(self, conn: Connection, row: Any, outcome: RelayOutcome) -> None:
        common = {"tx_hash": outcome.tx_hash, "block_number": outcome.block_number}
        if outcome.ok:
            events = [(e.name, e.args) for e in outcome.events]
            result = result_from_events(self.services.registry_code, row.primary_type, events)
            self._set(
                conn,
                row.request_id,
                status=RequestStatus.CONFIRMED,
                result=result,
                error=None,
                **common,
            )
            return
        error = outcome.error or DecodedError("UnknownRevert", {})
        if error.name == "NonceUsed" and row.attempts > 1:
            # An unordered nonce (D33) names one request's bit: used, on a resend, most likely by
            # an earlier attempt of this very request. Settle it by looking for its execution.
            self._set(
                conn,
                row.request_id,
                status=RequestStatus.CONFIRMED,
                error={"marker": _NONCE_MARKER},
                **common,
            )
            return
        if error.name == "InvalidAccountNonce":
            current = int(error.args.get("currentNonce", 0))
            _key, sequence = split_nonce(int(row.nonce))
            _ckey, current_seq = split_nonce(current)
            if current_seq > sequence and row.attempts > 1:
                # An earlier attempt of this very request may have used the nonce: settle it by
                # looking for its execution in the mirror.
                self._set(
                    conn,
                    row.request_id,
                    status=RequestStatus.CONFIRMED,
                    error={"marker": _NONCE_MARKER},
                    **common,
                )
                return
            if current_seq < sequence and self._earlier_in_lane(conn, row):
                self._retry_after[row.request_id] = time.time() + 0.2
                self._set(conn, row.request_id, status=RequestStatus.ACCEPTED)
                return
        retries = self._hint_retries.get(row.request_id, 0)
        if error.name in HINT_ERRORS and retries < _MAX_HINT_RETRIES:
            # Stale hints (requests ahead of it were lost or failed): resend once the mirror has
            # the block that made them stale, so fresh hints see what the chain saw.
            self._hint_retries[row.request_id] = retries + 1
            self._after_block[row.request_id] = outcome.block_number
            self._set(conn, row.request_id, status=RequestStatus.ACCEPTED)
            return
        problem = contract_problem(error)
        self._set(conn, row.request_id, status=RequestStatus.FAILED, error=problem.body(), **common)

    def _earlier_in_lane(self, conn: Connection, row: Any) -> bool:
        key, sequence = split_nonce(int(row.nonce))
        rows = conn.execute(
            select(_JOURNAL.c.nonce).where(
                _JOURNAL.c.signer == row.signer,
                _JOURNAL.c.status.in_(RequestStatus.OPEN),
                _JOURNAL.c.request_id != row.request_id,
            )
        )
        return any(
            split_nonce(int(n))[0] == key and split_nonce(int(n))[1] < sequence for (n,) in rows
        )

    # -- reconciliation with the mirror --------------------------------------------------------

    def _reconcile(self) -> None:
        checkpoint = self.services.indexed_block()
        if checkpoint == self._checkpoint and not self._unsettled:
            return  # neither the mirror nor any outcome moved since the last pass
        self._checkpoint = checkpoint
        self._unsettled = False
        with self.services.engine.begin() as conn:
            # A request indexed in a block the chain lost (a reorg, a chain restarted from older
            # state) has no execution in the mirror any more, once the mirror has rolled back:
            # it is confirmed-but-unseen again, and the rules below resend it if it stays gone.
            executions = table_of(ExecutedRequest)
            vanished = (
                select(_JOURNAL.c.request_id)
                .where(
                    _JOURNAL.c.status == RequestStatus.INDEXED,
                    _JOURNAL.c.block_number > checkpoint - _REORG_WINDOW,
                    ~exists().where(executions.c.digest == _JOURNAL.c.request_id),
                )
                .scalar_subquery()
            )
            conn.execute(
                update(_JOURNAL)
                .where(_JOURNAL.c.request_id.in_(vanished))
                .values(status=RequestStatus.CONFIRMED, updated_at=time.time())
            )
            rows = conn.execute(
                select(_JOURNAL)
                .where(_JOURNAL.c.status == RequestStatus.CONFIRMED)
                .order_by(_JOURNAL.c.seq)
                .limit(4 * _DISPATCH_LIMIT)
            ).all()
            if not rows:
                return
            executed = executed_requests(conn, [r.request_id for r in rows])
            head = self.services.client.block_number()
            for row in rows:
                found = executed.get(row.request_id)
                if found is not None:
                    result = row.result
                    if result is None or row.error is not None:
                        events = request_events(conn, found.tx_hash, found.log_index)
                        result = result_from_events(
                            self.services.registry_code, row.primary_type, events
                        )
                    self._set(
                        conn,
                        row.request_id,
                        status=RequestStatus.INDEXED,
                        result=result,
                        error=None,
                        tx_hash=found.tx_hash,
                        block_number=found.block_number,
                    )
                elif row.block_number is not None and (
                    checkpoint >= row.block_number or head < row.block_number
                ):
                    # The mirror passed its block without it, or the chain no longer reaches
                    # that block (restarted from older state): it is not on the chain.
                    if row.error is not None and row.error.get("marker") == _NONCE_MARKER:
                        problem = contract_problem(
                            DecodedError("InvalidAccountNonce", {"account": row.signer})
                        )
                        self._set(
                            conn, row.request_id, status=RequestStatus.FAILED, error=problem.body()
                        )
                    else:
                        log.warning(
                            "request %s vanished from block %s; resending",
                            row.request_id,
                            row.block_number,
                        )
                        self._set(
                            conn,
                            row.request_id,
                            status=RequestStatus.ACCEPTED,
                            tx_hash=None,
                            block_number=None,
                            result=None,
                        )

    def _set(self, conn: Connection, request_id: str, **values: Any) -> None:
        self._changed = True
        conn.execute(
            update(_JOURNAL)
            .where(_JOURNAL.c.request_id == request_id)
            .values(updated_at=time.time(), **values)
        )
