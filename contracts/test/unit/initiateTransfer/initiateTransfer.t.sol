// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    TransferStatus,
    Range,
    InitiateTransferRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice initiateTransfer: signature, accounts, rights, ranges, unit states, policies, events.
contract InitiateTransferTest is UnitTest {
    /// @dev Builds and signs a request from the seller to the buyer by ar1 for `[start, end]`.
    function _prepare(uint64 start, uint64 end)
        internal
        view
        returns (InitiateTransferRequest memory req, bytes memory sig)
    {
        req = transferRequest(ar1, seller, buyer, range(start, end));
        sig = signInitiate(AR1_KEY, req);
    }

    function _prepare(address signer, uint256 key, uint64 from, uint64 to, Range[] memory ranges)
        internal
        view
        returns (InitiateTransferRequest memory req, bytes memory sig)
    {
        req = transferRequest(signer, from, to, ranges);
        sig = signInitiate(key, req);
    }

    /// @dev Submits the request expecting `err`, then checks that nothing changed.
    function _expectRefused(
        InitiateTransferRequest memory req,
        bytes memory sig,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitInitiate(req, sig, starts);
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, outsider, role)
        );
        vm.prank(outsider);
        registry.initiateTransfer(req, sig, hints(1));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        uint256 dl = req.deadline;
        vm.warp(dl + 1);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, dl, dl + 1), hints(1)
        );
    }

    function test_WhenDeadlineIsNow_Accepts() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        vm.warp(req.deadline);
        uint64 id = submitInitiate(req, sig, hints(1));
        assertBlock(1, 10, seller, UnitState.Pending, id);
    }

    function test_RevertWhen_SignatureReplayed() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        submitInitiate(req, sig, hints(1));
        // The same request again: its range is now a block of its own, so the hint is still valid.
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, req.nonce + 1),
            hints(1)
        );
    }

    function test_RevertWhen_NonceAhead() public {
        InitiateTransferRequest memory req = transferRequest(ar1, seller, buyer, range(1, 10));
        req.nonce += 1;
        bytes memory sig = signInitiate(AR1_KEY, req);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, req.nonce - 1),
            hints(1)
        );
    }

    function test_WhenKeyedNonce_AcceptsOnceOnItsLane() public {
        InitiateTransferRequest memory req = transferRequest(ar1, seller, buyer, range(1, 10));
        req.nonce = uint256(7) << 64;
        bytes memory sig = signInitiate(AR1_KEY, req);
        submitInitiate(req, sig, hints(1));
        assertEq(registry.nonces(ar1, 7), (uint256(7) << 64) | 1, "keyed lane advanced");
        assertEq(registry.nonces(ar1), 0, "default lane untouched");
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, (uint256(7) << 64) | 1),
            hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Unordered nonces (decision D33)
    // ---------------------------------------------------------------------------------------------

    uint256 internal constant UNORDERED = 1 << 255;

    /// @dev A request by ar1 for `[start, end]` with the unordered nonce `UNORDERED | n`.
    function _unordered(uint64 start, uint64 end, uint256 n)
        internal
        view
        returns (InitiateTransferRequest memory req, bytes memory sig)
    {
        req = transferRequest(ar1, seller, buyer, range(start, end));
        req.nonce = UNORDERED | n;
        sig = signInitiate(AR1_KEY, req);
    }

    function test_WhenUnorderedNonce_SetsItsBitOnly() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _unordered(1, 10, 3);
        submitInitiate(req, sig, hints(1));
        assertEq(registry.nonceBitmap(ar1, UNORDERED >> 8), 1 << 3, "bit 3 of word 0");
        assertEq(registry.nonces(ar1), 0, "default lane untouched");
    }

    function test_RevertWhen_NonceUsed() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _unordered(1, 10, 7);
        submitInitiate(req, sig, hints(1));
        // The same signed request sent again (a resend after a rollback the chain did not make).
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.NonceUsed.selector, ar1, UNORDERED | 7), hints(1)
        );
    }

    function test_RevertWhen_NonceUsedByAnotherRequest() public {
        (InitiateTransferRequest memory first, bytes memory firstSig) = _unordered(1, 10, 7);
        submitInitiate(first, firstSig, hints(1));
        (InitiateTransferRequest memory req, bytes memory sig) = _unordered(11, 20, 7);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.NonceUsed.selector, ar1, UNORDERED | 7), hints(11)
        );
    }

    /// @dev Requests prepared together are usable in any order, across words, without gaps.
    function test_WhenUnorderedNonces_UsedOutOfOrder() public {
        uint256[4] memory order = [uint256(200), 5, 256 + 1, 0];
        for (uint256 i; i < order.length; ++i) {
            uint64 start = uint64(1 + 10 * i);
            (InitiateTransferRequest memory req, bytes memory sig) = _unordered(start, start + 9, order[i]);
            submitInitiate(req, sig, hints(start));
        }
        assertEq(
            registry.nonceBitmap(ar1, UNORDERED >> 8), (1 << 200) | (1 << 5) | 1, "word 0: bits 0, 5, 200"
        );
        assertEq(registry.nonceBitmap(ar1, (UNORDERED >> 8) + 1), 1 << 1, "word 1: bit 1");
    }

    function test_WhenUnorderedNonce_SignersAreIndependent() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _unordered(1, 10, 9);
        submitInitiate(req, sig, hints(1));
        InitiateTransferRequest memory other = transferRequest(ar2, seller, buyer, range(11, 20));
        other.nonce = UNORDERED | 9;
        submitInitiate(other, signInitiate(AR2_KEY, other), hints(11));
        assertEq(registry.nonceBitmap(ar2, UNORDERED >> 8), 1 << 9, "ar2's own bit");
    }

    function test_WhenUnorderedNonceRequestFails_NonceStaysUsable() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _unordered(1, 10, 4);
        // A wrong hint refuses the request after the nonce check; the revert undoes the bit.
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 2), hints(2));
        submitInitiate(req, sig, hints(1));
        assertEq(registry.nonceBitmap(ar1, UNORDERED >> 8), 1 << 4, "used by the retry");
    }

    function test_RevertWhen_SignedByAnotherKey() public {
        InitiateTransferRequest memory req = transferRequest(ar1, seller, buyer, range(1, 10));
        bytes memory sig = signInitiate(OUTSIDER_KEY, req);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, outsider), hints(1)
        );
    }

    function test_RevertWhen_RequestAlteredAfterSigning() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        bytes32 signedDigest = digestOf(this.hashInitiateTransfer(req));
        req.ranges[0].end = 20;
        bytes32 submittedDigest = digestOf(this.hashInitiateTransfer(req));
        assertTrue(signedDigest != submittedDigest, "digest covers the ranges");
        address recovered = recoverSigner(submittedDigest, sig);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignedForAnotherChain() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        bytes32 structHash = this.hashInitiateTransfer(req);
        vm.chainId(block.chainid + 1);
        address recovered = recoverSigner(digestOf(structHash), sig);
        assertTrue(recovered != ar1, "another chain id gives another digest");
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignedForAnotherContract() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        UnitRegistry other = deployOtherRegistry();
        address recovered = recoverSigner(digestFor(address(other), this.hashInitiateTransfer(req)), sig);
        bytes32 before = stateDigest();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
        vm.prank(relayer);
        other.initiateTransfer(req, sig, hints(1));
        assertStateUnchanged(before);
        assertEq(other.nonces(ar1), 0, "other registry nonce untouched");
    }

    function test_RevertWhen_SignatureMalleable() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        (bytes memory twin, bytes32 sHigh) = highS(sig);
        // ecrecover itself accepts the twin: only the library's low-s rule refuses it.
        assertEq(recoverSigner(digestOf(this.hashInitiateTransfer(req)), twin), ar1, "twin recovers to ar1");
        sig = twin;
        _expectRefused(
            req, sig, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, sHigh), hints(1)
        );
    }

    function test_RevertWhen_SignatureLengthInvalid() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        bytes memory full = sig;
        bytes memory short = new bytes(64);
        for (uint256 i; i < 64; ++i) {
            short[i] = full[i];
        }
        sig = short;
        _expectRefused(
            req, sig, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 64), hints(1)
        );
    }

    function test_RevertWhen_SignatureRecoversNobody() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        // v = 29 is not a valid recovery id: ecrecover returns address(0).
        sig[64] = bytes1(uint8(29));
        _expectRefused(req, sig, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignature.selector), hints(1));
    }

    // ---------------------------------------------------------------------------------------------
    // Accounts and rights
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_FromAccountNotFound() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, 42, buyer, range(1, 10));
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 42), hints(1));
    }

    function test_RevertWhen_ToAccountNotFound() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, 42, range(1, 10));
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 42), hints(1));
    }

    function test_RevertWhen_FromAccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_FromAccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_ToAccountSuspended() public {
        setStatus(buyer, AccountStatus.Suspended);
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, buyer), hints(1)
        );
    }

    function test_RevertWhen_ToAccountClosed() public {
        setStatus(buyer, AccountStatus.Closed);
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, buyer), hints(1)
        );
    }

    function test_WhenFromAccountReopened_Accepts() public {
        setStatus(seller, AccountStatus.Suspended);
        setStatus(seller, AccountStatus.Open);
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        uint64 id = submitInitiate(req, sig, hints(1));
        assertBlock(1, 10, seller, UnitState.Pending, id);
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(outsider, OUTSIDER_KEY, seller, buyer, range(1, 10));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, outsider),
            hints(1)
        );
    }

    function test_RevertWhen_SignerRepresentsOnlyTheDestination() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar3, AR3_KEY, seller, buyer, range(1, 10));
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_SignerCannotInitiate() public {
        // ar2 may approve but not initiate.
        uint64 account = openAccountWith(
            ApprovalPolicy.TwoPerson, reps2(rep(ar1, true, true, true), rep(ar2, false, false, true))
        );
        (uint64 start, uint64 end) = issueTo(account, 10);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar2, AR2_KEY, account, buyer, range(start, end));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, account, ar2),
            hints(start)
        );
    }

    function test_RevertWhen_SignerRemovedAsRepresentative() public {
        setRepresentative(seller, rep(ar2, false, false, false));
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar2, AR2_KEY, seller, buyer, range(1, 10));
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar2), hints(1)
        );
    }

    function test_RevertWhen_SameAccount() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, seller, range(1, 10));
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.SameAccount.selector, seller), hints(1));
    }

    function test_RevertWhen_ToAccountIsCancellation() public {
        uint64 to = openAccountOfKind(AccountKind.Cancellation);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, to, range(1, 10));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.AccountCannotReceive.selector, to, AccountKind.Cancellation),
            hints(1)
        );
    }

    function test_RevertWhen_ToAccountIsOmgeCancellation() public {
        uint64 to = openAccountOfKind(AccountKind.OmgeCancellation);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, to, range(1, 10));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(
                IRegistryBase.AccountCannotReceive.selector, to, AccountKind.OmgeCancellation
            ),
            hints(1)
        );
    }

    function test_WhenToAccountIsOtherSpecialKind_Accepts() public {
        AccountKind[4] memory kinds =
            [AccountKind.Custodial, AccountKind.Pending, AccountKind.ShareOfProceeds, AccountKind.Holding];
        for (uint64 i; i < kinds.length; ++i) {
            uint64 to = openAccountOfKind(kinds[i]);
            uint64 s = 1 + i * 10;
            uint64 id = initiate(AR1_KEY, seller, to, range(s, s + 9), hints(s));
            approve(AR2_KEY, id, hints(s));
            assertBlock(s, s + 9, to, UnitState.Held, 0);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Ranges and hints
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_NoRanges() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, buyer, new Range[](0));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256),
            new uint64[](0)
        );
    }

    function test_RevertWhen_TooManyRanges() public {
        Range[] memory many = new Range[](257);
        uint64[] memory starts = new uint64[](257);
        for (uint64 i; i < 257; ++i) {
            many[i] = Range(i + 1, i + 1);
            starts[i] = i + 1;
        }
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(ar1, AR1_KEY, seller, buyer, many);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 257, 256), starts
        );
    }

    function test_WhenMaxRanges_Accepts() public {
        Range[] memory many = new Range[](256);
        uint64[] memory starts = new uint64[](256);
        for (uint64 i; i < 256; ++i) {
            many[i] = Range(i + 1, i + 1);
            starts[i] = i + 1;
        }
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(ar1, AR1_KEY, seller, buyer, many);
        uint64 id = submitInitiate(req, sig, starts);
        assertTransfer(id, seller, buyer, 256, TransferStatus.Pending);
        assertBlock(256, 256, seller, UnitState.Pending, id);
        assertBlock(257, 1000, seller, UnitState.Held, 0);
    }

    function test_RevertWhen_HintCountMismatch() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.BlockHintsMismatch.selector, 1, 2), hints2(1, 1)
        );
    }

    function test_RevertWhen_StartZero() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(0, 10);
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.InvalidRange.selector, 0, 10), hints(1));
    }

    function test_RevertWhen_StartAfterEnd() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(10, 9);
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.InvalidRange.selector, 10, 9), hints(1));
    }

    function test_RevertWhen_EndAt2Pow63() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, MAX_SERIAL + 1);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.SerialOutOfBounds.selector, MAX_SERIAL + 1),
            hints(1)
        );
    }

    function test_RevertWhen_RangeBeyond2Pow63() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(MAX_SERIAL + 1, type(uint64).max);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.SerialOutOfBounds.selector, type(uint64).max),
            hints(MAX_SERIAL + 1)
        );
    }

    function test_RevertWhen_RangeOutsideEveryBlock() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1001, 1010);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 1001), hints(1001)
        );
    }

    function test_RevertWhen_HintIsNotABlockStart() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(50, 60);
        _expectRefused(req, sig, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 50), hints(50));
    }

    function test_RevertWhen_RangeRunsPastTheBlock() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(990, 1010);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, 1, 1000, 990, 1010),
            hints(1)
        );
    }

    function test_RevertWhen_RangeSpansBlocks() public {
        // Split [1, 1000] into [1, 100] and [101, 1000], then ask for [90, 110] as one range.
        uint64 id = initiatePending(101, 1000, 1);
        rescind(AR1_KEY, id, hints(101));
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(90, 110);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, 1, 100, 90, 110),
            hints(1)
        );
    }

    function test_RevertWhen_RangeStartsBeforeHint() public {
        uint64 id = initiatePending(101, 1000, 1);
        rescind(AR1_KEY, id, hints(101));
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(90, 110);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, 101, 1000, 90, 110),
            hints(101)
        );
    }

    function test_RevertWhen_UnitsNotHeld() public {
        // The buyer holds [1, 10] after a completed transfer; the seller asks to move them again.
        uint64 id = initiatePending(1, 10, 1);
        approve(AR2_KEY, id, hints(1));
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, seller, 1, 10), hints(1)
        );
    }

    function test_RevertWhen_UnitsOfAnotherAccount() public {
        uint64 other = openBuyerAccount();
        (uint64 start, uint64 end) = issueTo(other, 10);
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(start, end);
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, seller, start, end),
            hints(start)
        );
    }

    function test_RevertWhen_UnitsPending() public {
        uint64 id = initiatePending(1, 10, 1);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar2, AR2_KEY, seller, buyer, range(1, 10));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Pending, id),
            hints(1)
        );
    }

    function test_RevertWhen_SubRangeOfPendingUnits() public {
        uint64 id = initiatePending(1, 10, 1);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar2, AR2_KEY, seller, buyer, range(3, 4));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 3, 4, UnitState.Pending, id),
            hints(1)
        );
    }

    function test_RevertWhen_UnitsCancelled() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 1, 10), hints(1)
        );
    }

    function test_RevertWhen_RangesRepeatInOneRequest() public {
        // The first range becomes Pending under this very transfer; the second finds it locked.
        uint64 id = nextOperationId();
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, buyer, ranges2(1, 10, 1, 10));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Pending, id),
            hints2(1, 1)
        );
    }

    function test_RevertWhen_RangesRepeatInOneRequest_SinglePolicy() public {
        uint64 single = openStandardAccount(ApprovalPolicy.Single);
        (uint64 start,) = issueTo(single, 10);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, single, buyer, ranges2(start, start + 4, start, start + 4));
        _expectRefused(
            req,
            sig,
            abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, single, start, start + 4),
            hints2(start, start)
        );
    }

    function test_RevertWhen_SecondRangeFails_FirstIsUndone() public {
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, buyer, ranges2(1, 10, 1001, 1001));
        _expectRefused(
            req, sig, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 1001), hints2(1, 1001)
        );
        assertBlock(1, 1000, seller, UnitState.Held, 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenPolicyTwoPerson_LocksUnitsPending() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(101, 200);
        uint64 expectedId = nextOperationId();
        bytes32 digest = digestOf(this.hashInitiateTransfer(req));
        uint256 nonce = req.nonce;

        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(ar1, nonce, digest);
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(101, 200, seller, UnitState.Pending, expectedId);
        vm.expectEmit();
        emit IRegistryBase.TransferInitiated(expectedId, seller, buyer, ar1, 100);
        uint64 id = submitInitiate(req, sig, hints(1));

        assertEq(id, expectedId, "transfer id");
        assertEq(nextOperationId(), expectedId + 1, "operation counter");
        assertEq(registry.nonces(ar1), nonce + 1, "nonce consumed");
        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, seller, UnitState.Pending, id);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
        assertTransfer(id, seller, buyer, 100, TransferStatus.Pending);
        assertEq(pendingRecords[id].initiator, ar1, "initiator");
        assertEq(blockAt(101).issuance, 1, "issuance kept through the split");
        assertEq(blockAt(201).issuance, 1, "issuance kept through the split");
    }

    function test_WhenPolicySingle_CompletesAtOnce() public {
        uint64 single = openStandardAccount(ApprovalPolicy.Single);
        (uint64 start, uint64 end) = issueTo(single, 100);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar2, AR2_KEY, single, buyer, range(start + 10, start + 19));
        // A transfer that keeps no record is numbered from its request's digest, in [2^62, 2^63).
        bytes32 digest = digestOf(this.hashInitiateTransfer(req));
        uint64 expectedId = uint64(uint256(digest) >> 194) | uint64(1 << 62);
        uint64 counter = nextOperationId();

        vm.expectEmit();
        emit IRegistryBase.BlockChanged(start + 10, start + 19, buyer, UnitState.Held, 0);
        vm.expectEmit();
        emit IRegistryBase.TransferExecuted(single, buyer, expectedId, ar2, 10);
        uint64 id = submitInitiate(req, sig, hints(start));

        assertEq(id, expectedId, "transfer id");
        assertEq(nextOperationId(), counter, "the operation counter does not move");
        assertBlock(start, start + 9, single, UnitState.Held, 0);
        assertBlock(start + 10, start + 19, buyer, UnitState.Held, 0);
        assertBlock(start + 20, end, single, UnitState.Held, 0);
        // NOTE: a single-policy transfer completes in the same call and keeps no transfer record.
        assertTransfer(id, 0, 0, 0, TransferStatus.None);
    }

    function test_WhenWholeBlock_DoesNotSplit() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 1000);
        uint64 id = submitInitiate(req, sig, hints(1));
        assertBlock(1, 1000, seller, UnitState.Pending, id);
        assertEq(blockAt(1001).end, 0, "no block after");
    }

    function test_WhenRangeAtBlockStart_SplitsInTwo() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(1, 10);
        uint64 id = submitInitiate(req, sig, hints(1));
        assertBlock(1, 10, seller, UnitState.Pending, id);
        assertBlock(11, 1000, seller, UnitState.Held, 0);
    }

    function test_WhenRangeAtBlockEnd_SplitsInTwo() public {
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(991, 1000);
        uint64 id = submitInitiate(req, sig, hints(1));
        assertBlock(1, 990, seller, UnitState.Held, 0);
        assertBlock(991, 1000, seller, UnitState.Pending, id);
    }

    function test_WhenRangesInSeveralBlocks_MovesEach() public {
        (uint64 s2, uint64 e2) = issueTo(seller, 500);
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, buyer, ranges2(500, 600, s2, e2));
        uint64 id = submitInitiate(req, sig, hints2(1, s2));
        assertTransfer(id, seller, buyer, 101 + 500, TransferStatus.Pending);
        assertBlock(500, 600, seller, UnitState.Pending, id);
        assertBlock(s2, e2, seller, UnitState.Pending, id);
    }

    function test_WhenTwoRangesOfOneBlock_InOrder() public {
        // The second range's hint is the tail left by the first split.
        (InitiateTransferRequest memory req, bytes memory sig) =
            _prepare(ar1, AR1_KEY, seller, buyer, ranges2(1, 10, 21, 30));
        uint64 id = submitInitiate(req, sig, hints2(1, 11));
        assertBlock(1, 10, seller, UnitState.Pending, id);
        assertBlock(11, 20, seller, UnitState.Held, 0);
        assertBlock(21, 30, seller, UnitState.Pending, id);
        assertBlock(31, 1000, seller, UnitState.Held, 0);
    }

    function test_WhenTransferIdsShareTheOperationCounter() public {
        uint64 cancellation = cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        uint64 id = initiatePending(11, 20, 11);
        assertEq(id, cancellation + 1, "one sequence for transfers and cancellations");
    }

    function testFuzz_initiateTransfer_splitsBlock(uint64 start, uint64 length) public {
        start = uint64(bound(start, 1, ISSUED));
        length = uint64(bound(length, 1, ISSUED - start + 1));
        uint64 end = start + length - 1;
        uint64 id = initiatePending(start, end, 1);

        assertBlock(start, end, seller, UnitState.Pending, id);
        assertTransfer(id, seller, buyer, length, TransferStatus.Pending);
        if (start > 1) assertBlock(1, start - 1, seller, UnitState.Held, 0);
        if (end < ISSUED) assertBlock(end + 1, ISSUED, seller, UnitState.Held, 0);
    }

    function testFuzz_initiateTransfer_gasIndependentOfQuantity(uint64 quantity) public {
        quantity = uint64(bound(quantity, 1, MAX_SERIAL - ISSUED - 2));
        (uint64 start, uint64 end) = issueTo(seller, quantity);
        // Split off the last unit, so that every run writes the same slots.
        (InitiateTransferRequest memory req, bytes memory sig) = _prepare(end, end);
        uint256 gasBefore = gasleft();
        submitInitiate(req, sig, hints(start));
        uint256 used = gasBefore - gasleft();
        assertLe(used, 200_000, "gas of a split does not depend on the block size");
        assertBlock(end, end, seller, UnitState.Pending, nextOperationId() - 1);
    }
}
