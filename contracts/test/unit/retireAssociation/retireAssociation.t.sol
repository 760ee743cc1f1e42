// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {ICertificates} from "../../../src/interfaces/ICertificates.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    CancellationPurpose,
    UnitState,
    InitiateTransferRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    AssociationStatus,
    Association,
    RetireAssociationRequest,
    DissociateRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice retireAssociation (C.1): the third-party registry retires its certificate and the associated units
/// are cancelled, with a reason naming the certificate, so the claim cannot be made twice.
contract RetireAssociationTest is PlatformTest {
    uint64 internal associationId;

    function setUp() public override {
        super.setUp();
        associationId = associateUnits(11, 20, 1, CERTIFICATE);
    }

    function _prepare(uint256 key, uint64 id)
        internal
        view
        returns (RetireAssociationRequest memory r, bytes memory s)
    {
        r = retireRequest(key, id);
        s = signRetire(key, r);
    }

    function _expectRefused(
        RetireAssociationRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitRetire(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_RetiresCertificate_CancelsUnits() public {
        uint64 cancellationId = nextOperationId();
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        string memory reason = string.concat(
            "Certificate retired for FY2025 claim (third-party certificate ",
            Strings.toHexString(uint256(CERTIFICATE), 32),
            " of registry ",
            Strings.toChecksumHexString(thirdParty),
            ")"
        );
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(11, 20, seller, UnitState.Cancelled, cancellationId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.UnitsCancelled(
            cancellationId, seller, CancellationPurpose.Voluntary, 10, "Acme Airlines", reason
        );
        cheats.expectEmit(true, true, true, true, address(registry));
        emit ICertificates.AssociationRetired(associationId, cancellationId, thirdParty, CERTIFICATE);
        assertEq(submitRetire(r, s, hints(11)), cancellationId, "cancellation id");

        assertBlock(11, 20, seller, UnitState.Cancelled, cancellationId);
        Association memory a = certificates.getAssociation(associationId);
        assertEq(uint256(a.status), uint256(AssociationStatus.Retired), "status");
        assertEq(a.cancellationId, cancellationId, "cancellation recorded");
    }

    function test_RetiredUnitsNeverMoveAgain() public {
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        submitRetire(r, s, hints(11));
        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(11, 20));
        bytes memory ts = signInitiate(AR1_KEY, t);
        vm.expectRevert(
            abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, uint64(11), uint64(20))
        );
        submitInitiate(t, ts, hints(11));
    }

    function test_RevertWhen_RetiredTwice() public {
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        submitRetire(r, s, hints(11));
        (r, s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                ICertificates.AssociationNotActive.selector, associationId, AssociationStatus.Retired
            ),
            hints(11)
        );
    }

    function test_RevertWhen_RetiredAfterDissociation() public {
        DissociateRequest memory d = dissociateRequest(THIRD_PARTY_KEY, associationId);
        submitDissociate(d, signDissociate(THIRD_PARTY_KEY, d), hints(11));
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                ICertificates.AssociationNotActive.selector, associationId, AssociationStatus.Dissociated
            ),
            hints(11)
        );
    }

    function test_RevertWhen_HolderRetires() public {
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(AR1_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(ICertificates.NotAssociationRegistry.selector, associationId, ar1),
            hints(11)
        );
    }

    function test_RevertWhen_ThirdPartyRoleRevoked() public {
        bytes32 role = certificates.THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.revokeRole(role, thirdParty);
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.MissingRole.selector, thirdParty, role), hints(11)
        );
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(11)
        );
    }

    function test_RevertWhen_AssociationUnknown() public {
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, 999);
        _expectRefused(
            r, s, abi.encodeWithSelector(ICertificates.AssociationNotFound.selector, uint64(999)), hints(11)
        );
    }

    function test_RevertWhen_HintsCoverPart() public {
        setLabel(defineLabel("CORSIA"), true, range(15, 15), hints(11));
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.LockedQuantityMismatch.selector, associationId, uint64(10), uint64(4)
            ),
            hints(11)
        );
    }

    function test_RevertWhen_ReasonAlteredAfterSigning() public {
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        r.reason = "another claim";
        address recovered = recoverSigner(digestOf(this.hashRetireAssociation(r)), s);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, thirdParty, recovered),
            hints(11)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (RetireAssociationRequest memory r, bytes memory s) = _prepare(THIRD_PARTY_KEY, associationId);
        submitRetire(r, s, hints(11));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, thirdParty, r.nonce + 1),
            hints(11)
        );
    }
}
