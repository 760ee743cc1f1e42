"""The sync loop: chain logs -> SQL mirror, exactly once, following reorgs.

Each batch of blocks is fetched with eth_getLogs, decoded through precomputed topic -> decoder
maps, applied in (block_number, log_index) order and committed in ONE transaction together with
the checkpoint and the hashes of the blocks it covers. A crash at any point therefore leaves the
mirror at the end of some batch, and the next run resumes right after it.

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

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from web3.types import LogReceipt

from indexer.errors import CheckpointConflictError, IndexerError, WrongMirrorError
from indexer.mirror import MirrorWriter, rebuild_derived
from indexer.models import BlockHash, Checkpoint, Event, table_of
from node.chain import ChainClient
from node.deploy import Deployment, load_abi, load_manifest
from node.errors import ChainError
from node.ledger import DecodedEvent, EventDecoder
from node.settings import NodeSettings

__all__ = ["PROGRESS_THRESHOLD_BLOCKS", "Indexer", "SyncResult"]

log = logging.getLogger(__name__)

_CHECKPOINT = table_of(Checkpoint)
_BLOCK_HASHES = table_of(BlockHash)
_EVENTS = table_of(Event)

# A backfill longer than this shows a progress bar.
PROGRESS_THRESHOLD_BLOCKS = 5_000
# Consecutive times a batch may find the chain changed under it before sync_once gives up.
_MAX_RETRIES = 10


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
        batch_blocks: int = 2_000,
        max_batch_blocks: int = 10_000,
        target_batch_events: int = 20_000,
        progress: bool | None = None,
        console: Console | None = None,
    ) -> None:
        if finality_depth < 0 or batch_blocks < 1:
            raise ValueError("finality_depth must be >= 0 and batch_blocks >= 1")
        self.engine = engine
        self.client = client
        self.deployment = deployment
        self.decoder = EventDecoder(abi)
        self.finality_depth = finality_depth
        self.max_batch_blocks = max(batch_blocks, max_batch_blocks)
        self.target_batch_events = target_batch_events
        self.progress = progress
        self.console = console or Console(stderr=True)
        self._batch_blocks = batch_blocks
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

    def sync_once(
        self, max_batches: int | None = None, stop: threading.Event | None = None
    ) -> SyncResult:
        """Index every final block not yet indexed (or `max_batches` batches of them)."""
        number, cp_hash = self.checkpoint()
        start_number = number
        events = batches = retries = 0
        rolled_back: list[int] = []
        head = self.client.block_number()
        target = head - self.finality_depth
        if target <= number and not self._is_canonical(number, cp_hash):
            number, cp_hash = self._roll_back(number)
            rolled_back.append(number)
        with self._progress(target - number) as advance:
            while number < target:
                if (max_batches is not None and batches >= max_batches) or (
                    stop is not None and stop.is_set()
                ):
                    break
                last = min(target, number + self._batch_blocks)
                try:
                    applied, new_hash = self._sync_batch(number, cp_hash, last)
                except _Reorg:
                    number, cp_hash = self._roll_back(number)
                    rolled_back.append(number)
                    continue
                except _ChainMoved:
                    retries += 1
                    if retries > _MAX_RETRIES:
                        break  # the chain keeps changing under us; the next call tries again
                    time.sleep(0.1 * retries)  # let the node settle on one fork
                    head = self.client.block_number()
                    target = head - self.finality_depth
                    if target <= number and not self._is_canonical(number, cp_hash):
                        number, cp_hash = self._roll_back(number)
                        rolled_back.append(number)
                    continue
                advance(last - number, applied)
                number, cp_hash = last, new_hash
                events += applied
                batches += 1
                self._adapt_batch(applied)
        result = SyncResult(
            start_number, number, head, events, batches, min(rolled_back, default=None)
        )
        self.last_result = result
        return result

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

    def _sync_batch(self, number: int, cp_hash: str, last: int) -> tuple[int, str]:
        """Fetch, check and commit the blocks after `number` up to `last`; return (events, hash)."""
        first = number + 1
        end = self._header(last)
        if end is None:
            raise _ChainMoved
        start = end if first == last else self._header(first)
        if start is None:
            raise _ChainMoved
        if start.parent_hash != cp_hash:
            raise _Reorg
        logs: list[LogReceipt] = []
        for chunk in self.client.iter_logs(self.deployment.registry, first, last):
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
        for block_number, (block_hash, stamp) in times.items():
            if stamp is None:
                header = self._header(block_number)
                if header is None or header.hash != block_hash:
                    raise _ChainMoved
                times[block_number] = (block_hash, header.timestamp)
        ordered = sorted(events, key=lambda e: (e.block_number, e.log_index))
        with self.engine.begin() as conn:
            claimed = conn.execute(
                _CHECKPOINT.update()
                .where(_CHECKPOINT.c.id == 1, _CHECKPOINT.c.block_number == number)
                .values(block_number=last, block_hash=end.hash)
            )
            if claimed.rowcount != 1:
                raise CheckpointConflictError(
                    f"The mirror's checkpoint moved from block {number} while this indexer "
                    "worked on the next batch: another indexer writes to the same database. "
                    "Run one indexer per database."
                )
            MirrorWriter(conn).apply(ordered)
            conn.execute(
                _BLOCK_HASHES.insert(),
                [{"number": n, "hash": h, "timestamp": t} for n, (h, t) in sorted(times.items())],
            )
        return len(ordered), end.hash

    def _decode(self, logs: list[LogReceipt]) -> list[DecodedEvent]:
        events: list[DecodedEvent] = []
        for raw in logs:
            try:
                event = self.decoder.decode(raw)
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

    def _adapt_batch(self, events: int) -> None:
        # Dense history: smaller batches bound memory and transaction size; sparse history:
        # larger ones save round trips and commits.
        if events > self.target_batch_events and self._batch_blocks > 1:
            self._batch_blocks //= 2
        elif events < self.target_batch_events // 4:
            self._batch_blocks = min(self.max_batch_blocks, self._batch_blocks * 2)

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


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _log_timestamp(log: LogReceipt) -> int | None:
    # Many nodes (anvil, recent geth and Besu) put the block time in each log; others do not.
    raw: Any = log.get("blockTimestamp")
    if raw is None:
        return None
    return int(raw, 16) if isinstance(raw, str) else int(raw)
