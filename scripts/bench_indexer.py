"""Benchmark the indexer against the chain it reads; prints numbers, asserts nothing.

One run starts its own anvil (in a temporary directory), deploys the registry and sends mixed
registry traffic (`tests.indexer.traffic`: transfers that split blocks, two-person transfers,
cancellations, labels) until it has produced `--events` events. Then, over that history:

- raw fetch: plain JSON-RPC eth_getLogs calls over the block windows the indexer used, with
  the JSON parsed (by the same client call the indexer uses) and nothing else: no decoding, no
  database. It is the ceiling of any indexer here; "fetch + decode" adds the indexer's decoding;
- backfill: the indexer's `sync_once` into a fresh SQLite mirror, and into a throwaway
  PostgreSQL database when one answers at `--postgres-url`; the first mirror of each is then
  audited against the chain (`indexer.audit`), so a fast but wrong indexer cannot pass;
- lag: the indexer's `run_forever` loop follows the chain while a writer sends batch
  transactions at a steady rate; the gap between the chain head and the indexed block is
  sampled every 50 ms.

Run from the repository root:

    .venv/bin/python -m scripts.bench_indexer [--events 50000] [--no-postgres]

Rates are the best of `--repeats` runs. The writer, the indexer loop and the sampler of the lag
run share one process (and the GIL), so the lag is, if anything, overstated.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from indexer.audit import audit
from indexer.db import create_engine, upgrade_database
from indexer.models import Checkpoint, Event, table_of
from indexer.sync import Indexer
from node.chain import ChainClient
from node.devchain import DevChain
from node.keys import dev_accounts
from node.ledger import EventDecoder
from tests.conftest import Registry, _free_port, deploy_registry
from tests.indexer.traffic import Traffic

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class RecordingIndexer(Indexer):
    """An indexer that remembers the block windows of the batches it wrote.

    Recorded as batches are committed, not as logs are fetched: a long backfill fetches in a
    worker process, whose client is a copy.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.windows: list[tuple[int, int]] = []

    def _commit_batch(self, number: int, batch: Any) -> None:
        super()._commit_batch(number, batch)
        self.windows.append((number + 1, batch.last))


@dataclass
class Backfill:
    """One backfill into one database."""

    database: str
    events: int
    seconds: float
    batches: int
    audit_ok: bool
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Return events per second."""
        return self.events / self.seconds


def raw_fetch(registry: Registry, windows: list[tuple[int, int]], repeats: int) -> float:
    """Return the best events/s of plain eth_getLogs calls over `windows`, JSON parsed only."""
    client = ChainClient(registry.client.rpc_url)
    address = registry.deployment.registry
    best = 0.0
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            events = 0
            for first, last in windows:
                logs = client.request(
                    "eth_getLogs",
                    [{"address": address, "fromBlock": hex(first), "toBlock": hex(last)}],
                )
                events += len(logs)
            best = max(best, events / (time.perf_counter() - started))
    finally:
        client.close()
    return best


def fetch_and_decode(registry: Registry, windows: list[tuple[int, int]], repeats: int) -> float:
    """Return the best events/s of the same calls plus the indexer's decoding, no database."""
    client = ChainClient(registry.client.rpc_url)
    decoder = EventDecoder(registry.abi)
    best = 0.0
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            events = 0
            for first, last in windows:
                for chunk in client.iter_raw_logs(registry.deployment.registry, first, last):
                    events += sum(1 for _ in decoder.decode_all_raw(chunk))
            best = max(best, events / (time.perf_counter() - started))
    finally:
        client.close()
    return best


def backfill(
    registry: Registry, urls: Iterator[str], label: str, repeats: int, **options: Any
) -> Backfill:
    """Index the whole history into empty mirrors, `repeats` times; audit the first, keep the best.

    `urls` yields a new empty database for each repetition.
    """
    best: Backfill | None = None
    for repeat in range(repeats):
        url = next(urls)
        upgrade_database(url)
        engine = create_engine(url)
        client = ChainClient(registry.client.rpc_url)
        try:
            indexer = RecordingIndexer(
                engine, client, registry.deployment, registry.abi, progress=False, **options
            )
            indexer.checkpoint()  # create the checkpoint row outside the timed part
            started = time.perf_counter()
            result = indexer.sync_once()
            seconds = time.perf_counter() - started
            ok = True
            if repeat == 0:
                report = audit(
                    engine, client, registry.deployment, registry.abi, spot_checks=64, seed=1
                )
                ok = report.ok and _event_rows(engine) == result.events
            run = Backfill(label, result.events, seconds, result.batches, ok, indexer.windows)
            if best is None or run.seconds < best.seconds:
                run.audit_ok = ok and (best is None or best.audit_ok)
                best = run
            elif not ok:
                best.audit_ok = False
        finally:
            client.close()
            engine.dispose()
    assert best is not None
    return best


