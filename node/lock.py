"""One node per data directory: an exclusive lock held for the life of `registry up`.

Two nodes on one data directory would run two indexers and two relayers on the same database
and relayer key. The lock is an OS file lock (`flock`), so it is released whenever the process
ends, however it ends; the file beside it says who holds it, for the refusal message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from node.errors import ConfigError

__all__ = ["DataDirLock", "NodeAlreadyRunning"]


class NodeAlreadyRunning(ConfigError):
    """Raised when another node already runs on the data directory."""


class DataDirLock:
    """The exclusive lock of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "node.lock"
        self._file: IO[str] | None = None

    def acquire(self, **facts: Any) -> DataDirLock:
        """Take the lock and record this process's pid and `facts`; refuse if it is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise NodeAlreadyRunning(_describe(self.path.parent, holder)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), **facts}) + "\n")
        handle.flush()
        self._file = handle
        return self

    def update(self, **facts: Any) -> None:
        """Add facts learnt after starting (ports, URLs) to what the lock file says."""
        if self._file is None:
            return
        self._file.seek(0)
        current = json.loads(self._file.read() or "{}")
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({**current, **facts}) + "\n")
        self._file.flush()

    def release(self) -> None:
        """Give the lock up (it is also released when the process ends)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.truncate(0)
            self._file.close()
            self._file = None


def _describe(data_dir: Path, holder: str) -> str:
    try:
        facts = json.loads(holder)
    except ValueError:
        facts = {}
    details = ", ".join(f"{k} {v}" for k, v in facts.items()) or "details unknown"
    return (
        f"a node is already running on {data_dir} ({details}); stop it first, or start this one "
        "with another --data-dir"
    )
