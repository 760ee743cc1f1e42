// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRegistryBase} from "./IRegistryBase.sol";
import {AccountKind, CancellationPurpose, TransferDecisionRequest} from "../libraries/RegistryTypes.sol";
import {
    FirstTransferDefinition,
    Article6Action,
    Article64Share,
    Party,
    Authorization,
    MechanismAccounts,
    ItmoTransfer,
    ItmoIdentifier,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    SetMechanismAccountsRequest,
    AuthorizeRequest,
    IssueArticle64Request,
    TransferItmosRequest,
    CancelItmosRequest
} from "../libraries/Article6Types.sol";

/// @title IArticle6Events
/// @notice The errors and events every Article 6 module shares.
interface IArticle6Events is IRegistryBase {
    // ---------------------------------------------------------------------------------------------
    // Errors: named after the check that failed, carrying the offending values.
    // ---------------------------------------------------------------------------------------------

    /// @notice The Party code is not registered.
    error PartyNotFound(bytes8 party);
    /// @notice The Party code or its registry id is zero, or the label authority is the zero address.
    error InvalidParty(bytes8 party, bytes8 registryId, address labelAuthority);
    /// @notice A registered Party's registry id never changes.
    error PartyRegistryIdChanged(bytes8 party, bytes8 registryId, bytes8 requested);
    /// @notice A Party administrator is the zero address or listed twice.
    error InvalidPartyAdministrator(bytes8 party, address administrator);
    /// @notice The cooperative approach is not registered.
    error CooperativeApproachNotFound(bytes32 approachId);
    /// @notice The approach id is zero, or the approach lists no participating Party.
    error InvalidCooperativeApproach(bytes32 approachId, uint256 parties);
    /// @notice A Party is listed twice among an approach's participants.
    error DuplicateParticipant(bytes32 approachId, bytes8 party);
    /// @notice The Party does not participate in the cooperative approach.
    error PartyNotInApproach(bytes32 approachId, bytes8 party);
    /// @notice The signer is not the label authority of the Party (or no longer holds
    /// LABEL_AUTHORITY_ROLE).
    error NotPartyLabelAuthority(bytes8 party, address signer);
    /// @notice Purposes must be PURPOSE_NDC, PURPOSE_OIMP or both.
    error InvalidPurposes(uint8 purposes);
    /// @notice The first-transfer definition is None.
    error InvalidFirstTransferDefinition(FirstTransferDefinition definition);
    /// @notice The authorization date is zero or in the future.
    error InvalidAuthorizationDate(uint64 authorizedAt, uint256 timestamp);
    /// @notice The Party's letter is already recorded, with other terms than the request's.
    error AuthorizationMismatch(bytes8 party, bytes32 letterId, uint64 authorizationId);
    /// @notice The letter id is zero.
    error InvalidLetterId(bytes32 letterId);
    /// @notice The units to authorize are held by an account outside the authorizing Party's section.
    error UnitsNotInPartySection(uint64 accountId, bytes8 accountParty, bytes8 party);
    /// @notice No authorization has this id.
    error AuthorizationNotFound(uint64 authorizationId);
    /// @notice The units' authorization does not cover this use (NdcUse needs PURPOSE_NDC, Oimp needs
    /// PURPOSE_OIMP).
    error PurposeNotAuthorized(uint64 authorizationId, CancellationPurpose purpose);
    /// @notice The Article 6.4 mechanism accounts are not configured.
    error MechanismNotConfigured();
    /// @notice A mechanism account is missing or of the wrong kind.
    error MechanismAccountKindMismatch(uint64 accountId, AccountKind expected, AccountKind actual);
    /// @notice The issuance is too small to carry both shares and a non-negative remainder.
    error IssuanceTooSmall(uint64 quantity, uint64 shareOfProceeds, uint64 omge);
    /// @notice The forwards do not add up to the remainder after share of proceeds and OMGE.
    error ForwardedQuantityMismatch(uint64 expected, uint64 actual);
    /// @notice More forwards than the per-request maximum (MAX_RANGES), or none while units remain.
    error InvalidForwardCount(uint256 count, uint256 max);
    /// @notice The block is not an ITMO block: it is neither Held under an authorization, nor Pending in
    /// an ITMO transfer, nor cancelled by `cancelItmos`.
    error NotItmoBlock(uint64 blockStart);

