// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    TransferStatus,
    PendingTransfer,
    TransferDecisionRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice approveTransfer: signature, transfer status, rights, the two-person rule, block hints.
contract ApproveTransferTest is UnitTest {
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
        s = signApprove(key, r);
    }

    function _expectRefused(
        TransferDecisionRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitApprove(r, s, starts);
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar2, role)
        );
        vm.prank(ar2);
        registry.approveTransfer(r, s, pendingRecords[transferId], hints(101));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1),
            hints(101)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        submitApprove(r, s, hints(101));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar2, r.nonce + 1), hints(101)
        );
    }

    function test_RevertWhen_RescindSignatureSubmittedAsApproval() public {
        // Approve and rescind share a struct; only the type hash tells them apart.
        TransferDecisionRequest memory r = decisionRequest(ar2, transferId);
        bytes memory s = signRescind(AR2_KEY, r);
        address recovered = recoverSigner(digestOf(this.hashTransferDecision(r, true)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar2, recovered), hints(101)
        );
    }

    function test_RevertWhen_SignedForAnotherChain() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        bytes32 structHash = this.hashTransferDecision(r, true);
        vm.chainId(1);
        address recovered = recoverSigner(digestOf(structHash), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar2, recovered), hints(101)
        );
    }

    function test_RevertWhen_SignedForAnotherContract() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        UnitRegistry other = deployOtherRegistry();
        address recovered = recoverSigner(digestFor(address(other), this.hashTransferDecision(r, true)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar2, recovered));
        vm.prank(relayer);
        other.approveTransfer(r, s, pendingRecords[transferId], hints(101));
    }

    function test_RevertWhen_SignatureMalleable() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        (bytes memory twin, bytes32 sHigh) = highS(s);
        _expectRefused(
            r, twin, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, sHigh), hints(101)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Transfer status
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_TransferNotFound() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, 999), hints(101)
        );
    }

    function test_RevertWhen_TransferIdIsACancellation() public {
        uint64 cancellationId = cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, cancellationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, cancellationId), hints(1)
        );
    }

    function test_RevertWhen_TransferCompletedUnderSinglePolicy() public {
        uint64 single = openStandardAccount(ApprovalPolicy.Single);
        (uint64 start, uint64 end) = issueTo(single, 10);
        uint64 id = initiate(AR1_KEY, single, buyer, range(start, end), hints(start));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, id);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, id), hints(start)
        );
    }

    function test_RevertWhen_ApprovedTwice() public {
        approve(AR2_KEY, transferId, hints(101));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, transferId), hints(101)
        );
    }

    function test_RevertWhen_AlreadyRescinded() public {
        rescind(AR1_KEY, transferId, hints(101));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.TransferNotPending.selector, transferId), hints(101)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // The pending record (only its hash is stored, D46): the relayer cannot alter it
    // ---------------------------------------------------------------------------------------------

    function _expectRecordRefused(PendingTransfer memory record) internal {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        bytes32 before = stateDigest();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.TransferRecordMismatch.selector, transferId));
        vm.prank(relayer);
        registry.approveTransfer(r, s, record, hints(101));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_RecordNamesAnotherDestination() public {
        PendingTransfer memory record = pendingRecords[transferId];
        record.toAccount = openStandardAccount(ApprovalPolicy.Single);
        _expectRecordRefused(record);
    }

    function test_RevertWhen_RecordNamesAnotherSource() public {
        PendingTransfer memory record = pendingRecords[transferId];
        record.fromAccount = buyer;
        _expectRecordRefused(record);
    }

    function test_RevertWhen_RecordNamesAnotherQuantity() public {
        PendingTransfer memory record = pendingRecords[transferId];
        record.quantity -= 1;
        _expectRecordRefused(record);
    }

    function test_RevertWhen_RecordNamesAnotherInitiator() public {
        // The initiator is what the two-person rule checks: forging it must not let ar1 approve.
        PendingTransfer memory record = pendingRecords[transferId];
        record.initiator = ar3;
        _expectRecordRefused(record);
    }

    function test_RevertWhen_RecordIsAnotherPendingTransfers() public {
        uint64 other = initiatePending(201, 250, 201);
        _expectRecordRefused(pendingRecords[other]);
    }

    function test_RevertWhen_RecordHasDirtyPadding() public {
        // The same values with a non-zero byte above a uint64 field: no clean encoding, no match.
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        bytes memory data =
            abi.encodeCall(registry.approveTransfer, (r, s, pendingRecords[transferId], hints(101)));
        // The selector, the request (four words, a static struct), the signature's offset, then the
        // record's first word (fromAccount): set its top byte.
        data[4 + 5 * 32] = 0x01;
        bytes32 before = stateDigest();
        vm.prank(relayer);
        (bool ok,) = address(registry).call(data);
        assertFalse(ok, "dirty record accepted");
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Accounts and rights
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_FromAccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(101)
        );
    }

    function test_RevertWhen_FromAccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller), hints(101));
    }

    function test_RevertWhen_ToAccountSuspended() public {
        setStatus(buyer, AccountStatus.Suspended);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, buyer), hints(101)
        );
    }

    function test_RevertWhen_ToAccountClosed() public {
        setStatus(buyer, AccountStatus.Closed);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, buyer), hints(101));
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
        // ar3 represents the buyer, not the source account: the buyer cannot approve what it receives.
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR3_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar3), hints(101)
        );
    }

    function test_RevertWhen_SignerCannotApprove() public {
        setRepresentative(seller, rep(ar2, false, true, false));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.CannotApprove.selector, seller, ar2), hints(101)
        );
    }

    function test_RevertWhen_ApproverIsInitiator() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.ApproverIsInitiator.selector, transferId, ar1),
            hints(101)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Block hints
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_NoHints() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256), new uint64[](0)
        );
    }

    function test_RevertWhen_TooManyHints() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 257, 256),
            new uint64[](257)
        );
    }

    function test_RevertWhen_HintsDoNotAddUp() public {
        // A transfer of two ranges; the approval names only one of its blocks.
        uint64 id = initiate(AR1_KEY, seller, buyer, ranges2(301, 310, 321, 330), hints2(201, 311));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, id);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.TransferQuantityMismatch.selector, id, 20, 10),
            hints(301)
        );
    }

    function test_RevertWhen_HintIsAHeldBlock() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 100, UnitState.Held, 0),
            hints(1)
        );
    }

    function test_RevertWhen_HintIsNotABlockStart() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 150), hints(150));
    }

    function test_RevertWhen_HintIsZero() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 0), hints(0));
    }

    function test_RevertWhen_HintIsBeyondEveryBlock() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 5000), hints(5000));
    }

    function test_RevertWhen_HintIsAnotherTransfersBlock() public {
        uint64 other = initiatePending(201, 250, 201);
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 201, 250, UnitState.Pending, other),
            hints(201)
        );
    }

    function test_RevertWhen_HintIsACancelledBlock() public {
        cancelUnits(AR1_KEY, seller, range(1, 100), hints(1));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 1, 100), hints(1)
        );
    }

    function test_RevertWhen_HintRepeated() public {
        // The first hint completes the block; the second finds it Held in the buyer's account.
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 101, 200, UnitState.Held, 0),
            hints2(101, 101)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenApprovedBySecondRepresentative_MovesUnits() public {
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, transferId);
        bytes32 digest = digestOf(this.hashTransferDecision(r, true));

        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(ar2, r.nonce, digest);
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(101, 200, buyer, UnitState.Held, 0);
        vm.expectEmit();
        emit IRegistryBase.TransferCompleted(transferId, ar2);
        submitApprove(r, s, hints(101));

        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, buyer, UnitState.Held, 0);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
        assertTransfer(transferId, seller, buyer, 100, TransferStatus.Completed);
        assertEq(registry.nonces(ar2), r.nonce + 1, "nonce consumed");
    }

    function test_WhenInitiatedByOtherRepresentative_PrimaryApproves() public {
        uint64 id = initiate(AR2_KEY, seller, buyer, range(201, 300), hints(201));
        approve(AR1_KEY, id, hints(201));
        assertBlock(201, 300, buyer, UnitState.Held, 0);
    }

    function test_WhenApproverHasOnlyApproveRight_Accepts() public {
        setRepresentative(seller, rep(ar2, false, false, true));
        approve(AR2_KEY, transferId, hints(101));
        assertBlock(101, 200, buyer, UnitState.Held, 0);
    }

    function test_WhenSeveralBlocks_MovesAll() public {
        (uint64 s2, uint64 e2) = issueTo(seller, 50);
        uint64 id = initiate(AR1_KEY, seller, buyer, ranges2(301, 310, s2, e2), hints2(201, s2));
        (TransferDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, id);
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(s2, e2, buyer, UnitState.Held, 0);
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(301, 310, buyer, UnitState.Held, 0);
        vm.expectEmit();
        emit IRegistryBase.TransferCompleted(id, ar2);
        // Hints may come in any order.
        submitApprove(r, s, hints2(s2, 301));
        assertBlock(301, 310, buyer, UnitState.Held, 0);
        assertBlock(s2, e2, buyer, UnitState.Held, 0);
        assertTransfer(id, seller, buyer, 60, TransferStatus.Completed);
    }

    function test_WhenInitiatorRightsChangeWhilePending_RecordKept() public {
        // D50: the record shares the initiator's rights slot; changing the rights keeps it.
        setRepresentative(seller, rep(ar1, true, true, false));
        assertEq(registry.representativeRights(seller, ar1), 3, "rights changed");
        assertTrue(registry.isTransferPending(transferId, pendingRecords[transferId]), "record kept");
        approve(AR2_KEY, transferId, hints(101));
        assertEq(blockAt(101).account, buyer, "moved");
        assertEq(registry.representativeRights(seller, ar1), 3, "rights kept at approval");
        (uint64 kept,) = registry.pendingTransferOf(seller, ar1);
        assertEq(kept, 0, "slot freed");
    }

    function test_WhenInitiatorRemovedWhilePending_PrimaryApproves() public {
        uint64 byAr2 = initiate(AR2_KEY, seller, buyer, range(201, 210), hints(201));
        setRepresentative(seller, rep(ar2, false, false, false));
        assertEq(registry.representativeRights(seller, ar2), 0, "removed");
        assertTrue(registry.isTransferPending(byAr2, pendingRecords[byAr2]), "record kept");
        approve(AR1_KEY, byAr2, hints(201));
        assertEq(blockAt(201).account, buyer, "moved");
        (uint64 kept, bytes24 keptHash) = registry.pendingTransferOf(seller, ar2);
        assertEq(kept, 0, "slot freed");
        assertEq(keptHash, bytes24(0), "slot cleared");
    }

    function test_WhenSecondPendingOfTheInitiator_KeptByIdAndApproved() public {
        uint64 second = initiatePending(201, 210, 201);
        assertTrue(registry.pendingTransferHash(second) != bytes32(0), "in the id-keyed slot");
        approve(AR2_KEY, second, hints(201));
        assertEq(blockAt(201).account, buyer, "second moved");
        assertEq(registry.pendingTransferHash(second), bytes32(0), "cleared");
        assertTrue(registry.isTransferPending(transferId, pendingRecords[transferId]), "first still pending");
        // The freed rights slot takes the next one.
        uint64 third = initiatePending(211, 220, 211);
        (uint64 kept,) = registry.pendingTransferOf(seller, ar1);
        assertEq(kept, transferId, "first still in the slot");
        assertTrue(registry.pendingTransferHash(third) != bytes32(0), "third by id");
        approve(AR2_KEY, transferId, hints(101));
        uint64 fourth = initiatePending(221, 230, 221);
        (kept,) = registry.pendingTransferOf(seller, ar1);
        assertEq(kept, fourth, "slot reused once freed");
    }

    function test_WhenApproved_BuyerCanMoveUnitsOn() public {
        approve(AR2_KEY, transferId, hints(101));
        uint64 third = openStandardAccount(ApprovalPolicy.Single);
        initiate(AR3_KEY, buyer, third, range(150, 200), hints(101));
        assertBlock(101, 149, buyer, UnitState.Held, 0);
        assertBlock(150, 200, third, UnitState.Held, 0);
    }
}
