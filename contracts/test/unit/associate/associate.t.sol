// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {ICertificates} from "../../../src/interfaces/ICertificates.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    UnitState,
    Range,
    InitiateTransferRequest,
    CancelRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    ConsentScope,
    AssociationStatus,
    Association,
    AssociateRequest,
    ReserveRequest,
    EscrowRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice associate (C.1): units are linked 1:1 to a third-party certificate and locked; a certificate backs
/// units once and units back one certificate at a time.
contract AssociateTest is PlatformTest {
    bytes32 internal constant CERTIFICATE_2 = "GS-VER-2025-000002";

    function _prepare(uint256 key, address registry3, bytes32 certificateId, Range[] memory ranges)
        internal
        view
        returns (AssociateRequest memory r, bytes memory s)
    {
        r = associateRequest(key, seller, registry3, certificateId, ranges);
        s = signAssociate(key, r);
    }

    function _expectRefused(
        AssociateRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitAssociate(r, s, starts);
        assertFullStateUnchanged(before);
    }

    function test_AssociatesUnitsWithCertificate() public {
        uint64 expectedId = nextOperationId();
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(11, 20));
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IRegistryBase.BlockChanged(11, 20, seller, UnitState.Associated, expectedId);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit ICertificates.UnitsAssociated(expectedId, seller, thirdParty, CERTIFICATE, 10);
        uint64 associationId = submitAssociate(r, s, hints(1));

        assertEq(associationId, expectedId, "association id");
        assertBlock(11, 20, seller, UnitState.Associated, associationId);
        Association memory a = certificates.getAssociation(associationId);
        assertEq(a.accountId, seller, "account");
        assertEq(a.thirdPartyRegistry, thirdParty, "registry");
        assertEq(a.certificateId, CERTIFICATE, "certificate");
        assertEq(a.quantity, 10, "quantity");
        assertEq(uint256(a.status), uint256(AssociationStatus.Active), "status");
        assertEq(
            certificates.certificateAssociation(thirdParty, CERTIFICATE), associationId, "certificate used"
        );
    }

    function test_NeedsNoPlatformConsent() public {
        assertEq(platforms.activeConsent(seller, platform, ConsentScope.Holdings), 0, "no consent");
        associateUnits(1, 1, 1, CERTIFICATE);
        assertEq(certificates.certificateAssociation(thirdParty, CERTIFICATE), nextOperationId() - 1, "used");
    }

    // ---------------------------------------------------------------------------------------------
    // Associated units are locked
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_SameUnitsAssociatedTwice() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR2_KEY, thirdParty, CERTIFICATE_2, range(11, 20));
        _expectRefused(r, s, unitsLocked(11, 20, UnitState.Associated, associationId), hints(11));
    }

    function test_RevertWhen_OverlappingUnitsAssociatedTwice() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, thirdParty, CERTIFICATE_2, range(15, 15));
        _expectRefused(r, s, unitsLocked(15, 15, UnitState.Associated, associationId), hints(11));
    }

    function test_RevertWhen_SameCertificateUsedTwice() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(21, 30));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                ICertificates.CertificateAlreadyUsed.selector, thirdParty, CERTIFICATE, associationId
            ),
            hints(21)
        );
    }

    function test_RevertWhen_CertificateReusedAfterDissociation() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        submitDissociate(
            dissociateRequest(THIRD_PARTY_KEY, associationId),
            signDissociate(THIRD_PARTY_KEY, dissociateRequest(THIRD_PARTY_KEY, associationId)),
            hints(11)
        );
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(11, 20));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                ICertificates.CertificateAlreadyUsed.selector, thirdParty, CERTIFICATE, associationId
            ),
            hints(11)
        );
    }

    function test_SameCertificateIdOfAnotherRegistry() public {
        associateUnits(11, 20, 1, CERTIFICATE);
        address secondRegistry = vm.addr(0x3DA);
        bytes32 role = certificates.THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, secondRegistry);
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, secondRegistry, CERTIFICATE, range(21, 30));
        uint64 associationId = submitAssociate(r, s, hints(21));
        assertBlock(21, 30, seller, UnitState.Associated, associationId);
    }

    function test_AssociatedUnitsCannotBeTransferred() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(11, 20));
        bytes memory s = signInitiate(AR1_KEY, t);
        vm.expectRevert(unitsLocked(11, 20, UnitState.Associated, associationId));
        submitInitiate(t, s, hints(11));
    }

    function test_AssociatedUnitsCannotBeCancelledByHolder() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        CancelRequest memory c = cancelRequest(ar1, seller, range(11, 20));
        bytes memory s = signCancel(AR1_KEY, c);
        vm.expectRevert(unitsLocked(11, 20, UnitState.Associated, associationId));
        submitCancel(c, s, hints(11));
    }

    function test_AssociatedUnitsCannotBeReserved() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        grantConsent(seller, platform, ConsentScope.Reserved);
        ReserveRequest memory r = reserveRequest(AR1_KEY, seller, platform, range(11, 20));
        bytes memory s = signReserve(AR1_KEY, r);
        vm.expectRevert(unitsLocked(11, 20, UnitState.Associated, associationId));
        submitReserve(r, s, hints(11));
    }

    function test_AssociatedUnitsCannotBeEscrowed() public {
        uint64 associationId = associateUnits(11, 20, 1, CERTIFICATE);
        grantConsent(seller, platform, ConsentScope.Escrowed);
        EscrowRequest memory e = escrowRequest(AR1_KEY, seller, platform, range(11, 20));
        bytes memory s = signEscrow(AR1_KEY, e);
        vm.expectRevert(unitsLocked(11, 20, UnitState.Associated, associationId));
        submitEscrow(e, s, hints(11));
    }

    // ---------------------------------------------------------------------------------------------
    // Other refusals
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_PendingUnits() public {
        uint64 transferId = initiatePending(1, 10, 1);
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(1, 10));
        _expectRefused(r, s, unitsLocked(1, 10, UnitState.Pending, transferId), hints(1));
    }

    function test_RevertWhen_CancelledUnits() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, uint64(1), uint64(10)),
            hints(1)
        );
    }

    function test_RevertWhen_RegistryLacksRole() public {
        bytes32 role = certificates.THIRD_PARTY_REGISTRY_ROLE();
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, outsider, CERTIFICATE, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.MissingRole.selector, outsider, role), hints(1)
        );
    }

    function test_RevertWhen_CertificateZero() public {
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, bytes32(0), range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(ICertificates.InvalidCertificate.selector, bytes32(0)), hints(1)
        );
    }

    function test_RevertWhen_SignedByThirdParty() public {
        (AssociateRequest memory r, bytes memory s) =
            _prepare(THIRD_PARTY_KEY, thirdParty, CERTIFICATE, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, thirdParty),
            hints(1)
        );
    }

    function test_RevertWhen_RepresentativeCannotInitiate() public {
        setRepresentative(seller, rep(ar3, false, false, true));
        (AssociateRequest memory r, bytes memory s) = _prepare(AR3_KEY, thirdParty, CERTIFICATE, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar3), hints(1)
        );
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller), hints(1)
        );
    }

    function test_RevertWhen_UnitsOfAnotherAccount() public {
        (uint64 start,) = issueTo(buyer, 10);
        (AssociateRequest memory r, bytes memory s) =
            _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(start, start));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, seller, start, start),
            hints(start)
        );
    }

    function test_RevertWhen_CertificateAlteredAfterSigning() public {
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(1, 10));
        r.certificateId = CERTIFICATE_2;
        address recovered = recoverSigner(digestOf(this.hashAssociate(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(1, 10));
        submitAssociate(r, s, hints(1));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1), hints(1)
        );
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (AssociateRequest memory r, bytes memory s) = _prepare(AR1_KEY, thirdParty, CERTIFICATE, range(1, 10));
        bytes32 role = registry.RELAYER_ROLE();
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, thirdParty, role)
        );
        vm.prank(thirdParty);
        certificates.associate(r, s, hints(1));
        assertFullStateUnchanged(before);
    }
}
