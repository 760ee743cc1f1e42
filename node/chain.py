"""JSON-RPC chain client. Product code paths use only standard `eth_*` methods."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import pydantic_core
import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.providers.rpc import HTTPProvider
from web3.types import FilterParams, LogReceipt, TxReceipt

from node.errors import ChainError

__all__ = ["ChainClient"]

_T = TypeVar("_T")


class ChainClient:
    """Talk to one EVM JSON-RPC endpoint over a reused HTTP session."""

    def __init__(self, rpc_url: str, timeout: float = 30.0, max_log_range: int = 10_000) -> None:
        self.rpc_url = rpc_url
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._session = requests.Session()
        provider = HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=self._session)
        self.w3 = Web3(provider)
        self._chain_id: int | None = None
        # Adaptive eth_getLogs window: shrinks when a provider refuses a range, grows back slowly.
        self.max_log_range = max_log_range
        self._log_range = max_log_range

    def reopen(self) -> None:
        """Use new connections from now on: a forked child must not share its parent's sockets."""
        self._session = requests.Session()
        provider = HTTPProvider(
            self.rpc_url, request_kwargs={"timeout": self._timeout}, session=self._session
        )
        self.w3 = Web3(provider)

    @property
    def chain_id(self) -> int:
        """Return the chain id (cached: it never changes for an endpoint)."""
        if self._chain_id is None:
            self._chain_id = self._call(lambda: self.w3.eth.chain_id)
        return self._chain_id

    def block_number(self) -> int:
        """Return the latest block number."""
        return int(self._call(lambda: self.w3.eth.block_number))

    def code_at(self, address: str) -> bytes:
        """Return the runtime code at an address (empty when nothing is deployed there)."""
        return bytes(self._call(lambda: self.w3.eth.get_code(Web3.to_checksum_address(address))))

    def get_block(self, number: int | str) -> dict[str, Any]:
        """Return a block header (without transactions)."""
        return dict(self._call(lambda: self.w3.eth.get_block(number)))  # type: ignore[arg-type]

    def wait_for_receipt(self, tx_hash: bytes | str, timeout: float = 120.0) -> TxReceipt:
        """Wait until a transaction is mined and return its receipt."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                pass
            except requests.RequestException as exc:
                raise ChainError(f"Lost the chain node at {self.rpc_url}: {exc}") from exc
            if time.monotonic() > deadline:
                raise ChainError(
                    f"Transaction {as_hex(tx_hash)} was not mined within {timeout:.0f}s; "
                    "check that the chain is producing blocks."
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def iter_logs(
        self, address: str, from_block: int, to_block: int, topics: list[Any] | None = None
    ) -> Iterator[list[LogReceipt]]:
        """Yield the contract's logs in `[from_block, to_block]`, one chunk per eth_getLogs call.

        The window halves when a provider refuses a range (many cap eth_getLogs by blocks or
        results) and doubles again after successes, up to `max_log_range`.
        """

        def fetch(start: int, end: int) -> list[LogReceipt]:
            params: FilterParams = {
                "address": Web3.to_checksum_address(address),
                "fromBlock": start,
                "toBlock": end,
            }
            if topics:
                params["topics"] = topics
            return list(self.w3.eth.get_logs(params))

        return self._windows(fetch, from_block, to_block)

    def iter_raw_logs(
        self, address: str, from_block: int, to_block: int, topics: list[Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Like `iter_logs`, but yield the logs as the node sent them: JSON objects, hex strings.

        NOTE: web3's per-log result formatting (HexBytes, AttributeDict, checksummed addresses)
        costs many times what fetching the logs does; bulk readers such as the indexer decode the
        hex themselves (`EventDecoder.decode_raw`).
        """
        checksummed = Web3.to_checksum_address(address)

        def fetch(start: int, end: int) -> list[dict[str, Any]]:
            params: dict[str, Any] = {
                "address": checksummed,
                "fromBlock": hex(start),
                "toBlock": hex(end),
            }
            if topics:
                params["topics"] = topics
            logs: list[dict[str, Any]] = self.request("eth_getLogs", [params])
            return logs

        return self._windows(fetch, from_block, to_block)

    def request(self, method: str, params: list[Any]) -> Any:
        """Make one JSON-RPC call and return its raw `result` (no web3 formatting at all)."""
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": params,
        }
        try:
            response = self._session.post(self.rpc_url, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            raise ChainError(
                f"Cannot reach the chain node at {self.rpc_url} ({exc.__class__.__name__}); "
                "check that it is running and that this URL (--rpc-url, REGISTRY_RPC_URL) is "
                "right, or leave it unset for the embedded chain."
            ) from exc
        try:
            # NOTE: pydantic's JSON parser (pydantic-core, which pydantic is built on) parses an
            # eth_getLogs reply about twice as fast as the json module.
            reply = pydantic_core.from_json(response.content)
        except ValueError as exc:
            raise ChainError(
                f"{method} on {self.rpc_url} answered HTTP {response.status_code} without a "
                f"JSON-RPC reply: {response.text[:200]!r}"
            ) from exc
        if not isinstance(reply, dict):
            raise ChainError(f"{method} on {self.rpc_url} returned {reply!r}")
        if "error" in reply:
            raise ChainError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def _windows(
        self, fetch: Callable[[int, int], list[_T]], from_block: int, to_block: int
    ) -> Iterator[list[_T]]:
        start = from_block
        while start <= to_block:
            end = min(to_block, start + self._log_range - 1)
            try:
                logs = fetch(start, end)
            except Exception as exc:
                if self._log_range > 1 and _is_range_limit(exc):
                    self._log_range = max(1, self._log_range // 2)
                    continue
                if isinstance(exc, ChainError):
                    raise
                raise ChainError(f"eth_getLogs failed for blocks {start}-{end}: {exc}") from exc
            yield logs
            start = end + 1
            self._log_range = min(self.max_log_range, self._log_range * 2)

    def gas_price(self) -> int:
        """Return the node's gas price; permissioned networks often run at zero."""
        return int(self._call(lambda: self.w3.eth.gas_price))

    def transact(
        self,
        account: LocalAccount,
        data: bytes | str,
        to: str | None = None,
        gas: int | None = None,
        timeout: float = 120.0,
    ) -> TxReceipt:
        """Sign and send one transaction from `account`, wait for it, and fail on a revert.

        For one-off operator transactions (deploy, role grants); the relayer has its own pipelined
        sender with nonce management.
        """
        tx: dict[str, Any] = {
            "from": account.address,
            "data": data,
            "nonce": self._call(
                lambda: self.w3.eth.get_transaction_count(account.address, "pending")
            ),
            "chainId": self.chain_id,
            "gasPrice": self.gas_price(),
            "value": 0,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        if gas is None:
            try:
                gas = int(self.w3.eth.estimate_gas(tx)) * 6 // 5  # type: ignore[arg-type]
            except Exception as exc:
                raise self._refused(account.address, exc) from exc
        tx["gas"] = gas
        signed = account.sign_transaction(tx)
        try:
            tx_hash = self._call(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except ChainError:
            raise
        except Exception as exc:  # the node refused the transaction itself
            raise self._refused(account.address, exc) from exc
        receipt = self.wait_for_receipt(tx_hash, timeout)
        if receipt["status"] != 1:
            raise ChainError(f"Transaction {Web3.to_hex(tx_hash)} reverted.")
        return receipt

    def _refused(self, sender: str, exc: Exception) -> ChainError:
        """Turn a node's refusal (often a raw JSON-RPC error dict) into one line to act on."""
        if isinstance(exc, ChainError):
            return exc
        response = getattr(exc, "rpc_response", None)  # web3's JSON-RPC errors carry it
        error = response.get("error") if isinstance(response, dict) else None
        detail = error if isinstance(error, dict) else (exc.args[0] if exc.args else exc)
        message = str(detail.get("message", detail)) if isinstance(detail, dict) else str(detail)
        # A node says "insufficient funds", or estimates with an allowance of the balance: 0.
        if "insufficient funds" in message.lower() or message.endswith("exceeds allowance: 0"):
            return ChainError(
                f"{sender} cannot pay for gas on chain {self.chain_id} ({message}); fund that "
                "account, or run the chain with a zero gas price."
            )
        return ChainError(f"The chain refused a transaction from {sender}: {message}.")

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except requests.RequestException as exc:
            raise ChainError(
                f"Cannot reach the chain node at {self.rpc_url} ({exc.__class__.__name__}); "
                "check that it is running and that this URL (--rpc-url, REGISTRY_RPC_URL) is "
                "right, or leave it unset for the embedded chain."
            ) from exc

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


def _is_range_limit(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("range", "too many", "limit", "exceed", "response size", "10000")
    )


def as_hex(value: bytes | str) -> str:
    """Return a 0x-prefixed hex string."""
    return cast(str, Web3.to_hex(value)) if isinstance(value, bytes) else value
