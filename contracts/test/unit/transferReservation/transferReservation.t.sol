// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    ApprovalPolicy,
    TransferStatus,
    UnitState,
    Representative
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    ReservationStatus,
    Reservation,
    GrantConsentRequest,
    ReserveRequest,
    ReservationDecisionRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice transferReservation (B.4 fleeting custody): the holder sends reserved units to the platform's
/// custodial account as an ordinary transfer under its own approval policy; the platform then transfers
/// them on to the buyer.
contract TransferReservationTest is PlatformTest {
    uint256 internal constant SOLO_KEY = 0x5010;

    /// @dev The two-person seller's reservation of [101, 200].
    uint64 internal reservationId;
    /// @dev A single-policy seller (solo) with serials [soloStart, soloStart + 99], 50 of them reserved.
    uint64 internal soloSeller;
    uint64 internal soloStart;
    uint64 internal soloReservation;

    function setUp() public override {
        super.setUp();
        reservationId = reserveUnits(101, 200, 1);

        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(vm.addr(SOLO_KEY), true, true, true);
        soloSeller = openAccount(ApprovalPolicy.Single, reps);
        (soloStart,) = issueTo(soloSeller, 100);
        GrantConsentRequest memory g =
            grantConsentRequest(SOLO_KEY, soloSeller, platform, ConsentScope.Reserved);
        submitGrantConsent(g, signGrantConsent(SOLO_KEY, g));
        ReserveRequest memory r =
            reserveRequest(SOLO_KEY, soloSeller, platform, range(soloStart, soloStart + 49));
        soloReservation = submitReserve(r, signReserve(SOLO_KEY, r), hints(soloStart));
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (ReservationDecisionRequest memory r, bytes memory s)
    {
        r = reservationDecisionRequest(key, id);
        s = signTransferReservation(key, r);
    }

    function _expectRefused(
        ReservationDecisionRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitTransferReservation(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_WhenSinglePolicy_CompletesIntoCustody() public {
        uint64 transferId = nextOperationId();
        address solo = vm.addr(SOLO_KEY);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(SOLO_KEY, soloReservation);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(soloStart, soloStart + 49, custodial, UnitState.Held, 0);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.TransferInitiated(transferId, soloSeller, custodial, solo, 50);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.TransferCompleted(transferId, solo);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.ReservationTransferred(soloReservation, transferId, custodial, solo);
        assertEq(submitTransferReservation(r, s, hints(soloStart)), transferId, "transfer id");

        assertBlock(soloStart, soloStart + 49, custodial, UnitState.Held, 0);
        Reservation memory res = platforms.getReservation(soloReservation);
        assertEq(uint256(res.status), uint256(ReservationStatus.Transferred), "status");
        assertEq(res.transferId, transferId, "transfer recorded");
    }

    function test_FleetingCustody_PlatformTransfersOnToBuyer() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(SOLO_KEY, soloReservation);
        submitTransferReservation(r, s, hints(soloStart));
        initiate(CUSTODIAN_KEY, custodial, buyer, range(soloStart, soloStart + 49), hints(soloStart));

        assertBlock(soloStart, soloStart + 49, buyer, UnitState.Held, 0);
        assertEq(unitsIn(soloSeller, UnitState.Held, soloStart, soloStart + 99), 50, "seller keeps the rest");
        assertEq(unitsIn(custodial, UnitState.Held, soloStart, soloStart + 99), 0, "custody only fleeting");
        assertEq(unitsIn(buyer, UnitState.Held, soloStart, soloStart + 99), 50, "buyer");
    }

    function test_WhenTwoPersonPolicy_PendsUntilApproved() public {
        uint64 transferId = nextOperationId();
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitTransferReservation(r, s, hints(101));
        assertBlock(101, 200, seller, UnitState.Pending, transferId);
        assertTransfer(transferId, seller, custodial, 100, TransferStatus.Pending);

        approve(AR2_KEY, transferId, hints(101));
        assertBlock(101, 200, custodial, UnitState.Held, 0);
        assertTransfer(transferId, seller, custodial, 100, TransferStatus.Completed);
    }

    function test_WhenTwoPersonPolicy_InitiatorCannotApprove() public {
        uint64 transferId = nextOperationId();
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitTransferReservation(r, s, hints(101));
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.ApproverIsInitiator.selector, transferId, ar1));
        this.approveExternal(AR1_KEY, transferId);
    }

    function approveExternal(uint256 key, uint64 transferId) external {
        approve(key, transferId, hints(101));
    }

    function test_WhenRescinded_UnitsHeldNotReserved() public {
        uint64 transferId = nextOperationId();
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitTransferReservation(r, s, hints(101));
        rescind(AR2_KEY, transferId, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
        assertEq(
            uint256(platforms.getReservation(reservationId).status),
            uint256(ReservationStatus.Transferred),
            "status"
        );
    }

    function test_RevertWhen_PlatformSuspended() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(SOLO_KEY, soloReservation);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform), hints(soloStart)
        );
    }

    function test_RevertWhen_SuspendedBeforeApproval() public {
        uint64 transferId = nextOperationId();
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitTransferReservation(r, s, hints(101));
        setPlatformStatus(platform, PlatformStatus.Suspended);
        vm.expectRevert(abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform));
        this.approveExternal(AR2_KEY, transferId);
    }

    function test_RevertWhen_CustodialAccountSuspended() public {
        setStatus(custodial, AccountStatus.Suspended);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(SOLO_KEY, soloReservation);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, custodial), hints(soloStart)
        );
    }

    function test_RevertWhen_SellerAccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(101)
        );
    }

    function test_RevertWhen_RepresentativeCannotInitiate() public {
        setRepresentative(seller, rep(ar3, false, false, true));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR3_KEY, reservationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar3), hints(101)
        );
    }

    function test_RevertWhen_SignedByPlatform() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, platformSigner),
            hints(101)
        );
    }

    function test_RevertWhen_ReservationReleased() public {
        ReservationDecisionRequest memory rel = reservationDecisionRequest(AR1_KEY, reservationId);
        submitReleaseReservation(rel, signReleaseReservation(AR1_KEY, rel), hints(101));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ReservationNotActive.selector, reservationId, ReservationStatus.Released
            ),
            hints(101)
        );
    }

    function test_RevertWhen_TransferredTwice() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(SOLO_KEY, soloReservation);
        submitTransferReservation(r, s, hints(soloStart));
        (r, s) = _prepare(SOLO_KEY, soloReservation);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ReservationNotActive.selector, soloReservation, ReservationStatus.Transferred
            ),
            hints(soloStart)
        );
    }

    function test_RevertWhen_ReservationUnknown() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.ReservationNotFound.selector, uint64(999)), hints(101)
        );
    }

    function test_RevertWhen_HintsCoverPart() public {
        setLabel(defineLabel("CORSIA"), true, range(101, 110), hints(101));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.LockedQuantityMismatch.selector, reservationId, uint64(100), uint64(10)
            ),
            hints(101)
        );
    }

    function test_RevertWhen_SignedAsRelease() public {
        ReservationDecisionRequest memory r = reservationDecisionRequest(AR1_KEY, reservationId);
        bytes memory s = signReleaseReservation(AR1_KEY, r);
        address recovered = recoverSigner(digestOf(this.hashReservationDecision(r, false)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(101)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(SOLO_KEY, soloReservation);
        submitTransferReservation(r, s, hints(soloStart));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, vm.addr(SOLO_KEY), r.nonce + 1),
            hints(soloStart)
        );
    }
}
