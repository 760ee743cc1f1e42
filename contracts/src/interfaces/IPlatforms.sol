// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRegistryBase} from "./IRegistryBase.sol";
import {AccountKind} from "../libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
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

/// @title IPlatforms
/// @notice Trading platforms (CER Class B.1-B.5): platform registration and suspension, view consents,
/// revocable reservations and platform-controlled escrow. Third-party certificates (C.1) are in
/// ICertificates.
/// @dev Implemented by the PlatformModule and reached through the UnitRegistry address (one EIP-712
/// domain, one nonce space). Every state-changing function takes a request signed per EIP-712 and may
/// only be submitted by an address holding the relayer role. Consent, reservation, escrow, association
/// and cancellation ids all come from the registry's operation counter, so an id names one operation
/// and a unit block's `lockId` names the operation that locks it. Functions that move units take
/// `blockStarts` hints exactly like the core (D1): for a request with ranges, one hint per range (the
/// first serial of the block containing it); for a decision on an existing lock, the first serial of
/// every block the lock holds, which must add up to the lock's quantity. Every moved range emits the
/// core's `BlockChanged`. A platform is suspended at once for every platform action: it cannot be named
/// by new consents, reservations or escrows, its signers cannot settle or release escrows, reserved units
/// cannot be transferred into its custodial account, and its custodial account behaves as a suspended
/// account (nothing moves in or out of it) until it is reactivated.
interface IPlatforms is IRegistryBase {
    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice No platform is registered at this address.
    error PlatformNotFound(address platform);
    /// @notice The platform address is zero or already registered.
    error PlatformAlreadyRegistered(address platform);
    /// @notice The platform is suspended; it can take no platform action until reactivated.
    error PlatformSuspended(address platform);
    /// @notice The status change is not Active <-> Suspended.
    error InvalidPlatformStatusChange(address platform, PlatformStatus from, PlatformStatus to);
    /// @notice A platform's custodial account must be an existing account of kind Custodial.
    error CustodialAccountRequired(uint64 accountId, AccountKind kind);
    /// @notice The custodial account already serves another platform.
    error CustodialAccountTaken(uint64 accountId, address platform);
    /// @notice A platform signer address is zero.
    error InvalidPlatformSigner(address platformSigner);
    /// @notice The address already signs for another platform; an address signs for at most one.
    error PlatformSignerTaken(address platformSigner, address platform);
    /// @notice The signer does not sign for the platform.
    error NotPlatformSigner(address platform, address signer);
    /// @notice The consent id is unknown.
    error ConsentNotFound(uint64 consentId);
    /// @notice The consent was already revoked.
    error ConsentNotActive(uint64 consentId);
    /// @notice The account already gave the platform an active consent of this scope.
    error ConsentAlreadyGranted(uint64 accountId, address platform, ConsentScope scope, uint64 consentId);
    /// @notice The account has not given the platform an active consent of the scope the operation needs
    /// (Reserved to reserve units for it, Escrowed to escrow units to it).
    error ConsentRequired(uint64 accountId, address platform, ConsentScope scope);
    /// @notice The reservation id is unknown.
    error ReservationNotFound(uint64 reservationId);
    /// @notice The reservation was already released or transferred.
    error ReservationNotActive(uint64 reservationId, ReservationStatus status);
    /// @notice The escrow id is unknown.
    error EscrowNotFound(uint64 escrowId);
    /// @notice The escrow was already settled or released.
    error EscrowNotActive(uint64 escrowId, EscrowStatus status);
    /// @notice The signer neither signs for the escrow's platform nor is a registry administrator.
    error NotEscrowController(uint64 escrowId, address signer);

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    event PlatformRegistered(address indexed platform, string name, uint64 custodialAccount);
    /// @notice `signer` now signs (enabled) or no longer signs for the platform.
    event PlatformSignerSet(address indexed platform, address indexed signer, bool enabled);
    event PlatformStatusChanged(address indexed platform, PlatformStatus status);
    event ConsentGranted(
        uint64 indexed consentId, uint64 indexed accountId, address indexed platform, ConsentScope scope
    );
    event ConsentRevoked(uint64 indexed consentId, address representative);
    event UnitsReserved(
        uint64 indexed reservationId, uint64 indexed accountId, address indexed platform, uint64 quantity
    );
    /// @notice The holder released the reservation; its units are Held again.
    event ReservationReleased(
        uint64 indexed reservationId,
        uint64 indexed accountId,
        address indexed platform,
        address representative
    );
    /// @notice The holder transferred the reserved units to the platform's custodial account as the
    /// ordinary transfer `transferId` (TransferInitiated, and TransferCompleted under the `single` policy,
    /// are emitted too).
    event ReservationTransferred(
        uint64 indexed reservationId,
        uint64 indexed transferId,
        uint64 indexed custodialAccount,
        address representative
    );
    event UnitsEscrowed(
        uint64 indexed escrowId, uint64 indexed accountId, address indexed platform, uint64 quantity
    );
    /// @notice The escrowed units went to `toAccount`. `signer` is a platform signer, or a registry
    /// administrator overriding the platform.
    event EscrowSettled(
        uint64 indexed escrowId, uint64 indexed toAccount, address indexed signer, uint64 quantity
    );
    /// @notice The escrowed units are Held again in the seller's account `accountId`.
    event EscrowReleased(
        uint64 indexed escrowId, uint64 indexed accountId, address indexed signer, uint64 quantity
    );
    // ---------------------------------------------------------------------------------------------
    // Platforms (signed by a registry administrator)
    // ---------------------------------------------------------------------------------------------

