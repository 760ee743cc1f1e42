// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {ICertificates} from "../../../src/interfaces/ICertificates.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountStatus, UnitState} from "../../../src/libraries/RegistryTypes.sol";
import {AssociationStatus, DissociateRequest} from "../../../src/libraries/PlatformTypes.sol";

/// @notice dissociate (C.1): only the association's third-party registry unlocks the units.
contract DissociateTest is PlatformTest {
    uint64 internal associationId;

    function setUp() public override {
        super.setUp();
        associationId = associateUnits(11, 20, 1, CERTIFICATE);
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (DissociateRequest memory r, bytes memory s)
    {
        r = dissociateRequest(key, id);
        s = signDissociate(key, r);
    }

    function _expectRefused(
        DissociateRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitDissociate(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_ThirdPartyDissociates() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(11, 20, seller, UnitState.Held, 0);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit ICertificates.UnitsDissociated(associationId, seller, thirdParty);
        submitDissociate(r, s, hints(11));
        assertBlock(11, 20, seller, UnitState.Held, 0);
        assertEq(
            uint256(certificates.getAssociation(associationId).status),
            uint256(AssociationStatus.Dissociated),
            "status"
        );
        assertEq(
            certificates.certificateAssociation(thirdParty, CERTIFICATE),
            associationId,
            "certificate stays used"
        );
    }

    function test_DissociatedUnitsMoveAgain() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        submitDissociate(r, s, hints(11));
        uint64 transferId = initiate(AR1_KEY, seller, buyer, range(11, 20), hints(11));
        assertBlock(11, 20, seller, UnitState.Pending, transferId);
    }

    function test_RevertWhen_HolderDissociates() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(ICertificates.NotAssociationRegistry.selector, associationId, ar1),
            hints(11)
        );
    }

    function test_RevertWhen_AnotherThirdPartyDissociates() public {
        address secondRegistry = vm.addr(0x3DA);
        bytes32 role = certificates.THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, secondRegistry);
        (DissociateRequest memory r, bytes memory s) = _prepare(0x3DA, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                ICertificates.NotAssociationRegistry.selector, associationId, secondRegistry
            ),
            hints(11)
        );
    }

    function test_RevertWhen_ThirdPartyRoleRevoked() public {
        bytes32 role = certificates.THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.revokeRole(role, thirdParty);
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.MissingRole.selector, thirdParty, role), hints(11)
        );
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(11)
        );
    }

    function test_RevertWhen_DissociatedTwice() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        submitDissociate(r, s, hints(11));
        (r, s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                ICertificates.AssociationNotActive.selector, associationId, AssociationStatus.Dissociated
            ),
            hints(11)
        );
    }

    function test_RevertWhen_AssociationUnknown() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(ICertificates.AssociationNotFound.selector, uint64(999)), hints(11)
        );
    }

    function test_RevertWhen_HintIsHeldBlock() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, uint64(1), uint64(10), UnitState.Held, 0
            ),
            hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (DissociateRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        submitDissociate(r, s, hints(11));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, thirdParty, r.nonce + 1),
            hints(11)
        );
    }
}