    // ---------------------------------------------------------------------------------------------
    // Events: past tense, emitted right after the state change.
    // ---------------------------------------------------------------------------------------------

    /// @notice A Party was registered, or its label authority and administrators were replaced.
    event PartyRegistered(
        bytes8 indexed party, bytes8 registryId, address labelAuthority, address[] administrators
    );
    /// @notice A cooperative approach was registered, or its name and participants were replaced.
    event CooperativeApproachRegistered(bytes32 indexed approachId, string name, bytes8[] parties);
    /// @notice The Article 6.4 mechanism accounts were configured.
    event MechanismAccountsSet(
        uint64 pending, uint64 holding, uint64 cancellation, uint64 omgeCancellation, uint64 shareOfProceeds
    );
    /// @notice A Party's letter of authorization was first recorded, under `authorizationId`.
    event AuthorizationRecorded(
        uint64 indexed authorizationId,
        bytes8 indexed party,
        bytes32 indexed approachId,
        bytes32 letterId,
        uint8 purposes,
        FirstTransferDefinition firstTransferDefinition,
        uint64 authorizedAt
    );
    /// @notice The labels `authorize` applies were defined (once, at the first Party registration).
    event Article6LabelsDefined(uint8 ndcLabel, uint8 oimpLabel, uint8 firstTransferredLabel);
    /// @notice One Article 6 action on the serial range `[start, end]`: one AEF record.
    /// @param operationId The registry operation it happened in (authorization, ITMO transfer,
    /// cancellation); for a first transfer, the operation that triggered it.
    /// @param accountId The account the action concerns: the holder (authorization, first transfer),
    /// the source (transfer), the destination (acquisition), the cancelling account (uses and
    /// cancellations).
    /// @param party The Party whose record it is: authorizing, first transferring, transferring,
    /// acquiring, or using Party.
    /// @param counterparty The acquiring Party of a transfer, the transferring Party of an acquisition,
    /// the acquiring Party of a first transfer made by a transfer between Parties; zero otherwise.
    event Article6ActionRecorded(
        uint64 indexed operationId,
        uint64 indexed authorizationId,
        Article6Action indexed action,
        uint64 start,
        uint64 end,
        uint64 accountId,
        bytes8 party,
        bytes8 counterparty
    );
    /// @notice An ITMO transfer was initiated (alongside the core's TransferInitiated with the same id).
    /// Approve or rescind it with `approveItmoTransfer` / `rescindItmoTransfer`, not the core's.
    event ItmoTransferInitiated(uint64 indexed transferId, uint64 indexed authorizationId);
    /// @notice An Article 6.4 issuance was distributed. `cancellationId` is the OMGE cancellation's id.
    event Article64Issued(
        uint64 indexed issuanceId,
        uint64 indexed cancellationId,
        uint64 pendingAccount,
        uint64 quantity,
        uint64 shareOfProceeds,
        uint64 omge,
        uint64 forwarded
    );
    /// @notice One part of an Article 6.4 issuance, `[start, end]`, went to `accountId`.
    event Article64Distributed(
        uint64 indexed issuanceId,
        Article64Share indexed share,
        uint64 indexed accountId,
        uint64 start,
        uint64 end
    );
}

/// @title IArticle6Authorization
/// @notice Parties, cooperative approaches and letters of authorization (Article6Module), and the views
/// of Article 6 state.
interface IArticle6Authorization is IArticle6Events {
    // ---------------------------------------------------------------------------------------------
    // Parties and cooperative approaches (signed by a registry administrator)
    // ---------------------------------------------------------------------------------------------

    /// @notice Registers a participating Party's section, or replaces the label authority and
    /// administrators of a registered one. The first registration also defines the three Article 6
    /// labels.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; party, registryId and labelAuthority non-zero;
    /// labelAuthority has LABEL_AUTHORITY_ROLE; a registered Party keeps its registry id; administrators
    /// non-zero and distinct; three label ids free at the first registration.
    function registerParty(RegisterPartyRequest calldata request, bytes calldata signature) external;

    /// @notice Registers a cooperative approach with its participating Parties, or replaces the name and
    /// participants of a registered one.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; approachId non-zero; one to MAX_RANGES
    /// parties, each registered and listed once.
    function registerCooperativeApproach(
        RegisterCooperativeApproachRequest calldata request,
        bytes calldata signature
    ) external;

