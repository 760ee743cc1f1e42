// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountStatus, UnitState} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    ReservationStatus,
    ReservationDecisionRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice releaseReservation (B.4): the holder takes reserved units back into its free holdings at any
/// time, whatever the platform's status or consent.
contract ReleaseReservationTest is PlatformTest {
    uint64 internal reservationId;

    function setUp() public override {
        super.setUp();
        reservationId = reserveUnits(101, 200, 1);
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (ReservationDecisionRequest memory r, bytes memory s)
    {
        r = reservationDecisionRequest(key, id);
        s = signReleaseReservation(key, r);
    }

    function _expectRefused(
        ReservationDecisionRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitReleaseReservation(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_ReleasesReservation() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR2_KEY, reservationId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(101, 200, seller, UnitState.Held, 0);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.ReservationReleased(reservationId, seller, platform, ar2);
        submitReleaseReservation(r, s, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
        assertEq(
            uint256(platforms.getReservation(reservationId).status),
            uint256(ReservationStatus.Released),
            "status"
        );
        assertEq(unitsIn(seller, UnitState.Held, 1, ISSUED), ISSUED, "all free again");
    }

    function test_WhenReservationSplitByLabel_ReleasesEveryBlock() public {
        uint8 labelId = defineLabel("CORSIA");
        setLabel(labelId, true, range(120, 129), hints(101));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        uint64[] memory starts = new uint64[](3);
        starts[0] = 101;
        starts[1] = 120;
        starts[2] = 130;
        submitReleaseReservation(r, s, starts);
        assertBlock(120, 129, seller, UnitState.Held, 0);
        assertEq(labelsAt(120), uint256(1) << labelId, "label kept");
    }

    function test_WhenRepresentativeMayOnlyApprove_Releases() public {
        setRepresentative(seller, rep(ar3, false, false, true));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR3_KEY, reservationId);
        submitReleaseReservation(r, s, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
    }

    function test_WhenPlatformSuspended_Releases() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitReleaseReservation(r, s, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
    }

    function test_WhenConsentRevoked_Releases() public {
        revokeConsent(platforms.activeConsent(seller, platform, ConsentScope.Reserved));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitReleaseReservation(r, s, hints(101));
        assertBlock(101, 200, seller, UnitState.Held, 0);
    }

    function test_RevertWhen_ReleasedTwice() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitReleaseReservation(r, s, hints(101));
        (r, s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ReservationNotActive.selector, reservationId, ReservationStatus.Released
            ),
            hints(101)
        );
    }

    function test_RevertWhen_ReservationUnknown() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.ReservationNotFound.selector, uint64(999)), hints(101)
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

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(101)
        );
    }

    function test_RevertWhen_HintsLeaveOutABlock() public {
        setLabel(defineLabel("CORSIA"), true, range(120, 129), hints(101));
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.LockedQuantityMismatch.selector, reservationId, uint64(100), uint64(29)
            ),
            hints2(101, 120)
        );
    }

    function test_RevertWhen_HintIsHeldBlock() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, uint64(1), uint64(100), UnitState.Held, 0
            ),
            hints(1)
        );
    }

    function test_RevertWhen_HintIsAnotherReservation() public {
        uint64 other = reserveUnits(201, 210, 201);
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, uint64(201), uint64(210), UnitState.Reserved, other
            ),
            hints2(101, 201)
        );
    }

    function test_RevertWhen_HintStartsNoBlock() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, uint64(150)), hints(150)
        );
    }

    function test_RevertWhen_NoHints() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, uint256(0), uint256(256)),
            new uint64[](0)
        );
    }

    function test_RevertWhen_SignedAsTransferReservation() public {
        ReservationDecisionRequest memory r = reservationDecisionRequest(AR1_KEY, reservationId);
        bytes memory s = signTransferReservation(AR1_KEY, r);
        address recovered = recoverSigner(digestOf(this.hashReservationDecision(r, true)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(101)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (ReservationDecisionRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        submitReleaseReservation(r, s, hints(101));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1), hints(101)
        );
    }
}
