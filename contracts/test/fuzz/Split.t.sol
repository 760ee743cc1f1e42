// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats} from "../utils/Cheats.sol";
import {LedgerAssertions} from "../utils/LedgerAssertions.sol";
import {IRegistryBase} from "../../src/interfaces/IRegistryBase.sol";
import {
    ApprovalPolicy,
    UnitState,
    Range,
    PendingTransfer,
    InitiateTransferRequest,
    CancelRequest,
    SetLabelRequest
} from "../../src/libraries/RegistryTypes.sol";

/// @notice Fuzz tests of block splitting: whatever the block size (up to 2^62 units) and whatever the
/// sub-range, an operation leaves the pieces before, inside and after the range as blocks that partition
/// the original exactly, with the right ends, holders, states, locks and copied labels, and conserves
/// the quantity.
contract SplitFuzzTest is LedgerAssertions {
    uint256 internal constant MAX_QUANTITY = 2 ** 62;
    /// @dev Units issued before the block under test, so that its serials start anywhere; with the
    /// block itself this stays below MAX_SERIAL.
    uint256 internal constant MAX_PREFIX = 2 ** 61;

    bytes32 internal constant BLOCK_CHANGED = keccak256("BlockChanged(uint64,uint64,uint64,uint8,uint64)");

    /// @dev Single policy; ar1 (primary) and ar2 may initiate and approve.
    uint64 internal seller;
    /// @dev Two-person policy; ar1 (primary) and ar2 may initiate and approve.
    uint64 internal pairSeller;
    /// @dev Single policy; ar3 only.
    uint64 internal buyer;
    uint8 internal green;
    uint8 internal blue;

    function setUp() public {
        setUpRegistry();
        seller = openStandardAccount(ApprovalPolicy.Single);
        pairSeller = openStandardAccount(ApprovalPolicy.TwoPerson);
        buyer = openBuyerAccount();
        green = defineLabel("green");
        blue = defineLabel("blue");
    }

    // ---------------------------------------------------------------------------------------------
    // One operation on a random sub-range of a random block
    // ---------------------------------------------------------------------------------------------

    function testFuzz_transfer_splitsBlock(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint8 shape,
        uint256 a,
        uint256 b
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(seller, prefixSeed, quantitySeed);
        (uint64 s, uint64 e) = _subRange(start, end, shape, a, b);

        vm.recordLogs();
        initiate(AR1_KEY, seller, buyer, range(s, e), hints(start));

        _assertBlockChangedLogged(vm.getRecordedLogs(), s, e, buyer, UnitState.Held, 0);
        assertBlocks(
            issuanceId,
            _split3(
                start,
                end,
                s,
                e,
                _piece(seller, UnitState.Held, 0, _bit(green)),
                _piece(buyer, UnitState.Held, 0, _bit(green))
            )
        );
        _assertConserved(issuanceId, start, end, UnitState.Held);
    }

    function testFuzz_initiate_twoPerson_splitsBlockIntoPending(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint8 shape,
        uint256 a,
        uint256 b
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(pairSeller, prefixSeed, quantitySeed);
        (uint64 s, uint64 e) = _subRange(start, end, shape, a, b);

        vm.recordLogs();
        uint64 id = initiate(AR1_KEY, pairSeller, buyer, range(s, e), hints(start));

        _assertBlockChangedLogged(vm.getRecordedLogs(), s, e, pairSeller, UnitState.Pending, id);
        assertBlocks(
            issuanceId,
            _split3(
                start,
                end,
                s,
                e,
                _piece(pairSeller, UnitState.Held, 0, _bit(green)),
                _piece(pairSeller, UnitState.Pending, id, _bit(green))
            )
        );
        uint256[STATE_COUNT] memory sums = sumByState(issuanceId);
        assertEq(sums[uint8(UnitState.Pending)], uint256(e) - s + 1, "pending quantity");
        assertEq(
            sums[uint8(UnitState.Held)] + sums[uint8(UnitState.Pending)],
            uint256(end) - start + 1,
            "conserved"
        );
        PendingTransfer memory record =
            PendingTransfer({fromAccount: pairSeller, toAccount: buyer, quantity: e - s + 1, initiator: ar1});
        assertTrue(registry.isTransferPending(id, record), "transfer record");
    }

    function testFuzz_approve_movesPendingPiece(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint8 shape,
        uint256 a,
        uint256 b
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(pairSeller, prefixSeed, quantitySeed);
        (uint64 s, uint64 e) = _subRange(start, end, shape, a, b);
        uint64 id = initiate(AR1_KEY, pairSeller, buyer, range(s, e), hints(start));

        vm.recordLogs();
        approve(AR2_KEY, id, hints(s));

        _assertBlockChangedLogged(vm.getRecordedLogs(), s, e, buyer, UnitState.Held, 0);
        assertBlocks(
            issuanceId,
            _split3(
                start,
                end,
                s,
                e,
                _piece(pairSeller, UnitState.Held, 0, _bit(green)),
                _piece(buyer, UnitState.Held, 0, _bit(green))
            )
        );
        _assertConserved(issuanceId, start, end, UnitState.Held);
    }

    function testFuzz_rescind_returnsPieceWithoutMerging(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint8 shape,
        uint256 a,
        uint256 b
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(pairSeller, prefixSeed, quantitySeed);
        (uint64 s, uint64 e) = _subRange(start, end, shape, a, b);
        uint64 id = initiate(AR1_KEY, pairSeller, buyer, range(s, e), hints(start));

        vm.recordLogs();
        rescind(AR1_KEY, id, hints(s));

        _assertBlockChangedLogged(vm.getRecordedLogs(), s, e, pairSeller, UnitState.Held, 0);
        // Blocks are never merged: the rescinded piece stays a block of its own.
        assertBlocks(
            issuanceId,
            _split3(
                start,
                end,
                s,
                e,
                _piece(pairSeller, UnitState.Held, 0, _bit(green)),
                _piece(pairSeller, UnitState.Held, 0, _bit(green))
            )
        );
        _assertConserved(issuanceId, start, end, UnitState.Held);
    }

    function testFuzz_cancel_splitsBlock(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint8 shape,
        uint256 a,
        uint256 b
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(seller, prefixSeed, quantitySeed);
        (uint64 s, uint64 e) = _subRange(start, end, shape, a, b);

        vm.recordLogs();
        uint64 id = cancelUnits(AR2_KEY, seller, range(s, e), hints(start));

        _assertBlockChangedLogged(vm.getRecordedLogs(), s, e, seller, UnitState.Cancelled, id);
        assertBlocks(
            issuanceId,
            _split3(
                start,
                end,
                s,
                e,
                _piece(seller, UnitState.Held, 0, _bit(green)),
                _piece(seller, UnitState.Cancelled, id, _bit(green))
            )
        );
        uint256[STATE_COUNT] memory sums = sumByState(issuanceId);
        assertEq(sums[uint8(UnitState.Cancelled)], uint256(e) - s + 1, "cancelled quantity");
        assertEq(
            sums[uint8(UnitState.Held)] + sums[uint8(UnitState.Cancelled)],
            uint256(end) - start + 1,
            "conserved"
        );
    }

    function testFuzz_setLabel_splitsBlock(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint8 shape,
        uint256 a,
        uint256 b,
        bool removeGreen
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(seller, prefixSeed, quantitySeed);
        (uint64 s, uint64 e) = _subRange(start, end, shape, a, b);

        // Either add a second label to the range, or take the block-wide one off it.
        uint8 labelId = removeGreen ? green : blue;
        uint256 inner = removeGreen ? 0 : _bit(green) | _bit(blue);
        setLabel(labelId, !removeGreen, range(s, e), hints(start));

        assertBlocks(
            issuanceId,
            _split3(
                start,
                end,
                s,
                e,
                _piece(seller, UnitState.Held, 0, _bit(green)),
                _piece(seller, UnitState.Held, 0, inner)
            )
        );
        _assertConserved(issuanceId, start, end, UnitState.Held);
    }

    /// @dev Two disjoint ranges of one block in one request: the second hint must name the block that
    /// contains it after the first range has split the original.
    function testFuzz_transfer_twoRangesOfOneBlock(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint256[4] memory cuts,
        bool reversed
    ) public {
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(seller, prefixSeed, quantitySeed);
        vm.assume(end - start >= 1);
        // Four cut points s1 <= e1 < s2 <= e2 inside [start, end].
        uint64 e1 = uint64(bound(cuts[1], start, end - 1));
        uint64 s1 = uint64(bound(cuts[0], start, e1));
        uint64 s2 = uint64(bound(cuts[2], e1 + 1, end));
        uint64 e2 = uint64(bound(cuts[3], s2, end));

        Range[] memory ranges = new Range[](2);
        uint64[] memory starts = new uint64[](2);
        if (reversed) {
            // The later range first: the earlier one stays in the block that still starts at `start`.
            (ranges[0], ranges[1]) = (Range(s2, e2), Range(s1, e1));
            (starts[0], starts[1]) = (start, start);
        } else {
            // The earlier range first: the later one is then in the block that starts at e1 + 1.
            (ranges[0], ranges[1]) = (Range(s1, e1), Range(s2, e2));
            (starts[0], starts[1]) = (start, e1 + 1);
        }
        initiate(AR1_KEY, seller, buyer, ranges, starts);

        ExpectedBlock[] memory model = new ExpectedBlock[](1);
        model[0] = ExpectedBlock(start, end, seller, UnitState.Held, 0, _bit(green));
        model = _apply(model, 0, s1, e1, _piece(buyer, UnitState.Held, 0, _bit(green)));
        model = _apply(model, _indexOf(model, s2), s2, e2, _piece(buyer, UnitState.Held, 0, _bit(green)));
        assertBlocks(issuanceId, model);
        _assertConserved(issuanceId, start, end, UnitState.Held);
    }

    /// @dev The hint is checked in full: a range that runs past the end of the hinted block is refused.
    function testFuzz_transfer_RevertWhen_RangeCrossesBlockEnd(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint256 cut,
        uint256 overshoot
    ) public {
        (, uint64 start, uint64 end) = _issueLabelled(seller, prefixSeed, quantitySeed);
        vm.assume(end > start);
        uint64 mid = uint64(bound(cut, start, end - 1));
        cancelUnits(AR1_KEY, seller, range(mid + 1, end), hints(start));
        uint64 e = uint64(bound(overshoot, mid + 1, end));

        InitiateTransferRequest memory r = transferRequest(ar1, seller, buyer, range(start, e));
        bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashInitiateTransfer(r)));
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, start, mid, start, e));
        vm.prank(relayer);
        registry.initiateTransfer(r, sig, hints(start));
    }

    // ---------------------------------------------------------------------------------------------
    // Sequences of splits against a reference model
    // ---------------------------------------------------------------------------------------------

    /// @dev Up to 12 random operations (transfer either way, cancel, label on, label off) on random
    /// sub-ranges of random pieces of one block, compared after each step with a model of the pieces.
    /// Operations on a cancelled piece must revert with UnitsAlreadyCancelled and change nothing.
    function testFuzz_splitSequence_matchesModel(
        uint256 prefixSeed,
        uint256 quantitySeed,
        uint256[12] memory ops
    ) public {
        // Half the runs use tiny blocks, so that pieces shrink to single units and edges collide.
        if (quantitySeed % 2 == 0) quantitySeed = bound(quantitySeed >> 1, 1, 16);
        (uint64 issuanceId, uint64 start, uint64 end) = _issueLabelled(seller, prefixSeed, quantitySeed);

        ExpectedBlock[] memory model = new ExpectedBlock[](1);
        model[0] = ExpectedBlock(start, end, seller, UnitState.Held, 0, _bit(green));

        for (uint256 i; i < ops.length; ++i) {
            model = _step(model, ops[i]);
            assertBlocks(issuanceId, model);
            uint256[STATE_COUNT] memory sums = sumByState(issuanceId);
            assertEq(
                sums[uint8(UnitState.Held)] + sums[uint8(UnitState.Cancelled)],
                uint256(end) - start + 1,
                "conserved"
            );
        }
    }

    function _step(ExpectedBlock[] memory model, uint256 seed) internal returns (ExpectedBlock[] memory) {
        uint256 index = uint256(keccak256(abi.encode(seed, "piece"))) % model.length;
        ExpectedBlock memory piece = model[index];
        (uint64 s, uint64 e) = _subRange(
            piece.start,
            piece.end,
            // forge-lint: disable-next-line(unsafe-typecast)
            uint8(seed >> 8), // any byte of the seed picks the shape
            uint256(keccak256(abi.encode(seed, "a"))),
            uint256(keccak256(abi.encode(seed, "b")))
        );
        uint256 kind = seed % 4;
        uint256 key = piece.account == seller ? AR1_KEY : AR3_KEY;

        if (piece.state == UnitState.Cancelled) {
            _expectRevertOn(kind, key, piece, s, e);
            return model;
        }
        if (kind == 0) {
            uint64 to = piece.account == seller ? buyer : seller;
            initiate(key, piece.account, to, range(s, e), hints(piece.start));
            return _apply(model, index, s, e, _piece(to, UnitState.Held, 0, piece.labels));
        }
        if (kind == 1) {
            uint64 id = cancelUnits(key, piece.account, range(s, e), hints(piece.start));
            return _apply(model, index, s, e, _piece(piece.account, UnitState.Cancelled, id, piece.labels));
        }
        uint8 labelId = (seed >> 16) % 2 == 0 ? green : blue;
        bool applied = kind == 2;
        setLabel(labelId, applied, range(s, e), hints(piece.start));
        uint256 labels = applied ? piece.labels | _bit(labelId) : piece.labels & ~_bit(labelId);
        return _apply(model, index, s, e, _piece(piece.account, piece.state, piece.lockId, labels));
    }

    /// @dev Every operation on a cancelled piece is refused with UnitsAlreadyCancelled.
    function _expectRevertOn(uint256 kind, uint256 key, ExpectedBlock memory piece, uint64 s, uint64 e)
        internal
    {
        bytes memory err = abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, s, e);
        if (kind == 0) {
            uint64 to = piece.account == seller ? buyer : seller;
            InitiateTransferRequest memory r = transferRequest(vm.addr(key), piece.account, to, range(s, e));
            bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(r)));
            vm.expectRevert(err);
            vm.prank(relayer);
            registry.initiateTransfer(r, sig, hints(piece.start));
        } else if (kind == 1) {
            CancelRequest memory r = cancelRequest(vm.addr(key), piece.account, range(s, e));
            bytes memory sig = signDigest(key, digestOf(this.hashCancel(r)));
            vm.expectRevert(err);
            vm.prank(relayer);
            registry.cancel(r, sig, hints(piece.start));
        } else {
            SetLabelRequest memory r = labelRequest(green, kind == 2, range(s, e));
            bytes memory sig = signDigest(LABELLER_KEY, digestOf(this.hashSetLabel(r)));
            vm.expectRevert(err);
            vm.prank(relayer);
            registry.setLabel(r, sig, hints(piece.start));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @dev Issues a block of 1..2^62 units to `account` after 0..2^61 units of another issuance, and
    /// labels it green, so that every split has a label to copy.
    function _issueLabelled(uint64 account, uint256 prefixSeed, uint256 quantitySeed)
        internal
        returns (uint64 issuanceId, uint64 start, uint64 end)
    {
        uint64 prefix = uint64(bound(prefixSeed, 0, MAX_PREFIX));
        if (prefix != 0) issueTo(buyer, prefix);
        (start, end) = issueTo(account, uint64(bound(quantitySeed, 1, MAX_QUANTITY)));
        issuanceId = blockAt(start).issuance;
        setLabel(green, true, range(start, end), hints(start));
    }

    /// @dev A sub-range of `[start, end]`: shape 0 is the whole block, 1 a prefix, 2 a suffix, 3 any
    /// range. The first three make the edge cases as likely as the general one.
    function _subRange(uint64 start, uint64 end, uint8 shape, uint256 a, uint256 b)
        internal
        pure
        returns (uint64 s, uint64 e)
    {
        shape %= 4;
        s = shape == 0 || shape == 1 ? start : uint64(bound(a, start, end));
        e = shape == 0 || shape == 2 ? end : uint64(bound(b, s, end));
    }

    function _bit(uint8 labelId) internal pure returns (uint256) {
        return uint256(1) << labelId;
    }

    /// @dev A block's fields except its ends, which `_split3` and `_apply` fill in.
    function _piece(uint64 account, UnitState state, uint64 lockId, uint256 labels)
        internal
        pure
        returns (ExpectedBlock memory)
    {
        return ExpectedBlock(0, 0, account, state, lockId, labels);
    }

    /// @dev The blocks `[start, s-1]` (outer), `[s, e]` (inner), `[e+1, end]` (outer), omitting empty ones.
    function _split3(
        uint64 start,
        uint64 end,
        uint64 s,
        uint64 e,
        ExpectedBlock memory outer,
        ExpectedBlock memory inner
    ) internal pure returns (ExpectedBlock[] memory pieces) {
        ExpectedBlock[] memory model = new ExpectedBlock[](1);
        model[0] = ExpectedBlock(start, end, outer.account, outer.state, outer.lockId, outer.labels);
        return _apply(model, 0, s, e, inner);
    }

    /// @dev The model after `[s, e]`, which lies inside piece `index`, becomes `inner`: the piece splits
    /// into up to three, the outer parts keeping the piece's fields.
    function _apply(
        ExpectedBlock[] memory model,
        uint256 index,
        uint64 s,
        uint64 e,
        ExpectedBlock memory inner
    ) internal pure returns (ExpectedBlock[] memory next) {
        ExpectedBlock memory piece = model[index];
        bool before = s > piece.start;
        bool after_ = e < piece.end;
        uint256 extra = (before ? 1 : 0) + (after_ ? 1 : 0);
        next = new ExpectedBlock[](model.length + extra);
        uint256 j;
        for (uint256 i; i < model.length; ++i) {
            if (i != index) {
                next[j++] = model[i];
                continue;
            }
            if (before) {
                next[j++] =
                    ExpectedBlock(piece.start, s - 1, piece.account, piece.state, piece.lockId, piece.labels);
            }
            next[j++] = ExpectedBlock(s, e, inner.account, inner.state, inner.lockId, inner.labels);
            if (after_) {
                next[j++] =
                    ExpectedBlock(e + 1, piece.end, piece.account, piece.state, piece.lockId, piece.labels);
            }
        }
    }

    function _indexOf(ExpectedBlock[] memory model, uint64 serial) internal pure returns (uint256) {
        for (uint256 i; i < model.length; ++i) {
            if (model[i].start <= serial && serial <= model[i].end) return i;
        }
        revert("serial not in model");
    }

    /// @dev The issuance's units are all in `state`, and add up to its size.
    function _assertConserved(uint64 issuanceId, uint64 start, uint64 end, UnitState state) internal view {
        uint256[STATE_COUNT] memory sums = sumByState(issuanceId);
        assertEq(sums[uint8(state)], uint256(end) - start + 1, "quantity conserved");
    }

    /// @dev Exactly one BlockChanged was logged, for `[s, e]` with the given holder, state and lock.
    function _assertBlockChangedLogged(
        Cheats.Log[] memory logs,
        uint64 s,
        uint64 e,
        uint64 account,
        UnitState state,
        uint64 lockId
    ) internal view {
        uint256 found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(registry) || logs[i].topics[0] != BLOCK_CHANGED) continue;
            ++found;
            (uint64 end, UnitState st, uint64 lock) = abi.decode(logs[i].data, (uint64, UnitState, uint64));
            assertEq(uint256(logs[i].topics[1]), s, "event: start");
            assertEq(uint256(logs[i].topics[2]), account, "event: account");
            assertEq(end, e, "event: end");
            assertEq(uint256(st), uint256(state), "event: state");
            assertEq(lock, lockId, "event: lockId");
        }
        assertEq(found, 1, "one BlockChanged");
    }
}
