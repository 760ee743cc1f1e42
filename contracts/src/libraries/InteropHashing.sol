// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {RequestHashing} from "./RequestHashing.sol";
import {TransferDecisionRequest} from "./RegistryTypes.sol";
import {
    SetPeerRequest,
    TransferOutRequest,
    TransferItmosOutRequest,
    InteropUnit,
    ItmoTerms,
    Proposal,
    Answer
} from "./InteropTypes.sol";

/// @title InteropHashing
/// @notice EIP-712 struct hashes of the inter-registry requests and protocol messages.
/// @dev Protocol messages are signed in the signing registry's own domain ("UnitRegistry", "1", its
/// chain id, its address), so a peer's message is checked against the domain its peer record names.
library InteropHashing {
    string internal constant UNIT_TYPE =
        "InteropUnit(uint64 start,uint64 end,bytes32 projectId,bytes32 unitType,uint16 vintage,uint64 monitoringStart,uint64 monitoringEnd,bytes8 originRegistry,bytes32[] labels)";
    string internal constant PROPOSAL_TYPE =
        "Proposal(address signer,uint64 transferId,bytes8 sourceRegistry,bytes8 destRegistry,uint64 fromAccount,uint64 toAccount,InteropUnit[] units,ItmoTerms[] itmos,uint256 nonce,uint256 deadline)";
    string internal constant ITMO_TERMS_TYPE =
        "ItmoTerms(uint64 authorizationId,bytes8 authorizingParty,bytes32 approachId,bytes32 letterId,uint8 purposes,uint8 firstTransferDefinition,uint64 authorizedAt,bytes8 transferringParty,bytes8 acquiringParty)";

    bytes32 internal constant UNIT_TYPEHASH = keccak256(bytes(UNIT_TYPE));
    bytes32 internal constant ITMO_TERMS_TYPEHASH = keccak256(bytes(ITMO_TERMS_TYPE));
    bytes32 internal constant PROPOSAL_TYPEHASH =
        keccak256(abi.encodePacked(PROPOSAL_TYPE, UNIT_TYPE, ITMO_TERMS_TYPE));
    bytes32 internal constant ANSWER_TYPEHASH = keccak256(
        abi.encodePacked(
            "Answer(address signer,uint64 transferId,Proposal proposal,bytes proposalSignature,bool accepted,",
            "uint8 reason,uint256 nonce,uint256 deadline)",
            UNIT_TYPE,
            ITMO_TERMS_TYPE,
            PROPOSAL_TYPE
        )
    );
    bytes32 internal constant SET_PEER_TYPEHASH = keccak256(
        "SetPeer(address signer,bytes8 registryCode,string apiUrl,address operator,uint64 chainId,address registry,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant TRANSFER_OUT_TYPEHASH = keccak256(
        abi.encodePacked(
            "TransferOut(address signer,uint64 fromAccount,bytes8 toRegistry,uint64 toAccount,Range[] ranges,",
            "uint256 nonce,uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant TRANSFER_ITMOS_OUT_TYPEHASH = keccak256(
        abi.encodePacked(
            "TransferItmosOut(address signer,uint64 fromAccount,bytes8 toRegistry,uint64 toAccount,bytes8 toParty,",
            "uint64 authorizationId,Range[] ranges,uint256 nonce,uint256 deadline)",
            RequestHashing.RANGE_TYPE
        )
    );
    bytes32 internal constant APPROVE_TRANSFER_OUT_TYPEHASH =
        keccak256("ApproveTransferOut(address signer,uint64 transferId,uint256 nonce,uint256 deadline)");
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function hash(SetPeerRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                SET_PEER_TYPEHASH,
                r.signer,
                r.registryCode,
                keccak256(bytes(r.apiUrl)),
                r.operator,
                r.chainId,
                r.registry,
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(TransferOutRequest calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TRANSFER_OUT_TYPEHASH,
                r.signer,
                r.fromAccount,
                r.toRegistry,
                r.toAccount,
                RequestHashing.hashRanges(r.ranges),
                r.nonce,
                r.deadline
            )
        );
    }

    function hash(TransferItmosOutRequest calldata r) internal pure returns (bytes32) {
        bytes memory head = abi.encode(
            TRANSFER_ITMOS_OUT_TYPEHASH, r.signer, r.fromAccount, r.toRegistry, r.toAccount, r.toParty
        );
        return keccak256(
            abi.encodePacked(
                head, abi.encode(r.authorizationId, RequestHashing.hashRanges(r.ranges), r.nonce, r.deadline)
            )
        );
    }

    /// @dev Every field is a static value, so abi.encode lays them out as EIP-712 encodes them.
    function hashTerms(ItmoTerms memory t) internal pure returns (bytes32) {
        return keccak256(abi.encode(ITMO_TERMS_TYPEHASH, t));
    }

    function hashApprove(TransferDecisionRequest calldata r) internal pure returns (bytes32) {
        return
            keccak256(abi.encode(APPROVE_TRANSFER_OUT_TYPEHASH, r.signer, r.transferId, r.nonce, r.deadline));
    }

    function hashUnit(InteropUnit calldata u) internal pure returns (bytes32) {
        bytes memory head =
            abi.encode(UNIT_TYPEHASH, u.start, u.end, u.projectId, u.unitType, u.vintage, u.monitoringStart);
        return keccak256(
            abi.encodePacked(
                head, abi.encode(u.monitoringEnd, u.originRegistry, keccak256(abi.encodePacked(u.labels)))
            )
        );
    }

    function hash(Proposal calldata p) internal pure returns (bytes32) {
        bytes32[] memory units = new bytes32[](p.units.length);
        for (uint256 i; i < units.length; ++i) {
            units[i] = hashUnit(p.units[i]);
        }
        bytes32[] memory itmos = new bytes32[](p.itmos.length);
        for (uint256 i; i < itmos.length; ++i) {
            itmos[i] = hashTerms(p.itmos[i]);
        }
        bytes memory head = abi.encode(
            PROPOSAL_TYPEHASH, p.signer, p.transferId, p.sourceRegistry, p.destRegistry, p.fromAccount
        );
        return keccak256(
            abi.encodePacked(
                head,
                abi.encode(
                    p.toAccount,
                    keccak256(abi.encodePacked(units)),
                    keccak256(abi.encodePacked(itmos)),
                    p.nonce,
                    p.deadline
                )
            )
        );
    }

    /// @param proposalHash The struct hash of `a.proposal`, computed once by the caller.
    function hash(Answer calldata a, bytes32 proposalHash) internal pure returns (bytes32) {
        bytes memory head = abi.encode(ANSWER_TYPEHASH, a.signer, a.transferId, proposalHash);
        return keccak256(
            abi.encodePacked(
                head, abi.encode(keccak256(a.proposalSignature), a.accepted, a.reason, a.nonce, a.deadline)
            )
        );
    }

    /// @notice The EIP-712 digest of a struct hash in another registry's domain.
    function peerDigest(uint64 chainId, address registry, bytes32 structHash)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(_DOMAIN_TYPEHASH, keccak256("UnitRegistry"), keccak256("1"), chainId, registry)
        );
        return MessageHashUtils.toTypedDataHash(domain, structHash);
    }
}
