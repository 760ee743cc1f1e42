// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountStatus, UnitState} from "../../../src/libraries/RegistryTypes.sol";
import {PlatformStatus, EscrowStatus, ReleaseEscrowRequest} from "../../../src/libraries/PlatformTypes.sol";

/// @notice releaseEscrow (B.5): only the platform returns escrowed units to the seller's free holdings; the
/// registry administrator may override. The seller cannot pull them back alone.
contract ReleaseEscrowTest is PlatformTest {
    uint64 internal escrowId;

    function setUp() public override {
        super.setUp();
        escrowId = escrowUnits(301, 400, 1);
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (ReleaseEscrowRequest memory r, bytes memory s)
    {
        r = releaseEscrowRequest(key, id);
        s = signReleaseEscrow(key, r);
    }

    function _expectRefused(
        ReleaseEscrowRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitReleaseEscrow(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_PlatformReleases() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(301, 400, seller, UnitState.Held, 0);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.EscrowReleased(escrowId, seller, platformSigner, 100);
        submitReleaseEscrow(r, s, hints(301));
        assertBlock(301, 400, seller, UnitState.Held, 0);
        assertEq(uint256(platforms.getEscrow(escrowId).status), uint256(EscrowStatus.Released), "status");
        assertEq(unitsIn(seller, UnitState.Held, 1, ISSUED), ISSUED, "all free again");
    }

    function test_AdministratorOverrides() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, escrowId);
        submitReleaseEscrow(r, s, hints(301));
        assertBlock(301, 400, seller, UnitState.Held, 0);
    }

    function test_RevertWhen_SellerPullsBack() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, escrowId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.NotEscrowController.selector, escrowId, ar1), hints(301)
        );
    }

    function test_RevertWhen_OtherPlatformReleases() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(OTHER_SIGNER_KEY, escrowId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IPlatforms.NotEscrowController.selector, escrowId, otherSigner),
            hints(301)
        );
    }

    function test_RevertWhen_PlatformSuspended() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform), hints(301)
        );
    }

    function test_RevertWhen_SellerSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(301)
        );
    }

    function test_RevertWhen_ReleasedTwice() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        submitReleaseEscrow(r, s, hints(301));
        (r, s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IPlatforms.EscrowNotActive.selector, escrowId, EscrowStatus.Released),
            hints(301)
        );
    }

    function test_RevertWhen_AlreadySettled() public {
        submitSettleEscrow(
            settleEscrowRequest(PLATFORM_SIGNER_KEY, escrowId, buyer),
            signSettleEscrow(PLATFORM_SIGNER_KEY, settleEscrowRequest(PLATFORM_SIGNER_KEY, escrowId, buyer)),
            hints(301)
        );
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IPlatforms.EscrowNotActive.selector, escrowId, EscrowStatus.Settled),
            hints(301)
        );
    }

    function test_RevertWhen_EscrowUnknown() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.EscrowNotFound.selector, uint64(999)), hints(301)
        );
    }

    function test_RevertWhen_HintIsHeldBlock() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, uint64(401), uint64(1000), UnitState.Held, 0
            ),
            hints(401)
        );
    }

    function test_RevertWhen_IdAlteredAfterSigning() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        r.escrowId = escrowId + 1;
        address recovered = recoverSigner(digestOf(this.hashReleaseEscrow(r)), s);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, platformSigner, recovered),
            hints(301)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (ReleaseEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId);
        submitReleaseEscrow(r, s, hints(301));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, platformSigner, r.nonce + 1),
            hints(301)
        );
    }
}
