// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountStatus} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    ConsentStatus,
    Consent,
    GrantConsentRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice grantConsent (B.1): a representative lets a platform view one scope of the account.
contract GrantConsentTest is PlatformTest {
    function _prepare(uint256 key, uint64 accountId, address p, ConsentScope scope)
        internal
        view
        returns (GrantConsentRequest memory r, bytes memory s)
    {
        r = grantConsentRequest(key, accountId, p, scope);
        s = signGrantConsent(key, r);
    }

    function _expectRefused(GrantConsentRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitGrantConsent(r, s);
        assertFullStateUnchanged(before);
    }

    function test_GrantsConsentWithOperationId() public {
        uint64 expectedId = nextOperationId();
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.ConsentGranted(expectedId, seller, platform, ConsentScope.Holdings);
        uint64 consentId = submitGrantConsent(r, s);

        assertEq(consentId, expectedId, "consent id");
        assertEq(nextOperationId(), expectedId + 1, "operation counter");
        Consent memory c = platforms.getConsent(consentId);
        assertEq(c.accountId, seller, "account");
        assertEq(c.platform, platform, "platform");
        assertEq(uint256(c.scope), uint256(ConsentScope.Holdings), "scope");
        assertEq(uint256(c.status), uint256(ConsentStatus.Active), "status");
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Holdings), consentId, "active");
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Reserved), 0, "other scope");
    }

    function test_EachScopeSeparately() public {
        uint64 a = grantConsent(seller, platform, ConsentScope.Holdings);
        uint64 b = grantConsent(seller, platform, ConsentScope.Reserved);
        uint64 c = grantConsent(seller, platform, ConsentScope.Escrowed);
        uint64 d = grantConsent(seller, otherPlatform, ConsentScope.Reserved);
        assertTrue(a != b && b != c && c != d, "distinct ids");
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Escrowed), c, "escrowed");
        assertEq(platforms.activeConsent(seller, otherPlatform, ConsentScope.Reserved), d, "other platform");
    }

    function test_WhenRevoked_CanGrantAgain() public {
        uint64 first = grantConsent(seller, platform, ConsentScope.Reserved);
        revokeConsent(first);
        uint64 second = grantConsent(seller, platform, ConsentScope.Reserved);
        assertTrue(second != first, "new id");
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Reserved), second, "active");
        assertEq(
            uint256(platforms.getConsent(first).status), uint256(ConsentStatus.Revoked), "first stays revoked"
        );
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        bytes32 role = registry.RELAYER_ROLE();
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        platforms.grantConsent(r, s);
        assertFullStateUnchanged(before);
    }

    function test_RevertWhen_ScopeAlteredAfterSigning() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Reserved);
        r.scope = ConsentScope.Holdings;
        address recovered = recoverSigner(digestOf(this.hashGrantConsent(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
    }

    function test_RevertWhen_PlatformAlteredAfterSigning() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        r.platform = otherPlatform;
        address recovered = recoverSigner(digestOf(this.hashGrantConsent(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
    }

    function test_RevertWhen_SignatureReplayed() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        submitGrantConsent(r, s);
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1));
    }

    function test_RevertWhen_DeadlineExpired() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1)
        );
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(PLATFORM_SIGNER_KEY, seller, platform, ConsentScope.Holdings);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, platformSigner)
        );
    }

    function test_RevertWhen_RepresentativeCannotInitiate() public {
        setRepresentative(seller, rep(ar3, false, false, true));
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR3_KEY, seller, platform, ConsentScope.Holdings);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar3));
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller));
    }

    function test_RevertWhen_AccountUnknown() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, 77, platform, ConsentScope.Holdings);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, uint64(77)));
    }

    function test_RevertWhen_PlatformUnknown() public {
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, outsider, ConsentScope.Holdings);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.PlatformNotFound.selector, outsider));
    }

    function test_RevertWhen_PlatformSuspended() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, seller, platform, ConsentScope.Holdings);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform));
    }

    function test_RevertWhen_ConsentAlreadyGranted() public {
        uint64 existing = grantConsent(seller, platform, ConsentScope.Escrowed);
        (GrantConsentRequest memory r, bytes memory s) =
            _prepare(AR2_KEY, seller, platform, ConsentScope.Escrowed);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.ConsentAlreadyGranted.selector, seller, platform, ConsentScope.Escrowed, existing
            )
        );
    }
}