def _event_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(Event))).scalar_one())


@dataclass
class Lag:
    """Steady-state lag of the indexer loop behind a steadily written chain."""

    samples: list[int]
    blocks: int
    events: int
    seconds: float
    caught_up: float
    audit_ok: bool


def steady_lag(
    registry: Registry,
    traffic: Traffic,
    url: str,
    *,
    seconds: float,
    transactions_per_second: float,
    poll_interval: float,
) -> Lag:
    """Sample head - indexed block while the indexer loop runs and a writer sends steadily."""
    upgrade_database(url)
    engine = create_engine(url)
    client = ChainClient(registry.client.rpc_url)
    probe = ChainClient(registry.client.rpc_url)
    indexer = Indexer(engine, client, registry.deployment, registry.abi, progress=False)
    indexer.sync_once()
    stop = threading.Event()
    loop = threading.Thread(target=indexer.run_forever, args=(poll_interval, stop), daemon=True)
    loop.start()
    start_head = probe.block_number()
    events_before = traffic.stats.events
    writer_done = threading.Event()

    def write() -> None:
        try:
            traffic.generate(
                seconds=seconds, transactions_per_second=transactions_per_second, verify=False
            )
        finally:
            writer_done.set()

    writer = threading.Thread(target=write, daemon=True)
    samples: list[int] = []
    checkpoint = table_of(Checkpoint)
    try:
        writer.start()
        while not writer_done.is_set():
            head = probe.block_number()
            with engine.connect() as conn:
                indexed = int(conn.execute(select(checkpoint.c.block_number)).scalar_one())
            samples.append(max(0, head - indexed))
            time.sleep(0.05)
        writer.join()
        traffic.verify()
        final = probe.block_number()
        done = time.perf_counter()
        while indexer.checkpoint()[0] < final:
            if not loop.is_alive() or time.perf_counter() - done > 60:
                raise RuntimeError("the indexer loop stopped following the chain")
            time.sleep(0.01)
        caught_up = time.perf_counter() - done
    finally:
        stop.set()
        loop.join(30)
    report = audit(engine, client, registry.deployment, registry.abi, spot_checks=64, seed=2)
    client.close()
    probe.close()
    engine.dispose()
    return Lag(
        samples,
        final - start_head,
        traffic.stats.events - events_before,
        seconds,
        caught_up,
        report.ok,
    )


def sqlite_databases(directory: Path) -> Iterator[str]:
    """Yield URLs of new SQLite files."""
    for n in itertools.count():
        yield f"sqlite:///{directory / f'mirror-{n}.sqlite3'}"


