// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    UnitState,
    TransferStatus,
    TransferDecisionRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {FirstTransferDefinition, Article6Action} from "../../../src/libraries/Article6Types.sol";

/// @notice approveItmoTransfer: the second representative completes a pending ITMO transfer, the units
/// arrive under their authorization, and the records of a transfer between Parties are made then.
/// @dev setUp: the seller (two-person, Australia) has [1, 100] authorized and a pending ITMO transfer of
/// [1, 40] to Switzerland initiated by ar1.
contract ApproveItmoTransferTest is Article6Test {
    uint64 internal auth;
    uint64 internal transferId;

    function setUp() public override {
        super.setUp();
        auth = authorize(1, 100, 1, FirstTransferDefinition.AtUseOrCancellation, BOTH);
        transferId = transferItmos(AR1_KEY, seller, chAccount, auth, 1, 40, 1);
    }

    function _prepare(uint256 key) internal view returns (TransferDecisionRequest memory r, bytes memory s) {
        r = decisionRequest(vm.addr(key), transferId);
        s = signItmoDecision(key, r, true);
    }

    function _expectRefused(uint256 key, bytes memory err, uint64[] memory starts) internal {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(key);
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitApproveItmo(r, s, starts);
        assertA6Unchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY);
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar2, role)
        );
        vm.prank(ar2);
        a6.approveItmoTransfer(r, s, hints(1));
    }

    /// @dev An approval signed for the core's ApproveTransfer type does not approve an ITMO transfer.
    function test_RevertWhen_SignedAsACoreApproval() public {
        TransferDecisionRequest memory r = decisionRequest(ar2, transferId);
        bytes memory s = signApprove(AR2_KEY, r);
        address recovered = recoverSigner(digestOf(this.hashItmoDecision(r, true)), s);
        bytes32 before = a6Digest();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar2, recovered));
        submitApproveItmo(r, s, hints(1));
        assertA6Unchanged(before);
    }

    function test_RevertWhen_TransferNotFound() public {
        TransferDecisionRequest memory r = decisionRequest(ar2, 999);
        bytes memory s = signItmoDecision(AR2_KEY, r, true);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.TransferNotFound.selector, 999));
        submitApproveItmo(r, s, hints(1));
    }

    /// @dev A core transfer's id is not an ITMO transfer.
    function test_RevertWhen_IdIsACoreTransfer() public {
        uint64 core = initiate(AR1_KEY, seller, buyer, range(101, 110), hints(101));
        TransferDecisionRequest memory r = decisionRequest(ar2, core);
        bytes memory s = signItmoDecision(AR2_KEY, r, true);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.TransferNotFound.selector, core));
        submitApproveItmo(r, s, hints(101));
    }

    function test_RevertWhen_AlreadyApproved() public {
        decideItmo(AR2_KEY, transferId, true, hints(1));
        _expectRefused(
            AR2_KEY, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, transferId), hints(1)
        );
    }

    function test_RevertWhen_ApproverIsInitiator() public {
        _expectRefused(
            AR1_KEY,
            abi.encodeWithSelector(IRegistryBase.ApproverIsInitiator.selector, transferId, ar1),
            hints(1)
        );
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        _expectRefused(
            OUTSIDER_KEY,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, outsider),
            hints(1)
        );
    }

    function test_RevertWhen_SignerCannotApprove() public {
        setRepresentative(seller, rep(ar3, false, true, false));
        _expectRefused(
            AR3_KEY, abi.encodeWithSelector(IRegistryBase.CannotApprove.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_SourceSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        _expectRefused(
            AR2_KEY, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_DestinationSuspended() public {
        setStatus(chAccount, AccountStatus.Suspended);
        _expectRefused(
            AR2_KEY, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, chAccount), hints(1)
        );
    }

    function test_RevertWhen_AcquiringPartyLeftTheApproach() public {
        registerApproach(APPROACH, parties1(AU));
        _expectRefused(
            AR2_KEY,
            abi.encodeWithSelector(IArticle6Events.PartyNotInApproach.selector, APPROACH, CH),
            hints(1)
        );
    }

    function test_RevertWhen_NoHints() public {
        _expectRefused(
            AR2_KEY, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256), new uint64[](0)
        );
    }

    function test_RevertWhen_HintStartsNoBlock() public {
        _expectRefused(AR2_KEY, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 5), hints(5));
    }

    function test_RevertWhen_HintIsAnotherBlock() public {
        _expectRefused(
            AR2_KEY,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 41, 100, UnitState.Held, auth),
            hints2(1, 41)
        );
    }

    function test_RevertWhen_HintsMissAPendingBlock() public {
        // A core label on part of the pending units splits them into two blocks.
        uint8 corsia = defineLabel("CORSIA_ELIGIBLE");
        setLabel(corsia, true, range(21, 40), hints(1));
        _expectRefused(
            AR2_KEY,
            abi.encodeWithSelector(IRegistryBase.TransferQuantityMismatch.selector, transferId, 40, 20),
            hints(1)
        );
    }

    function test_WhenApproved_UnitsArriveUnderTheirAuthorizationAndAreRecorded() public {
        uint8 corsia = defineLabel("CORSIA_ELIGIBLE");
        setLabel(corsia, true, range(21, 40), hints(1));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY);
        vm.recordLogs();
        submitApproveItmo(r, s, hints2(1, 21));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(1, 20, chAccount, UnitState.Held, auth);
        assertBlock(21, 40, chAccount, UnitState.Held, auth);
        assertBlock(41, 100, seller, UnitState.Held, auth);
        assertEq(
            uint256(a6.getItmoTransfer(transferId).status), uint256(TransferStatus.Completed), "completed"
        );
        ActionRecord[] memory first = actionsOf(logs, Article6Action.FirstTransfer);
        ActionRecord[] memory transfer = actionsOf(logs, Article6Action.Transfer);
        ActionRecord[] memory acquisition = actionsOf(logs, Article6Action.Acquisition);
        assertEq(first.length, 2, "one first transfer per block");
        assertAction(first[0], 1, 20, seller, AU, CH);
        assertAction(first[1], 21, 40, seller, AU, CH);
        assertAction(transfer[1], 21, 40, seller, AU, CH);
        assertAction(acquisition[1], 21, 40, chAccount, CH, AU);
        assertEq(transfer[0].operationId, transferId, "recorded under the transfer's id");
        assertEq(labelsAt(21) & firstTransferredBit(), firstTransferredBit(), "first-transferred label");
    }
}
