// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    TransferStatus,
    PendingTransfer,
    TransferDecisionRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice rescindTransfer: units return to Held in the source account; who may rescind; hints.
contract RescindTransferTest is UnitTest {
    /// @dev Pending transfer of [101, 200] from the seller to the buyer, initiated by ar1.
    uint64 internal transferId;

    function setUp() public override {
        super.setUp();
        transferId = initiatePending(101, 200, 1);
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (TransferDecisionRequest memory r, bytes memory s)
    {
        r = decisionRequest(vm.addr(key), id);
        s = signRescind(key, r);
    }

    function _expectRefused(
        TransferDecisionRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitRescind(r, s, starts);
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        registry.rescindTransfer(r, s, pendingRecords[transferId], hints(101));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1),
            hints(101)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        submitRescind(r, s, hints(101));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1), hints(101)
        );
    }

    function test_RevertWhen_ApprovalSignatureSubmittedAsRescission() public {
        TransferDecisionRequest memory r = decisionRequest(ar2, transferId);
        bytes memory s = signApprove(AR2_KEY, r);
        address recovered = recoverSigner(digestOf(this.hashTransferDecision(r, false)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar2, recovered), hints(101)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Transfer status, accounts, rights
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_TransferNotFound() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, 999), hints(101)
        );
    }

    function test_RevertWhen_AlreadyApproved() public {
        approve(AR2_KEY, transferId, hints(101));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, transferId), hints(101)
        );
    }

    function test_RevertWhen_RescindedTwice() public {
        rescind(AR1_KEY, transferId, hints(101));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, transferId), hints(101)
        );
    }

    function test_RevertWhen_RecordIsNotTheInitiatedOne() public {
        // A record naming the destination as the source would let the destination's people rescind.
        PendingTransfer memory record = pendingRecords[transferId];
        (record.fromAccount, record.toAccount) = (record.toAccount, record.fromAccount);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        bytes32 before = stateDigest();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.TransferRecordMismatch.selector, transferId));
        vm.prank(relayer);
        registry.rescindTransfer(r, s, record, hints(101));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(OUTSIDER_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, outsider),
            hints(101)
        );
    }

    function test_RevertWhen_SignerRepresentsTheDestination() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR3_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar3), hints(101)
        );
    }

    function test_RevertWhen_SignerRemovedAsRepresentative() public {
        setRepresentative(seller, rep(ar2, false, false, false));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar2), hints(101)
        );
    }

    function test_RevertWhen_FromAccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(101)
        );
    }

    function test_RevertWhen_FromAccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller), hints(101));
    }

    // ---------------------------------------------------------------------------------------------
    // Block hints
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_NoHints() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256), new uint64[](0)
        );
    }

    function test_RevertWhen_HintsDoNotAddUp() public {
        uint64 id = initiate(AR1_KEY, seller, buyer, ranges2(301, 310, 321, 330), hints2(201, 311));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, id);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.TransferQuantityMismatch.selector, id, 20, 10),
            hints(321)
        );
    }

    function test_RevertWhen_HintIsAHeldBlock() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 201, 1000, UnitState.Held, 0),
            hints(201)
        );
    }

    function test_RevertWhen_HintIsNotABlockStart() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 102), hints(102));
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenInitiatorRescinds_ReturnsUnitsToHeld() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        bytes32 digest = digestOf(this.hashTransferDecision(r, false));

        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(ar1, r.nonce, digest);
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(101, 200, seller, UnitState.Held, 0);
        vm.expectEmit();
        emit IRegistryBase.TransferRescinded(transferId, ar1);
        submitRescind(r, s, hints(101));

        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, seller, UnitState.Held, 0);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
        assertTransfer(transferId, seller, buyer, 100, TransferStatus.Rescinded);
    }

    function test_WhenOtherRepresentativeRescinds_Accepts() public {
        rescind(AR2_KEY, transferId, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
    }

    function test_WhenRepresentativeCannotInitiate_StillRescinds() public {
        // Any representative of the account may rescind, whatever its rights.
        uint64 account = openAccountWith(
            ApprovalPolicy.TwoPerson, reps2(rep(ar1, true, true, true), rep(ar2, false, false, true))
        );
        assertEq(registry.representativeRights(account, ar2), 5, "appointed, may approve");
        (uint64 start, uint64 end) = issueTo(account, 10);
        uint64 id = initiate(AR1_KEY, account, buyer, range(start, end), hints(start));
        rescind(AR2_KEY, id, hints(start));
        assertBlock(start, end, account, UnitState.Held, 0);
        assertTransfer(id, account, buyer, 10, TransferStatus.Rescinded);
    }

    function test_WhenDestinationClosed_RescindStillWorks() public {
        setStatus(buyer, AccountStatus.Closed);
        rescind(AR1_KEY, transferId, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
    }

    function test_WhenRescinded_UnitsCanMoveAgain() public {
        rescind(AR1_KEY, transferId, hints(101));
        uint64 id = initiatePending(101, 200, 101);
        approve(AR2_KEY, id, hints(101));
        assertBlock(101, 200, buyer, UnitState.Held, 0);
    }

    function test_WhenRescinded_UnitsCanBeCancelled() public {
        rescind(AR1_KEY, transferId, hints(101));
        uint64 id = cancelUnits(AR2_KEY, seller, range(101, 200), hints(101));
        assertBlock(101, 200, seller, UnitState.Cancelled, id);
    }
}
