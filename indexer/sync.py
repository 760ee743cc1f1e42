"""The sync loop: chain logs -> SQL mirror, exactly once, following reorgs.

Each batch of blocks is fetched with eth_getLogs, decoded through precomputed topic -> decoder
maps, applied in (block_number, log_index) order and committed in ONE transaction together with
the checkpoint and the hashes of the blocks it covers. A crash at any point therefore leaves the
mirror at the end of some batch, and the next run resumes right after it.

Speed: logs are fetched as raw JSON and decoded from their hex (no web3 formatting), the rows
go to the database driver in bulk (`indexer.mirror`), and during a backfill the next batch is
fetched and decoded by a worker while the current one is written (`_Prefetcher`): a thread for
a short backlog, a forked process for a long one (so decoding does not share the writer's
interpreter lock). A long backfill also drops the mirror's secondary indexes and re-creates them
when it ends (`indexer.indexes`, D56). Batches aim at `target_batch_events` events whatever the
density of the history.

Reorgs: before a batch is applied, the parent hash of its first block must equal the stored hash
of the checkpoint block. When it does not, the indexer walks its stored block hashes back to the
newest one the chain still has (the common ancestor), deletes the raw events above it and
recomputes every derived table from the raw events that remain (see `mirror.rebuild_derived`).
NOTE: recomputing costs time proportional to the whole history, but runs only when the chain
rewrites blocks deeper than the finality depth (a misconfigured depth, a dev chain restarted
without its last state dump), it cannot drift from the forward path because it *is* the
forward path, and it needs no journal maintained on every batch. Reorgs that remove no registry
events skip the recomputation entirely.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from web3.exceptions import BlockNotFound

from indexer import indexes
from indexer.errors import CheckpointConflictError, IndexerError, WrongMirrorError
from indexer.mirror import MirrorWriter, rebuild_derived, stored_rows
from indexer.models import BlockHash, Checkpoint, Event, table_of
from node.chain import ChainClient
from node.deploy import Deployment, load_abi, load_manifest
from node.errors import ChainError
from node.ledger import DecodedEvent, EventDecoder, RawLog
from node.services import die_with_parent
from node.settings import NodeSettings

__all__ = ["LONG_BACKFILL_EVENTS", "PROGRESS_THRESHOLD_BLOCKS", "Indexer", "SyncResult"]

log = logging.getLogger(__name__)

_CHECKPOINT = table_of(Checkpoint)
_BLOCK_HASHES = table_of(BlockHash)
_EVENTS = table_of(Event)

# A backfill longer than this shows a progress bar.
PROGRESS_THRESHOLD_BLOCKS = 5_000
# Consecutive times a batch may find the chain changed under it before sync_once gives up.
_MAX_RETRIES = 10
# A backlog expected to hold at least this many more events is a long backfill: decoded in a
# worker process, with the secondary indexes dropped until it ends (D56).
LONG_BACKFILL_EVENTS = 20_000


@dataclass(frozen=True)
class SyncResult:
    """What one `sync_once` did."""

    start_block: int  # the checkpoint it started from
    end_block: int  # the checkpoint it left
    head: int  # the chain head it saw
    events: int
    batches: int
    rolled_back_to: int | None = None  # the common ancestor, when it handled a reorg

    @property
    def lag(self) -> int:
        """Return how many blocks the mirror trails the head it saw."""
        return max(0, self.head - self.end_block)


@dataclass(frozen=True)
class _Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


class _ChainMoved(Exception):
    """The chain changed under a batch while it was fetched; fetch it again."""


@dataclass
class _Batch:
    """The fetched, decoded and checked events of the blocks up to `last`, ready to commit."""

    last: int
    end_hash: str
    events: list[DecodedEvent]
    rows: list[tuple[Any, ...]]  # the events table's rows of `events`
    hashes: list[tuple[int, str, int]]  # (number, hash, timestamp) of the blocks to record


class Indexer:
    """Keep one SQL mirror in step with one registry deployment on one chain."""

    def __init__(
        self,
        engine: Engine,
        client: ChainClient,
        deployment: Deployment,
        abi: list[dict[str, Any]],
        *,
        finality_depth: int = 0,
        batch_blocks: int = 16,
        max_batch_blocks: int = 10_000,
        target_batch_events: int = 5_000,
        until_block: int | None = None,
        progress: bool | None = None,
        console: Console | None = None,
        long_backfill_events: int = LONG_BACKFILL_EVENTS,
    ) -> None:
        if finality_depth < 0 or batch_blocks < 1:
            raise ValueError("finality_depth must be >= 0 and batch_blocks >= 1")
        self.engine = engine
        self.client = client
        self.deployment = deployment
        self.decoder = EventDecoder(abi)
        self.finality_depth = finality_depth
        # Index no further than this block (the audit rebuilds a mirror as of another's checkpoint).
        self.until_block = until_block
        self.max_batch_blocks = max(batch_blocks, max_batch_blocks)
        self.target_batch_events = target_batch_events
        self.progress = progress
        self.console = console or Console(stderr=True)
        self._batch_blocks = batch_blocks
        self.long_backfill_events = long_backfill_events
        # Whether this instance has re-created indexes a crashed backfill left dropped.
        self._indexes_checked = False
        self.last_result: SyncResult | None = None

    @classmethod
    def from_settings(cls, settings: NodeSettings, engine: Engine, **kwargs: Any) -> Indexer:
        """Build the indexer of a node: its chain, its deployment manifest, its finality depth."""
        client = ChainClient(settings.chain_rpc_url)
        deployment = load_manifest(settings.deployments_dir, client.chain_id)
        kwargs.setdefault("finality_depth", settings.finality_depth)
        return cls(engine, client, deployment, load_abi(settings.deployments_dir), **kwargs)

    # -- public ------------------------------------------------------------------------------

    def checkpoint(self) -> tuple[int, str]:
        """Return the last indexed block and its hash, creating the checkpoint on first use."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_CHECKPOINT).where(_CHECKPOINT.c.id == 1)).first()
        if row is None:
            return self._init_checkpoint()
        if row.chain_id != self.client.chain_id or (
            row.registry_address.lower() != self.deployment.registry.lower()
        ):
            raise WrongMirrorError(
                f"The mirror database holds registry {row.registry_address} on chain "
                f"{row.chain_id}, not {self.deployment.registry} on chain {self.client.chain_id}. "
                "Point REGISTRY_DATABASE_URL at an empty database (or delete the SQLite file) "
                "to mirror this deployment."
            )
        return int(row.block_number), str(row.block_hash)

    def _target(self, head: int) -> int:
        final = head - self.finality_depth
        return final if self.until_block is None else min(final, self.until_block)

    def sync_once(
        self, max_batches: int | None = None, stop: threading.Event | None = None
    ) -> SyncResult:
        """Index every final block not yet indexed (or `max_batches` batches of them).

        While one batch is written, the next is fetched and decoded by a worker, so the node's
        and the database's time overlap (see `_Prefetcher`). Once the events still to come are
        estimated at `long_backfill_events` or more, the worker is a process, and the secondary
        indexes are dropped for the rest of the call when that many events also outnumber the
        ones the mirror holds (re-creating them costs a pass over every row; see D56).
        """
        number, cp_hash = self.checkpoint()
        if not self._indexes_checked:
            restored = indexes.restore(self.engine)  # left dropped by a crashed backfill
            if restored:
                log.warning("indexer: re-created %d indexes a stopped backfill dropped", restored)
            self._indexes_checked = True
        start_number = number
        events = batches = retries = 0
        rolled_back: list[int] = []
        head = self.client.block_number()
        target = self._target(head)
        if target <= number and not self._is_canonical(number, cp_hash):
            number, cp_hash = self._roll_back(number)
            rolled_back.append(number)
        long = False
        with (
            self._progress(target - number) as advance,
            _Prefetcher(self) as prefetcher,
            self._deferring(prefetcher) as defer,
        ):
            while number < target:
                if (max_batches is not None and batches >= max_batches) or (
                    stop is not None and stop.is_set()
                ):
                    break
                try:
                    batch = prefetcher.next(number, cp_hash, target, process=long)
                    self._commit_batch(number, batch)
                except _Reorg:
                    prefetcher.cancel()
                    before = number
                    number, cp_hash = self._roll_back(number)
                    rolled_back.append(number)
                    if number == before:
                        # The checkpoint block is still on the chain, yet the next block does
                        # not descend from it: the node is mid-reorg (or inconsistent). Wait and
                        # retry a bounded number of times rather than spin.
                        retries += 1
                        if retries > _MAX_RETRIES:
                            break
                        time.sleep(0.1 * retries)
                    continue
                except _ChainMoved:
                    prefetcher.cancel()
                    retries += 1
                    if retries > _MAX_RETRIES:
                        break  # the chain keeps changing under us; the next call tries again
                    time.sleep(0.1 * retries)  # let the node settle on one fork
                    head = self.client.block_number()
                    target = self._target(head)
                    if target <= number and not self._is_canonical(number, cp_hash):
                        number, cp_hash = self._roll_back(number)
                        rolled_back.append(number)
                    continue
                applied = len(batch.events)
                advance(batch.last - number, applied)
                if not long:
                    # Events still to come, at the density of the batch just written.
                    expected = (target - batch.last) * applied // max(1, batch.last - number)
                    long = expected >= self.long_backfill_events
                    if long:
                        defer(expected)
                number, cp_hash = batch.last, batch.end_hash
                events += applied
                batches += 1
        result = SyncResult(
            start_number, number, head, events, batches, min(rolled_back, default=None)
        )
        self.last_result = result
        return result

    @contextmanager
    def _deferring(self, prefetcher: _Prefetcher) -> Iterator[Any]:
        """Yield `defer(expected_events)`, which drops the secondary indexes when worth it.

        Whatever ends the backfill, the indexes are re-created on the way out, after the worker
        has stopped (a failure to do so is retried by the next `sync_once` of any indexer).
        """
        dropped = 0

        def defer(expected: int) -> bool:
            nonlocal dropped
            with self.engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(_EVENTS)).scalar_one()
            if expected < stored:
                return False
            dropped = indexes.defer(self.engine)
            self._indexes_checked = False  # until they are back
            log.info("indexer: long backfill; %d secondary indexes dropped until it ends", dropped)
            return True

        try:
            yield defer
        finally:
            if dropped:
                prefetcher.cancel()
                started = time.perf_counter()
                indexes.restore(self.engine)
                self._indexes_checked = True
                log.info(
                    "indexer: %d secondary indexes re-created in %.1f s",
                    dropped,
                    time.perf_counter() - started,
                )

    def run_forever(self, poll_interval: float = 1.0, stop: threading.Event | None = None) -> None:
        """Sync, then poll for new blocks every `poll_interval` seconds until `stop` is set.

        Chain and database outages are logged and retried with backoff; anything else (a mirror
        that no longer matches, a wrong database) stops the loop with its error.
        """
        stop = stop or threading.Event()
        delay = poll_interval
        while not stop.is_set():
            try:
                result = self.sync_once(stop=stop)
            except (ChainError, OperationalError) as exc:
                delay = min(max(delay, 0.5) * 2, 30.0)
                log.warning("indexer: %s; retrying in %.1fs", exc, delay)
            else:
                delay = poll_interval
                if result.events or result.rolled_back_to is not None:
                    log.info(
                        "indexer: blocks %d-%d, %d events, lag %d",
                        result.start_block + 1,
                        result.end_block,
                        result.events,
                        result.lag,
                    )
            stop.wait(delay)

    # -- batches -----------------------------------------------------------------------------

    def _fetch_batch(self, number: int, cp_hash: str, last: int) -> _Batch:
        """Fetch and decode the blocks after `number` up to `last`, checked to follow `cp_hash`.

        Reads the chain only, so it may run ahead of the writer on the prefetch thread.
        """
        with _gc_paused():
            return self._fetch(number, cp_hash, last)

    def _fetch(self, number: int, cp_hash: str, last: int) -> _Batch:
        first = number + 1
        end = self._header(last)
        if end is None:
            raise _ChainMoved
        start = end if first == last else self._header(first)
        if start is None:
            raise _ChainMoved
        if start.parent_hash != cp_hash:
            raise _Reorg
        logs: list[RawLog] = []
        for chunk in self.client.iter_raw_logs(self.deployment.registry, first, last):
            logs.extend(chunk)
        again = self._header(last)
        if again is None or again.hash != end.hash:
            raise _ChainMoved  # a reorg raced the fetch: the logs may mix two forks
        events = self._decode(logs)
        times: dict[int, tuple[str, int | None]] = {end.number: (end.hash, end.timestamp)}
        for raw, event in zip(logs, events, strict=True):
            if event.block_number == last and event.block_hash != end.hash:
                raise _ChainMoved
            if event.block_number not in times:
                times[event.block_number] = (event.block_hash, _log_timestamp(raw))
        hashes = []
        for block_number, (block_hash, stamp) in sorted(times.items()):
            if stamp is None:
                header = self._header(block_number)
                if header is None or header.hash != block_hash:
                    raise _ChainMoved
                stamp = header.timestamp
            hashes.append((block_number, block_hash, stamp))
        events.sort(key=_chain_order)
        self._adapt_batch(last - number, len(events))
        return _Batch(last, end.hash, events, stored_rows(events), hashes)

    def _commit_batch(self, number: int, batch: _Batch) -> None:
        """Write a batch and move the checkpoint from `number` to its end, in one transaction."""
        with _gc_paused(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # NOTE: no wait for the WAL flush at commit, like SQLite's synchronous=NORMAL
                # (`indexer.db`): a server crash can lose the last batches, never half of one,
                # and their checkpoint goes with them, so the indexer fetches them again.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            claimed = conn.execute(
                _CHECKPOINT.update()
                .where(_CHECKPOINT.c.id == 1, _CHECKPOINT.c.block_number == number)
                .values(block_number=batch.last, block_hash=batch.end_hash)
            )
            if claimed.rowcount != 1:
                raise CheckpointConflictError(
                    f"The mirror's checkpoint moved from block {number} while this indexer "
                    "worked on the next batch: another indexer writes to the same database. "
                    "Run one indexer per database."
                )
            MirrorWriter(conn).apply(batch.events, event_rows=batch.rows)
            conn.execute(
                _BLOCK_HASHES.insert(),
                [{"number": n, "hash": h, "timestamp": t} for n, h, t in batch.hashes],
            )

    def _decode(self, logs: list[RawLog]) -> list[DecodedEvent]:
        events: list[DecodedEvent] = []
        for raw in logs:
            try:
                event = self.decoder.decode_raw(raw)
            except Exception as exc:
                raise IndexerError(
                    f"Cannot decode the registry log at block {raw['blockNumber']}, index "
                    f"{raw['logIndex']}: {exc}. Check that the deployment manifest's ABI matches "
                    "the deployed contracts."
                ) from exc
            if event is None:
                raise IndexerError(
                    f"The registry emitted an event the ABI does not describe (block "
                    f"{raw['blockNumber']}, index {raw['logIndex']}); refresh the ABI next to "
                    "the deployment manifest."
                )
            events.append(event)
        return events

    def _adapt_batch(self, blocks: int, events: int) -> None:
        # Aim at `target_batch_events` per batch from the density just seen: dense history gets
        # fewer blocks (bounded memory and transaction size, and batches small enough for the
        # prefetch to overlap), sparse history more (fewer round trips and commits). Growth is
        # at most 2x per batch, so one quiet stretch does not make the next batch huge.
        wanted = 2 * self._batch_blocks
        if events:
            wanted = min(wanted, max(1, blocks * self.target_batch_events // events))
        self._batch_blocks = max(1, min(self.max_batch_blocks, wanted))

    # -- checkpoint and reorgs ---------------------------------------------------------------

    def _init_checkpoint(self) -> tuple[int, str]:
        base = self._header(self.deployment.deploy_block - 1)
        if base is None:
            raise IndexerError(
                f"The chain has no block {self.deployment.deploy_block - 1}, the block before the "
                "registry's deployment; check REGISTRY_RPC_URL and the deployment manifest."
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    _CHECKPOINT.insert().values(
                        id=1,
                        chain_id=self.client.chain_id,
                        registry_address=self.deployment.registry,
                        block_number=base.number,
                        block_hash=base.hash,
                    )
                )
                conn.execute(
                    _BLOCK_HASHES.insert().values(
                        number=base.number, hash=base.hash, timestamp=base.timestamp
                    )
                )
        except IntegrityError:
            return self.checkpoint()  # another indexer created it first
        return base.number, base.hash

    def _is_canonical(self, number: int, block_hash: str) -> bool:
        header = self._header(number)
        return header is not None and header.hash == block_hash

    def _roll_back(self, number: int) -> tuple[int, str]:
        """Roll the mirror back from `number` to the newest block the chain still has."""
        ancestor = self._common_ancestor(number)
        base_number = self.deployment.deploy_block - 1
        if ancestor is None:
            # Nothing we stored survives: the chain was replaced from before the deployment
            # (a dev chain started afresh that redeployed at the same address). Start over.
            header = self._header(base_number)
            if header is None:
                raise IndexerError(
                    f"The chain lost block {base_number}, before the registry's deployment; "
                    "redeploy with `registry deploy` and start from an empty mirror database."
                )
            ancestor = header
        with self.engine.begin() as conn:
            claimed = conn.execute(
                _CHECKPOINT.update()
                .where(_CHECKPOINT.c.id == 1, _CHECKPOINT.c.block_number == number)
                .values(block_number=ancestor.number, block_hash=ancestor.hash)
            )
            if claimed.rowcount != 1:
                raise CheckpointConflictError(
                    "Another indexer moved the mirror's checkpoint during a reorg; run one "
                    "indexer per database."
                )
            removed = conn.execute(
                _EVENTS.delete().where(_EVENTS.c.block_number > ancestor.number)
            ).rowcount
            conn.execute(_BLOCK_HASHES.delete().where(_BLOCK_HASHES.c.number >= ancestor.number))
            conn.execute(
                _BLOCK_HASHES.insert().values(
                    number=ancestor.number, hash=ancestor.hash, timestamp=ancestor.timestamp
                )
            )
            replayed = rebuild_derived(conn) if removed else 0
        log.warning(
            "indexer: block %d is no longer on the chain; rolled back to block %d "
            "(%d events removed, %d replayed)",
            number,
            ancestor.number,
            removed,
            replayed,
        )
        return ancestor.number, ancestor.hash

    def _common_ancestor(self, number: int) -> _Header | None:
        """Return the newest stored block at or below `number` whose hash the chain still has.

        Stored hashes all belong to one fork (a reorg deletes those above the ancestor), so
        "the chain still has it" holds for every stored block up to the ancestor and for none
        above: a galloping search from the top finds it in O(log depth) header requests.
        """

        def stored(offset: int) -> tuple[int, str] | None:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(_BLOCK_HASHES.c.number, _BLOCK_HASHES.c.hash)
                    .where(_BLOCK_HASHES.c.number <= number)
                    .order_by(_BLOCK_HASHES.c.number.desc())
                    .offset(offset)
                    .limit(1)
                ).first()
            return None if row is None else (int(row.number), str(row.hash))

        def on_chain(offset: int) -> _Header | None:
            entry = stored(offset)
            if entry is None:
                return None
            header = self._header(entry[0])
            return header if header is not None and header.hash == entry[1] else None

        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(_BLOCK_HASHES)
                .where(_BLOCK_HASHES.c.number <= number)
            ).scalar_one()
        bad, probe, step = -1, 0, 1  # offsets counted from the newest stored block
        while (found := on_chain(probe)) is None:
            bad = probe
            if probe == count - 1 or count == 0:
                return None
            probe = min(probe + step, count - 1)
            step *= 2
        good = probe
        while good - bad > 1:
            middle = (bad + good) // 2
            header = on_chain(middle)
            if header is None:
                bad = middle
            else:
                good, found = middle, header
        return found

    def _header(self, number: int) -> _Header | None:
        if number < 0:
            return None
        try:
            block = self.client.get_block(number)
        except BlockNotFound:
            return None
        return _Header(
            number=int(block["number"]),
            hash=_hex(block["hash"]),
            parent_hash=_hex(block["parentHash"]),
            timestamp=int(block["timestamp"]),
        )

    @contextmanager
    def _progress(self, blocks: int) -> Iterator[Any]:
        show = self.progress if self.progress is not None else blocks > PROGRESS_THRESHOLD_BLOCKS
        if not show or blocks <= 0:
            yield lambda _blocks, _events: None
            return
        columns = (
            TextColumn("[bold]indexing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("blocks, {task.fields[events]} events"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task("backfill", total=blocks, events=0)
            seen = 0

            def advance(done_blocks: int, done_events: int) -> None:
                nonlocal seen
                seen += done_events
                bar.update(task, advance=done_blocks, events=seen)

            yield advance


class _Reorg(Exception):
    """The first block of a batch does not descend from the checkpoint block."""


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is fetched or written.

    NOTE: a batch allocates hundreds of thousands of small objects (parsed JSON, decoded events,
    rows), each burst triggering collections that rescan every live object: about a fifth of the
    indexer's CPU. None of them form reference cycles, so reference counting frees them all the
    same. The pause is process-wide, counted across the writer and prefetch threads, and lasts
    one batch; a collector the application disabled stays disabled.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


class _WorkerLost(_ChainMoved):
    """The decoding process ended without handing over a batch (killed): fetch again."""


class _Prefetcher:
    """Fetch the batches after the one being written, on a worker, one or two batches ahead.

    The worker walks forward from where it was started, checking each batch against the end hash
    of the one it fetched before, and hands over batches (or the exception that stopped it) in
    order. Fetching is mostly waiting on the node, JSON parsing and hex decoding, writing mostly
    the reducer and the database: on two cores they overlap. A short backlog (one batch) is
    fetched inline; a longer one on a thread; a long backfill (`process=True`) in a forked
    process, because a thread's decoding holds the interpreter lock the writer needs.
    """

    def __init__(self, indexer: Indexer) -> None:
        self._indexer = indexer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()
        self._expect: tuple[int, str] | None = None  # where the next handed-over batch starts
        self._process: Any = None  # the worker process, when it is one
        self._process_queue: Any = None
        self._process_cancelled: Any = None

    def __enter__(self) -> _Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def next(self, number: int, cp_hash: str, target: int, *, process: bool = False) -> _Batch:
        """Return the batch after block `number` (whose hash is `cp_hash`), up to `target`.

        `process`: a worker started now is a process rather than a thread (one already running
        of the other kind is replaced).
        """
        indexer = self._indexer
        running = self._process is not None if process else self._thread is not None
        if not running or self._expect != (number, cp_hash):
            self.cancel()
            if target - number <= indexer._batch_blocks:
                return indexer._fetch_batch(number, cp_hash, target)
            if process:
                self._start_process(number, cp_hash, target)
            else:
                self._start(number, cp_hash, target)
        item = self._from_process() if process else self._queue.get()
        if isinstance(item, BaseException):
            self.cancel()
            raise item
        batch: _Batch = item
        self._expect = (batch.last, batch.end_hash)
        return batch

    def cancel(self) -> None:
        """Stop the worker, dropping whatever it fetched ahead."""
        self._cancel_process()
        if self._thread is None:
            return
        self._cancelled.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # unblock a worker waiting to hand over
        self._thread.join()
        self._thread, self._expect = None, None
        self._queue = queue.Queue(maxsize=1)
        self._cancelled = threading.Event()

    def _start_process(self, number: int, cp_hash: str, target: int) -> None:
        # NOTE: fork, not spawn: a spawned child would spend a second or two of CPU importing
        # web3 and eth_abi before its first batch. The forked child touches only its copy of the
        # chain client (with new connections) and the decoder, never the database or a lock
        # another thread of this process could hold (see `_decode_in_process`).
        context = multiprocessing.get_context("fork")
        self._expect = (number, cp_hash)
        self._process_queue = context.Queue(maxsize=2)
        self._process_cancelled = context.Event()
        self._process = context.Process(
            target=_decode_in_process,
            args=(self._indexer, number, cp_hash, target, self._process_queue),
            kwargs={"cancelled": self._process_cancelled, "parent": os.getpid()},
            name="indexer-decode",
            daemon=True,
        )
        self._process.start()

    def _from_process(self) -> Any:
        while True:
            try:
                return self._process_queue.get(timeout=0.5)
            except queue.Empty:
                if not self._process.is_alive():
                    with contextlib.suppress(queue.Empty):
                        return self._process_queue.get(timeout=0.5)
                    self.cancel()
                    log.warning("indexer: the decoding process ended unexpectedly; fetching again")
                    raise _WorkerLost from None

    def _cancel_process(self) -> None:
        process = self._process
        if process is None:
            return
        self._process_cancelled.set()
        deadline = time.monotonic() + 5.0
        while process.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._process_queue.get(timeout=0.05)  # unblock a worker handing over
        if process.is_alive():
            process.kill()
        process.join()
        self._process_queue.close()
        self._process = self._process_queue = self._process_cancelled = None
        self._expect = None

    def _start(self, number: int, cp_hash: str, target: int) -> None:
        self._expect = (number, cp_hash)
        self._thread = threading.Thread(
            target=self._run,
            args=(number, cp_hash, target, self._queue, self._cancelled),
            name="indexer-prefetch",
            daemon=True,
        )
        self._thread.start()

    def _run(
        self,
        number: int,
        cp_hash: str,
        target: int,
        out: queue.Queue[Any],
        cancelled: threading.Event,
    ) -> None:
        indexer = self._indexer
        while number < target and not cancelled.is_set():
            last = min(target, number + indexer._batch_blocks)
            try:
                item: Any = indexer._fetch_batch(number, cp_hash, last)
            except BaseException as exc:  # handed to the writer, which decides
                item = exc
            while not cancelled.is_set():
                try:
                    out.put(item, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return
            number, cp_hash = item.last, item.end_hash


def _decode_in_process(
    indexer: Indexer,
    number: int,
    cp_hash: str,
    target: int,
    out: Any,
    *,
    cancelled: Any,
    parent: int,
) -> None:
    """The worker process: fetch and decode batches from `number` on, handing them to `out`.

    Runs in a child forked from the indexer: it owns copies of the indexer and its client, opens
    its own connections, never touches the database, and stops when cancelled, at `target`, on
    its first error (handed over) or when its parent is gone.
    """
    # NOTE: killed with its parent, at once: it holds copies of the parent's sockets, among them
    # the database connection of a batch in progress, which the server would otherwise keep open
    # (with its locks) for as long as this process lives.
    die_with_parent(parent, signal.SIGKILL)
    gc.disable()  # short-lived, and a batch's objects form no cycles (see `_gc_paused`)
    # Nothing to print; and a lock on the inherited streams may be held by a parent's thread.
    sys.stdout = sys.stderr = Path(os.devnull).open("w")
    indexer.client.reopen()
    while number < target and not cancelled.is_set():
        last = min(target, number + indexer._batch_blocks)
        item: Any
        try:
            item = indexer._fetch(number, cp_hash, last)
        except BaseException as exc:  # handed to the writer, which decides
            item = _picklable(exc)
        while not cancelled.is_set() and os.getppid() == parent:
            try:
                out.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        if os.getppid() != parent:
            os._exit(0)
        if isinstance(item, BaseException):
            break
        number, cp_hash = item.last, item.end_hash
    if cancelled.is_set():
        out.cancel_join_thread()  # exit without waiting to hand over what was fetched ahead


def _picklable(exc: BaseException) -> BaseException:
    """Return `exc`, or an `IndexerError` saying what it was when it cannot cross processes."""
    try:
        pickle.dumps(exc)
    except Exception:
        return IndexerError(f"{type(exc).__name__}: {exc}")
    return exc


def _chain_order(event: DecodedEvent) -> tuple[int, int]:
    return event.block_number, event.log_index


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _log_timestamp(log: RawLog) -> int | None:
    # Many nodes (anvil, recent geth and Besu) put the block time in each log; others do not.
    raw: Any = log.get("blockTimestamp")
    if raw is None:
        return None
    return int(raw, 16) if isinstance(raw, str) else int(raw)
