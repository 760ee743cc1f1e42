"""The embedded development chain: an anvil process whose state persists in the data directory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from node.errors import DevChainError
from node.keys import DEV_MNEMONIC, DEV_ROLES, atomic_write_text
from node.settings import NodeSettings

__all__ = [
    "ANVIL_BIN_ENV",
    "DEV_CHAIN_ACCOUNTS",
    "DEV_CHAIN_ID",
    "DevChain",
    "find_anvil",
]

ANVIL_BIN_ENV = "REGISTRY_ANVIL_BIN"
DEV_CHAIN_ID = 31337
# Fund every dev role, with headroom so new roles do not silently start unfunded.
DEV_CHAIN_ACCOUNTS = max(20, len(DEV_ROLES))

_REPO_ROOT = Path(__file__).resolve().parent.parent
_ANVIL_IN_REPO = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def find_anvil() -> Path:
    """Return the anvil binary: `$REGISTRY_ANVIL_BIN`, else the one npm installed in the repo."""
    override = os.environ.get(ANVIL_BIN_ENV, "").strip()
    binary = Path(override).expanduser() if override else _REPO_ROOT / _ANVIL_IN_REPO
    if not binary.is_file():
        where = f"{ANVIL_BIN_ENV}={override}" if override else str(_ANVIL_IN_REPO)
        raise DevChainError(
            f"anvil binary not found ({where}). Run `make setup` (or `npm ci` in the repository "
            f"root) to install it, or set {ANVIL_BIN_ENV} to an anvil executable. To use an "
            "existing chain instead, set REGISTRY_RPC_URL."
        )
    if not os.access(binary, os.X_OK):
        raise DevChainError(f"anvil at {binary} is not executable; run `chmod +x {binary}`")
    return binary


class DevChain:
    """Start, reuse and stop the anvil dev chain that belongs to one data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8545,
        host: str = "127.0.0.1",
        chain_id: int = DEV_CHAIN_ID,
        accounts: int = DEV_CHAIN_ACCOUNTS,
        binary: Path | None = None,
        state_interval: int = 1,
        extra_args: Sequence[str] = (),
    ) -> None:
        """Describe the dev chain of `data_dir`; nothing starts until `start()`."""
        # Absolute paths: anvil runs with its own cwd semantics and the pid check compares argv.
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.host = host
        self.chain_id = chain_id
        self.accounts = accounts
        self.state_interval = state_interval
        self.extra_args = tuple(extra_args)
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._log_offset = 0
        self.started = False
        """True if the last `start()` launched a new process rather than reusing one."""

    @classmethod
    def from_settings(cls, settings: NodeSettings, **kwargs: Any) -> DevChain:
        """Build the dev chain described by `settings` (data dir and chain port)."""
        kwargs.setdefault("chain_id", settings.dev_chain_id)
        return cls(settings.data_dir, port=settings.chain_port, **kwargs)

    @property
    def chain_dir(self) -> Path:
        """Return the directory holding the chain's state, pid and log files."""
        return self.data_dir / "chain"

    @property
    def state_path(self) -> Path:
        """Return the file anvil loads its state from and dumps it to."""
        return self.chain_dir / "state.json"

    @property
    def pid_path(self) -> Path:
        """Return the pid file of the running anvil."""
        return self.chain_dir / "anvil.pid"

    @property
    def log_path(self) -> Path:
        """Return the file anvil's output goes to."""
        return self.chain_dir / "anvil.log"

    @property
    def rpc_url(self) -> str:
        """Return the JSON-RPC URL of the dev chain."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Return the pid of the running anvil of this data dir, if any."""
        if self._pid is not None and self._alive(self._pid):
            return self._pid
        return self._recorded_pid()

    def command(self) -> list[str]:
        """Return the anvil command line this chain runs."""
        binary = self._binary if self._binary is not None else find_anvil()
        return [
            str(binary),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self.accounts),
            # Explicit although it is anvil's default, so the funded accounts always match
            # node.keys' dev roles even if anvil's default ever changes.
            "--mnemonic",
            DEV_MNEMONIC,
            "--state",
            str(self.state_path),
            # anvil also dumps on SIGTERM; the interval bounds what a hard kill can lose.
            "--state-interval",
            str(self.state_interval),
            "--silent",
            *self.extra_args,
        ]

    def start(self, timeout: float = 30.0) -> DevChain:
        """Start anvil, or reuse the healthy one this data dir already runs; return self."""
        recorded = self._recorded_pid()
        if recorded is not None and self._reuse(recorded, timeout):
            return self
        if not self._wait_port_free(grace=3.0):
            raise DevChainError(
                f"port {self.port} on {self.host} is already in use by another program. Stop it, "
                "pick another port with --chain-port / REGISTRY_CHAIN_PORT, or set "
                "REGISTRY_RPC_URL to use that chain as an external one."
            )
        command = self.command()
        self.chain_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            log.write(f"--- {stamp} starting anvil on {self.rpc_url}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            # NOTE: a new session keeps a Ctrl-C aimed at the CLI from killing anvil before the
            # node stops it cleanly (SIGTERM dumps state); the pid file lets a later run reuse it.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid = self._process.pid
        self.started = True
        atomic_write_text(self.pid_path, f"{self._pid}\n", mode=0o644)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop anvil gracefully so it dumps its state; kill it if it does not exit in time."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not self._wait_exit(pid, 5.0):
                    raise DevChainError(
                        f"anvil (pid {pid}) did not exit after SIGKILL; check `ps {pid}`"
                    )
        self._process = None
        self._pid = None
        self.pid_path.unlink(missing_ok=True)

    def is_running(self) -> bool:
        """Return True if this data dir's anvil process is alive (healthy or not)."""
        return self.pid is not None

    def is_healthy(self) -> bool:
        """Return True if the chain answers eth_chainId with our chain id and eth_blockNumber."""
        try:
            chain_id = int(self._rpc("eth_chainId"), 16)
            int(self._rpc("eth_blockNumber"), 16)
        except (OSError, ValueError, TypeError, DevChainError):
            return False
        return chain_id == self.chain_id

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the chain is healthy; raise DevChainError if it dies or times out."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise self._startup_error(self._process.returncode)
            if self.is_healthy():
                return
            if time.monotonic() >= deadline:
                raise DevChainError(
                    f"the dev chain did not become ready on {self.rpc_url} within {timeout:g}s; "
                    f"see {self.log_path}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def block_number(self) -> int:
        """Return the current block number of the dev chain."""
        return int(self._rpc("eth_blockNumber"), 16)

    def __enter__(self) -> DevChain:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DevChain(data_dir={str(self.data_dir)!r}, rpc_url={self.rpc_url!r})"

    # -- internals -------------------------------------------------------------------------------

    def _reuse(self, pid: int, timeout: float) -> bool:
        running_port = self._argv_value(pid, "--port")
        if running_port is not None and running_port != str(self.port):
            raise DevChainError(
                f"the dev chain of {self.data_dir} already runs as pid {pid} on port "
                f"{running_port}, not {self.port}. Use --chain-port {running_port} "
                f"(REGISTRY_CHAIN_PORT), or stop it first (`kill {pid}`)."
            )
        deadline = time.monotonic() + min(timeout, 5.0)
        # It may have been started a moment ago by another process and still be loading state.
        while not self.is_healthy():
            if not self._alive(pid):
                # It was on its way out (crashed or killed): start a fresh one instead.
                self.pid_path.unlink(missing_ok=True)
                return False
            if time.monotonic() >= deadline:
                raise DevChainError(
                    f"the dev chain of {self.data_dir} (pid {pid}) is running but not answering "
                    f"on {self.rpc_url}. Stop it (`kill {pid}`) and start again; see "
                    f"{self.log_path}."
                )
            time.sleep(0.1)
        self._pid = pid
        self.started = False
        return True

    def _recorded_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None
        if self._alive(pid) and self._is_our_anvil(pid):
            return pid
        # Stale: the process is gone or the pid was recycled by an unrelated program, which we
        # must never signal.
        self.pid_path.unlink(missing_ok=True)
        return None

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie (exited, not yet reaped by its parent) still answers kill(0).
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except OSError:
            return True
        return stat.rpartition(")")[2].split()[:1] != ["Z"]

    def _argv(self, pid: int) -> list[str] | None:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return raw.decode(errors="replace").split("\0")

    def _argv_value(self, pid: int, flag: str) -> str | None:
        argv = self._argv(pid)
        if argv is None or flag not in argv:
            return None
        index = argv.index(flag)
        return argv[index + 1] if index + 1 < len(argv) else None

    def _is_our_anvil(self, pid: int) -> bool:
        if not Path("/proc").is_dir():
            # No way to inspect argv here; trust the pid file.
            return True
        return self._argv_value(pid, "--state") == str(self.state_path)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _wait_port_free(self, grace: float) -> bool:
        # A chain that was just killed may hold its socket for a moment while it exits.
        deadline = time.monotonic() + grace
        while self._port_in_use():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _port_in_use(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((self.host, self.port)) == 0

    def _rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(
            self.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        # Talk to localhost directly even when HTTP(S)_PROXY is set in the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=2.0) as response:
            reply = json.loads(response.read())
        if not isinstance(reply, dict) or "result" not in reply:
            raise DevChainError(f"{method} on {self.rpc_url} failed: {reply!r}")
        return reply["result"]

    def _startup_error(self, returncode: int) -> DevChainError:
        tail = self._log_tail()
        if "Address already in use" in tail:
            hint = (
                f"port {self.port} is already in use; pick another with --chain-port / "
                "REGISTRY_CHAIN_PORT"
            )
        elif "--state" in tail:
            hint = (
                f"the saved chain state {self.state_path} cannot be loaded; restore it from a "
                "backup, or delete it to start a fresh dev chain (this loses all dev-chain data)"
            )
        else:
            hint = f"see {self.log_path}"
        return DevChainError(
            f"anvil exited during startup with code {returncode}: {hint}.\n{tail}".rstrip()
        )

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(self._log_offset, log.tell() - limit))
                return log.read().decode(errors="replace").strip()
        except OSError:
            return ""
