"""Block replay from events: splits at the contract's boundaries, hints, locks and labels."""

from __future__ import annotations

from typing import Any

import pytest

from node.contracts import UnitState
from node.ledger import BlockIndex, DecodedEvent


def event(name: str, **args: Any) -> DecodedEvent:
    return DecodedEvent(name, args, block_number=1, block_hash="0x", log_index=0, tx_hash="0x")


def issued(index: BlockIndex, issuance: int, start: int, end: int, account: int) -> None:
    index.apply(event("UnitsIssued", issuanceId=issuance, accountId=account, start=start, end=end))


def shape(index: BlockIndex) -> list[tuple[int, int, int, UnitState, int]]:
    return [(b.start, b.end, b.account, b.state, b.lock_id) for b in index.blocks()]


def test_a_sub_range_change_splits_into_three() -> None:
    index = BlockIndex()
    issued(index, 1, 1, 100, account=7)
    index.apply(event("BlockChanged", start=10, end=19, accountId=7, state=2, lockId=5))
    assert shape(index) == [
        (1, 9, 7, UnitState.HELD, 0),
        (10, 19, 7, UnitState.PENDING, 5),
        (20, 100, 7, UnitState.HELD, 0),
    ]
    assert [b.start for b in index.locked_by(UnitState.PENDING, 5)] == [10]
    assert index.hints_for([(15, 16), (50, 60), (1, 1), (101, 101)]) == [10, 20, 1, 0]


def test_labels_are_copied_to_every_piece_of_a_split() -> None:
    index = BlockIndex()
    issued(index, 1, 1, 10, account=1)
    index.apply(event("LabelChanged", start=1, end=10, labelId=3, applied=True))
    index.apply(event("BlockChanged", start=4, end=6, accountId=2, state=1, lockId=0))
    assert [b.labels for b in index.blocks()] == [8, 8, 8]
    index.apply(event("LabelChanged", start=5, end=5, labelId=3, applied=False))
    assert [(b.start, b.labels) for b in index.blocks()] == [(1, 8), (4, 8), (5, 0), (6, 8), (7, 8)]


def test_holdings_exclude_cancelled_units() -> None:
    index = BlockIndex()
    issued(index, 1, 1, 10, account=1)
    index.apply(event("BlockChanged", start=1, end=3, accountId=1, state=6, lockId=9))
    assert sum(b.quantity for b in index.holdings(1)) == 7


def test_an_event_outside_known_blocks_is_an_error() -> None:
    index = BlockIndex()
    issued(index, 1, 1, 10, account=1)
    with pytest.raises(ValueError, match="not inside a known block"):
        index.apply(event("BlockChanged", start=5, end=11, accountId=1, state=1, lockId=0))
