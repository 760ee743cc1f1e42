// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    UnitState,
    Range,
    InitiateTransferRequest,
    CancelRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    EscrowStatus,
    Escrow,
    EscrowRequest,
    ReserveRequest,
    AssociateRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice escrow (B.5): the seller places units under a platform's control; they stay in the seller's
/// account and the seller can no longer move them.
contract EscrowTest is PlatformTest {
    function setUp() public override {
        super.setUp();
        grantConsent(seller, platform, ConsentScope.Escrowed);
    }

    function _prepare(uint256 key, address p, Range[] memory ranges)
        internal
        view
        returns (EscrowRequest memory r, bytes memory s)
    {
        r = escrowRequest(key, seller, p, ranges);
        s = signEscrow(key, r);
    }

    function _expectRefused(EscrowRequest memory r, bytes memory s, bytes memory err, uint64[] memory starts)
        internal
    {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitEscrow(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_EscrowsSubRange_UnitsStayInSellerAccount() public {
        uint64 expectedId = nextOperationId();
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(301, 400));
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(301, 400, seller, UnitState.Escrowed, expectedId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.UnitsEscrowed(expectedId, seller, platform, 100);
        uint64 escrowId = submitEscrow(r, s, hints(1));

        assertEq(escrowId, expectedId, "escrow id");
        assertBlock(301, 400, seller, UnitState.Escrowed, escrowId);
        assertBlock(1, 300, seller, UnitState.Held, 0);
        assertBlock(401, 1000, seller, UnitState.Held, 0);
        Escrow memory e = platforms.getEscrow(escrowId);
        assertEq(e.accountId, seller, "account");
        assertEq(e.platform, platform, "platform");
        assertEq(e.quantity, 100, "quantity");
        assertEq(uint256(e.status), uint256(EscrowStatus.Active), "status");
        assertEq(e.toAccount, 0, "no buyer yet");
    }

    function test_EscrowsSeveralRanges() public {
        (EscrowRequest memory r, bytes memory s) = _prepare(AR2_KEY, platform, ranges2(1, 1, 1000, 1000));
        uint64 escrowId = submitEscrow(r, s, hints2(1, 2));
        assertBlock(1, 1, seller, UnitState.Escrowed, escrowId);
        assertBlock(1000, 1000, seller, UnitState.Escrowed, escrowId);
        assertEq(platforms.getEscrow(escrowId).quantity, 2, "quantity");
    }

    // ---------------------------------------------------------------------------------------------
    // The seller cannot move escrowed units
    // ---------------------------------------------------------------------------------------------

    function test_SellerCannotTransferEscrowedUnits() public {
        uint64 escrowId = escrowUnits(1, 10, 1);
        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(1, 10));
        bytes memory s = signInitiate(AR1_KEY, t);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Escrowed, escrowId));
        submitInitiate(t, s, hints(1));
    }

    function test_SellerCannotCancelEscrowedUnits() public {
        uint64 escrowId = escrowUnits(1, 10, 1);
        CancelRequest memory c = cancelRequest(ar2, seller, range(1, 10));
        bytes memory s = signCancel(AR2_KEY, c);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Escrowed, escrowId));
        submitCancel(c, s, hints(1));
    }

    function test_SellerCannotReserveEscrowedUnits() public {
        uint64 escrowId = escrowUnits(1, 10, 1);
        grantConsent(seller, platform, ConsentScope.Reserved);
        ReserveRequest memory r = reserveRequest(AR1_KEY, seller, platform, range(1, 10));
        bytes memory s = signReserve(AR1_KEY, r);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Escrowed, escrowId));
        submitReserve(r, s, hints(1));
    }

    function test_SellerCannotEscrowEscrowedUnitsToAnotherPlatform() public {
        uint64 escrowId = escrowUnits(1, 10, 1);
        grantConsent(seller, otherPlatform, ConsentScope.Escrowed);
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, otherPlatform, range(1, 10));
        _expectRefused(r, s, unitsLocked(1, 10, UnitState.Escrowed, escrowId), hints(1));
    }

    function test_SellerCannotAssociateEscrowedUnits() public {
        uint64 escrowId = escrowUnits(1, 10, 1);
        AssociateRequest memory a = associateRequest(AR1_KEY, seller, thirdParty, CERTIFICATE, range(1, 10));
        bytes memory s = signAssociate(AR1_KEY, a);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Escrowed, escrowId));
        submitAssociate(a, s, hints(1));
    }

    // ---------------------------------------------------------------------------------------------
    // Refusals
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_PlatformWithoutConsent() public {
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, otherPlatform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, otherPlatform, ConsentScope.Escrowed
            ),
            hints(1)
        );
    }

    function test_RevertWhen_OnlyReservedConsent() public {
        grantConsent(seller, otherPlatform, ConsentScope.Reserved);
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, otherPlatform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, otherPlatform, ConsentScope.Escrowed
            ),
            hints(1)
        );
    }

    function test_RevertWhen_ConsentRevoked() public {
        revokeConsent(platforms.activeConsent(seller, platform, ConsentScope.Escrowed));
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, platform, ConsentScope.Escrowed
            ),
            hints(1)
        );
    }

    function test_RevertWhen_PlatformSuspended() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform), hints(1)
        );
    }

    function test_RevertWhen_PendingUnits() public {
        uint64 transferId = initiatePending(1, 10, 1);
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(r, s, unitsLocked(1, 10, UnitState.Pending, transferId), hints(1));
    }

    function test_RevertWhen_ReservedUnits() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(r, s, unitsLocked(1, 10, UnitState.Reserved, reservationId), hints(1));
    }

    function test_RevertWhen_CancelledUnits() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, uint64(1), uint64(10)),
            hints(1)
        );
    }

    function test_RevertWhen_SignedByPlatform() public {
        (EscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, platform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, platformSigner),
            hints(1)
        );
    }

    function test_RevertWhen_RepresentativeCannotInitiate() public {
        setRepresentative(seller, rep(ar3, false, false, true));
        (EscrowRequest memory r, bytes memory s) = _prepare(AR3_KEY, platform, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_AccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller), hints(1));
    }

    function test_RevertWhen_PlatformAlteredAfterSigning() public {
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        r.platform = otherPlatform;
        address recovered = recoverSigner(digestOf(this.hashEscrow(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        submitEscrow(r, s, hints(1));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1), hints(1)
        );
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (EscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        bytes32 role = registry.RELAYER_ROLE();
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, platformSigner, role
            )
        );
        vm.prank(platformSigner);
        platforms.escrow(r, s, hints(1));
        assertFullStateUnchanged(before);
    }
}
