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
    ReservationStatus,
    Reservation,
    GrantConsentRequest,
    ReserveRequest,
    EscrowRequest,
    AssociateRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice reserve (B.4): the holder separates units from its free holdings for a platform that may see
/// them; reserved units cannot be used until released.
contract ReserveTest is PlatformTest {
    function setUp() public override {
        super.setUp();
        grantConsent(seller, platform, ConsentScope.Reserved);
    }

    function _prepare(uint256 key, address p, Range[] memory ranges)
        internal
        view
        returns (ReserveRequest memory r, bytes memory s)
    {
        r = reserveRequest(key, seller, p, ranges);
        s = signReserve(key, r);
    }

    function _expectRefused(ReserveRequest memory r, bytes memory s, bytes memory err, uint64[] memory starts)
        internal
    {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitReserve(r, s, starts);
        assertFullStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Transitions
    // ---------------------------------------------------------------------------------------------

    function test_ReservesSubRange_SplitsBlock() public {
        uint64 expectedId = nextOperationId();
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(101, 200));
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(101, 200, seller, UnitState.Reserved, expectedId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.UnitsReserved(expectedId, seller, platform, 100);
        uint64 reservationId = submitReserve(r, s, hints(1));

        assertEq(reservationId, expectedId, "reservation id");
        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, seller, UnitState.Reserved, reservationId);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
        Reservation memory res = platforms.getReservation(reservationId);
        assertEq(res.accountId, seller, "account");
        assertEq(res.platform, platform, "platform");
        assertEq(res.quantity, 100, "quantity");
        assertEq(uint256(res.status), uint256(ReservationStatus.Active), "status");
        assertEq(res.transferId, 0, "transfer id");
    }

    function test_ReservesSeveralRanges() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR2_KEY, platform, ranges2(1, 10, 501, 600));
        uint64 reservationId = submitReserve(r, s, hints2(1, 11));
        assertBlock(1, 10, seller, UnitState.Reserved, reservationId);
        assertBlock(501, 600, seller, UnitState.Reserved, reservationId);
        assertEq(platforms.getReservation(reservationId).quantity, 110, "quantity");
        assertEq(unitsIn(seller, UnitState.Held, 1, ISSUED), ISSUED - 110, "free holdings");
    }

    function testFuzz_reserve_conservesUnits(uint64 a, uint64 b) public {
        uint64 start = uint64(bound(a, 1, ISSUED));
        uint64 end = uint64(bound(b, start, ISSUED));
        uint64 reservationId = reserveUnits(start, end, 1);
        assertEq(unitsIn(seller, UnitState.Reserved, 1, ISSUED), end - start + 1, "reserved");
        assertEq(unitsIn(seller, UnitState.Held, 1, ISSUED), ISSUED - (end - start + 1), "held");
        assertBlock(start, end, seller, UnitState.Reserved, reservationId);
    }

    // ---------------------------------------------------------------------------------------------
    // Reserved units cannot be used
    // ---------------------------------------------------------------------------------------------

    function test_ReservedUnitsCannotBeTransferred() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(1, 10));
        bytes memory s = signInitiate(AR1_KEY, t);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Reserved, reservationId));
        submitInitiate(t, s, hints(1));
    }

    function test_ReservedUnitsCannotBeCancelled() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        CancelRequest memory c = cancelRequest(ar1, seller, range(5, 6));
        bytes memory s = signCancel(AR1_KEY, c);
        vm.expectRevert(unitsLocked(5, 6, UnitState.Reserved, reservationId));
        submitCancel(c, s, hints(1));
    }

    function test_ReservedUnitsCannotBeReservedAgain() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR2_KEY, platform, range(1, 10));
        _expectRefused(r, s, unitsLocked(1, 10, UnitState.Reserved, reservationId), hints(1));
    }

    function test_ReservedUnitsCannotBeEscrowed() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        grantConsent(seller, platform, ConsentScope.Escrowed);
        EscrowRequest memory e = escrowRequest(AR1_KEY, seller, platform, range(1, 10));
        bytes memory s = signEscrow(AR1_KEY, e);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Reserved, reservationId));
        submitEscrow(e, s, hints(1));
    }

    function test_ReservedUnitsCannotBeAssociated() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        AssociateRequest memory a = associateRequest(AR1_KEY, seller, thirdParty, CERTIFICATE, range(1, 10));
        bytes memory s = signAssociate(AR1_KEY, a);
        vm.expectRevert(unitsLocked(1, 10, UnitState.Reserved, reservationId));
        submitAssociate(a, s, hints(1));
    }

    // ---------------------------------------------------------------------------------------------
    // Refusals
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_PendingUnits() public {
        uint64 transferId = initiatePending(1, 10, 1);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(r, s, unitsLocked(1, 10, UnitState.Pending, transferId), hints(1));
    }

    function test_RevertWhen_PendingSubRangeOfBlock() public {
        uint64 transferId = initiatePending(5, 6, 1);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(5, 6));
        _expectRefused(r, s, unitsLocked(5, 6, UnitState.Pending, transferId), hints(5));
    }

    function test_RevertWhen_CancelledUnits() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, uint64(1), uint64(10)),
            hints(1)
        );
    }

    function test_RevertWhen_PlatformWithoutConsent() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, otherPlatform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, otherPlatform, ConsentScope.Reserved
            ),
            hints(1)
        );
    }

    function test_RevertWhen_ConsentOfAnotherScopeOnly() public {
        grantConsent(seller, otherPlatform, ConsentScope.Holdings);
        grantConsent(seller, otherPlatform, ConsentScope.Escrowed);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, otherPlatform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, otherPlatform, ConsentScope.Reserved
            ),
            hints(1)
        );
    }

    function test_RevertWhen_ConsentGivenByAnotherAccount() public {
        // The buyer's consent to the other platform does not cover the seller's units.
        GrantConsentRequest memory g =
            grantConsentRequest(AR3_KEY, buyer, otherPlatform, ConsentScope.Reserved);
        submitGrantConsent(g, signGrantConsent(AR3_KEY, g));
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, otherPlatform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, otherPlatform, ConsentScope.Reserved
            ),
            hints(1)
        );
    }

    function test_RevertWhen_PlatformSuspended() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform), hints(1)
        );
    }

    function test_RevertWhen_PlatformUnknown() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, outsider, range(1, 10));
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.PlatformNotFound.selector, outsider), hints(1));
    }

    function test_RevertWhen_UnitsOfAnotherAccount() public {
        (uint64 start,) = issueTo(buyer, 10);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(start, start + 1));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, seller, start, start + 1),
            hints(start)
        );
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, platform, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, platformSigner),
            hints(1)
        );
    }

    function test_RevertWhen_RepresentativeCannotInitiate() public {
        setRepresentative(seller, rep(ar3, false, false, true));
        (ReserveRequest memory r, bytes memory s) = _prepare(AR3_KEY, platform, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_HintsMismatch() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, ranges2(1, 10, 20, 30));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.BlockHintsMismatch.selector, uint256(2), uint256(1)),
            hints(1)
        );
    }

    function test_RevertWhen_NoRanges() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, new Range[](0));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, uint256(0), uint256(256)),
            new uint64[](0)
        );
    }

    function test_RevertWhen_RangesAlteredAfterSigning() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        r.ranges = range(1, 11);
        address recovered = recoverSigner(digestOf(this.hashReserve(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        submitReserve(r, s, hints(1));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1), hints(1)
        );
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (ReserveRequest memory r, bytes memory s) = _prepare(AR1_KEY, platform, range(1, 10));
        bytes32 role = registry.RELAYER_ROLE();
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        platforms.reserve(r, s, hints(1));
        assertFullStateUnchanged(before);
    }
}
