// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {
    Range,
    Representative,
    OpenAccountRequest,
    SetRepresentativeRequest,
    SetAccountStatusRequest,
    RegisterProjectRequest,
    UpdateProjectRequest,
    DefineLabelRequest,
    IssueRequest,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest
} from "./RegistryTypes.sol";

/// @title RequestHashing
/// @notice EIP-712 struct hashes of the registry's signed requests.
/// @dev The type strings here are the contract's half of the signing contract; node/ builds the same
/// typed data from the ABI. Enums are encoded as uint8. Encodings with many fields are split across
/// two `abi.encode` calls: every member is one 32-byte word, so the concatenation equals the single
/// encoding EIP-712 specifies while staying within the legacy code generator's stack.
library RequestHashing {
    string internal constant RANGE_TYPE = "Range(uint64 start,uint64 end)";
    string internal constant REPRESENTATIVE_TYPE =
        "Representative(address addr,bool primary,bool canInitiate,bool canApprove)";

    bytes32 internal constant RANGE_TYPEHASH = keccak256(bytes(RANGE_TYPE));
    bytes32 internal constant REPRESENTATIVE_TYPEHASH = keccak256(bytes(REPRESENTATIVE_TYPE));

    bytes32 internal constant OPEN_ACCOUNT_TYPEHASH = keccak256(
        abi.encodePacked(
            "OpenAccount(address signer,uint8 kind,string holderName,bytes8 party,uint8 approvalPolicy,",
            "Representative[] representatives,uint256 nonce,uint256 deadline)",
            REPRESENTATIVE_TYPE
        )
    );
    bytes32 internal constant SET_REPRESENTATIVE_TYPEHASH = keccak256(
        abi.encodePacked(
            "SetRepresentative(address signer,uint64 accountId,Representative representative,uint256 nonce,",
            "uint256 deadline)",
            REPRESENTATIVE_TYPE
        )
    );
    bytes32 internal constant SET_ACCOUNT_STATUS_TYPEHASH = keccak256(
        "SetAccountStatus(address signer,uint64 accountId,uint8 status,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant REGISTER_PROJECT_TYPEHASH = keccak256(
        "RegisterProject(address signer,bytes32 projectId,string name,string methodology,bytes8 country,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant UPDATE_PROJECT_TYPEHASH = keccak256(
        "UpdateProject(address signer,bytes32 projectId,string name,string methodology,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant DEFINE_LABEL_TYPEHASH = keccak256(
        "DefineLabel(address signer,bytes32 name,address authority,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant ISSUE_TYPEHASH = keccak256(
        abi.encodePacked(
            "Issue(address signer,bytes32 projectId,bytes32 unitType,uint16 vintage,uint64 monitoringStart,",
            "uint64 monitoringEnd,bytes8 originRegistry,uint64 quantity,uint64 toAccount,uint256 labels,",
            "uint256 nonce,uint256 deadline)"
        )
    );
    bytes32 internal constant INITIATE_TRANSFER_TYPEHASH = keccak256(
        abi.encodePacked(
            "InitiateTransfer(address signer,uint64 fromAccount,uint64 toAccount,Range[] ranges,uint256 nonce,",
            "uint256 deadline)",
            RANGE_TYPE
        )
    );
    bytes32 internal constant APPROVE_TRANSFER_TYPEHASH =
        keccak256("ApproveTransfer(address signer,uint64 transferId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant RESCIND_TRANSFER_TYPEHASH =
        keccak256("RescindTransfer(address signer,uint64 transferId,uint256 nonce,uint256 deadline)");
    bytes32 internal constant CANCEL_TYPEHASH = keccak256(
        abi.encodePacked(
            "Cancel(address signer,uint64 accountId,Range[] ranges,uint8 purpose,string beneficiary,",
            "string reason,uint256 nonce,uint256 deadline)",
            RANGE_TYPE
        )
    );
    bytes32 internal constant SET_LABEL_TYPEHASH = keccak256(
        abi.encodePacked(
            "SetLabel(address signer,uint8 labelId,bool applied,Range[] ranges,uint256 nonce,uint256 deadline)",
            RANGE_TYPE
        )
    );

    function hashRanges(Range[] calldata ranges) internal pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](ranges.length);
        for (uint256 i; i < ranges.length; ++i) {
            hashes[i] = keccak256(abi.encode(RANGE_TYPEHASH, ranges[i].start, ranges[i].end));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function hashRepresentative(Representative calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(REPRESENTATIVE_TYPEHASH, r.addr, r.primary, r.canInitiate, r.canApprove));
    }

    function hash(OpenAccountRequest calldata r) internal pure returns (bytes32) {
        bytes32[] memory reps = new bytes32[](r.representatives.length);
        for (uint256 i; i < reps.length; ++i) {
            reps[i] = hashRepresentative(r.representatives[i]);
        }
        return keccak256(
            bytes.concat(
                abi.encode(OPEN_ACCOUNT_TYPEHASH, r.signer, r.kind, keccak256(bytes(r.holderName)), r.party),
                abi.encode(r.approvalPolicy, keccak256(abi.encodePacked(reps)), r.nonce, r.deadline)
            )
        );
    }

    function hash(SetRepresentativeRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                SET_REPRESENTATIVE_TYPEHASH,
                r.signer,
                r.accountId,
                hashRepresentative(r.representative),
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(SetAccountStatusRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(SET_ACCOUNT_STATUS_TYPEHASH, r.signer, r.accountId, r.status, r.nonce, r.deadline)
        );
    }

    function hash(RegisterProjectRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(REGISTER_PROJECT_TYPEHASH, r.signer, r.projectId, keccak256(bytes(r.name))),
                abi.encode(keccak256(bytes(r.methodology)), r.country, r.nonce, r.deadline)
            )
        );
    }

    function hash(UpdateProjectRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                UPDATE_PROJECT_TYPEHASH,
                r.signer,
                r.projectId,
                keccak256(bytes(r.name)),
                keccak256(bytes(r.methodology)),
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(DefineLabelRequest calldata r) internal pure returns (bytes32) {
        return
            keccak256(abi.encode(DEFINE_LABEL_TYPEHASH, r.signer, r.name, r.authority, r.nonce, r.deadline));
    }

    function hash(IssueRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(ISSUE_TYPEHASH, r.signer, r.projectId, r.unitType, r.vintage, r.monitoringStart),
                abi.encode(r.monitoringEnd, r.originRegistry, r.quantity, r.toAccount, r.labels),
                abi.encode(r.nonce, r.deadline)
            )
        );
    }

    function hash(InitiateTransferRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                INITIATE_TRANSFER_TYPEHASH,
                r.signer,
                r.fromAccount,
                r.toAccount,
                hashRanges(r.ranges),
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(TransferDecisionRequest calldata r, bytes32 typehash) internal pure returns (bytes32) {
        return keccak256(abi.encode(typehash, r.signer, r.transferId, r.nonce, r.deadline));
    }

    function hash(CancelRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(CANCEL_TYPEHASH, r.signer, r.accountId, hashRanges(r.ranges), r.purpose),
                abi.encode(keccak256(bytes(r.beneficiary)), keccak256(bytes(r.reason)), r.nonce, r.deadline)
            )
        );
    }

    function hash(SetLabelRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                SET_LABEL_TYPEHASH, r.signer, r.labelId, r.applied, hashRanges(r.ranges), r.nonce, r.deadline
            )
        );
    }
}
