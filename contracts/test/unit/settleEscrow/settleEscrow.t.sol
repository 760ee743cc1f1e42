// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountKind, AccountStatus, UnitState} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    EscrowStatus,
    Escrow,
    SettleEscrowRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice settleEscrow (B.5): only the platform (one of its signers) settles escrowed units to a buyer;
/// the registry administrator may override.
contract SettleEscrowTest is PlatformTest {
    uint64 internal escrowId;

    function setUp() public override {
        super.setUp();
        escrowId = escrowUnits(301, 400, 1);
    }

    function _prepare(uint256 key, uint64 id, uint64 to)
        internal
        view
        returns (SettleEscrowRequest memory r, bytes memory s)
    {
        r = settleEscrowRequest(key, id, to);
        s = signSettleEscrow(key, r);
    }

    function _expectRefused(
        SettleEscrowRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitSettleEscrow(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function _notController(address signer) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IPlatforms.NotEscrowController.selector, escrowId, signer);
    }

    function test_PlatformSettlesToBuyer() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(301, 400, buyer, UnitState.Held, 0);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.EscrowSettled(escrowId, buyer, platformSigner, 100);
        submitSettleEscrow(r, s, hints(301));

        assertBlock(301, 400, buyer, UnitState.Held, 0);
        Escrow memory e = platforms.getEscrow(escrowId);
        assertEq(uint256(e.status), uint256(EscrowStatus.Settled), "status");
        assertEq(e.toAccount, buyer, "buyer recorded");
        assertEq(unitsIn(seller, UnitState.Held, 1, ISSUED), ISSUED - 100, "seller keeps the rest");
        assertEq(unitsIn(buyer, UnitState.Held, 1, ISSUED), 100, "buyer");
    }

    function test_BuyerCanUseSettledUnits() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        submitSettleEscrow(r, s, hints(301));
        initiate(AR3_KEY, buyer, seller, range(301, 310), hints(301));
        assertBlock(301, 310, seller, UnitState.Held, 0);
    }

    function test_SettlesEveryBlockAfterSplit() public {
        setLabel(defineLabel("CORSIA"), true, range(350, 359), hints(301));
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        uint64[] memory starts = new uint64[](3);
        starts[0] = 301;
        starts[1] = 350;
        starts[2] = 360;
        submitSettleEscrow(r, s, starts);
        assertEq(unitsIn(buyer, UnitState.Held, 1, ISSUED), 100, "buyer");
    }

    function test_AdministratorOverrides() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, escrowId, buyer);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.EscrowSettled(escrowId, buyer, adminAddr, 100);
        submitSettleEscrow(r, s, hints(301));
        assertBlock(301, 400, buyer, UnitState.Held, 0);
    }

    function test_WhenPlatformSuspended_AdministratorOverrides() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, escrowId, buyer);
        submitSettleEscrow(r, s, hints(301));
        assertBlock(301, 400, buyer, UnitState.Held, 0);
    }

    function test_WhenConsentRevoked_PlatformStillSettles() public {
        revokeConsent(platforms.activeConsent(seller, platform, ConsentScope.Escrowed));
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        submitSettleEscrow(r, s, hints(301));
        assertBlock(301, 400, buyer, UnitState.Held, 0);
    }

    function test_SettlesIntoCustodialAccount() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, custodial);
        submitSettleEscrow(r, s, hints(301));
        assertBlock(301, 400, custodial, UnitState.Held, 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Only the platform settles
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_SellerSettles() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(AR1_KEY, escrowId, buyer);
        _expectRefused(r, s, _notController(ar1), hints(301));
    }

    function test_RevertWhen_BuyerSettles() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(AR3_KEY, escrowId, buyer);
        _expectRefused(r, s, _notController(ar3), hints(301));
    }

    function test_RevertWhen_PlatformSettlesUnitsNotEscrowedToIt() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(OTHER_SIGNER_KEY, escrowId, buyer);
        _expectRefused(r, s, _notController(otherSigner), hints(301));
    }

    function test_RevertWhen_PlatformAddressItselfIsNoSigner() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_KEY, escrowId, buyer);
        _expectRefused(r, s, _notController(platform), hints(301));
    }

    function test_RevertWhen_CustodialRepresentativeSettles() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(CUSTODIAN_KEY, escrowId, buyer);
        _expectRefused(r, s, _notController(custodian), hints(301));
    }

    function test_RevertWhen_PlatformHintsHeldUnits() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, uint64(1), uint64(300), UnitState.Held, 0
            ),
            hints(1)
        );
    }

    function test_RevertWhen_PlatformHintsAnotherEscrowOfItsOwn() public {
        uint64 second = escrowUnits(501, 600, 401);
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, uint64(501), uint64(600), UnitState.Escrowed, second
            ),
            hints2(301, 501)
        );
    }

    function test_RevertWhen_PlatformSuspended() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform), hints(301)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Other refusals
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_SettledTwice() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        submitSettleEscrow(r, s, hints(301));
        (r, s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IPlatforms.EscrowNotActive.selector, escrowId, EscrowStatus.Settled),
            hints(301)
        );
    }

    function test_RevertWhen_EscrowUnknown() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, 999, buyer);
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.EscrowNotFound.selector, uint64(999)), hints(301)
        );
    }

    function test_RevertWhen_BuyerIsSeller() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, seller);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.SameAccount.selector, seller), hints(301));
    }

    function test_RevertWhen_BuyerSuspended() public {
        setStatus(buyer, AccountStatus.Suspended);
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, buyer), hints(301)
        );
    }

    function test_RevertWhen_BuyerUnknown() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, 5);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, uint64(5)), hints(301)
        );
    }

    function test_RevertWhen_BuyerIsCancellationAccount() public {
        uint64 sink = openAccountOfKind(AccountKind.Cancellation);
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, sink);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.AccountCannotReceive.selector, sink, AccountKind.Cancellation
            ),
            hints(301)
        );
    }

    function test_RevertWhen_SellerSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(301)
        );
    }

    function test_RevertWhen_HintsCoverPart() public {
        setLabel(defineLabel("CORSIA"), true, range(350, 359), hints(301));
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.LockedQuantityMismatch.selector, escrowId, uint64(100), uint64(49)
            ),
            hints(301)
        );
    }

    function test_RevertWhen_BuyerAlteredAfterSigning() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        r.toAccount = custodial;
        address recovered = recoverSigner(digestOf(this.hashSettleEscrow(r)), s);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, platformSigner, recovered),
            hints(301)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (SettleEscrowRequest memory r, bytes memory s) = _prepare(PLATFORM_SIGNER_KEY, escrowId, buyer);
        submitSettleEscrow(r, s, hints(301));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, platformSigner, r.nonce + 1),
            hints(301)
        );
    }
}
