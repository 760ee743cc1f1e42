// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryBase} from "../base/RegistryBase.sol";
import {IPlatforms} from "../interfaces/IPlatforms.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {PlatformHashing} from "../libraries/PlatformHashing.sol";
import {PlatformStorage} from "../libraries/PlatformStorage.sol";
import {AccountKind, AccountStatus, ApprovalPolicy, UnitState, Account} from "../libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    ConsentStatus,
    ReservationStatus,
    EscrowStatus,
    Platform,
    Consent,
    Reservation,
    Escrow,
    RegisterPlatformRequest,
    SetPlatformSignerRequest,
    SetPlatformStatusRequest,
    GrantConsentRequest,
    RevokeConsentRequest,
    ReserveRequest,
    ReservationDecisionRequest,
    EscrowRequest,
    SettleEscrowRequest,
    ReleaseEscrowRequest
} from "../libraries/PlatformTypes.sol";

/// @title PlatformModule
/// @notice Trading platforms, view consents, reservations and escrow (CER Class B.1-B.5).
/// @dev Runs only by delegatecall from UnitRegistry, on the registry's storage; its own state lives in the
/// ERC-7201 namespace of PlatformStorage (shared with the CertificateModule). Units move only through RegistryBase's `_moveRange`, so every
/// path applies the core's checks (a locked or cancelled unit cannot be used) and emits BlockChanged.
contract PlatformModule is RegistryBase, IPlatforms, IRegistryModule {
    using PlatformHashing for *;

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](18);
        selectors[0] = IPlatforms.registerPlatform.selector;
        selectors[1] = IPlatforms.setPlatformSigner.selector;
        selectors[2] = IPlatforms.setPlatformStatus.selector;
        selectors[3] = IPlatforms.grantConsent.selector;
        selectors[4] = IPlatforms.revokeConsent.selector;
        selectors[5] = IPlatforms.reserve.selector;
        selectors[6] = IPlatforms.releaseReservation.selector;
        selectors[7] = IPlatforms.transferReservation.selector;
        selectors[8] = IPlatforms.escrow.selector;
        selectors[9] = IPlatforms.settleEscrow.selector;
        selectors[10] = IPlatforms.releaseEscrow.selector;
        selectors[11] = IPlatforms.getPlatform.selector;
        selectors[12] = IPlatforms.platformOfSigner.selector;
        selectors[13] = IPlatforms.platformOfCustodialAccount.selector;
        selectors[14] = IPlatforms.getConsent.selector;
        selectors[15] = IPlatforms.activeConsent.selector;
        selectors[16] = IPlatforms.getReservation.selector;
        selectors[17] = IPlatforms.getEscrow.selector;
    }

    // ---------------------------------------------------------------------------------------------
    // Platforms
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlatforms
    function registerPlatform(RegisterPlatformRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        address platform = request.platform;
        if (platform == address(0) || s.platforms[platform].status != PlatformStatus.None) {
            revert PlatformAlreadyRegistered(platform);
        }
        uint64 custodial = request.custodialAccount;
        Account storage account = _existingAccount(custodial);
        if (account.kind != AccountKind.Custodial) revert CustodialAccountRequired(custodial, account.kind);
        if (account.status == AccountStatus.Closed) revert AccountClosed(custodial);
        address other = s.custodians[custodial];
        if (other != address(0)) revert CustodialAccountTaken(custodial, other);

        s.platforms[platform] = Platform({status: PlatformStatus.Active, custodialAccount: custodial});
        s.custodians[custodial] = platform;
        emit PlatformRegistered(platform, request.name, custodial);
        address[] calldata signers = request.signers;
        for (uint256 i; i < signers.length; ++i) {
            _setSigner(s, platform, signers[i], true);
        }
    }

    /// @inheritdoc IPlatforms
    function setPlatformSigner(SetPlatformSignerRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        _existingPlatform(s, request.platform);
        _setSigner(s, request.platform, request.platformSigner, request.enabled);
    }

    /// @inheritdoc IPlatforms
    function setPlatformStatus(SetPlatformStatusRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        Platform storage platform = _existingPlatform(PlatformStorage.layout(), request.platform);
        PlatformStatus from = platform.status;
        PlatformStatus to = request.status;
        if (to == PlatformStatus.None || to == from) {
            revert InvalidPlatformStatusChange(request.platform, from, to);
        }
        platform.status = to;
        emit PlatformStatusChanged(request.platform, to);
    }

    // ---------------------------------------------------------------------------------------------
    // Consents
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlatforms
    function grantConsent(GrantConsentRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 consentId)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 accountId = request.accountId;
        _requireOpen(accountId);
        _requireRight(accountId, request.signer, _RIGHT_INITIATE);
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        address platform = request.platform;
        _requireActivePlatform(s, platform);
        ConsentScope scope = request.scope;
        uint64 existing = s.activeConsents[accountId][platform][scope];
        if (existing != 0) revert ConsentAlreadyGranted(accountId, platform, scope, existing);

        consentId = _counters.nextOperationId++;
        s.consents[consentId] =
            Consent({accountId: accountId, platform: platform, scope: scope, status: ConsentStatus.Active});
        s.activeConsents[accountId][platform][scope] = consentId;
        emit ConsentGranted(consentId, accountId, platform, scope);
    }

    /// @inheritdoc IPlatforms
    function revokeConsent(RevokeConsentRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        uint64 consentId = request.consentId;
        Consent storage consent = s.consents[consentId];
        if (consent.status == ConsentStatus.None) revert ConsentNotFound(consentId);
        if (consent.status != ConsentStatus.Active) revert ConsentNotActive(consentId);
        // NOTE: no account status check: withdrawing a platform's view only narrows access, so even a
        // suspended account's representatives may do it.
        _requireRight(consent.accountId, request.signer, _RIGHT_APPOINTED);

        consent.status = ConsentStatus.Revoked;
        delete s.activeConsents[consent.accountId][consent.platform][consent.scope];
        emit ConsentRevoked(consentId, request.signer);
    }

    // ---------------------------------------------------------------------------------------------
    // Reservations
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlatforms
    function reserve(ReserveRequest calldata request, bytes calldata signature, uint64[] calldata blockStarts)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 reservationId)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 accountId = request.accountId;
        address platform = request.platform;
        _requireLockPermissions(accountId, request.signer, platform, ConsentScope.Reserved);

        reservationId = _counters.nextOperationId++;
        uint64 quantity =
            _moveRanges(request.ranges, blockStarts, _lockMove(accountId, UnitState.Reserved, reservationId));
        PlatformStorage.layout().reservations[reservationId] = Reservation({
            accountId: accountId,
            platform: platform,
            quantity: quantity,
            status: ReservationStatus.Active,
            transferId: 0
        });
        emit UnitsReserved(reservationId, accountId, platform, quantity);
    }

    /// @inheritdoc IPlatforms
    function releaseReservation(
        ReservationDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(
            request.hash(PlatformHashing.RELEASE_RESERVATION_TYPEHASH),
            request.signer,
            request.nonce,
            request.deadline,
            signature
        );
        uint64 reservationId = request.reservationId;
        Reservation storage reservation = _activeReservation(reservationId);
        uint64 accountId = reservation.accountId;
        _requireOpen(accountId);
        _requireRight(accountId, request.signer, _RIGHT_APPOINTED);

        reservation.status = ReservationStatus.Released;
        _moveLocked(
            reservationId,
            blockStarts,
            _unlockMove(accountId, UnitState.Reserved, reservationId),
            reservation.quantity
        );
        emit ReservationReleased(reservationId, accountId, reservation.platform, request.signer);
    }

    /// @inheritdoc IPlatforms
    function transferReservation(
        ReservationDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 transferId) {
        _verify(
            request.hash(PlatformHashing.TRANSFER_RESERVATION_TYPEHASH),
            request.signer,
            request.nonce,
            request.deadline,
            signature
        );
        return _transferReservation(request.reservationId, request.signer, blockStarts);
    }

    // ---------------------------------------------------------------------------------------------
    // Escrow
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlatforms
    function escrow(EscrowRequest calldata request, bytes calldata signature, uint64[] calldata blockStarts)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 escrowId)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 accountId = request.accountId;
        address platform = request.platform;
        _requireLockPermissions(accountId, request.signer, platform, ConsentScope.Escrowed);

        escrowId = _counters.nextOperationId++;
        uint64 quantity =
            _moveRanges(request.ranges, blockStarts, _lockMove(accountId, UnitState.Escrowed, escrowId));
        PlatformStorage.layout().escrows[escrowId] = Escrow({
            accountId: accountId,
            platform: platform,
            quantity: quantity,
            status: EscrowStatus.Active,
            toAccount: 0
        });
        emit UnitsEscrowed(escrowId, accountId, platform, quantity);
    }

    /// @inheritdoc IPlatforms
    function settleEscrow(
        SettleEscrowRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 escrowId = request.escrowId;
        Escrow storage e = _controlledEscrow(escrowId, request.signer);
        uint64 seller = e.accountId;
        uint64 to = request.toAccount;
        _requireOpen(seller);
        if (to == seller) revert SameAccount(seller);
        _requireCanReceive(to);

        e.status = EscrowStatus.Settled;
        e.toAccount = to;
        Move memory move = Move({
            fromAccount: seller,
            fromState: UnitState.Escrowed,
            fromLock: escrowId,
            toAccount: to,
            toState: UnitState.Held,
            toLock: 0
        });
        uint64 quantity = _moveLocked(escrowId, blockStarts, move, e.quantity);
        emit EscrowSettled(escrowId, to, request.signer, quantity);
    }

    /// @inheritdoc IPlatforms
    function releaseEscrow(
        ReleaseEscrowRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 escrowId = request.escrowId;
        Escrow storage e = _controlledEscrow(escrowId, request.signer);
        uint64 seller = e.accountId;
        _requireOpen(seller);

        e.status = EscrowStatus.Released;
        uint64 quantity =
            _moveLocked(escrowId, blockStarts, _unlockMove(seller, UnitState.Escrowed, escrowId), e.quantity);
        emit EscrowReleased(escrowId, seller, request.signer, quantity);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlatforms
    function getPlatform(address platform) external view returns (Platform memory) {
        return PlatformStorage.layout().platforms[platform];
    }

    /// @inheritdoc IPlatforms
    function platformOfSigner(address platformSigner) external view returns (address) {
        return PlatformStorage.layout().signerPlatform[platformSigner];
    }

    /// @inheritdoc IPlatforms
    function platformOfCustodialAccount(uint64 accountId) external view returns (address) {
        return PlatformStorage.layout().custodians[accountId];
    }

    /// @inheritdoc IPlatforms
    function getConsent(uint64 consentId) external view returns (Consent memory) {
        return PlatformStorage.layout().consents[consentId];
    }

    /// @inheritdoc IPlatforms
    function activeConsent(uint64 accountId, address platform, ConsentScope scope)
        external
        view
        returns (uint64)
    {
        return PlatformStorage.layout().activeConsents[accountId][platform][scope];
    }

    /// @inheritdoc IPlatforms
    function getReservation(uint64 reservationId) external view returns (Reservation memory) {
        return PlatformStorage.layout().reservations[reservationId];
    }

    /// @inheritdoc IPlatforms
    function getEscrow(uint64 escrowId) external view returns (Escrow memory) {
        return PlatformStorage.layout().escrows[escrowId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    function _existingPlatform(PlatformStorage.Layout storage s, address platform)
        private
        view
        returns (Platform storage p)
    {
        p = s.platforms[platform];
        if (p.status == PlatformStatus.None) revert PlatformNotFound(platform);
    }

    function _requireActivePlatform(PlatformStorage.Layout storage s, address platform)
        private
        view
        returns (Platform storage p)
    {
        p = _existingPlatform(s, platform);
        if (p.status == PlatformStatus.Suspended) revert PlatformSuspended(platform);
    }

    function _setSigner(
        PlatformStorage.Layout storage s,
        address platform,
        address platformSigner,
        bool enabled
    ) private {
        if (platformSigner == address(0)) {
            revert InvalidPlatformSigner(platformSigner);
        }
        address current = s.signerPlatform[platformSigner];
        if (enabled) {
            if (current != address(0) && current != platform) {
                revert PlatformSignerTaken(platformSigner, current);
            }
            s.signerPlatform[platformSigner] = platform;
        } else {
            if (current != platform) revert NotPlatformSigner(platform, platformSigner);
            delete s.signerPlatform[platformSigner];
        }
        emit PlatformSignerSet(platform, platformSigner, enabled);
    }

    /// @dev What reserving or escrowing for a platform needs: an open account, a representative who may
    /// initiate, an Active platform, and the account's consent for the platform to see the locked units.
    function _requireLockPermissions(uint64 accountId, address signer, address platform, ConsentScope scope)
        private
        view
    {
        _requireOpen(accountId);
        _requireRight(accountId, signer, _RIGHT_INITIATE);
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        _requireActivePlatform(s, platform);
        if (s.activeConsents[accountId][platform][scope] == 0) {
            revert ConsentRequired(accountId, platform, scope);
        }
    }

    function _activeReservation(uint64 reservationId) private view returns (Reservation storage r) {
        r = PlatformStorage.layout().reservations[reservationId];
        if (r.status == ReservationStatus.None) revert ReservationNotFound(reservationId);
        if (r.status != ReservationStatus.Active) revert ReservationNotActive(reservationId, r.status);
    }

    /// @dev The active escrow, if `signer` may decide it: a signer of its Active platform, or a registry
    /// administrator overriding the platform (whatever its status).
    function _controlledEscrow(uint64 escrowId, address signer) private view returns (Escrow storage e) {
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        e = s.escrows[escrowId];
        if (e.status == EscrowStatus.None) revert EscrowNotFound(escrowId);
        if (e.status != EscrowStatus.Active) revert EscrowNotActive(escrowId, e.status);
        if (hasRole(REGISTRY_ADMIN_ROLE, signer)) return e;
        address platform = e.platform;
        if (s.signerPlatform[signer] != platform) revert NotEscrowController(escrowId, signer);
        _requireActivePlatform(s, platform);
    }

    /// @dev transferReservation after the signature check; a function of its own for the stack.
    function _transferReservation(uint64 reservationId, address signer, uint64[] calldata blockStarts)
        private
        returns (uint64 transferId)
    {
        Reservation storage reservation = _activeReservation(reservationId);
        uint64 from = reservation.accountId;
        bool single = _requireOpen(from).approvalPolicy == ApprovalPolicy.Single;
        _requireRight(from, signer, _RIGHT_INITIATE);
        uint64 custodial =
            _requireActivePlatform(PlatformStorage.layout(), reservation.platform).custodialAccount;
        if (from == custodial) revert SameAccount(from);
        _requireCanReceive(custodial);

        transferId = _counters.nextOperationId++;
        Move memory move = Move({
            fromAccount: from,
            fromState: UnitState.Reserved,
            fromLock: reservationId,
            toAccount: single ? custodial : from,
            toState: single ? UnitState.Held : UnitState.Pending,
            toLock: single ? 0 : transferId
        });
        uint64 quantity = _moveLocked(reservationId, blockStarts, move, reservation.quantity);
        reservation.status = ReservationStatus.Transferred;
        reservation.transferId = transferId;
        _recordTransfer(transferId, from, custodial, signer, quantity, single);
        emit ReservationTransferred(reservationId, transferId, custodial, signer);
    }

    /// @dev Emits the ordinary transfer's events; a transfer that awaits approval is recorded for
    /// approveTransfer / rescindTransfer, exactly as initiateTransfer records it.
    function _recordTransfer(
        uint64 transferId,
        uint64 from,
        uint64 to,
        address initiator,
        uint64 quantity,
        bool single
    ) private {
        emit TransferInitiated(transferId, from, to, initiator, quantity);
        if (single) {
            emit TransferCompleted(transferId, initiator);
        } else {
            _recordPending(transferId, from, to, quantity, initiator);
        }
    }
}