    // ---------------------------------------------------------------------------------------------
    // Authorization (signed by the Party's label authority)
    // ---------------------------------------------------------------------------------------------

    /// @notice Applies a letter of authorization to serial ranges: the units become ITMOs, locked by
    /// the authorization id and labelled with its purposes. The first request naming a (party, letterId)
    /// records the letter and assigns its id; later requests naming it must repeat its terms and add
    /// units to it. With the AtAuthorization or AtIssuance definition the first transfer is recorded
    /// here too.
    /// @dev Requirements: signer is the Party's label authority and holds LABEL_AUTHORITY_ROLE; Party
    /// registered and participating in the approach; letterId non-zero; purposes NDC and/or OIMP;
    /// definition not None; authorizedAt non-zero and not in the future; every range Held, unlocked,
    /// in one block, by an open account of the Party's section.
    /// Emits per range BlockChanged, LabelChanged per label, Article6ActionRecorded(Authorization) and,
    /// per the definition, LabelChanged + Article6ActionRecorded(FirstTransfer).
    function authorize(
        AuthorizeRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 authorizationId);

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice A Party's registry id and label authority (zero registry id: not registered).
    function getParty(bytes8 party) external view returns (Party memory);

    /// @notice The Party's administrators, who may read its section through the API.
    function partyAdministrators(bytes8 party) external view returns (address[] memory);

    function isPartyAdministrator(bytes8 party, address account) external view returns (bool);

    /// @notice The approach's participating Parties (empty: not registered).
    function cooperativeApproachParties(bytes32 approachId) external view returns (bytes8[] memory);

    function getAuthorization(uint64 authorizationId) external view returns (Authorization memory);

    /// @notice The authorization id a Party's letter was recorded under (0: none).
    function authorizationOf(bytes8 party, bytes32 letterId) external view returns (uint64);

    /// @notice The label ids of the Article 6 labels, and whether they are defined yet.
    function article6Labels()
        external
        view
        returns (uint8 ndcLabel, uint8 oimpLabel, uint8 firstTransferredLabel, bool defined);

    /// @notice The unique identifier components of the ITMOs in the block that starts at `blockStart`.
    /// @dev Reverts NotItmoBlock unless the block is Held under an authorization, Pending in an ITMO
    /// transfer, or cancelled by `cancelItmos`.
    function itmoIdentifier(uint64 blockStart) external view returns (ItmoIdentifier memory);
}

/// @title IArticle6Transfers
/// @notice Transfers, uses and cancellations of authorized units (Article6TransferModule).
interface IArticle6Transfers is IArticle6Events {
    // ---------------------------------------------------------------------------------------------
    // Movements of authorized units (signed by representatives)
    // ---------------------------------------------------------------------------------------------

    /// @notice Transfers ITMOs of one authorization. Under the source account's `single` policy it
    /// completes at once; under `two_person` the units become Pending until another representative
    /// approves. On completion between accounts of different Parties it records Transfer (source
    /// Party) and Acquisition (destination Party) per range, preceded by FirstTransfer for units whose
    /// first transfer was not yet recorded.
    /// @dev Requirements: as the core's initiateTransfer (signer may initiate from `fromAccount`; both
    /// accounts open and different; the destination can receive); every range Held by `fromAccount`
    /// under `authorizationId`; when the accounts' Parties differ, the destination's Party is registered
    /// and participates in the authorization's approach.
    function transferItmos(
        TransferItmosRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 transferId);

    /// @notice Approves a pending ITMO transfer; its units move to the destination account, still under
    /// their authorization, and the actions are recorded as in `transferItmos`.
    /// @dev Requirements: signer may approve from the source account and is not the initiator; both
    /// accounts open; `blockStarts` lists exactly the transfer's pending blocks.
    function approveItmoTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Rescinds a pending ITMO transfer; its units return to Held under their authorization.
    /// @dev Requirements: signer is a representative of the source account; `blockStarts` lists exactly
    /// the transfer's pending blocks.
    function rescindItmoTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Uses or cancels ITMOs of one authorization: towards an NDC (purpose NdcUse), for other
    /// international mitigation purposes (Oimp), or voluntarily (Voluntary, Omge). Records the use per
    /// range, preceded by FirstTransfer where the definition is AtUseOrCancellation and none was
    /// recorded. Cancellation is final.
    /// @dev Requirements: signer may initiate from the account; account open; every range Held by it
    /// under `authorizationId`; NdcUse needs the NDC purpose, Oimp the OIMP purpose.
    function cancelItmos(
        CancelItmosRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 cancellationId);

