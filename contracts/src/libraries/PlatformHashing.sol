// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RequestHashing} from "./RequestHashing.sol";
import {
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
} from "./PlatformTypes.sol";

/// @title PlatformHashing
/// @notice EIP-712 struct hashes of the platform-model requests (platforms, consents, reservations,
/// escrows, third-party certificate associations).
/// @dev Same rules as RequestHashing: enums are encoded as uint8, `address[]` as the hash of its
/// 32-byte-padded elements, and node/contracts.py mirrors every type string field for field.
library PlatformHashing {
    bytes32 internal constant REGISTER_PLATFORM_TYPEHASH = keccak256(
        abi.encodePacked(
            "RegisterPlatform(address signer,address platform,string name,uint64 custodialAccount,",
            "address[] signers,uint256 nonce,uint256 deadline)"
        )
    );
    bytes32 internal constant SET_PLATFORM_SIGNER_TYPEHASH = keccak256(
        abi.encodePacked(
            "SetPlatformSigner(address signer,address platform,address platformSigner,bool enabled,",
            "uint256 nonce,uint256 deadline)"
        )
    );
    bytes32 internal constant SET_PLATFORM_STATUS_TYPEHASH = keccak256(
        "SetPlatformStatus(address signer,address platform,uint8 status,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant GRANT_CONSENT_TYPEHASH = keccak256(
        abi.encodePacked(
            "GrantConsent(address signer,uint64 accountId,address platform,uint8 scope,uint256 nonce,",
            "uint256 deadline)"
        )
    );
    bytes32 internal constant REVOKE_CONSENT_TYPEHASH =
        keccak256("RevokeConsent(address signer,uint64 consentId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant RESERVE_TYPEHASH = keccak256(
        abi.encodePacked(
            "Reserve(address signer,uint64 accountId,address platform,Range[] ranges,uint256 nonce,",
            "uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant RELEASE_RESERVATION_TYPEHASH =
        keccak256("ReleaseReservation(address signer,uint64 reservationId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant TRANSFER_RESERVATION_TYPEHASH =
        keccak256("TransferReservation(address signer,uint64 reservationId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant ESCROW_TYPEHASH = keccak256(
        abi.encodePacked(
            "Escrow(address signer,uint64 accountId,address platform,Range[] ranges,uint256 nonce,",
            "uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant SETTLE_ESCROW_TYPEHASH = keccak256(
        "SettleEscrow(address signer,uint64 escrowId,uint64 toAccount,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant RELEASE_ESCROW_TYPEHASH =
        keccak256("ReleaseEscrow(address signer,uint64 escrowId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant ASSOCIATE_TYPEHASH = keccak256(
        abi.encodePacked(
            "Associate(address signer,uint64 accountId,address thirdPartyRegistry,bytes32 certificateId,",
            "Range[] ranges,uint256 nonce,uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant DISSOCIATE_TYPEHASH =
        keccak256("Dissociate(address signer,uint64 associationId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant RETIRE_ASSOCIATION_TYPEHASH = keccak256(
        abi.encodePacked(
            "RetireAssociation(address signer,uint64 associationId,string beneficiary,string reason,",
            "uint256 nonce,uint256 deadline)"
        )
    );

    function hash(RegisterPlatformRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(
                    REGISTER_PLATFORM_TYPEHASH,
                    r.signer,
                    r.platform,
                    keccak256(bytes(r.name)),
                    r.custodialAccount
                ),
                // abi.encodePacked pads each array element to 32 bytes, as EIP-712 encodes address[].
                abi.encode(keccak256(abi.encodePacked(r.signers)), r.nonce, r.deadline)
            )
        );
    }

    function hash(SetPlatformSignerRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                SET_PLATFORM_SIGNER_TYPEHASH,
                r.signer,
                r.platform,
                r.platformSigner,
                r.enabled,
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(SetPlatformStatusRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(SET_PLATFORM_STATUS_TYPEHASH, r.signer, r.platform, r.status, r.nonce, r.deadline)
        );
    }

    function hash(GrantConsentRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                GRANT_CONSENT_TYPEHASH, r.signer, r.accountId, r.platform, r.scope, r.nonce, r.deadline
            )
        );
    }

    function hash(RevokeConsentRequest calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(REVOKE_CONSENT_TYPEHASH, r.signer, r.consentId, r.nonce, r.deadline));
    }

    function hash(ReserveRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                RESERVE_TYPEHASH,
                r.signer,
                r.accountId,
                r.platform,
                RequestHashing.hashRanges(r.ranges),
                r.nonce,
                r.deadline
            )
        );
    }

    /// @param typehash RELEASE_RESERVATION_TYPEHASH or TRANSFER_RESERVATION_TYPEHASH.
    function hash(ReservationDecisionRequest calldata r, bytes32 typehash) internal pure returns (bytes32) {
        return keccak256(abi.encode(typehash, r.signer, r.reservationId, r.nonce, r.deadline));
    }

    function hash(EscrowRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ESCROW_TYPEHASH,
                r.signer,
                r.accountId,
                r.platform,
                RequestHashing.hashRanges(r.ranges),
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(SettleEscrowRequest calldata r) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(SETTLE_ESCROW_TYPEHASH, r.signer, r.escrowId, r.toAccount, r.nonce, r.deadline)
            );
    }

    function hash(ReleaseEscrowRequest calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(RELEASE_ESCROW_TYPEHASH, r.signer, r.escrowId, r.nonce, r.deadline));
    }

    function hash(AssociateRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(ASSOCIATE_TYPEHASH, r.signer, r.accountId, r.thirdPartyRegistry, r.certificateId),
                abi.encode(RequestHashing.hashRanges(r.ranges), r.nonce, r.deadline)
            )
        );
    }

    function hash(DissociateRequest calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(DISSOCIATE_TYPEHASH, r.signer, r.associationId, r.nonce, r.deadline));
    }

    function hash(RetireAssociationRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(RETIRE_ASSOCIATION_TYPEHASH, r.signer, r.associationId),
                abi.encode(keccak256(bytes(r.beneficiary)), keccak256(bytes(r.reason)), r.nonce, r.deadline)
            )
        );
    }
}
