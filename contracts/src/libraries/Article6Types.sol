// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {CancellationPurpose, TransferStatus, Range} from "./RegistryTypes.sol";

// -------------------------------------------------------------------------------------------------
// Article 6 state
// -------------------------------------------------------------------------------------------------

/// @dev Bits of `Authorization.purposes`: what the letter of authorization authorizes the units for.
uint8 constant PURPOSE_NDC = 1;
uint8 constant PURPOSE_OIMP = 2;

/// @dev When the first transfer of an authorized unit is recorded (decision 2/CMA.3, annex, para 2(b)).
/// Whatever the definition, a unit's first transfer to an account of another Party is always its first
/// transfer if none was recorded before. AtIssuance: units are authorized after they were issued, so the
/// first transfer is recorded at the later of the two, the authorization.
enum FirstTransferDefinition {
    None,
    AtAuthorization,
    AtIssuance,
    AtUseOrCancellation
}

/// @dev The actions of decision 2/CMA.3, annex, para 29, as recorded per serial range. An authorization
/// for use towards other international mitigation purposes is an Authorization whose purposes include
/// PURPOSE_OIMP.
enum Article6Action {
    None,
    Authorization,
    FirstTransfer,
    Transfer,
    Acquisition,
    UseTowardsNdc,
    UseForOimp,
    VoluntaryCancellation,
    OmgeCancellation
}

/// @dev The parts an Article 6.4 issuance is distributed into.
enum Article64Share {
    None,
    ShareOfProceeds,
    Omge,
    Forwarded
}

/// @dev A participating Party's section of the registry. Registered iff `registryId != 0`.
struct Party {
    bytes8 registryId;
    address labelAuthority;
}

/// @dev A letter of authorization. `id` is the registry's operation id that first recorded it; while
/// authorized units are Held, their block's lock is this id.
struct Authorization {
    bytes8 party;
    FirstTransferDefinition firstTransferDefinition;
    uint8 purposes;
    uint64 authorizedAt;
    bytes32 approachId;
    bytes32 letterId;
}

/// @dev The Article 6.4 mechanism registry accounts. Configured iff `pending != 0`.
struct MechanismAccounts {
    uint64 pending;
    uint64 holding;
    uint64 cancellation;
    uint64 omgeCancellation;
    uint64 shareOfProceeds;
}

/// @dev A transfer of authorized units awaiting a second representative; it keeps the authorization
/// id that its units' blocks return to when it completes or is rescinded.
struct ItmoTransfer {
    uint64 fromAccount;
    uint64 toAccount;
    uint64 quantity;
    uint64 authorizationId;
    TransferStatus status;
    address initiator;
}

/// @dev The components of the unique identifier of the ITMOs in one block (decision 6/CMA.4, annex I,
/// para 5): cooperative approach, originating Party registry, first transferring Party, serials and
/// vintage. `firstTransferred` says whether their first transfer has been recorded.
struct ItmoIdentifier {
    bytes32 approachId;
    bytes8 originRegistry;
    bytes8 firstTransferringParty;
    uint16 vintage;
    uint64 start;
    uint64 end;
    uint64 authorizationId;
    bool firstTransferred;
}

// -------------------------------------------------------------------------------------------------
// Signed requests (EIP-712 structs). Each starts with the signer and ends with nonce and deadline.
// Approval and rescission of an ITMO transfer reuse RegistryTypes' TransferDecisionRequest with type
// hashes of their own (ApproveItmoTransfer, RescindItmoTransfer).
// -------------------------------------------------------------------------------------------------

/// @dev One destination of the units an Article 6.4 issuance forwards to activity participants.
struct Forward {
    uint64 accountId;
    uint64 quantity;
}

struct RegisterPartyRequest {
    address signer;
    bytes8 party;
    bytes8 registryId;
    address labelAuthority;
    address[] administrators;
    uint256 nonce;
    uint256 deadline;
}

struct RegisterCooperativeApproachRequest {
    address signer;
    bytes32 approachId;
    string name;
    bytes8[] parties;
    uint256 nonce;
    uint256 deadline;
}

struct SetMechanismAccountsRequest {
    address signer;
    uint64 pending;
    uint64 holding;
    uint64 cancellation;
    uint64 omgeCancellation;
    uint64 shareOfProceeds;
    uint256 nonce;
    uint256 deadline;
}

struct AuthorizeRequest {
    address signer;
    bytes8 party;
    bytes32 letterId;
    bytes32 approachId;
    uint8 purposes;
    FirstTransferDefinition firstTransferDefinition;
    uint64 authorizedAt;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

struct IssueArticle64Request {
    address signer;
    bytes32 projectId;
    bytes32 unitType;
    uint16 vintage;
    uint64 monitoringStart;
    uint64 monitoringEnd;
    uint64 quantity;
    Forward[] forwards;
    uint256 nonce;
    uint256 deadline;
}

struct TransferItmosRequest {
    address signer;
    uint64 fromAccount;
    uint64 toAccount;
    uint64 authorizationId;
    Range[] ranges;
    uint256 nonce;
    uint256 deadline;
}

struct CancelItmosRequest {
    address signer;
    uint64 accountId;
    uint64 authorizationId;
    Range[] ranges;
    CancellationPurpose purpose;
    string beneficiary;
    string reason;
    uint256 nonce;
    uint256 deadline;
}