    /// @notice Registers a platform, Active, with its custodial account and signing addresses.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; `platform` non-zero and not registered;
    /// `custodialAccount` exists, is not closed, is of kind Custodial and serves no other platform; every
    /// signer is non-zero and signs for no other platform. Emits PlatformRegistered, then PlatformSignerSet
    /// per signer.
    function registerPlatform(RegisterPlatformRequest calldata request, bytes calldata signature) external;

    /// @notice Adds (`enabled`) or removes a signing address of a platform.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; platform registered; `platformSigner` non-zero
    /// and, when enabled, signs for no other platform.
    function setPlatformSigner(SetPlatformSignerRequest calldata request, bytes calldata signature) external;

    /// @notice Suspends or reactivates a platform. Takes effect at once for every platform action.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; platform registered; the change is
    /// Active -> Suspended or Suspended -> Active.
    function setPlatformStatus(SetPlatformStatusRequest calldata request, bytes calldata signature) external;

    // ---------------------------------------------------------------------------------------------
    // B.1 consents (signed by a representative of the account)
    // ---------------------------------------------------------------------------------------------

    /// @notice Records the account holder's consent for a platform to view one scope of the account.
    /// @dev Requirements: signer is a representative of the account who may initiate; account open;
    /// platform registered and Active; no active consent of the same account, platform and scope.
    function grantConsent(GrantConsentRequest calldata request, bytes calldata signature)
        external
        returns (uint64 consentId);

    /// @notice Revokes a consent. Allowed whatever the platform's status.
    /// @dev Requirements: signer is a representative of the consent's account; consent active.
    function revokeConsent(RevokeConsentRequest calldata request, bytes calldata signature) external;

    // ---------------------------------------------------------------------------------------------
    // B.4 reservations (signed by a representative of the holder)
    // ---------------------------------------------------------------------------------------------

    /// @notice Reserves ranges for a platform: Held -> Reserved, locked by the reservation id, in the
    /// same account. Reserved units leave the free holdings and cannot be transferred or cancelled.
    /// @dev Requirements: signer is a representative of the account who may initiate; account open;
    /// platform registered and Active; the account gave the platform an active consent of scope Reserved;
    /// every range Held by the account (pending, reserved, escrowed or associated units give UnitsLocked).
    function reserve(ReserveRequest calldata request, bytes calldata signature, uint64[] calldata blockStarts)
        external
        returns (uint64 reservationId);

    /// @notice Releases a reservation at any time: its units are Held again.
    /// @dev Requirements: signer is a representative of the reservation's account; account open;
    /// reservation active; `blockStarts` lists exactly the reservation's blocks. Allowed whatever the
    /// platform's status or consent.
    function releaseReservation(
        ReservationDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Transfers all of a reservation's units to the platform's custodial account as an ordinary
    /// transfer: completed at once under the account's `single` policy, else Pending (locked by the
    /// transfer id) until another representative approves it with approveTransfer, or rescinded
    /// (rescindTransfer returns the units to Held, not Reserved).
    /// @dev Requirements: signer is a representative of the reservation's account who may initiate;
    /// account open; reservation active; platform Active; its custodial account open; `blockStarts` lists
    /// exactly the reservation's blocks.
    function transferReservation(
        ReservationDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 transferId);

    // ---------------------------------------------------------------------------------------------
    // B.5 escrow
    // ---------------------------------------------------------------------------------------------

    /// @notice Puts ranges in escrow under a platform's control: Held -> Escrowed, locked by the escrow
    /// id. The units stay in the seller's account; the seller can no longer move them.
    /// @dev Requirements: signer is a representative of the account who may initiate; account open;
    /// platform registered and Active; the account gave the platform an active consent of scope Escrowed;
    /// every range Held by the account.
    function escrow(EscrowRequest calldata request, bytes calldata signature, uint64[] calldata blockStarts)
        external
        returns (uint64 escrowId);

    /// @notice Settles an escrow: all its units go to `toAccount` as Held.
    /// @dev Requirements: signer signs for the escrow's platform and the platform is Active, or the signer
    /// has REGISTRY_ADMIN_ROLE (override, whatever the platform's status); escrow active; seller account
    /// open; `toAccount` open, not the seller's and able to receive; `blockStarts` lists exactly the
    /// escrow's blocks.
    function settleEscrow(
        SettleEscrowRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Releases an escrow: its units are Held again in the seller's account.
    /// @dev Requirements: as settleEscrow, without the destination.
    function releaseEscrow(
        ReleaseEscrowRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The platform's status (None if unregistered) and custodial account.
    function getPlatform(address platform) external view returns (Platform memory);

    /// @notice The platform an address signs for, or zero.
    function platformOfSigner(address platformSigner) external view returns (address);

    /// @notice The platform whose custodial account this is, or zero.
    function platformOfCustodialAccount(uint64 accountId) external view returns (address);

    function getConsent(uint64 consentId) external view returns (Consent memory);

    /// @notice The active consent of this account, platform and scope, or 0.
    function activeConsent(uint64 accountId, address platform, ConsentScope scope)
        external
        view
        returns (uint64);

    function getReservation(uint64 reservationId) external view returns (Reservation memory);

    function getEscrow(uint64 escrowId) external view returns (Escrow memory);
}
