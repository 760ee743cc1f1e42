// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {UnitTest} from "./UnitTest.sol";
import {IRegistryBase} from "../../src/interfaces/IRegistryBase.sol";
import {IPlatforms} from "../../src/interfaces/IPlatforms.sol";
import {ICertificates} from "../../src/interfaces/ICertificates.sol";
import {
    AccountKind,
    ApprovalPolicy,
    UnitState,
    UnitBlock,
    PendingTransfer,
    Range,
    Representative,
    OpenAccountRequest
} from "../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    Reservation,
    RegisterPlatformRequest,
    SetPlatformSignerRequest,
    SetPlatformStatusRequest,
    GrantConsentRequest,
    RevokeConsentRequest,
    ReserveRequest,
    ReservationDecisionRequest,
    EscrowRequest,
    SettleEscrowRequest,
    ReleaseEscrowRequest,
    AssociateRequest,
    DissociateRequest,
    RetireAssociationRequest
} from "../../src/libraries/PlatformTypes.sol";

/// @notice Base of the platform-model unit tests: the unit suite's seller (two-person, ar1 + ar2, serials
/// [1, 1000]) and buyer (single, ar3), plus two registered platforms with their own custodial accounts and
/// signers, and a third-party registry. Helpers build, sign and submit each platform request separately,
/// so that a test can place `expectRevert` or `expectEmit` right before the relayer's call.
abstract contract PlatformTest is UnitTest {
    uint256 internal constant PLATFORM_KEY = 0x9A7F;
    uint256 internal constant PLATFORM_SIGNER_KEY = 0x9A51;
    uint256 internal constant OTHER_PLATFORM_KEY = 0x9A70;
    uint256 internal constant OTHER_SIGNER_KEY = 0x9A52;
    uint256 internal constant CUSTODIAN_KEY = 0xC057;
    uint256 internal constant THIRD_PARTY_KEY = 0x3D9;

    bytes32 internal constant CERTIFICATE = "GS-VER-2025-000001";

    IPlatforms internal platforms;
    ICertificates internal certificates;

    address internal platform;
    address internal platformSigner;
    address internal otherPlatform;
    address internal otherSigner;
    address internal custodian;
    address internal thirdParty;

    /// @dev Single policy; custodian is its only representative.
    uint64 internal custodial;
    /// @dev The other platform's custodial account; custodian represents it too.
    uint64 internal otherCustodial;

    function setUp() public virtual override {
        super.setUp();
        platforms = IPlatforms(address(registry));
        certificates = ICertificates(address(registry));
        platform = vm.addr(PLATFORM_KEY);
        platformSigner = vm.addr(PLATFORM_SIGNER_KEY);
        otherPlatform = vm.addr(OTHER_PLATFORM_KEY);
        otherSigner = vm.addr(OTHER_SIGNER_KEY);
        custodian = vm.addr(CUSTODIAN_KEY);
        thirdParty = vm.addr(THIRD_PARTY_KEY);

        custodial = openCustodialAccount();
        otherCustodial = openCustodialAccount();
        registerPlatform(platform, custodial, platformSigner);
        registerPlatform(otherPlatform, otherCustodial, otherSigner);
        bytes32 role = certificates.THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, thirdParty);
    }

    // ---------------------------------------------------------------------------------------------
    // State digest: the core's plus the platform namespace
    // ---------------------------------------------------------------------------------------------

    /// @dev stateDigest() plus every platform-model record with an id below the operation counter, both
    /// platforms, the signer and custodian maps, the seller's active consents, the known certificate and
    /// the nonces of the platform actors.
    function fullDigest() internal view returns (bytes32 digest) {
        digest = stateDigest();
        address[6] memory actors =
            [platform, platformSigner, otherPlatform, otherSigner, custodian, thirdParty];
        for (uint256 i; i < actors.length; ++i) {
            digest = keccak256(
                abi.encode(
                    digest,
                    registry.nonces(actors[i]),
                    platforms.getPlatform(actors[i]),
                    platforms.platformOfSigner(actors[i])
                )
            );
        }
        (uint64 accountEnd,,, uint64 operationEnd,) = registry.counters();
        for (uint64 id = FIRST_ACCOUNT_ID; id < accountEnd; ++id) {
            digest = keccak256(abi.encode(digest, platforms.platformOfCustodialAccount(id)));
            for (uint256 i; i < actors.length; ++i) {
                digest = keccak256(abi.encode(digest, registry.representativeRights(id, actors[i])));
            }
        }
        for (uint64 id = 1; id < operationEnd; ++id) {
            digest = keccak256(
                abi.encode(
                    digest,
                    platforms.getConsent(id),
                    platforms.getReservation(id),
                    platforms.getEscrow(id),
                    certificates.getAssociation(id)
                )
            );
        }
        for (uint8 scope; scope < 3; ++scope) {
            digest = keccak256(
                abi.encode(
                    digest,
                    platforms.activeConsent(seller, platform, ConsentScope(scope)),
                    platforms.activeConsent(seller, otherPlatform, ConsentScope(scope))
                )
            );
        }
        digest = keccak256(abi.encode(digest, certificates.certificateAssociation(thirdParty, CERTIFICATE)));
    }

    function assertFullStateUnchanged(bytes32 before) internal view {
        assertEq(fullDigest(), before, "a refused request changed registry state");
    }

    /// @dev The revert of a request that meets units of `[start, end]` in `state` under `lockId`.
    function unitsLocked(uint64 start, uint64 end, UnitState state, uint64 lockId)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, start, end, state, lockId);
    }

    /// @dev Sum of the units in `[from, to]` that `accountId` holds in `state`, walking the blocks.
    function unitsIn(uint64 accountId, UnitState state, uint64 from, uint64 to)
        internal
        view
        returns (uint256 n)
    {
        for (uint64 s = from; s <= to;) {
            UnitBlock memory b = blockAt(s);
            if (b.account == accountId && b.state == state) n += (b.end < to ? b.end : to) - s + 1;
            s = b.end + 1;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Request builders (signed by the caller of the matching sign* helper)
    // ---------------------------------------------------------------------------------------------

    function one(address a) internal pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = a;
    }

    function registerPlatformRequest(address p, uint64 custodialAccount, address[] memory signers)
        internal
        view
        returns (RegisterPlatformRequest memory)
    {
        return RegisterPlatformRequest({
            signer: adminAddr,
            platform: p,
            name: "Carbon Exchange Pty Ltd",
            custodialAccount: custodialAccount,
            signers: signers,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function setPlatformSignerRequest(address p, address who, bool enabled)
        internal
        view
        returns (SetPlatformSignerRequest memory)
    {
        return SetPlatformSignerRequest({
            signer: adminAddr,
            platform: p,
            platformSigner: who,
            enabled: enabled,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function setPlatformStatusRequest(address p, PlatformStatus status)
        internal
        view
        returns (SetPlatformStatusRequest memory)
    {
        return SetPlatformStatusRequest({
            signer: adminAddr, platform: p, status: status, nonce: nextNonce(adminAddr), deadline: deadline()
        });
    }

    function grantConsentRequest(uint256 key, uint64 accountId, address p, ConsentScope scope)
        internal
        view
        returns (GrantConsentRequest memory)
    {
        address signer = vm.addr(key);
        return GrantConsentRequest({
            signer: signer,
            accountId: accountId,
            platform: p,
            scope: scope,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function revokeConsentRequest(uint256 key, uint64 consentId)
        internal
        view
        returns (RevokeConsentRequest memory)
    {
        address signer = vm.addr(key);
        return RevokeConsentRequest({
            signer: signer, consentId: consentId, nonce: nextNonce(signer), deadline: deadline()
        });
    }

    function reserveRequest(uint256 key, uint64 accountId, address p, Range[] memory ranges)
        internal
        view
        returns (ReserveRequest memory)
    {
        address signer = vm.addr(key);
        return ReserveRequest({
            signer: signer,
            accountId: accountId,
            platform: p,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function reservationDecisionRequest(uint256 key, uint64 reservationId)
        internal
        view
        returns (ReservationDecisionRequest memory)
    {
        address signer = vm.addr(key);
        return ReservationDecisionRequest({
            signer: signer, reservationId: reservationId, nonce: nextNonce(signer), deadline: deadline()
        });
    }

    function escrowRequest(uint256 key, uint64 accountId, address p, Range[] memory ranges)
        internal
        view
        returns (EscrowRequest memory)
    {
        address signer = vm.addr(key);
        return EscrowRequest({
            signer: signer,
            accountId: accountId,
            platform: p,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function settleEscrowRequest(uint256 key, uint64 escrowId, uint64 toAccount)
        internal
        view
        returns (SettleEscrowRequest memory)
    {
        address signer = vm.addr(key);
        return SettleEscrowRequest({
            signer: signer,
            escrowId: escrowId,
            toAccount: toAccount,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function releaseEscrowRequest(uint256 key, uint64 escrowId)
        internal
        view
        returns (ReleaseEscrowRequest memory)
    {
        address signer = vm.addr(key);
        return ReleaseEscrowRequest({
            signer: signer, escrowId: escrowId, nonce: nextNonce(signer), deadline: deadline()
        });
    }

    function associateRequest(
        uint256 key,
        uint64 accountId,
        address registry3,
        bytes32 certificateId,
        Range[] memory ranges
    ) internal view returns (AssociateRequest memory) {
        address signer = vm.addr(key);
        return AssociateRequest({
            signer: signer,
            accountId: accountId,
            thirdPartyRegistry: registry3,
            certificateId: certificateId,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function dissociateRequest(uint256 key, uint64 associationId)
        internal
        view
        returns (DissociateRequest memory)
    {
        address signer = vm.addr(key);
        return DissociateRequest({
            signer: signer, associationId: associationId, nonce: nextNonce(signer), deadline: deadline()
        });
    }

    function retireRequest(uint256 key, uint64 associationId)
        internal
        view
        returns (RetireAssociationRequest memory)
    {
        address signer = vm.addr(key);
        return RetireAssociationRequest({
            signer: signer,
            associationId: associationId,
            beneficiary: "Acme Airlines",
            reason: "Certificate retired for FY2025 claim",
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    // ---------------------------------------------------------------------------------------------
    // Signing
    // ---------------------------------------------------------------------------------------------

    function signRegisterPlatform(uint256 key, RegisterPlatformRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashRegisterPlatform(r));
    }

    function signSetPlatformSigner(uint256 key, SetPlatformSignerRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashSetPlatformSigner(r));
    }

    function signSetPlatformStatus(uint256 key, SetPlatformStatusRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashSetPlatformStatus(r));
    }

    function signGrantConsent(uint256 key, GrantConsentRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashGrantConsent(r));
    }

    function signRevokeConsent(uint256 key, RevokeConsentRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashRevokeConsent(r));
    }

    function signReserve(uint256 key, ReserveRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashReserve(r));
    }

    function signReleaseReservation(uint256 key, ReservationDecisionRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashReservationDecision(r, true));
    }

    function signTransferReservation(uint256 key, ReservationDecisionRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashReservationDecision(r, false));
    }

    function signEscrow(uint256 key, EscrowRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashEscrow(r));
    }

    function signSettleEscrow(uint256 key, SettleEscrowRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashSettleEscrow(r));
    }

    function signReleaseEscrow(uint256 key, ReleaseEscrowRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashReleaseEscrow(r));
    }

    function signAssociate(uint256 key, AssociateRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashAssociate(r));
    }

    function signDissociate(uint256 key, DissociateRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashDissociate(r));
    }

    function signRetire(uint256 key, RetireAssociationRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashRetireAssociation(r));
    }

    // ---------------------------------------------------------------------------------------------
    // Submission by the relayer: exactly one external call after the prank
    // ---------------------------------------------------------------------------------------------

    function submitRegisterPlatform(RegisterPlatformRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        platforms.registerPlatform(r, sig);
    }

    function submitSetPlatformSigner(SetPlatformSignerRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        platforms.setPlatformSigner(r, sig);
    }

    function submitSetPlatformStatus(SetPlatformStatusRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        platforms.setPlatformStatus(r, sig);
    }

    function submitGrantConsent(GrantConsentRequest memory r, bytes memory sig) internal returns (uint64) {
        vm.prank(relayer);
        return platforms.grantConsent(r, sig);
    }

    function submitRevokeConsent(RevokeConsentRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        platforms.revokeConsent(r, sig);
    }

    function submitReserve(ReserveRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return platforms.reserve(r, sig, starts);
    }

    function submitReleaseReservation(
        ReservationDecisionRequest memory r,
        bytes memory sig,
        uint64[] memory starts
    ) internal {
        vm.prank(relayer);
        platforms.releaseReservation(r, sig, starts);
    }

    function submitTransferReservation(
        ReservationDecisionRequest memory r,
        bytes memory sig,
        uint64[] memory starts
    ) internal returns (uint64) {
        vm.prank(relayer);
        uint64 transferId = platforms.transferReservation(r, sig, starts);
        // The reservation keeps its account, platform and quantity once transferred. A refused
        // transfer (under expectRevert) returns id 0.
        Reservation memory reservation = platforms.getReservation(r.reservationId);
        if (transferId != 0 && _isTwoPerson(reservation.accountId)) {
            notePending(
                transferId,
                PendingTransfer({
                    fromAccount: reservation.accountId,
                    toAccount: platforms.getPlatform(reservation.platform).custodialAccount,
                    quantity: reservation.quantity,
                    initiator: r.signer
                })
            );
        }
        return transferId;
    }

    function submitEscrow(EscrowRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return platforms.escrow(r, sig, starts);
    }

    function submitSettleEscrow(SettleEscrowRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
    {
        vm.prank(relayer);
        platforms.settleEscrow(r, sig, starts);
    }

    function submitReleaseEscrow(ReleaseEscrowRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
    {
        vm.prank(relayer);
        platforms.releaseEscrow(r, sig, starts);
    }

    function submitAssociate(AssociateRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return certificates.associate(r, sig, starts);
    }

    function submitDissociate(DissociateRequest memory r, bytes memory sig, uint64[] memory starts) internal {
        vm.prank(relayer);
        certificates.dissociate(r, sig, starts);
    }

    function submitRetire(RetireAssociationRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return certificates.retireAssociation(r, sig, starts);
    }

    // ---------------------------------------------------------------------------------------------
    // Scenario helpers (sign and submit in one step)
    // ---------------------------------------------------------------------------------------------

    /// @dev A Custodial account, single policy, whose only representative is `custodian`.
    function openCustodialAccount() internal returns (uint64) {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(vm.addr(CUSTODIAN_KEY), true, true, true);
        return openAccountOfKindWith(AccountKind.Custodial, ApprovalPolicy.Single, reps);
    }

    function openAccountOfKindWith(AccountKind kind, ApprovalPolicy policy, Representative[] memory reps)
        internal
        returns (uint64)
    {
        OpenAccountRequest memory r = openAccountRequest(policy, reps);
        r.kind = kind;
        return submitOpenAccount(r, signOpenAccount(ADMIN_KEY, r));
    }

    function registerPlatform(address p, uint64 custodialAccount, address signer) internal {
        RegisterPlatformRequest memory r = registerPlatformRequest(p, custodialAccount, one(signer));
        submitRegisterPlatform(r, signRegisterPlatform(ADMIN_KEY, r));
    }

    function setPlatformStatus(address p, PlatformStatus status) internal {
        SetPlatformStatusRequest memory r = setPlatformStatusRequest(p, status);
        submitSetPlatformStatus(r, signSetPlatformStatus(ADMIN_KEY, r));
    }

    function grantConsent(uint64 accountId, address p, ConsentScope scope) internal returns (uint64) {
        GrantConsentRequest memory r = grantConsentRequest(AR1_KEY, accountId, p, scope);
        return submitGrantConsent(r, signGrantConsent(AR1_KEY, r));
    }

    function revokeConsent(uint64 consentId) internal {
        RevokeConsentRequest memory r = revokeConsentRequest(AR1_KEY, consentId);
        submitRevokeConsent(r, signRevokeConsent(AR1_KEY, r));
    }

    /// @dev Grants the Reserved consent to `platform` if needed and reserves `[start, end]` (block at `hint`).
    function reserveUnits(uint64 start, uint64 end, uint64 hint) internal returns (uint64) {
        if (platforms.activeConsent(seller, platform, ConsentScope.Reserved) == 0) {
            grantConsent(seller, platform, ConsentScope.Reserved);
        }
        ReserveRequest memory r = reserveRequest(AR1_KEY, seller, platform, range(start, end));
        return submitReserve(r, signReserve(AR1_KEY, r), hints(hint));
    }

    /// @dev Grants the Escrowed consent to `platform` if needed and escrows `[start, end]` (block at `hint`).
    function escrowUnits(uint64 start, uint64 end, uint64 hint) internal returns (uint64) {
        if (platforms.activeConsent(seller, platform, ConsentScope.Escrowed) == 0) {
            grantConsent(seller, platform, ConsentScope.Escrowed);
        }
        EscrowRequest memory r = escrowRequest(AR1_KEY, seller, platform, range(start, end));
        return submitEscrow(r, signEscrow(AR1_KEY, r), hints(hint));
    }

    /// @dev Associates `[start, end]` (block at `hint`) with `certificateId` of `thirdParty`.
    function associateUnits(uint64 start, uint64 end, uint64 hint, bytes32 certificateId)
        internal
        returns (uint64)
    {
        AssociateRequest memory r =
            associateRequest(AR1_KEY, seller, thirdParty, certificateId, range(start, end));
        return submitAssociate(r, signAssociate(AR1_KEY, r), hints(hint));
    }
}