    /// @notice A pending, completed or rescinded ITMO transfer (status None: not an ITMO transfer).
    function getItmoTransfer(uint64 transferId) external view returns (ItmoTransfer memory);
}

/// @title IArticle64
/// @notice The Article 6.4 mechanism: its accounts and issuance (Article64Module).
interface IArticle64 is IArticle6Events {
    // ---------------------------------------------------------------------------------------------
    // Mechanism accounts (signed by a registry administrator)
    // ---------------------------------------------------------------------------------------------

    /// @notice Configures the Article 6.4 mechanism registry accounts.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; each account exists with the matching kind:
    /// pending Pending, holding Holding, cancellation Cancellation, omgeCancellation OmgeCancellation,
    /// shareOfProceeds ShareOfProceeds.
    function setMechanismAccounts(SetMechanismAccountsRequest calldata request, bytes calldata signature)
        external;

    // ---------------------------------------------------------------------------------------------
    // Article 6.4 issuance (signed by an issuer)
    // ---------------------------------------------------------------------------------------------

    /// @notice Issues A6.4ERs into the mechanism's pending account and, in the same request, moves
    /// 5% (rounded up) to the share-of-proceeds account, cancels 2% (rounded up) for OMGE in the OMGE
    /// cancellation account, and forwards the remainder to the activity participants' accounts in the
    /// order of `forwards`. The parts take consecutive serials in that order: share of proceeds first,
    /// then OMGE, then each forward.
    /// @dev Requirements: signer has ISSUER_ROLE; mechanism accounts configured; project registered;
    /// the monitoring period does not overlap an earlier one of the same project and unit type; quantity
    /// at least 2; forwards non-zero, at most MAX_RANGES, to accounts that can receive, adding up to the
    /// remainder exactly. Emits UnitsIssued, BlockChanged per part, UnitsCancelled (purpose Omge),
    /// Article64Distributed per part and Article64Issued.
    function issueArticle64(IssueArticle64Request calldata request, bytes calldata signature)
        external
        returns (uint64 issuanceId, uint64 start, uint64 end);

    /// @notice The configured mechanism accounts (pending 0: not configured).
    function mechanismAccounts() external view returns (MechanismAccounts memory);

    /// @notice How an Article 6.4 issuance of `quantity` splits: 5% and 2% rounded up, and the rest.
    /// @dev Reverts IssuanceTooSmall when the shares exceed the quantity.
    function article64Shares(uint64 quantity)
        external
        pure
        returns (uint64 shareOfProceeds, uint64 omge, uint64 forwarded);
}

/// @title IArticle6
/// @notice Article 6 of the Paris Agreement: participating Parties and cooperative approaches, letters
/// of authorization applied to serial ranges, the recording of every Article 6 action per range
/// (authorization, first transfer, transfer, acquisition, use towards NDCs, use for other international
/// mitigation purposes, voluntary and OMGE cancellation), and Article 6.4 issuance with share of proceeds
/// and OMGE.
/// @dev Reached through the UnitRegistry address (shared storage, roles, nonces, EIP-712 domain). Every
/// state-changing function takes an EIP-712 request and may only be submitted by the relayer role.
///
/// Authorized units are Held with their block's lock set to the authorization id, so the core's
/// transfer, cancellation and every other path that expects unlocked Held units refuses them with
/// `UnitsLocked`: authorized units move only through this interface, which records the actions. The
/// lock is copied by every block split, as are the labels `authorize` applies (authorized for NDC use,
/// for OIMP, and first transferred), whose authority is the registry itself so that only the Article 6
/// modules set them. Authorization ids, ITMO transfer ids and cancellation ids all come from the registry's
/// operation counter, so a lock never names two things.
///
/// Every range an operation touches emits the core's `BlockChanged` (and `LabelChanged` for labels);
/// issuance emits `UnitsIssued`, cancellation `UnitsCancelled`, ITMO transfers `TransferInitiated`,
/// `TransferCompleted` and `TransferRescinded`. `Article6ActionRecorded` adds the Article 6 record,
/// one per action and range: a mirror builds the AEF's actions table from it.
interface IArticle6 is IArticle6Authorization, IArticle6Transfers, IArticle64 {}
