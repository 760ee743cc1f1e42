// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {PlatformModule} from "../../../src/modules/PlatformModule.sol";
import {CertificateModule} from "../../../src/modules/CertificateModule.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {PlatformStorage} from "../../../src/libraries/PlatformStorage.sol";
import {UnitState} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    ConsentStatus,
    ReservationStatus,
    EscrowStatus,
    AssociationStatus,
    Platform,
    RegisterPlatformRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice Platform views, constants, the storage namespace and the shared operation ids.
contract PlatformViewsTest is PlatformTest {
    function test_storageSlotIsErc7201OfItsNamespace() public pure {
        bytes32 expected = keccak256(abi.encode(uint256(keccak256("registry.storage.Platforms")) - 1))
            & ~bytes32(uint256(0xff));
        assertEq(PlatformStorage.SLOT, expected, "namespace slot");
    }

    function test_thirdPartyRegistryRole() public view {
        assertEq(certificates.THIRD_PARTY_REGISTRY_ROLE(), keccak256("THIRD_PARTY_REGISTRY_ROLE"), "role");
    }

    function test_getPlatform() public view {
        Platform memory p = platforms.getPlatform(platform);
        assertEq(uint256(p.status), uint256(PlatformStatus.Active), "status");
        assertEq(p.custodialAccount, custodial, "custody");
        assertEq(platforms.platformOfSigner(platformSigner), platform, "signer");
        assertEq(platforms.platformOfSigner(otherSigner), otherPlatform, "other signer");
        assertEq(platforms.platformOfCustodialAccount(custodial), platform, "custodian");
        assertEq(platforms.platformOfCustodialAccount(otherCustodial), otherPlatform, "other custodian");
    }

    function test_unknownIdsReadAsNone() public view {
        assertEq(uint256(platforms.getPlatform(outsider).status), uint256(PlatformStatus.None), "platform");
        assertEq(platforms.platformOfSigner(outsider), address(0), "signer");
        assertEq(platforms.platformOfCustodialAccount(seller), address(0), "holding account is no custody");
        assertEq(uint256(platforms.getConsent(999).status), uint256(ConsentStatus.None), "consent");
        assertEq(
            uint256(platforms.getReservation(999).status), uint256(ReservationStatus.None), "reservation"
        );
        assertEq(uint256(platforms.getEscrow(999).status), uint256(EscrowStatus.None), "escrow");
        assertEq(
            uint256(certificates.getAssociation(999).status), uint256(AssociationStatus.None), "association"
        );
        assertEq(certificates.certificateAssociation(thirdParty, CERTIFICATE), 0, "certificate");
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Holdings), 0, "active consent");
    }

    function test_idsComeFromOneOperationCounter() public {
        uint64 first = nextOperationId();
        uint64 consentId = grantConsent(seller, platform, ConsentScope.Reserved);
        uint64 reservationId = reserveUnits(1, 10, 1);
        uint64 transferId = initiatePending(11, 20, 11);
        uint64 escrowId = escrowUnits(21, 30, 21);
        uint64 associationId = associateUnits(31, 40, 31, CERTIFICATE);
        uint64 cancellationId = cancelUnits(AR1_KEY, seller, range(41, 50), hints(41));
        assertEq(consentId, first, "consent");
        assertEq(reservationId, first + 1, "reservation");
        assertEq(transferId, first + 2, "transfer");
        // escrowUnits granted the Escrowed consent first.
        assertEq(escrowId, first + 4, "escrow");
        assertEq(associationId, first + 5, "association");
        assertEq(cancellationId, first + 6, "cancellation");
        // A block's lock names its operation.
        assertBlock(1, 10, seller, UnitState.Reserved, reservationId);
        assertBlock(11, 20, seller, UnitState.Pending, transferId);
        assertBlock(21, 30, seller, UnitState.Escrowed, escrowId);
        assertBlock(31, 40, seller, UnitState.Associated, associationId);
        assertBlock(41, 50, seller, UnitState.Cancelled, cancellationId);
    }

    function test_modulesCalledDirectlyCanDoNothing() public {
        PlatformModule module = new PlatformModule();
        RegisterPlatformRequest memory r = registerPlatformRequest(outsider, custodial, new address[](0));
        bytes memory s = signRegisterPlatform(ADMIN_KEY, r);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, relayer, keccak256("RELAYER_ROLE")
            )
        );
        vm.prank(relayer);
        module.registerPlatform(r, s);
    }

    function test_moduleSelectorsAreRouted() public {
        bytes4[] memory platformSelectors = new PlatformModule().moduleSelectors();
        bytes4[] memory certificateSelectors = new CertificateModule().moduleSelectors();
        assertEq(platformSelectors.length, 18, "platform selectors");
        assertEq(certificateSelectors.length, 6, "certificate selectors");
        for (uint256 i; i < platformSelectors.length; ++i) {
            for (uint256 j; j < certificateSelectors.length; ++j) {
                assertTrue(platformSelectors[i] != certificateSelectors[j], "no selector claimed twice");
            }
            _assertRouted(platformSelectors[i]);
        }
        for (uint256 j; j < certificateSelectors.length; ++j) {
            _assertRouted(certificateSelectors[j]);
        }
    }

    /// @dev The registry hands `selector` to a module instead of refusing it as unknown. Called with
    /// the bare selector, a routed function reverts while decoding its arguments, or answers.
    function _assertRouted(bytes4 selector) internal {
        (, bytes memory ret) = address(registry).call(abi.encodePacked(selector));
        assertTrue(
            keccak256(ret)
                != keccak256(abi.encodeWithSelector(IRegistryBase.UnknownFunction.selector, selector)),
            "selector routed by the registry"
        );
    }
}
