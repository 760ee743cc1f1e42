// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Range} from "./RegistryTypes.sol";

// -------------------------------------------------------------------------------------------------
// Platform-model state (CER Class B.1-B.5 and C.1)
// -------------------------------------------------------------------------------------------------

/// @dev None marks an unregistered platform address.
enum PlatformStatus {
    None,
    Active,
    Suspended
}

/// @dev What a consent lets a platform see in the account: its free (Held) holdings, the units reserved
/// for the platform, or the units escrowed to it. Each scope is granted on its own.
enum ConsentScope {
    Holdings,
    Reserved,
    Escrowed
}

enum ConsentStatus {
    None,
    Active,
    Revoked
}

/// @dev Released: back to Held by the holder. Transferred: the holder sent the units to the platform's
/// custodial account (as an ordinary transfer, pending or completed per the account's policy).
enum ReservationStatus {
    None,
    Active,
    Released,
    Transferred
}

/// @dev Settled: the units went to a buyer. Released: they went back to Held in the seller's account.
enum EscrowStatus {
    None,
    Active,
    Settled,
    Released
}

/// @dev Dissociated: the units are Held again. Retired: the third party retired its certificate and the
/// units were cancelled.
enum AssociationStatus {
    None,
    Active,
    Dissociated,
    Retired
}

/// @dev One storage slot. The platform's name is emitted, not stored (D4).
struct Platform {
    PlatformStatus status;
    uint64 custodialAccount;
}

/// @dev One storage slot.
struct Consent {
    uint64 accountId;
    address platform;
    ConsentScope scope;
    ConsentStatus status;
}

/// @dev `transferId` is set once the holder transferred the reserved units into custody.
struct Reservation {
    uint64 accountId;
    address platform;
    uint64 quantity;
    ReservationStatus status;
    uint64 transferId;
}

/// @dev The units stay in `accountId` (the seller's account) while Active.
struct Escrow {
    uint64 accountId;
    address platform;
    uint64 quantity;
    EscrowStatus status;
    uint64 toAccount;
}

/// @dev `cancellationId` is set when the third party retired the certificate.
struct Association {
    uint64 accountId;
    address thirdPartyRegistry;
    uint64 quantity;
    AssociationStatus status;
    uint64 cancellationId;
    bytes32 certificateId;
}

// -------------------------------------------------------------------------------------------------
// Signed requests (EIP-712 structs). Each starts with the signer and ends with nonce and deadline.
// The type strings are in PlatformHashing.sol; node/contracts.py mirrors them.
// -------------------------------------------------------------------------------------------------

/// @dev Signed by a registry administrator.
struct RegisterPlatformRequest {
    address signer;
    address platform;
    string name;
    uint64 custodialAccount;
    address[] signers;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a registry administrator. `enabled` false removes the signer.
struct SetPlatformSignerRequest {
    address signer;
    address platform;
    address platformSigner;
    bool enabled;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a registry administrator.
struct SetPlatformStatusRequest {
    address signer;
    address platform;
    PlatformStatus status;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a representative of the account.
struct GrantConsentRequest {
    address signer;
    uint64 accountId;
    address platform;
    ConsentScope scope;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a representative of the consent's account.
struct RevokeConsentRequest {
    address signer;
    uint64 consentId;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a representative of the account.
struct ReserveRequest {
    address signer;
    uint64 accountId;
    address platform;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Used for both ReleaseReservation and TransferReservation; the type hash tells them apart.
/// Signed by a representative of the reservation's account.
struct ReservationDecisionRequest {
    address signer;
    uint64 reservationId;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a representative of the account (the seller).
struct EscrowRequest {
    address signer;
    uint64 accountId;
    address platform;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a signer of the escrow's platform, or by a registry administrator (override).
struct SettleEscrowRequest {
    address signer;
    uint64 escrowId;
    uint64 toAccount;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a signer of the escrow's platform, or by a registry administrator (override).
struct ReleaseEscrowRequest {
    address signer;
    uint64 escrowId;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by a representative of the account.
struct AssociateRequest {
    address signer;
    uint64 accountId;
    address thirdPartyRegistry;
    bytes32 certificateId;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by the association's third-party registry.
struct DissociateRequest {
    address signer;
    uint64 associationId;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by the association's third-party registry.
struct RetireAssociationRequest {
    address signer;
    uint64 associationId;
    string beneficiary;
    string reason;
    uint256 nonce;
    uint256 deadline;
}
