"""The runtime's shared-database primitives on SQLite and PostgreSQL: the relayer lease, and the
cross-process notifications that replace the hand-offs' polling."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from sqlalchemy import Engine

from api.db import upgrade_database
from api.lease import DbLease
from node.notify import Notifier


def _lease_engine(engine: Engine) -> Engine:
    upgrade_database(engine)
    return engine


def test_one_holder_at_a_time_and_the_next_takes_over_on_expiry_or_release(
    engine: Engine,
) -> None:
    _lease_engine(engine)
    first = DbLease(engine, "relayer", period=0.6)
    second = DbLease(engine, "relayer", period=0.6)
    stop = threading.Event()
    assert first.acquire(stop)
    assert not second.try_acquire()  # held and renewed
    time.sleep(1.0)  # longer than a period: renewal keeps it
    assert not second.try_acquire()
    assert first.current_holder() == first.holder
    first.release()
    assert second.try_acquire()  # a clean stop frees it at once
    # A holder that dies without releasing blocks the role for one period only.
    third = DbLease(engine, "relayer", period=0.6)
    assert not third.try_acquire()
    deadline = time.monotonic() + 5
    while not third.try_acquire():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert second.current_holder() == third.holder


def test_a_holder_whose_lease_was_taken_learns_it_lost(engine: Engine) -> None:
    _lease_engine(engine)
    holder = DbLease(engine, "relayer", period=0.6)
    assert holder.acquire(threading.Event())
    # Simulate a stalled holder: its row expires and another process takes the lease.
    holder._stop.set()  # stop renewing
    holder._thread.join()  # type: ignore[union-attr]
    time.sleep(0.7)
    taker = DbLease(engine, "relayer", period=0.6)
    assert taker.try_acquire()
    holder._stop.clear()
    renew = threading.Thread(target=holder._renew)
    renew.start()
    renew.join(timeout=5)
    assert holder.lost.is_set() and not holder.held.is_set()


def _publish_later(url: str, data_dir: str, channel: str) -> None:
    time.sleep(0.3)
    notifier = Notifier(url, Path(data_dir))
    notifier.publish(channel)
    notifier.close()


def test_a_notification_from_another_process_wakes_a_waiter_at_once(
    database_url: str, tmp_path: Path
) -> None:
    notifier = Notifier(database_url, tmp_path)
    event = notifier.event("mirror")
    other = notifier.event("journal")
    event.clear()  # PostgreSQL wakes a new listener once (what it may have missed)
    other.clear()
    try:
        started = time.monotonic()
        child = multiprocessing.get_context("spawn").Process(
            target=_publish_later, args=(database_url, str(tmp_path), "mirror")
        )
        child.start()
        assert event.wait(20), "no notification arrived"
        waited = time.monotonic() - started
        child.join(10)
        assert not other.is_set()  # channels are separate
        # In-process publish reaches the same process's waiters too.
        event.clear()
        notifier.publish("mirror")
        assert event.wait(5)
        print(f"cross-process wake after {waited:.2f}s (0.3s publisher delay + spawn)")
    finally:
        notifier.close()


def test_publishing_with_no_listener_or_a_dead_one_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    Notifier(url, tmp_path).publish("requests")  # nobody listens: nothing happens
    stale = tmp_path / "run" / "requests" / "registry-dead-requests-1-1"
    stale.parent.mkdir(parents=True)
    stale.touch()
    Notifier(url, tmp_path).publish("requests")
    assert not stale.exists()  # a listener that is gone is forgotten


class _Broken:
    def set(self) -> None:
        raise RuntimeError("a waiter that fails")


def test_an_attached_waker_wakes_a_coroutine_and_a_failing_one_stops_nothing(
    database_url: str, tmp_path: Path
) -> None:
    """What `min_block` waits stand on (D54): a signal sets an asyncio event via the loop."""
    import asyncio

    from api.paging import _LoopWaker

    notifier = Notifier(database_url, tmp_path)

    async def scenario() -> None:
        broken, waker = _Broken(), _LoopWaker()
        notifier.attach(broken, "mirror")  # first: its failure must not keep `waker` unset
        notifier.attach(waker, "mirror")
        assert notifier.listening("mirror") and not notifier.listening("chain")
        waker.event.clear()  # PostgreSQL wakes a new listener once (what it may have missed)
        await asyncio.sleep(0.2)
        waker.event.clear()
        child = multiprocessing.get_context("spawn").Process(
            target=_publish_later, args=(database_url, str(tmp_path), "mirror")
        )
        child.start()
        await asyncio.wait_for(waker.event.wait(), 20)
        await asyncio.to_thread(child.join, 10)
        notifier.release(waker)
        waker.event.clear()
        notifier.publish("mirror")
        await asyncio.sleep(0.5)
        assert not waker.event.is_set()  # released: no longer woken

    try:
        asyncio.run(scenario())
    finally:
        notifier.close()