@contextmanager
def postgres_databases(admin_url: str) -> Iterator[Iterator[str] | None]:
    """Yield a source of throwaway PostgreSQL databases (dropped at the end), or None."""
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL not reachable at {admin_url} ({exc.__class__.__name__}); skipped")
        yield None
        return
    created: list[str] = []

    def databases() -> Iterator[str]:
        while True:
            name = f"registry_bench_{secrets.token_hex(4)}"
            admin.execute(f'CREATE DATABASE "{name}"')
            created.append(name)
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    try:
        yield databases()
    finally:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _rate(value: float) -> str:
    return f"{value:,.0f} events/s"


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events to generate")
    parser.add_argument("--seed", type=int, default=1, help="seed of the traffic")
    parser.add_argument(
        "--repeats", type=int, default=3, help="repetitions of each rate measurement (best)"
    )
    parser.add_argument(
        "--target-batch-events", type=int, default=0, help="indexer batch size (0: its default)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REGISTRY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server (any database) to create a throwaway database on",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--lag-seconds", type=float, default=20.0, help="length of the lag run")
    parser.add_argument(
        "--lag-tps", type=float, default=4.0, help="transactions per second during the lag run"
    )
    parser.add_argument(
        "--lag-requests", type=int, default=8, help="signed requests per transaction, lag run"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.25, help="indexer poll interval, lag run"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-indexer-") as tmp:
        data = Path(tmp)
        # No periodic state dumps: they would compete with the measurement for the CPU.
        chain = DevChain(data / "chain-data", port=_free_port(), state_interval=3600).start()
        registry = deploy_registry(chain.rpc_url, dev_accounts(), data / "deployments")
        traffic = Traffic(registry, seed=args.seed)
        try:
            print(f"generating {args.events:,} events ...", flush=True)
            traffic.generate(args.events)
            head = registry.client.block_number()
            blocks = head - registry.deployment.deploy_block + 1
            generated = traffic.stats
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(generated.by_kind.items()))
            print(
                f"  {generated.events:,} events from {generated.requests:,} requests in "
                f"{generated.transactions:,} transactions ({blocks:,} blocks) in "
                f"{generated.seconds:.1f}s: {kinds}",
                flush=True,
            )

            options: dict[str, Any] = {}
            if args.target_batch_events:
                options["target_batch_events"] = args.target_batch_events
            print("backfilling SQLite ...", flush=True)
            sqlite_urls = sqlite_databases(data)
            runs = [backfill(registry, sqlite_urls, "SQLite", args.repeats, **options)]
            if not args.no_postgres:
                with postgres_databases(args.postgres_url) as pg_urls:
                    if pg_urls is not None:
                        print("backfilling PostgreSQL ...", flush=True)
                        runs.append(
                            backfill(registry, pg_urls, "PostgreSQL", args.repeats, **options)
                        )
            print("raw eth_getLogs ...", flush=True)
            windows = runs[0].windows
            raw = raw_fetch(registry, windows, args.repeats)
            decoded = fetch_and_decode(registry, windows, args.repeats)

            print(f"lag run: {args.lag_seconds:.0f}s at {args.lag_tps:g} tx/s ...", flush=True)
            traffic.requests_per_transaction = args.lag_requests
            lag = steady_lag(
                registry,
                traffic,
                next(sqlite_urls),
                seconds=args.lag_seconds,
                transactions_per_second=args.lag_tps,
                poll_interval=args.poll_interval,
            )
        finally:
            traffic.close()
            registry.relayer.stop()
            registry.client.close()
            chain.stop()

    events = runs[0].events
    print()
    print(
        f"{events:,} registry events in {blocks:,} blocks, fetched in {len(windows)} "
        f"eth_getLogs windows; {os.cpu_count()} CPUs; best of {args.repeats}"
    )
    print()
    print("| measure | events/s | vs raw fetch |")
    print("| --- | ---: | ---: |")
    print(f"| raw eth_getLogs fetch, JSON parsed | {raw:,.0f} | 1.00x |")
    print(f"| fetch + decode, no database | {decoded:,.0f} | {decoded / raw:.2f}x |")
    for run in runs:
        audit_text = "audit ok" if run.audit_ok else "AUDIT FAILED"
        print(
            f"| indexer backfill, {run.database} ({run.batches} batches, {audit_text}) "
            f"| {run.rate:,.0f} | **{run.rate / raw:.2f}x** |"
        )
    print()
    rate = lag.events / lag.seconds
    print(f"| steady state, SQLite, indexer polling every {args.poll_interval:g} s | |")
    print("| --- | --- |")
    print(
        f"| writer | {args.lag_tps:g} tx/s of {args.lag_requests} requests: {rate:,.0f} "
        f"events/s, {lag.blocks} blocks in {lag.seconds:.0f} s |"
    )
    print(
        f"| lag behind the head, max / mean | {max(lag.samples)} / "
        f"{statistics.fmean(lag.samples):.2f} blocks ({len(lag.samples)} samples) |"
    )
    audit_text = "audit ok" if lag.audit_ok else "AUDIT FAILED"
    print(f"| caught up after the last write | {lag.caught_up:.2f} s ({audit_text}) |")


if __name__ == "__main__":
    main()
