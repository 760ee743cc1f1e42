"""The prefetch worker hands over batches in chain order, stops at the first error, restarts."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from indexer.sync import _Batch, _Prefetcher, _Reorg


class FakeIndexer:
    """Batches of 10 blocks whose end hashes are `h<block>`; fails from block `fail_at` on."""

    def __init__(self, fail_at: int | None = None) -> None:
        self._batch_blocks = 10
        self.fail_at = fail_at
        self.fetched: list[tuple[int, int]] = []
        self.threads: set[str] = set()

    def _fetch_batch(self, number: int, cp_hash: str, last: int) -> _Batch:
        assert cp_hash == f"h{number}", "a batch was fetched from the wrong parent"
        self.fetched.append((number, last))
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and number >= self.fail_at:
            raise _Reorg
        return _Batch(last, f"h{last}", [], [], [])


def prefetcher(fake: FakeIndexer) -> _Prefetcher:
    return _Prefetcher(cast(Any, fake))


def test_batches_come_in_order_then_the_error_that_stopped_the_worker() -> None:
    fake = FakeIndexer(fail_at=30)
    with prefetcher(fake) as batches:
        assert [batches.next(n, f"h{n}", 100).last for n in (0, 10, 20)] == [10, 20, 30]
        with pytest.raises(_Reorg):
            batches.next(30, "h30", 100)
        assert batches._thread is None
    assert "indexer-prefetch" in fake.threads
    assert fake.fetched == [(0, 10), (10, 20), (20, 30), (30, 40)]  # nothing past the error


def test_asking_for_another_start_drops_what_was_fetched_ahead() -> None:
    fake = FakeIndexer()
    with prefetcher(fake) as batches:
        assert batches.next(0, "h0", 100).last == 10
        # After a rollback the writer continues from an earlier block on another fork.
        assert batches.next(5, "h5", 100).last == 15
        assert batches.next(15, "h15", 100).last == 25
    assert (5, 15) in fake.fetched


def test_a_short_backlog_is_fetched_inline_and_cancel_stops_the_worker() -> None:
    fake = FakeIndexer()
    batches = prefetcher(fake)
    assert batches.next(0, "h0", 5).last == 5
    assert batches._thread is None and fake.threads == {threading.current_thread().name}
    batches.next(5, "h5", 1_000)
    worker = batches._thread
    assert worker is not None
    batches.cancel()
    assert not worker.is_alive() and batches._thread is None
