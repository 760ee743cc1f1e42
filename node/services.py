"""The node's roles, run as processes: found by entry point, supervised by `registry up`.

Each role other packages provide (the indexer; the API, relayer and webhook delivery) is an entry
point of group `registry.roles`: a callable `run(settings, options, stop)` that works in the
foreground until `stop` is set. `registry serve ROLE` runs one in this process; `registry up`
runs each as a child process (`python -m node serve ROLE`) and restarts one that dies, with
backoff. node never imports the packages that provide them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from node.errors import ConfigError

if TYPE_CHECKING:
    from node.settings import NodeSettings

__all__ = ["ROLES", "Backoff", "RoleProcess", "RoleRunner", "die_with_parent", "role_runner"]

# The roles `registry up` supervises, in start order: the mirror first, so the API never serves
# an empty one for long. `migrate` is a one-shot role run before them.
ROLES = ("indexer", "relayer", "webhooks", "api")


class RoleRunner(Protocol):
    """Run a role in the foreground until `stop` is set."""

    def __call__(
        self, settings: NodeSettings, options: dict[str, Any], stop: threading.Event
    ) -> None: ...


def role_runner(name: str) -> RoleRunner:
    """Return the installed role called `name`."""
    found = {entry.name: entry for entry in entry_points(group="registry.roles")}
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"no role {name!r}; the roles are: {known}")
    runner: RoleRunner = found[name].load()
    return runner


class Backoff:
    """When to try restarting a dead role again: at once, then after 1, 2, 4 ... 60 seconds."""

    def __init__(self) -> None:
        self.attempts = 0
        self._next = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def failed(self) -> None:
        self.attempts += 1
        self._next = time.monotonic() + min(2.0 ** (self.attempts - 1), 60.0)

    def succeeded(self) -> None:
        self.attempts = 0
        self._next = 0.0


def die_with_parent(parent: int | None = None, sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies, however it dies (kill -9 too).

    NOTE: PR_SET_PDEATHSIG: no role outlives `registry up`, and no API worker outlives the `serve
    api` process (an orphan worker would keep the port from the role's replacement). `parent` is
    the pid the caller expects as its parent: if it is already gone, exit at once.
    """
    expected = os.getppid() if parent is None else parent
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)
    if os.getppid() != expected:  # it died before the request took effect
        os._exit(1)


# A role that ran at least this long before dying starts its restarts from the shortest delay.
_STABLE_SECONDS = 30.0


class RoleProcess:
    """One supervised role process: started, watched, restarted with backoff, stopped."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        extra_args: list[str] | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.name = name
        self.env = env
        self.argv = [sys.executable, "-m", "node", "serve", name, *(extra_args or [])]
        self.say = say
        self.process: subprocess.Popen[bytes] | None = None
        self.backoff = Backoff()
        self.restarts = 0
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> RoleProcess:
        self.process = subprocess.Popen(
            self.argv, env=self.env, preexec_fn=die_with_parent, stdin=subprocess.DEVNULL
        )
        self._started_at = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def watch(self) -> None:
        """Restart the role if it died and its backoff allows; say so."""
        if self.process is None or self.alive() or not self.backoff.due():
            return
        code = self.process.returncode
        if time.monotonic() - self._started_at >= _STABLE_SECONDS:
            self.backoff.succeeded()
        self.backoff.failed()
        self.restarts += 1
        self.say(
            f"The {self.name} role (pid {self.process.pid}) exited with code {code}; "
            f"restarting it (restart {self.restarts})"
        )
        self.start()

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()

    def wait_stopped(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def stop_roles(roles: list[RoleProcess], timeout: float = 20.0) -> None:
    """Stop roles in reverse start order (the API first), each given `timeout` to finish."""
    for role in reversed(roles):
        role.terminate()
    deadline = time.monotonic() + timeout
    for role in reversed(roles):
        role.wait_stopped(deadline)


def role_environment(settings: NodeSettings, **extra: Any) -> dict[str, str]:
    """Return the environment a role process needs to find this node's settings."""
    env = dict(os.environ)
    env["REGISTRY_DATA_DIR"] = str(settings.data_dir)
    env["REGISTRY_CHAIN_PORT"] = str(settings.chain_port)
    env["REGISTRY_REGISTRY_CODE"] = settings.registry_code
    if settings.rpc_url:
        env["REGISTRY_RPC_URL"] = settings.rpc_url
    if settings.database_url:
        env["REGISTRY_DATABASE_URL"] = settings.database_url
    for key, value in extra.items():
        if value is not None:
            env[f"REGISTRY_{key.upper()}"] = str(value)
    return env
