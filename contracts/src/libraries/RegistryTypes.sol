// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

// -------------------------------------------------------------------------------------------------
// Registry state
// -------------------------------------------------------------------------------------------------

/// @dev Special kinds follow the Kyoto / Article 6.4 mechanism registry accounts.
enum AccountKind {
    None,
    Holding,
    Custodial,
    Pending,
    Cancellation,
    OmgeCancellation,
    ShareOfProceeds
}

enum AccountStatus {
    None,
    Open,
    Suspended,
    Closed
}

/// @dev TwoPerson is the default (zero value): an initiated transfer waits for a second representative.
enum ApprovalPolicy {
    TwoPerson,
    Single
}

/// @dev Reserved, Escrowed and Associated are the platform-model states (CER Class B.4, B.5, C.1); the
/// block's `lockId` names the reservation, escrow or association that holds them. InTransit and
/// TransferredOut are the inter-registry states (InteropModule): units on their way to a peer registry,
/// and units the peer accepted (terminal); both are locked by the outbound transfer's id.
enum UnitState {
    None,
    Held,
    Pending,
    Reserved,
    Escrowed,
    Associated,
    Cancelled,
    InTransit,
    TransferredOut
}

enum CancellationPurpose {
    Voluntary,
    NdcUse,
    Omge,
    Oimp
}

enum TransferStatus {
    None,
    Pending,
    Completed,
    Rescinded
}

/// @dev One storage slot.
struct Account {
    AccountKind kind;
    AccountStatus status;
    ApprovalPolicy approvalPolicy;
    bytes8 party;
    address primaryRepresentative;
}

/// @dev A block of consecutive serials `[start, end]`, keyed by `start`. One storage slot, so a
/// whole-block transfer reads and writes a single word; labels live in a separate bitmap slot that is
/// only touched when a block splits or is labelled.
struct UnitBlock {
    uint64 end;
    uint64 account;
    uint64 issuance;
    uint56 lockId;
    UnitState state;
}

struct Issuance {
    bytes32 projectId;
    bytes32 unitType;
    uint64 start;
    uint64 end;
    uint64 monitoringStart;
    uint64 monitoringEnd;
    uint16 vintage;
    bytes8 originRegistry;
}

/// @dev A two-person transfer awaiting its decision. Only `keccak256(abi.encode(record))` is stored,
/// in one slot (decision D46); approve and rescind are relayed with the record (unsigned: the mirror
/// has it from TransferInitiated) and refused unless it hashes to the stored value.
struct PendingTransfer {
    uint64 fromAccount;
    uint64 toAccount;
    uint64 quantity;
    address initiator;
}

struct Label {
    bytes32 name;
    address authority;
}

/// @dev Monitoring period of an earlier issuance, kept per (project, unit type) for the double-issuance
/// guard. Two periods share one slot.
struct Period {
    uint64 start;
    uint64 end;
}

// -------------------------------------------------------------------------------------------------
// Signed requests (EIP-712 structs). Each starts with the signer and ends with nonce and deadline.
// -------------------------------------------------------------------------------------------------

struct Range {
    uint64 start;
    uint64 end;
}

struct Representative {
    address addr;
    bool primary;
    bool canInitiate;
    bool canApprove;
}

struct OpenAccountRequest {
    address signer;
    AccountKind kind;
    string holderName;
    bytes8 party;
    ApprovalPolicy approvalPolicy;
    Representative[] representatives;
    uint256 nonce;
    uint256 deadline;
}

struct SetRepresentativeRequest {
    address signer;
    uint64 accountId;
    Representative representative;
    uint256 nonce;
    uint256 deadline;
}

struct SetAccountStatusRequest {
    address signer;
    uint64 accountId;
    AccountStatus status;
    uint256 nonce;
    uint256 deadline;
}

struct RegisterProjectRequest {
    address signer;
    bytes32 projectId;
    string name;
    string methodology;
    bytes8 country;
    uint256 nonce;
    uint256 deadline;
}

/// @notice Corrects a registered project's name and methodology; its id and country stay.
struct UpdateProjectRequest {
    address signer;
    bytes32 projectId;
    string name;
    string methodology;
    uint256 nonce;
    uint256 deadline;
}

struct DefineLabelRequest {
    address signer;
    bytes32 name;
    address authority;
    uint256 nonce;
    uint256 deadline;
}

struct IssueRequest {
    address signer;
    bytes32 projectId;
    bytes32 unitType;
    uint16 vintage;
    uint64 monitoringStart;
    uint64 monitoringEnd;
    bytes8 originRegistry;
    uint64 quantity;
    uint64 toAccount;
    uint256 labels;
    uint256 nonce;
    uint256 deadline;
}

struct InitiateTransferRequest {
    address signer;
    uint64 fromAccount;
    uint64 toAccount;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

/// @dev Used for both ApproveTransfer and RescindTransfer; the type hash tells them apart.
struct TransferDecisionRequest {
    address signer;
    uint64 transferId;
    uint256 nonce;
    uint256 deadline;
}

struct CancelRequest {
    address signer;
    uint64 accountId;
    Range[] ranges;
    CancellationPurpose purpose;
    string beneficiary;
    string reason;
    uint256 nonce;
    uint256 deadline;
}

struct SetLabelRequest {
    address signer;
    uint8 labelId;
    bool applied;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}
