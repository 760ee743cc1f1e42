// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RequestHashing} from "./RequestHashing.sol";
import {TransferDecisionRequest} from "./RegistryTypes.sol";
import {
    Forward,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    SetMechanismAccountsRequest,
    AuthorizeRequest,
    IssueArticle64Request,
    TransferItmosRequest,
    CancelItmosRequest
} from "./Article6Types.sol";

/// @title Article6Hashing
/// @notice EIP-712 struct hashes of the Article 6 module's signed requests.
/// @dev Same conventions as RequestHashing: enums are encoded as uint8; arrays of atomic values
/// (address[], bytes8[]) as the hash of their 32-byte words; long encodings are split across several
/// `abi.encode` calls whose concatenation equals the single encoding. node/contracts.py mirrors every
/// type string here field for field.
library Article6Hashing {
    string internal constant FORWARD_TYPE = "Forward(uint64 accountId,uint64 quantity)";
    bytes32 internal constant FORWARD_TYPEHASH = keccak256(bytes(FORWARD_TYPE));

    bytes32 internal constant REGISTER_PARTY_TYPEHASH = keccak256(
        abi.encodePacked(
            "RegisterParty(address signer,bytes8 party,bytes8 registryId,address labelAuthority,",
            "address[] administrators,uint256 nonce,uint256 deadline)"
        )
    );
    bytes32 internal constant REGISTER_COOPERATIVE_APPROACH_TYPEHASH = keccak256(
        abi.encodePacked(
            "RegisterCooperativeApproach(address signer,bytes32 approachId,string name,bytes8[] parties,",
            "uint256 nonce,uint256 deadline)"
        )
    );
    bytes32 internal constant SET_MECHANISM_ACCOUNTS_TYPEHASH = keccak256(
        abi.encodePacked(
            "SetMechanismAccounts(address signer,uint64 pending,uint64 holding,uint64 cancellation,",
            "uint64 omgeCancellation,uint64 shareOfProceeds,uint256 nonce,uint256 deadline)"
        )
    );
    bytes32 internal constant AUTHORIZE_TYPEHASH = keccak256(
        abi.encodePacked(
            "Authorize(address signer,bytes8 party,bytes32 letterId,bytes32 approachId,uint8 purposes,",
            "uint8 firstTransferDefinition,uint64 authorizedAt,Range[] ranges,uint256 nonce,uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant ISSUE_ARTICLE64_TYPEHASH = keccak256(
        abi.encodePacked(
            "IssueArticle64(address signer,bytes32 projectId,bytes32 unitType,uint16 vintage,",
            "uint64 monitoringStart,uint64 monitoringEnd,uint64 quantity,Forward[] forwards,uint256 nonce,",
            "uint256 deadline)",
            FORWARD_TYPE
        )
    );
    bytes32 internal constant TRANSFER_ITMOS_TYPEHASH = keccak256(
        abi.encodePacked(
            "TransferItmos(address signer,uint64 fromAccount,uint64 toAccount,uint64 authorizationId,",
            "Range[] ranges,uint256 nonce,uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant APPROVE_ITMO_TRANSFER_TYPEHASH =
        keccak256("ApproveItmoTransfer(address signer,uint64 transferId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant RESCIND_ITMO_TRANSFER_TYPEHASH =
        keccak256("RescindItmoTransfer(address signer,uint64 transferId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant CANCEL_ITMOS_TYPEHASH = keccak256(
        abi.encodePacked(
            "CancelItmos(address signer,uint64 accountId,uint64 authorizationId,Range[] ranges,uint8 purpose,",
            "string beneficiary,string reason,uint256 nonce,uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );

    function hashForwards(Forward[] calldata forwards) internal pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](forwards.length);
        for (uint256 i; i < forwards.length; ++i) {
            hashes[i] = keccak256(abi.encode(FORWARD_TYPEHASH, forwards[i].accountId, forwards[i].quantity));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function hash(RegisterPartyRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(REGISTER_PARTY_TYPEHASH, r.signer, r.party, r.registryId, r.labelAuthority),
                abi.encode(keccak256(abi.encodePacked(r.administrators)), r.nonce, r.deadline)
            )
        );
    }

    function hash(RegisterCooperativeApproachRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                REGISTER_COOPERATIVE_APPROACH_TYPEHASH,
                r.signer,
                r.approachId,
                keccak256(bytes(r.name)),
                keccak256(abi.encodePacked(r.parties)),
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(SetMechanismAccountsRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(SET_MECHANISM_ACCOUNTS_TYPEHASH, r.signer, r.pending, r.holding, r.cancellation),
                abi.encode(r.omgeCancellation, r.shareOfProceeds, r.nonce, r.deadline)
            )
        );
    }

    function hash(AuthorizeRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(AUTHORIZE_TYPEHASH, r.signer, r.party, r.letterId, r.approachId, r.purposes),
                abi.encode(
                    r.firstTransferDefinition,
                    r.authorizedAt,
                    RequestHashing.hashRanges(r.ranges),
                    r.nonce,
                    r.deadline
                )
            )
        );
    }

    function hash(IssueArticle64Request calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(ISSUE_ARTICLE64_TYPEHASH, r.signer, r.projectId, r.unitType, r.vintage),
                abi.encode(r.monitoringStart, r.monitoringEnd, r.quantity, hashForwards(r.forwards)),
                abi.encode(r.nonce, r.deadline)
            )
        );
    }

    function hash(TransferItmosRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(TRANSFER_ITMOS_TYPEHASH, r.signer, r.fromAccount, r.toAccount, r.authorizationId),
                abi.encode(RequestHashing.hashRanges(r.ranges), r.nonce, r.deadline)
            )
        );
    }

    function hash(TransferDecisionRequest calldata r, bytes32 typehash) internal pure returns (bytes32) {
        return RequestHashing.hash(r, typehash);
    }

    function hash(CancelItmosRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(CANCEL_ITMOS_TYPEHASH, r.signer, r.accountId, r.authorizationId),
                abi.encode(RequestHashing.hashRanges(r.ranges), r.purpose, keccak256(bytes(r.beneficiary))),
                abi.encode(keccak256(bytes(r.reason)), r.nonce, r.deadline)
            )
        );
    }
}
