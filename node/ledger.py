"""Registry events decoded from logs, and the unit-block map replayed from them.

The replay needs nothing but the chain's logs, which makes it the reference the relayer uses for
block hints and the auditor's starting point for recomputing holdings without the SQL mirror.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, NamedTuple

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.types import LogReceipt

from node.contracts import UnitState

__all__ = [
    "BlockIndex",
    "BlockMapError",
    "BlockRecord",
    "DecodedEvent",
    "EventDecoder",
    "RawLog",
]

# A log exactly as eth_getLogs returns it in JSON: hex strings, no web3 formatting.
RawLog = Mapping[str, Any]


class DecodedEvent(NamedTuple):
    """One registry event with its position in the chain.

    NOTE: a named tuple rather than a frozen dataclass: readers build one per log, and a frozen
    dataclass's __init__ cost half of the whole hex decoding of a log.
    """

    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str


_Entry = tuple[str, list[tuple[str, str]], list[tuple[str, str, bool]]]


class EventDecoder:
    """Decode registry logs through a precomputed topic0 -> decoder map (raw eth_abi, no web3
    contract-event machinery, which is far slower per log)."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._events: dict[bytes, _Entry] = {}
        # For `decode_raw`: topic0 as lower-case hex -> a decoder of the raw log.
        self._by_hex: dict[str, Callable[[RawLog], DecodedEvent]] = {}
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
            entry = (item["name"], indexed, plain)
            self._events[topic] = entry
            self._by_hex["0x" + topic.hex()] = _hex_decoder(entry) or partial(_abi_decoder, entry)

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
        return DecodedEvent(
            name=entry[0],
            args=_abi_args(entry, [bytes(t) for t in topics[1:]], bytes(log["data"])),
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

    def decode_raw(self, log: RawLog) -> DecodedEvent | None:
        """Decode one log as eth_getLogs returns it in JSON (see `ChainClient.iter_raw_logs`).

        The result equals `decode` of the same log formatted by web3. Events whose fields are
        all static (every hot event: BlockChanged, LabelChanged, RequestExecuted, transfers) are
        read straight from the 32-byte hex words, many times faster than web3's per-log
        formatting followed by eth_abi; events with strings or bytes go through eth_abi.
        """
        topics: list[str] = log["topics"]
        if not topics:
            return None
        decode = self._by_hex.get(topics[0].lower())
        return None if decode is None else decode(log)

    def decode_all_raw(self, logs: Iterable[RawLog]) -> Iterator[DecodedEvent]:
        """Decode raw logs, skipping any the ABI does not describe."""
        for log in logs:
            event = self.decode_raw(log)
            if event is not None:
                yield event


def _abi_args(entry: _Entry, topics: list[bytes], data: bytes) -> dict[str, Any]:
    """Decode an event's arguments with eth_abi: indexed ones from topics[1:], others from data."""
    _, indexed, plain = entry
    args: dict[str, Any] = {}
    for (arg, typ), topic in zip(indexed, topics, strict=False):
        args[arg] = _plain(typ, abi_decode([typ], topic)[0])
    values = abi_decode([t for _, t, _ in plain], data)
    for (arg, typ, is_text), value in zip(plain, values, strict=True):
        args[arg] = value.decode("utf-8", errors="replace") if is_text else _plain(typ, value)
    return args


def _abi_decoder(entry: _Entry, log: RawLog) -> DecodedEvent:
    """Decode a raw log with eth_abi: for events with arrays or tuples."""
    topics: list[str] = log["topics"]
    return DecodedEvent(
        name=entry[0],
        args=_abi_args(
            entry, [bytes.fromhex(t[2:]) for t in topics[1:]], bytes.fromhex(log["data"][2:])
        ),
        block_number=int(log["blockNumber"], 16),
        block_hash=log["blockHash"].lower(),
        log_index=int(log["logIndex"], 16),
        tx_hash=log["transactionHash"].lower(),
    )


def _plain(typ: str, value: Any) -> Any:
    if typ.endswith("]"):
        # Arrays (address[] administrators, bytes8[] parties): each item as its own type says,
        # as a list, which is also what the item reads back as from a stored event's JSON.
        return [_plain(typ[: typ.rindex("[")], item) for item in value]
    if typ == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


@lru_cache(maxsize=65_536)
def _checksum(word: str) -> str:
    # Registries see the same few thousand representatives over and over; keccak per log is not.
    return to_checksum_address("0x" + word[24:])


def _signed(word: str, bits: int) -> int:
    value = int(word, 16) & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def _dynamic(data: str, at: int) -> str:
    """Return the hex content of the `bytes`/`string` whose offset word is at hex index `at`.

    `data` is the log's data as 0x-prefixed hex.
    """
    start = 2 + 2 * int(data[at : at + 64], 16)
    size = 2 * int(data[start : start + 64], 16)
    if start + 64 + size > len(data):
        raise ValueError(f"dynamic value at byte {start // 2 - 1} runs past the end of the data")
    return data[start + 64 : start + 64 + size]


def _text(content: str) -> str:
    return bytes.fromhex(content).decode("utf-8", errors="replace")


def _read_expression(typ: str, word: str, at: int | None) -> str | None:
    """Return Python source reading one ABI value from a hex word, or None if unsupported.

    `word` is the source of the value's 32-byte word (lower-case hex, no prefix); `at` its hex
    index in the data (None for topics, where dynamic values are hashes, not supported here).
    """
    if typ == "address":
        return f"_checksum({word})"
    if typ == "bool":
        return f"int({word}, 16) != 0"
    if typ == "uint" or (typ.startswith("uint") and typ[4:].isdigit()):
        return f"int({word}, 16)"
    if typ == "int" or (typ.startswith("int") and typ[3:].isdigit()):
        return f"_signed({word}, {int(typ[3:] or 256)})"
    if typ.startswith("bytes") and typ[5:].isdigit():
        return f'"0x" + {word}[: {2 * int(typ[5:])}]'
    if typ in ("bytes", "string") and at is not None:
        content = f"_dynamic(data, {at})"
        return f"_text({content})" if typ == "string" else f'"0x" + {content}'
    return None  # arrays, tuples, dynamic indexed values


def _hex_decoder(entry: _Entry) -> Callable[[RawLog], DecodedEvent] | None:
    """Compile a decoder of one event's raw logs, or None if it has arrays or tuples.

    NOTE: the decoder is generated source, as `collections.namedtuple` and `dataclasses` do: one
    dict display per event, with no loop over fields, is what makes hex decoding several times
    faster than eth_abi. Strings are decoded as bytes, then leniently as UTF-8 (`_abi_args`).
    """
    name, indexed, plain = entry
    items = []
    for i, (arg, typ) in enumerate(indexed):
        source = _read_expression(typ, f"topics[{i + 1}][2:].lower()", None)
        if source is None:
            return None
        items.append(f"{arg!r}: {source}")
    for i, (arg, typ, is_text) in enumerate(plain):
        at = 2 + 64 * i
        source = _read_expression("string" if is_text else typ, f"data[{at} : {at + 64}]", at)
        if source is None:
            return None
        items.append(f"{arg!r}: {source}")
    size = 2 + 64 * len(plain)
    source = (
        "def decode(log):\n"
        "    topics = log['topics']\n"
        "    data = log['data'].lower()\n"
        f"    if len(topics) != {len(indexed) + 1} or len(data) < {size}:\n"
        "        raise ValueError(_SHAPE.format(len(topics) - 1, len(data) // 2 - 1))\n"
        "    return _Event(\n"
        "        _NAME,\n"
        f"        {{{', '.join(items)}}},\n"
        "        int(log['blockNumber'], 16),\n"
        "        log['blockHash'].lower(),\n"
        "        int(log['logIndex'], 16),\n"
        "        log['transactionHash'].lower(),\n"
        "    )\n"
    )
    namespace: dict[str, Any] = {
        "_Event": DecodedEvent,
        "_NAME": name,
        "_checksum": _checksum,
        "_signed": _signed,
        "_dynamic": _dynamic,
        "_text": _text,
        "_SHAPE": f"expected {len(indexed)} indexed topics and at least {size // 2 - 1} data "
        "bytes, got {} and {}",
    }
    exec(source, namespace)  # the source is built above from the ABI's types and names only
    decode: Callable[[RawLog], DecodedEvent] = namespace["decode"]
    return decode


@dataclass(slots=True)
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

    def copy_from(self, start: int) -> BlockRecord:
        """Return a copy of this block's values starting at `start` (one piece of a split)."""
        return BlockRecord(
            start, self.end, self.account, self.state, self.lock_id, self.issuance, self.labels
        )


# A state by its number, as events carry it: no enum construction per event.
_STATE = {int(state): state for state in UnitState}


class BlockMapError(ValueError):
    """An event names serials that no known block holds: the replay missed events."""


class BlockIndex:
    """The current unit blocks: the one block map, split exactly as the contract splits them.

    Every split the contract makes shows up as an event range, so splitting here at the same
    boundaries keeps block starts identical to the chain's, which is what block hints need. The
    indexer's reducer drives it through `issue`, `change` and `label` (over the whole registry in
    the audit, over the blocks one batch touches in the mirror); `apply` feeds it decoded events.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._blocks: dict[int, BlockRecord] = {}

    def apply(self, event: DecodedEvent) -> None:
        """Apply one event; events that do not touch blocks are ignored."""
        a = event.args
        if event.name == "UnitsIssued":
            self.issue(a["start"], a["end"], a["accountId"], a["issuanceId"])
        elif event.name == "BlockChanged":
            self.change(a["start"], a["end"], a["accountId"], a["state"], a["lockId"])
        elif event.name == "LabelChanged":
            self.label(a["start"], a["end"], a["labelId"], a["applied"])

    def apply_all(self, events: Iterable[DecodedEvent]) -> None:
        """Apply events in chain order."""
        for event in events:
            self.apply(event)

    def issue(self, start: int, end: int, account: int, issuance: int) -> BlockRecord:
        """Add a newly issued block, held by `account`."""
        record = BlockRecord(start, end, account, UnitState.HELD, 0, issuance)
        self.add(record)
        return record

    def change(self, start: int, end: int, account: int, state: int, lock_id: int) -> BlockRecord:
        """Give `[start, end]` a new holder, state and lock, splitting its block."""
        record = self._isolate(start, end)
        record.account = account
        record.state = _STATE[state]
        record.lock_id = lock_id
        return record

    def label(self, start: int, end: int, label_id: int, applied: bool) -> BlockRecord:
        """Set or clear one label bit on `[start, end]`, splitting its block."""
        record = self._isolate(start, end)
        bit = 1 << label_id
        record.labels = record.labels | bit if applied else record.labels & ~bit
        return record

    def add(self, record: BlockRecord) -> None:
        """Add a block as it is (a new issuance, or one loaded from storage)."""
        bisect.insort(self._starts, record.start)
        self._blocks[record.start] = record

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

    def clear(self) -> None:
        """Forget every block."""
        self._starts.clear()
        self._blocks.clear()

    def missing(self, start: int, end: int) -> Exception:
        """Return the error for a range no known block holds (subclasses say what to do)."""
        return BlockMapError(
            f"event range [{start}, {end}] is not inside a known block; "
            "replay must start from the registry's deployment block"
        )

    def _isolate(self, start: int, end: int) -> BlockRecord:
        record = self.containing(start)
        if record is None or record.end < end:
            raise self.missing(start, end)
        if record.start < start:
            tail = record.copy_from(start)
            record.end = start - 1
            self.add(tail)
            record = tail
        if end < record.end:
            after = record.copy_from(end + 1)
            record.end = end
            self.add(after)
        return record
