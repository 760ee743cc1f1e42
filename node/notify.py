"""Cross-process hand-offs by notification: one process says "look now", the others wake at once.

The node's roles run as separate processes (indexer, relayer, API workers, webhooks) that hand
work to one another through the database: a request journaled by an API worker is relayed by the
relayer process, whose outcome the indexer mirrors, which a client waiting on `wait=indexed` in
some API worker learns. Polling each of those hand-offs costs a poll interval every time; a
notification costs nothing while idle and wakes the next role at once (decision D41).

Two transports, chosen by the database the roles share:

- PostgreSQL: `LISTEN`/`NOTIFY` on the shared server, so it works across hosts.
- SQLite (one host by construction): a Linux abstract-namespace Unix datagram socket per listening
  process and channel, announced by an empty file named after it in `<data_dir>/run/<channel>/`.
  A publisher sends one byte to every announced socket; a refused send means the listener is gone
  and its file is removed. Sends never block and never fail the publisher.

A notification only says "something changed": every waiter re-reads the database, and every wait
has a timeout, so a lost signal costs at most the waiter's fallback poll.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

__all__ = ["CHANNELS", "Notifier", "Waker"]

log = logging.getLogger(__name__)

# The hand-offs: a request journaled (relayer, look), a transaction mined (indexer, look), the
# mirror advanced (journal worker, settle), a journaled request changed status (waiters, re-read).
CHANNELS = ("journal", "chain", "mirror", "requests")


class Waker(Protocol):
    """What a signal sets: a `threading.Event`, or anything with a `set()` that never blocks."""

    def set(self) -> None:
        """Wake the waiter (called from a listener thread)."""


class Notifier:
    """Publish and receive "look now" signals on named channels, for one process."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.database_url = database_url
        self.postgres = database_url.startswith("postgresql")
        self._run_dir = data_dir / "run"
        self._tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
        self._lock = threading.Lock()
        self._events: dict[str, list[Waker]] = {}
        self._listeners: dict[str, threading.Thread] = {}
        self._closing = threading.Event()
        self._pg_out: Any = None
        self._sockets: dict[str, socket.socket] = {}
        self._out: socket.socket | None = None

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, channel: str) -> None:
        """Wake every process waiting on `channel` (best effort: never raises)."""
        try:
            if self.postgres:
                self._pg_publish(channel)
            else:
                self._socket_publish(channel)
        except Exception as exc:  # a waiter falls back to its poll; the publisher goes on
            log.debug("notify %s failed: %s", channel, exc)

    def _pg_publish(self, channel: str) -> None:
        import psycopg

        with self._lock:
            if self._pg_out is None or self._pg_out.closed:
                self._pg_out = psycopg.connect(_libpq_url(self.database_url), autocommit=True)
            self._pg_out.execute(f"NOTIFY registry_{channel}")

    def _socket_publish(self, channel: str) -> None:
        folder = self._run_dir / channel
        try:
            names = [path.name for path in folder.iterdir()]
        except FileNotFoundError:
            return
        with self._lock:
            if self._out is None:
                self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._out.setblocking(False)
            out = self._out
        for name in names:
            try:
                out.sendto(b"!", b"\0" + name.encode())
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    (folder / name).unlink()  # its listener is gone
            except BlockingIOError:
                pass  # its buffer is full of unread wake-ups: it is awake already

    # -- receiving -----------------------------------------------------------------------------

    def event(self, *channels: str) -> threading.Event:
        """Return an Event set whenever any of `channels` is published (by any process)."""
        event = threading.Event()
        self.attach(event, *channels)
        return event

    def attach(self, waker: Waker, *channels: str) -> None:
        """Set `waker` whenever any of `channels` is published, until `release`.

        It returns once this process listens on the channels, so a caller that re-reads the
        database after it misses no signal published after that read.
        """
        with self._lock:
            for channel in channels:
                self._events.setdefault(channel, []).append(waker)
        for channel in channels:
            self._listen(channel)

    def listening(self, *channels: str) -> bool:
        """Return whether this process listens on every one of `channels` already."""
        with self._lock:
            return all(channel in self._listeners for channel in channels)

    def release(self, event: Waker) -> None:
        """Stop setting an event returned by `event` (or a waker given to `attach`)."""
        with self._lock:
            for events in self._events.values():
                if event in events:
                    events.remove(event)

    def wait(self, channels: Iterable[str], timeout: float) -> bool:
        """Block until one of `channels` is published or `timeout` passes; return which."""
        event = self.event(*channels)
        try:
            return event.wait(timeout)
        finally:
            self.release(event)

    def _fire(self, channel: str) -> None:
        with self._lock:
            events = list(self._events.get(channel, ()))
        for event in events:
            try:
                event.set()
            except Exception:  # one waiter's failure must not stop the listener
                log.debug("a waker of %s failed", channel, exc_info=True)

    def _listen(self, channel: str) -> None:
        with self._lock:
            if channel in self._listeners:
                return
            target = self._pg_listen if self.postgres else self._socket_listen
            ready = threading.Event()
            thread = threading.Thread(
                target=target, args=(channel, ready), name=f"notify-{channel}", daemon=True
            )
            self._listeners[channel] = thread
        thread.start()
        ready.wait(5.0)  # subscribed before the caller re-reads the database

    def _socket_listen(self, channel: str, ready: threading.Event) -> None:
        folder = self._run_dir / channel
        folder.mkdir(parents=True, exist_ok=True)
        name = f"registry-{self._tag}-{channel}-{os.getpid()}-{id(self) & 0xFFFFFF:x}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(b"\0" + name.encode())
        sock.settimeout(1.0)
        (folder / name).touch()
        self._sockets[channel] = sock
        ready.set()
        try:
            while not self._closing.is_set():
                try:
                    sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                self._fire(channel)
        finally:
            with contextlib.suppress(OSError):
                (folder / name).unlink()
            sock.close()

    def _pg_listen(self, channel: str, ready: threading.Event) -> None:
        import psycopg

        while not self._closing.is_set():
            try:
                with psycopg.connect(_libpq_url(self.database_url), autocommit=True) as conn:
                    conn.execute(f"LISTEN registry_{channel}")
                    self._fire(channel)  # anything missed while (re)connecting
                    ready.set()
                    while not self._closing.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._fire(channel)
            except Exception as exc:  # the server went away: reconnect, waiters poll meanwhile
                ready.set()
                log.debug("LISTEN %s failed: %s", channel, exc)
                time.sleep(1.0)

    def close(self) -> None:
        """Stop listening (the process is ending)."""
        self._closing.set()
        for sock in list(self._sockets.values()):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            if self._pg_out is not None:
                with contextlib.suppress(Exception):
                    self._pg_out.close()
            if self._out is not None:
                self._out.close()
                self._out = None


def _libpq_url(url: str) -> str:
    """Return a SQLAlchemy PostgreSQL URL as libpq takes it (no `+driver`)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"
