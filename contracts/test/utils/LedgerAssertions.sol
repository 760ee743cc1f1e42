// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryFixture} from "./RegistryFixture.sol";
import {UnitState, UnitBlock, Issuance} from "../../src/libraries/RegistryTypes.sol";

/// @notice Checks on the shape of the ledger: blocks, partitions of issuances, sums by state.
/// @dev Shared by the fuzz and invariant suites. Kept out of RegistryFixture, which the unit-test
/// author owns.
abstract contract LedgerAssertions is RegistryFixture {
    /// @dev Number of UnitState values, for per-state sums.
    uint256 internal constant STATE_COUNT = 7;

    /// @dev What a block should look like, for table-driven comparisons.
    struct ExpectedBlock {
        uint64 start;
        uint64 end;
        uint64 account;
        UnitState state;
        uint64 lockId;
        uint256 labels;
    }

    /// @notice Asserts that the block keyed by `expected.start` has exactly the expected fields and
    /// belongs to `issuanceId`.
    function assertBlock(ExpectedBlock memory expected, uint64 issuanceId, string memory what) internal view {
        (UnitBlock memory b, uint256 labels) = registry.getBlock(expected.start);
        assertEq(b.end, expected.end, string.concat(what, ": end"));
        assertEq(b.account, expected.account, string.concat(what, ": account"));
        assertEq(uint256(b.state), uint256(expected.state), string.concat(what, ": state"));
        assertEq(b.lockId, expected.lockId, string.concat(what, ": lockId"));
        assertEq(b.issuance, issuanceId, string.concat(what, ": issuance"));
        assertEq(labels, expected.labels, string.concat(what, ": labels"));
    }

    /// @notice Walks the blocks of an issuance from its first serial, following `end + 1`, and asserts
    /// that they cover exactly `[issuance.start, issuance.end]` with no gap or overlap, every block
    /// carrying the issuance id. Returns the block starts in serial order.
    function walkIssuance(uint64 issuanceId) internal view returns (uint64[] memory starts) {
        Issuance memory issuance = registry.getIssuance(issuanceId);
        assertTrue(issuance.start != 0, "walk: unknown issuance");
        // Count first, then collect: memory arrays cannot grow.
        uint256 count;
        uint64 cursor = issuance.start;
        while (true) {
            UnitBlock memory b = blockAt(cursor);
            assertTrue(b.state != UnitState.None, "partition: gap (no block starts at cursor)");
            assertEq(b.issuance, issuanceId, "partition: block of another issuance");
            assertTrue(b.end >= cursor, "partition: block ends before it starts");
            assertLe(b.end, issuance.end, "partition: block overruns the issuance");
            ++count;
            if (b.end == issuance.end) break;
            cursor = b.end + 1;
        }
        starts = new uint64[](count);
        cursor = issuance.start;
        for (uint256 i; i < count; ++i) {
            starts[i] = cursor;
            cursor = blockAt(cursor).end + 1;
        }
    }

    /// @notice Sums the units of an issuance by block state (index = uint8(UnitState)), checking the
    /// partition on the way.
    function sumByState(uint64 issuanceId) internal view returns (uint256[STATE_COUNT] memory sums) {
        uint64[] memory starts = walkIssuance(issuanceId);
        for (uint256 i; i < starts.length; ++i) {
            UnitBlock memory b = blockAt(starts[i]);
            sums[uint8(b.state)] += uint256(b.end) - starts[i] + 1;
        }
    }

    /// @notice Asserts that the issuance is partitioned into exactly the `expected` blocks, in order.
    function assertBlocks(uint64 issuanceId, ExpectedBlock[] memory expected) internal view {
        uint64[] memory starts = walkIssuance(issuanceId);
        assertEq(starts.length, expected.length, "block count");
        for (uint256 i; i < expected.length; ++i) {
            assertEq(starts[i], expected[i].start, "block start");
            assertBlock(expected[i], issuanceId, string.concat("block #", vm.toString(i)));
        }
    }
}
