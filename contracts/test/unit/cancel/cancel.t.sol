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
    UnitState,
    CancellationPurpose,
    Range,
    CancelRequest,
    InitiateTransferRequest,
    TransferDecisionRequest,
    SetLabelRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice cancel: signature, account, rights, ranges, unit states; cancellation is final.
contract CancelTest is UnitTest {
    function _prepare(uint256 key, uint64 accountId, Range[] memory ranges)
        internal
        view
        returns (CancelRequest memory r, bytes memory s)
    {
        r = cancelRequest(vm.addr(key), accountId, ranges);
        s = signCancel(key, r);
    }

    function _prepare(uint64 start, uint64 end) internal view returns (CancelRequest memory, bytes memory) {
        return _prepare(AR1_KEY, seller, range(start, end));
    }

    function _expectRefused(CancelRequest memory r, bytes memory s, bytes memory err, uint64[] memory starts)
        internal
    {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitCancel(r, s, starts);
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        registry.cancel(r, s, hints(1));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        vm.warp(r.deadline + 100);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 100),
            hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        submitCancel(r, s, hints(1));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1), hints(1)
        );
    }

    function test_RevertWhen_PurposeAlteredAfterSigning() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        r.purpose = CancellationPurpose.NdcUse;
        address recovered = recoverSigner(digestOf(this.hashCancel(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_BeneficiaryAlteredAfterSigning() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        r.beneficiary = "Someone else";
        address recovered = recoverSigner(digestOf(this.hashCancel(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignedForAnotherChain() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        bytes32 structHash = this.hashCancel(r);
        vm.chainId(8453);
        address recovered = recoverSigner(digestOf(structHash), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignedForAnotherContract() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        UnitRegistry other = deployOtherRegistry();
        address recovered = recoverSigner(digestFor(address(other), this.hashCancel(r)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
        vm.prank(relayer);
        other.cancel(r, s, hints(1));
    }

    function test_RevertWhen_SignatureMalleable() public {
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        (bytes memory twin, bytes32 sHigh) = highS(s);
        _expectRefused(
            r, twin, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, sHigh), hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Account and rights
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_AccountNotFound() public {
        (CancelRequest memory r, bytes memory s) = _prepare(AR1_KEY, 7, range(1, 10));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 7), hints(1));
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_AccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (CancelRequest memory r, bytes memory s) = _prepare(1, 10);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller), hints(1));
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        (CancelRequest memory r, bytes memory s) = _prepare(AR3_KEY, seller, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_SignerCannotInitiate() public {
        setRepresentative(seller, rep(ar2, false, false, true));
        (CancelRequest memory r, bytes memory s) = _prepare(AR2_KEY, seller, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar2), hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Ranges and unit states
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_NoRanges() public {
        (CancelRequest memory r, bytes memory s) = _prepare(AR1_KEY, seller, new Range[](0));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256), new uint64[](0)
        );
    }

    function test_RevertWhen_HintCountMismatch() public {
        (CancelRequest memory r, bytes memory s) = _prepare(AR1_KEY, seller, ranges2(1, 10, 11, 20));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.BlockHintsMismatch.selector, 2, 1), hints(1)
        );
    }

    function test_RevertWhen_StartZero() public {
        (CancelRequest memory r, bytes memory s) = _prepare(0, 0);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidRange.selector, 0, 0), hints(1));
    }

    function test_RevertWhen_StartAfterEnd() public {
        (CancelRequest memory r, bytes memory s) = _prepare(500, 1);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidRange.selector, 500, 1), hints(1));
    }

    function test_RevertWhen_SerialAt2Pow63() public {
        (CancelRequest memory r, bytes memory s) = _prepare(MAX_SERIAL + 1, MAX_SERIAL + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.SerialOutOfBounds.selector, MAX_SERIAL + 1), hints(1)
        );
    }

    function test_RevertWhen_RangeOutsideEveryBlock() public {
        (CancelRequest memory r, bytes memory s) = _prepare(2000, 2000);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 2000), hints(2000));
    }

    function test_RevertWhen_RangeSpansBlocks() public {
        (uint64 s2,) = issueTo(seller, 100);
        (CancelRequest memory r, bytes memory s) = _prepare(900, s2 + 10);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, 1, 1000, 900, s2 + 10),
            hints(1)
        );
    }

    function test_RevertWhen_UnitsNotHeld() public {
        (CancelRequest memory r, bytes memory s) = _prepare(AR3_KEY, buyer, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, buyer, 1, 10), hints(1)
        );
    }

    function test_RevertWhen_UnitsPending() public {
        uint64 id = initiatePending(1, 10, 1);
        (CancelRequest memory r, bytes memory s) = _prepare(AR2_KEY, seller, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Pending, id),
            hints(1)
        );
    }

    function test_RevertWhen_UnitsAlreadyCancelled() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (CancelRequest memory r, bytes memory s) = _prepare(AR2_KEY, seller, range(5, 6));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 5, 6), hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenHeldUnits_CancelsAtOnce() public {
        (CancelRequest memory r, bytes memory s) = _prepare(101, 200);
        uint64 expectedId = nextOperationId();
        bytes32 digest = digestOf(this.hashCancel(r));

        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(ar1, r.nonce, digest);
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(101, 200, seller, UnitState.Cancelled, expectedId);
        vm.expectEmit();
        emit IRegistryBase.UnitsCancelled(
            expectedId,
            seller,
            CancellationPurpose.Voluntary,
            100,
            "Acme Carbon Pty Ltd",
            "FY2025 voluntary offset"
        );
        // NOTE: cancellation needs no second representative, even under the two-person policy.
        uint64 id = submitCancel(r, s, hints(1));

        assertEq(id, expectedId, "cancellation id");
        assertEq(nextOperationId(), expectedId + 1, "operation counter");
        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, seller, UnitState.Cancelled, id);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
    }

    function test_WhenSeveralRanges_CancelsEach() public {
        (CancelRequest memory r, bytes memory s) = _prepare(AR2_KEY, seller, ranges2(1, 10, 991, 1000));
        r.purpose = CancellationPurpose.NdcUse;
        s = signCancel(AR2_KEY, r);
        vm.expectEmit();
        emit IRegistryBase.UnitsCancelled(
            nextOperationId(),
            seller,
            CancellationPurpose.NdcUse,
            20,
            "Acme Carbon Pty Ltd",
            "FY2025 voluntary offset"
        );
        uint64 id = submitCancel(r, s, hints2(1, 11));
        assertBlock(1, 10, seller, UnitState.Cancelled, id);
        assertBlock(11, 990, seller, UnitState.Held, 0);
        assertBlock(991, 1000, seller, UnitState.Cancelled, id);
    }

    function test_WhenCancelled_UnitsNeverMoveAgain() public {
        uint64 pending = initiatePending(101, 200, 1);
        uint64 id = cancelUnits(AR1_KEY, seller, range(1, 100), hints(1));
        assertBlock(1, 100, seller, UnitState.Cancelled, id);
        uint8 labelId = defineLabel("NDC-eligible");
        bytes32 before = stateDigest();
        bytes memory refused = abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 1, 100);

        // Not by another cancellation...
        (CancelRequest memory r, bytes memory s) = _prepare(AR2_KEY, seller, range(1, 100));
        vm.expectRevert(refused);
        submitCancel(r, s, hints(1));

        // ...nor a transfer...
        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(1, 100));
        bytes memory ts = signInitiate(AR1_KEY, t);
        vm.expectRevert(refused);
        submitInitiate(t, ts, hints(1));

        // ...nor an approval that names the cancelled block...
        TransferDecisionRequest memory a = decisionRequest(ar2, pending);
        bytes memory as_ = signApprove(AR2_KEY, a);
        vm.expectRevert(refused);
        submitApprove(a, as_, hints(1));

        // ...nor a label.
        SetLabelRequest memory l = labelRequest(labelId, true, range(1, 100));
        bytes memory ls = signSetLabel(LABELLER_KEY, l);
        vm.expectRevert(refused);
        submitSetLabel(l, ls, hints(1));

        assertStateUnchanged(before);
    }

    function testFuzz_cancel_splitsBlock(uint64 start, uint64 length, uint8 purpose) public {
        start = uint64(bound(start, 1, ISSUED));
        length = uint64(bound(length, 1, ISSUED - start + 1));
        uint64 end = start + length - 1;
        (CancelRequest memory r,) = _prepare(start, end);
        r.purpose = CancellationPurpose(bound(purpose, 0, 3));
        bytes memory s = signCancel(AR1_KEY, r);
        uint64 id = submitCancel(r, s, hints(1));

        assertBlock(start, end, seller, UnitState.Cancelled, id);
        if (start > 1) assertBlock(1, start - 1, seller, UnitState.Held, 0);
        if (end < ISSUED) assertBlock(end + 1, ISSUED, seller, UnitState.Held, 0);
    }
}
