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
    ConsentStatus,
    RevokeConsentRequest,
    ReserveRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice revokeConsent (B.1): any representative withdraws a platform's view; the platform then needs a
/// new consent before units can be reserved or escrowed for it again.
contract RevokeConsentTest is PlatformTest {
    uint64 internal consentId;

    function setUp() public override {
        super.setUp();
        consentId = grantConsent(seller, platform, ConsentScope.Reserved);
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (RevokeConsentRequest memory r, bytes memory s)
    {
        r = revokeConsentRequest(key, id);
        s = signRevokeConsent(key, r);
    }

    function _expectRefused(RevokeConsentRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitRevokeConsent(r, s);
        assertFullStateUnchanged(before);
    }

    function test_RevokesConsent() public {
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR2_KEY, consentId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.ConsentRevoked(consentId, ar2);
        submitRevokeConsent(r, s);
        assertEq(uint256(platforms.getConsent(consentId).status), uint256(ConsentStatus.Revoked), "status");
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Reserved), 0, "no active consent");
    }

    function test_AfterRevocation_PlatformWithoutConsentCannotBeReservedFor() public {
        revokeConsent(consentId);
        ReserveRequest memory r = reserveRequest(AR1_KEY, seller, platform, range(1, 10));
        bytes memory s = signReserve(AR1_KEY, r);
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlatforms.ConsentRequired.selector, seller, platform, ConsentScope.Reserved
            )
        );
        submitReserve(r, s, hints(1));
        assertFullStateUnchanged(before);
    }

    function test_ExistingReservationOutlivesConsent() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        revokeConsent(consentId);
        assertBlock(1, 10, seller, UnitState.Reserved, reservationId);
    }

    function test_WhenAccountSuspended_StillRevokes() public {
        setStatus(seller, AccountStatus.Suspended);
        revokeConsent(consentId);
        assertEq(uint256(platforms.getConsent(consentId).status), uint256(ConsentStatus.Revoked), "status");
    }

    function test_WhenPlatformSuspended_StillRevokes() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        revokeConsent(consentId);
        assertEq(uint256(platforms.getConsent(consentId).status), uint256(ConsentStatus.Revoked), "status");
    }

    function test_RevertWhen_RevokedTwice() public {
        revokeConsent(consentId);
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR1_KEY, consentId);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.ConsentNotActive.selector, consentId));
    }

    function test_RevertWhen_ConsentUnknown() public {
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR1_KEY, 999);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.ConsentNotFound.selector, uint64(999)));
    }

    function test_RevertWhen_IdIsAnotherOperation() public {
        uint64 reservationId = reserveUnits(1, 10, 1);
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR1_KEY, reservationId);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.ConsentNotFound.selector, reservationId));
    }

    function test_RevertWhen_SignedByPlatform() public {
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, consentId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, platformSigner)
        );
    }

    function test_RevertWhen_SignedByRepresentativeOfAnotherAccount() public {
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR3_KEY, consentId);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar3));
    }

    function test_RevertWhen_IdAlteredAfterSigning() public {
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR1_KEY, consentId);
        r.consentId = consentId + 1;
        address recovered = recoverSigner(digestOf(this.hashRevokeConsent(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
    }

    function test_RevertWhen_SignatureReplayed() public {
        (RevokeConsentRequest memory r, bytes memory s) = _prepare(AR1_KEY, consentId);
        submitRevokeConsent(r, s);
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1));
    }
}
