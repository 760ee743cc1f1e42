// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryFixture} from "../utils/RegistryFixture.sol";
import {ApprovalPolicy, UnitState, UnitBlock} from "../../src/libraries/RegistryTypes.sol";

contract SmokeTest is RegistryFixture {
    function setUp() public {
        setUpRegistry();
    }

    function test_issueTransferApprove() public {
        uint64 seller = openStandardAccount(ApprovalPolicy.TwoPerson);
        uint64 buyer = openBuyerAccount();
        (uint64 start, uint64 end) = issueTo(seller, 1000);
        assertEq(start, 1);
        assertEq(end, 1000);
        uint64 id = initiate(AR1_KEY, seller, buyer, range(101, 200), hints(1));
        assertEq(uint256(blockAt(101).state), uint256(UnitState.Pending));
        approve(AR2_KEY, id, hints(101));
        UnitBlock memory b = blockAt(101);
        assertEq(b.account, buyer);
        assertEq(b.end, 200);
        assertEq(blockAt(1).end, 100);
        assertEq(blockAt(201).end, 1000);
    }
}
