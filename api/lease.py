"""A database lease: the one process of a registry that may hold a role (the relayer).

Two relayers on one registry would race each other's transaction nonces and send every journaled
request twice. The lease is a row (`api_leases`: name, holder, expiry) taken with one conditional
statement, so it works the same on SQLite and PostgreSQL and across hosts: a process takes the
row when it is free or expired, renews it well before it expires, and gives it up on a clean stop.
A process killed with the lease held blocks the role for at most one lease period (decision D40).

NOTE: expiry compares wall clocks of the hosts involved; they are assumed to agree to well under
the lease period (NTP), which is why the period is seconds, not milliseconds.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from api.models import Lease

__all__ = ["DbLease", "lease_holder"]

_LEASES = Lease.__table__  # type: ignore[attr-defined]


def lease_holder() -> str:
    """Return a name for this process unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DbLease:
    """One named lease, held by this process while `held` is set."""

    def __init__(self, engine: Engine, name: str, period: float = 6.0) -> None:
        self.engine = engine
        self.name = name
        self.period = period
        self.holder = lease_holder()
        self.held = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Take or renew the lease if it is free, expired or ours; return whether we hold it."""
        now = time.time()
        expires = now + self.period
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(_LEASES)
                .where(
                    _LEASES.c.name == self.name,
                    or_(_LEASES.c.holder == self.holder, _LEASES.c.expires_at < now),
                )
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
            if taken == 0:
                exists = conn.execute(
                    select(_LEASES.c.holder).where(_LEASES.c.name == self.name)
                ).first()
                if exists is not None:
                    return False
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(_LEASES).values(
                                name=self.name, holder=self.holder, expires_at=expires
                            )
                        )
                except IntegrityError:
                    return False  # another process created it first
        return True

    def current_holder(self) -> str | None:
        """Return who holds the lease now (None when free or expired)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_LEASES.c.holder, _LEASES.c.expires_at).where(_LEASES.c.name == self.name)
            ).first()
        return None if row is None or row.expires_at < time.time() else str(row.holder)

    def acquire(self, stop: threading.Event, on_wait: object = None) -> bool:
        """Wait until the lease is ours (or `stop` is set), then keep renewing it."""
        waited = False
        while not stop.is_set():
            if self.try_acquire():
                self.held.set()
                self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)
                self._thread.start()
                return True
            if not waited and callable(on_wait):
                on_wait(self.current_holder())
                waited = True
            stop.wait(self.period / 3)
        return False

    def _renew(self) -> None:
        failures = 0
        while not self._stop.wait(self.period / 3):
            try:
                ok = self.try_acquire()
            except Exception:  # the database is away: keep trying until the lease would expire
                ok = None
            if ok is False:
                break  # another process took it: we must stop acting as the holder
            failures = 0 if ok else failures + 1
            if failures >= 2:
                break  # not renewed for two thirds of the period: assume it lost
        if not self._stop.is_set():
            self.held.clear()
            self.lost.set()

    def release(self) -> None:
        """Stop renewing and give the lease up for the next process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held.is_set():
            self.held.clear()
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        delete(_LEASES).where(
                            _LEASES.c.name == self.name, _LEASES.c.holder == self.holder
                        )
                    )
            except Exception:  # it expires by itself
                pass
