"""The unordered nonces `prepare` gives requests (decision D33).

A signer's requests take consecutive bits of its nonce bitmap words. The contract sets a bit when
a request is applied and never clears it, so only a word's first request writes a zero storage
slot; the other 255 rewrite a non-zero one (about 17,000 gas less each than a fresh keyed lane).
Bits are used in any order, so a prepared request that is never submitted blocks nothing.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.chainview import UNORDERED_NONCE, ChainView
from api.models import NonceCursor
from api.problems import Problem

__all__ = ["claim_nonce"]

_CURSORS = NonceCursor.__table__  # type: ignore[attr-defined]
_ATTEMPTS = 20


def claim_nonce(conn: Connection, chain: ChainView, signer: str) -> int:
    """Return an unordered nonce of `signer` that no other prepare has been given.

    The signer's cursor row moves with a compare-and-set, so concurrent prepares (threads or API
    processes sharing the database) each get a sequence of their own. Bits the chain already shows
    as used (a client that signs its own unordered nonces, or a cursor lost with its database) are
    skipped, reading the bitmap once per word.

    NOTE: the claim commits on the caller's own connection (ending its read-only transaction)
    rather than on a second one from the pool: a prepare holding one connection while it waits for
    another would exhaust the pool under many concurrent prepares.
    """
    signer = signer.lower()
    for _ in range(_ATTEMPTS):
        if conn.in_transaction():
            conn.commit()
        current = conn.execute(
            select(_CURSORS.c.next_sequence).where(_CURSORS.c.signer == signer)
        ).scalar()
        start = 0 if current is None else int(current)
        sequence = _first_unused(chain, signer, start)
        try:
            if current is None:
                conn.execute(insert(_CURSORS).values(signer=signer, next_sequence=sequence + 1))
            else:
                moved = conn.execute(
                    update(_CURSORS)
                    .where(_CURSORS.c.signer == signer, _CURSORS.c.next_sequence == start)
                    .values(next_sequence=sequence + 1)
                ).rowcount
                if moved != 1:
                    conn.rollback()
                    continue  # another prepare took this sequence first
            conn.commit()
        except IntegrityError:
            conn.rollback()
            continue  # another prepare created the signer's cursor first
        return UNORDERED_NONCE | sequence
    raise RuntimeError(f"Could not claim a nonce for {signer}: too much contention.")


# (signer, word) -> (bitmap, when read). NOTE: every sequence below a signer's cursor was handed
# out by a prepare, so a bit above it is set only by a client that signs its own unordered
# nonces; reading each word once a while (not once per prepare) keeps eth_call off the hot path,
# and the contract still refuses a used nonce.
_BITMAPS: dict[tuple[str, int], tuple[int, float]] = {}
_BITMAP_TTL = 30.0


def _bitmap(chain: ChainView, signer: str, word: int) -> int:
    now = time.monotonic()
    cached = _BITMAPS.get((signer, word))
    if cached is not None and now - cached[1] < _BITMAP_TTL:
        return cached[0]
    bits = chain.nonce_bitmap(signer, word)
    if len(_BITMAPS) > 100_000:
        _BITMAPS.clear()
    _BITMAPS[(signer, word)] = (bits, now)
    return bits


def _first_unused(chain: ChainView, signer: str, sequence: int) -> int:
    """Return the first sequence at or after `sequence` whose bit the chain shows unused."""
    word = -1
    bits = 0
    while True:
        if sequence >> 8 != word:
            word = sequence >> 8
            try:
                bits = _bitmap(chain, signer, (UNORDERED_NONCE | sequence) >> 8)
            except Problem:
                return sequence  # the chain is away: the cursor alone keeps prepares apart
        if not (bits >> (sequence & 0xFF)) & 1:
            return sequence
        sequence += 1
