// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {CancellationPurpose} from "../../../src/libraries/RegistryTypes.sol";
import {FirstTransferDefinition, ItmoIdentifier} from "../../../src/libraries/Article6Types.sol";

/// @notice itmoIdentifier: the unique identifier components of an ITMO block from chain state alone:
/// cooperative approach, originating registry, first transferring Party, serials and vintage, whatever
/// state the block is in.
contract ItmoIdentifierTest is Article6Test {
    uint64 internal auth;

    function setUp() public override {
        super.setUp();
        auth = authorize(1, 100, 1, FirstTransferDefinition.AtUseOrCancellation, BOTH);
    }

    function _assertIdentifier(uint64 start, uint64 end, bool firstTransferred) internal view {
        ItmoIdentifier memory id = a6.itmoIdentifier(start);
        assertEq(id.approachId, APPROACH, "approach");
        assertEq(bytes32(id.originRegistry), bytes32(bytes8("AU")), "originating registry");
        assertEq(bytes32(id.firstTransferringParty), bytes32(AU), "first transferring Party");
        assertEq(id.vintage, 2024, "vintage");
        assertEq(id.start, start, "start");
        assertEq(id.end, end, "end");
        assertEq(id.authorizationId, auth, "authorization");
        assertEq(id.firstTransferred, firstTransferred, "first transferred");
    }

    function test_WhenHeld_AnswersFromTheLock() public view {
        _assertIdentifier(1, 100, false);
    }

    function test_WhenPending_AnswersFromTheTransfer() public {
        transferItmos(AR1_KEY, seller, chAccount, auth, 1, 10, 1);
        _assertIdentifier(1, 10, false);
    }

    function test_WhenTransferredAbroad_FirstTransferringPartyIsStillTheAuthorizingParty() public {
        uint64 transferId = transferItmos(AR1_KEY, seller, chAccount, auth, 1, 10, 1);
        decideItmo(AR2_KEY, transferId, true, hints(1));
        _assertIdentifier(1, 10, true);
    }

    function test_WhenCancelled_AnswersFromTheCancellation() public {
        cancelItmos(AR1_KEY, seller, auth, 11, 20, 1, CancellationPurpose.Oimp);
        _assertIdentifier(11, 20, true);
    }

    function test_RevertWhen_BlockNotAuthorized() public {
        vm.expectRevert(abi.encodeWithSelector(IArticle6Events.NotItmoBlock.selector, 101));
        a6.itmoIdentifier(101);
    }

    function test_RevertWhen_NoBlockStartsThere() public {
        vm.expectRevert(abi.encodeWithSelector(IArticle6Events.NotItmoBlock.selector, 50));
        a6.itmoIdentifier(50);
    }

    function test_RevertWhen_CancelledByTheCore() public {
        cancelUnits(AR1_KEY, seller, range(101, 110), hints(101));
        vm.expectRevert(abi.encodeWithSelector(IArticle6Events.NotItmoBlock.selector, 101));
        a6.itmoIdentifier(101);
    }

    function test_RevertWhen_PendingInACoreTransfer() public {
        initiate(AR1_KEY, seller, buyer, range(101, 110), hints(101));
        vm.expectRevert(abi.encodeWithSelector(IArticle6Events.NotItmoBlock.selector, 101));
        a6.itmoIdentifier(101);
    }
}
