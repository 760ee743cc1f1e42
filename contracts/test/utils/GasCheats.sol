// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {CHEATS_ADDRESS} from "./Cheats.sol";

/// @dev Cheatcodes the gas benchmark needs beyond Cheats.sol (which the unit-test author owns).
interface GasCheats {
    /// @dev forge's record of the last call's gas, seen from inside the callee's frame.
    struct Gas {
        uint64 gasLimit;
        uint64 gasTotalUsed;
        uint64 gasMemoryUsed;
        int64 gasRefunded;
        uint64 gasRemaining;
    }

    function lastCallGas() external view returns (Gas memory gas);
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function snapshotGasLastCall(string calldata group, string calldata name)
        external
        returns (uint256 gasUsed);
}

GasCheats constant GAS_CHEATS = GasCheats(CHEATS_ADDRESS);
