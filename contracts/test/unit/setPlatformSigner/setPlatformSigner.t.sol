// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {SetPlatformSignerRequest, SettleEscrowRequest} from "../../../src/libraries/PlatformTypes.sol";

/// @notice setPlatformSigner: the administrator adds and removes a platform's signing addresses.
contract SetPlatformSignerTest is PlatformTest {
    uint256 internal constant NEW_SIGNER_KEY = 0x9A98;

    function _prepare(address p, address who, bool enabled)
        internal
        view
        returns (SetPlatformSignerRequest memory r, bytes memory s)
    {
        r = setPlatformSignerRequest(p, who, enabled);
        s = signSetPlatformSigner(ADMIN_KEY, r);
    }

    function _expectRefused(SetPlatformSignerRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitSetPlatformSigner(r, s);
        assertFullStateUnchanged(before);
    }

    function test_AddsSigner() public {
        address newSigner = vm.addr(NEW_SIGNER_KEY);
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, newSigner, true);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformSignerSet(platform, newSigner, true);
        submitSetPlatformSigner(r, s);
        assertEq(platforms.platformOfSigner(newSigner), platform, "new signer");
        assertEq(platforms.platformOfSigner(platformSigner), platform, "old signer kept");
    }

    function test_WhenAlreadySigner_KeepsIt() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, platformSigner, true);
        submitSetPlatformSigner(r, s);
        assertEq(platforms.platformOfSigner(platformSigner), platform, "signer");
    }

    function test_RemovesSigner() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, platformSigner, false);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformSignerSet(platform, platformSigner, false);
        submitSetPlatformSigner(r, s);
        assertEq(platforms.platformOfSigner(platformSigner), address(0), "removed");
    }

    function test_RemovedSignerCannotSettleEscrow() public {
        uint64 escrowId = escrowUnits(1, 10, 1);
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, platformSigner, false);
        submitSetPlatformSigner(r, s);
        SettleEscrowRequest memory settle = settleEscrowRequest(PLATFORM_SIGNER_KEY, escrowId, buyer);
        bytes memory sig = signSettleEscrow(PLATFORM_SIGNER_KEY, settle);
        vm.expectRevert(
            abi.encodeWithSelector(IPlatforms.NotEscrowController.selector, escrowId, platformSigner)
        );
        submitSettleEscrow(settle, sig, hints(1));
    }

    function test_RemovedSignerCanJoinAnotherPlatform() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, platformSigner, false);
        submitSetPlatformSigner(r, s);
        (r, s) = _prepare(otherPlatform, platformSigner, true);
        submitSetPlatformSigner(r, s);
        assertEq(platforms.platformOfSigner(platformSigner), otherPlatform, "moved");
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, outsider, true);
        bytes32 role = registry.RELAYER_ROLE();
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, platform, role)
        );
        vm.prank(platform);
        platforms.setPlatformSigner(r, s);
        assertFullStateUnchanged(before);
    }

    function test_RevertWhen_SignedByPlatformItself() public {
        SetPlatformSignerRequest memory r = setPlatformSignerRequest(platform, outsider, true);
        r.signer = platformSigner;
        r.nonce = nextNonce(platformSigner);
        bytes memory s = signSetPlatformSigner(PLATFORM_SIGNER_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.MissingRole.selector, platformSigner, registry.REGISTRY_ADMIN_ROLE()
            )
        );
    }

    function test_RevertWhen_EnabledAlteredAfterSigning() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, platformSigner, true);
        r.enabled = false;
        address recovered = recoverSigner(digestOf(this.hashSetPlatformSigner(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, outsider, true);
        submitSetPlatformSigner(r, s);
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, r.nonce + 1)
        );
    }

    function test_RevertWhen_PlatformUnknown() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(outsider, platformSigner, true);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.PlatformNotFound.selector, outsider));
    }

    function test_RevertWhen_SignerZero() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, address(0), true);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.InvalidPlatformSigner.selector, address(0)));
    }

    function test_RevertWhen_SignerSignsForAnotherPlatform() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, otherSigner, true);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSignerTaken.selector, otherSigner, otherPlatform)
        );
    }

    function test_RevertWhen_RemovingAnotherPlatformsSigner() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, otherSigner, false);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.NotPlatformSigner.selector, platform, otherSigner)
        );
    }

    function test_RevertWhen_RemovingNonSigner() public {
        (SetPlatformSignerRequest memory r, bytes memory s) = _prepare(platform, outsider, false);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.NotPlatformSigner.selector, platform, outsider)
        );
    }
}
