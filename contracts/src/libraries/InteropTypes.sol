// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Range} from "./RegistryTypes.sol";

// -------------------------------------------------------------------------------------------------
// Inter-registry transfers (decisions D37-D39, docs/interop.md)
// -------------------------------------------------------------------------------------------------

/// @dev None: unknown. Pending: waits for a second representative (two-person policy). InTransit: units
/// locked on their way to the peer. Transferred: the peer accepted (terminal). Returned: the peer
/// refused; the units are Held again by the source account.
enum OutboundStatus {
    None,
    Pending,
    InTransit,
    Transferred,
    Returned
}

/// @dev A peer registry as the administrator recorded it: the key it signs protocol messages with and
/// the EIP-712 domain (chain id, registry address) of its messages.
struct Peer {
    address operator;
    address registry;
    uint64 chainId;
    string apiUrl;
}

/// @dev A transfer from this registry to an account of a peer registry.
struct Outbound {
    uint64 fromAccount;
    uint64 toAccount;
    uint64 quantity;
    OutboundStatus status;
    bytes8 toRegistry;
    address initiator;
    bytes32 proposalDigest;
    bytes32 answerDigest;
}

struct SetPeerRequest {
    address signer;
    bytes8 registryCode;
    string apiUrl;
    address operator;
    uint64 chainId;
    address registry;
    uint256 nonce;
    uint256 deadline;
}

struct TransferOutRequest {
    address signer;
    uint64 fromAccount;
    bytes8 toRegistry;
    uint64 toAccount;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

/// @dev One block of the proposal with every attribute it carries: original serials, the issuance's
/// attributes, the registry of origin and the names of its labels (label ids are local to a registry).
struct InteropUnit {
    uint64 start;
    uint64 end;
    bytes32 projectId;
    bytes32 unitType;
    uint16 vintage;
    uint64 monitoringStart;
    uint64 monitoringEnd;
    bytes8 originRegistry;
    bytes32[] labels;
}

/// @dev What makes the units of a proposal ITMOs (decision D47): the authorization they are held under in
/// the source registry (its id there, and the letter's terms as the source recorded them), the Party whose
/// section they leave and the Party whose section they enter. A proposal of ordinary units has none; a
/// proposal of ITMOs has exactly one (a transfer of ITMOs names one authorization, D24).
struct ItmoTerms {
    uint64 authorizationId;
    bytes8 authorizingParty;
    bytes32 approachId;
    bytes32 letterId;
    uint8 purposes;
    uint8 firstTransferDefinition;
    uint64 authorizedAt;
    bytes8 transferringParty;
    bytes8 acquiringParty;
}

/// @dev An outbound transfer of ITMOs: the authorization its units return to if refused, the two Parties,
/// and the struct hash of the ItmoTerms its proposal must carry.
struct ItmoOutbound {
    uint64 authorizationId;
    bytes8 fromParty;
    bytes8 toParty;
    bytes32 termsHash;
}

/// @dev A transfer of ITMOs to an account of a peer registry, in the section of `toParty`: a Party this
/// registry records with the peer's code as its registry and that takes part in the authorization's
/// cooperative approach.
struct TransferItmosOutRequest {
    address signer;
    uint64 fromAccount;
    bytes8 toRegistry;
    uint64 toAccount;
    bytes8 toParty;
    uint64 authorizationId;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by the source registry's operator in the source's domain. `deadline` is the last moment
/// (destination chain time) the destination may accept.
struct Proposal {
    address signer;
    uint64 transferId;
    bytes8 sourceRegistry;
    bytes8 destRegistry;
    uint64 fromAccount;
    uint64 toAccount;
    InteropUnit[] units;
    ItmoTerms[] itmos;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Signed by the destination registry's operator in the destination's domain. It contains the
/// proposal and the proposal's signature, so one digest commits to both messages.
struct Answer {
    address signer;
    uint64 transferId;
    Proposal proposal;
    bytes proposalSignature;
    bool accepted;
    uint8 reason;
    uint256 nonce;
    uint256 deadline;
}

/// @title InteropStorage
/// @notice The interop module's state, in an ERC-7201 namespace of the registry's storage.
library InteropStorage {
    /// @custom:storage-location erc7201:registry.storage.Interop
    struct Layout {
        mapping(bytes8 registryCode => Peer) peers;
        mapping(uint64 transferId => Outbound) outbound;
        mapping(bytes8 sourceRegistry => mapping(uint64 transferId => bytes32 answerDigest)) inbound;
        mapping(uint64 transferId => ItmoOutbound) itmoOutbound;
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("registry.storage.Interop")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant SLOT = 0x519793abee452962229a7be575149774a14dc5093a88b995593b61b0d831f300;

    function layout() internal pure returns (Layout storage l) {
        assembly ("memory-safe") {
            l.slot := SLOT
        }
    }
}
