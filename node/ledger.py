"""Registry events decoded from logs, and the unit-block map replayed from them.

The replay needs nothing but the chain's logs, which makes it the reference the relayer uses for
block hints and the auditor's starting point for recomputing holdings without the SQL mirror.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.types import LogReceipt

from node.contracts import UnitState

__all__ = ["BlockIndex", "BlockRecord", "DecodedEvent", "EventDecoder"]


@dataclass(frozen=True)
class DecodedEvent:
    """One registry event with its position in the chain."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str


class EventDecoder:
    """Decode registry logs through a precomputed topic0 -> decoder map (raw eth_abi, no web3
    contract-event machinery, which is far slower per log)."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._events: dict[
            bytes, tuple[str, list[tuple[str, str]], list[tuple[str, str, bool]]]
        ] = {}
        for item in abi:
            if item["type"] != "event":
                continue
            types = ",".join(i["type"] for i in item["inputs"])
            topic = keccak(text=f"{item['name']}({types})")
            indexed = [(i["name"], i["type"]) for i in item["inputs"] if i["indexed"]]
            # Strings are decoded as bytes and then leniently as UTF-8: a relayed request may carry
            # invalid UTF-8, and one such event must not stop every reader of the chain.
            plain = [
                (i["name"], "bytes" if i["type"] == "string" else i["type"], i["type"] == "string")
                for i in item["inputs"]
                if not i["indexed"]
            ]
            self._events[topic] = (item["name"], indexed, plain)

    def topic(self, name: str) -> bytes:
        """Return the topic0 of an event by name."""
        for topic, (event_name, _, _) in self._events.items():
            if event_name == name:
                return topic
        raise KeyError(name)

    def decode(self, log: LogReceipt) -> DecodedEvent | None:
        """Decode one log; return None for logs of events not in the ABI."""
        topics = log["topics"]
        if not topics:
            return None
        entry = self._events.get(bytes(topics[0]))
        if entry is None:
            return None
        name, indexed, plain = entry
        args: dict[str, Any] = {}
        for (arg, typ), topic in zip(indexed, topics[1:], strict=False):
            args[arg] = _plain(typ, abi_decode([typ], bytes(topic))[0])
        values = abi_decode([t for _, t, _ in plain], bytes(log["data"]))
        for (arg, typ, is_text), value in zip(plain, values, strict=True):
            args[arg] = value.decode("utf-8", errors="replace") if is_text else _plain(typ, value)
        return DecodedEvent(
            name=name,
            args=args,
            block_number=int(log["blockNumber"]),
            block_hash="0x" + bytes(log["blockHash"]).hex(),
            log_index=int(log["logIndex"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
        )

    def decode_all(self, logs: Iterable[LogReceipt]) -> Iterator[DecodedEvent]:
        """Decode logs, skipping any the ABI does not describe."""
        for log in logs:
            event = self.decode(log)
            if event is not None:
                yield event


def _plain(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


@dataclass
class BlockRecord:
    """A unit block as the chain holds it."""

    start: int
    end: int
    account: int
    state: UnitState
    lock_id: int
    issuance: int
    labels: int = 0

    @property
    def quantity(self) -> int:
        """Return the number of units in the block."""
        return self.end - self.start + 1


@dataclass
class BlockIndex:
    """The current unit blocks, replayed from UnitsIssued, BlockChanged and LabelChanged events.

    Every split the contract makes shows up as an event range, so splitting here at the same
    boundaries keeps block starts identical to the chain's, which is what block hints need.
    """

    _starts: list[int] = field(default_factory=list)
    _blocks: dict[int, BlockRecord] = field(default_factory=dict)

    def apply(self, event: DecodedEvent) -> None:
        """Apply one event; events that do not touch blocks are ignored."""
        a = event.args
        if event.name == "UnitsIssued":
            self._insert(
                BlockRecord(
                    a["start"], a["end"], a["accountId"], UnitState.HELD, 0, a["issuanceId"]
                )
            )
        elif event.name == "BlockChanged":
            record = self._isolate(a["start"], a["end"])
            record.account = a["accountId"]
            record.state = UnitState(a["state"])
            record.lock_id = a["lockId"]
        elif event.name == "LabelChanged":
            record = self._isolate(a["start"], a["end"])
            bit = 1 << a["labelId"]
            record.labels = record.labels | bit if a["applied"] else record.labels & ~bit

    def apply_all(self, events: Iterable[DecodedEvent]) -> None:
        """Apply events in chain order."""
        for event in events:
            self.apply(event)

    def containing(self, serial: int) -> BlockRecord | None:
        """Return the block that contains a serial, if any."""
        i = bisect.bisect_right(self._starts, serial) - 1
        if i < 0:
            return None
        record = self._blocks[self._starts[i]]
        return record if record.end >= serial else None

    def hints_for(self, ranges: Iterable[tuple[int, int]]) -> list[int]:
        """Return the block start of each range (0 when no block contains its start)."""
        out = []
        for start, _ in ranges:
            record = self.containing(start)
            out.append(record.start if record else 0)
        return out

    def locked_by(self, state: UnitState, lock_id: int) -> list[BlockRecord]:
        """Return the blocks in a state held by one lock, e.g. a pending transfer's blocks."""
        return [b for b in self.blocks() if b.state == state and b.lock_id == lock_id]

    def blocks(self) -> Iterator[BlockRecord]:
        """Yield every block in serial order."""
        for start in self._starts:
            yield self._blocks[start]

    def holdings(self, account: int) -> list[BlockRecord]:
        """Return an account's blocks that are not cancelled."""
        return [b for b in self.blocks() if b.account == account and b.state != UnitState.CANCELLED]

    def _insert(self, record: BlockRecord) -> None:
        bisect.insort(self._starts, record.start)
        self._blocks[record.start] = record

    def _isolate(self, start: int, end: int) -> BlockRecord:
        record = self.containing(start)
        if record is None or record.end < end:
            raise ValueError(
                f"event range [{start}, {end}] is not inside a known block; "
                "replay must start from the registry's deployment block"
            )
        if record.start < start:
            tail = BlockRecord(
                start,
                record.end,
                record.account,
                record.state,
                record.lock_id,
                record.issuance,
                record.labels,
            )
            record.end = start - 1
            self._insert(tail)
            record = tail
        if end < record.end:
            after = BlockRecord(
                end + 1,
                record.end,
                record.account,
                record.state,
                record.lock_id,
                record.issuance,
                record.labels,
            )
            record.end = end
            self._insert(after)
        return record
