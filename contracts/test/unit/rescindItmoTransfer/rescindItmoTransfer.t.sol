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
import {FirstTransferDefinition} from "../../../src/libraries/Article6Types.sol";

/// @notice rescindItmoTransfer: any representative of the source account takes a pending ITMO transfer
/// back; the units are Held under their authorization again and nothing is recorded.
contract RescindItmoTransferTest is Article6Test {
    uint64 internal auth;
    uint64 internal transferId;

    function setUp() public override {
        super.setUp();
        auth = authorize(1, 100, 1, FirstTransferDefinition.AtUseOrCancellation, BOTH);
        transferId = transferItmos(AR1_KEY, seller, chAccount, auth, 1, 40, 1);
    }

    function _expectRefused(uint256 key, bytes memory err, uint64[] memory starts) internal {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory s = signItmoDecision(key, r, false);
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitRescindItmo(r, s, starts);
        assertA6Unchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        TransferDecisionRequest memory r = decisionRequest(ar1, transferId);
        bytes memory s = signItmoDecision(AR1_KEY, r, false);
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        a6.rescindItmoTransfer(r, s, hints(1));
    }

    /// @dev An approval's signature cannot be used to rescind, and the reverse.
    function test_RevertWhen_SignedAsAnApproval() public {
        TransferDecisionRequest memory r = decisionRequest(ar1, transferId);
        bytes memory s = signItmoDecision(AR1_KEY, r, true);
        address recovered = recoverSigner(digestOf(this.hashItmoDecision(r, false)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
        submitRescindItmo(r, s, hints(1));
    }

    function test_RevertWhen_TransferNotFound() public {
        TransferDecisionRequest memory r = decisionRequest(ar1, 999);
        bytes memory s = signItmoDecision(AR1_KEY, r, false);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.TransferNotFound.selector, 999));
        submitRescindItmo(r, s, hints(1));
    }

    function test_RevertWhen_AlreadyRescinded() public {
        decideItmo(AR1_KEY, transferId, false, hints(1));
        _expectRefused(
            AR2_KEY, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, transferId), hints(1)
        );
    }

    function test_RevertWhen_SignerNotRepresentativeOfTheSource() public {
        _expectRefused(
            AR3_KEY, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_SourceSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        _expectRefused(
            AR1_KEY, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_HintsMissAPendingBlock() public {
        uint8 corsia = defineLabel("CORSIA_ELIGIBLE");
        setLabel(corsia, true, range(21, 40), hints(1));
        _expectRefused(
            AR1_KEY,
            abi.encodeWithSelector(IRegistryBase.TransferQuantityMismatch.selector, transferId, 40, 20),
            hints(1)
        );
    }

    function test_RevertWhen_NoHints() public {
        _expectRefused(
            AR1_KEY, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256), new uint64[](0)
        );
    }

    function test_WhenRescinded_UnitsAreHeldUnderTheirAuthorizationAgain() public {
        TransferDecisionRequest memory r = decisionRequest(ar2, transferId);
        bytes memory s = signItmoDecision(AR2_KEY, r, false);
        vm.recordLogs();
        submitRescindItmo(r, s, hints(1));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(1, 40, seller, UnitState.Held, auth);
        assertEq(
            uint256(a6.getItmoTransfer(transferId).status), uint256(TransferStatus.Rescinded), "rescinded"
        );
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(
                logs[i].topics[0] != IArticle6Events.Article6ActionRecorded.selector, "nothing recorded"
            );
        }
        assertEq(labelsAt(1) & firstTransferredBit(), 0, "not first transferred");
        // The units can move again under their authorization.
        transferItmos(AR1_KEY, seller, auSingle, auth, 1, 40, 1);
    }
}
