// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A plain OpenZeppelin ERC-20, the baseline the registry's transfer gas is compared with.
contract BaselineToken is ERC20 {
    constructor(address holder, uint256 supply) ERC20("Baseline", "BASE") {
        _mint(holder, supply);
    }
}
