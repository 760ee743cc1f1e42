// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRegistryBase} from "./IRegistryBase.sol";
import {TransferDecisionRequest} from "../libraries/RegistryTypes.sol";
import {
    OutboundStatus,
    Peer,
    Outbound,
    SetPeerRequest,
    TransferOutRequest,
    TransferItmosOutRequest,
    ItmoTerms,
    Proposal,
    Answer
} from "../libraries/InteropTypes.sol";

/// @title IInterop
/// @notice Transfers between two registries, each with its own chain (docs/interop.md, D37-D39).
/// @dev Phases: the source account's representatives transfer units out (two-person policy: initiate,
/// approve) and the units are InTransit; the source operator signs a Proposal and records it here
/// (sendProposal); the destination's operator answers with a signed Answer that contains the proposal and
/// its signature and records it on its chain (recordAnswer, destination branch: accepted units are issued
/// anew in the destination account keeping origin, serials and labels); the source records the same
/// Answer (recordAnswer, source branch): accepted units become TransferredOut (terminal), refused ones are
/// Held again. Both chains thus hold both signatures over the same digests. There is no unilateral
/// expiry: the destination chain refuses acceptance after the proposal's deadline, so a late peer can
/// only refuse, which returns the units.
interface IInteropEvents is IRegistryBase {
    /// @notice The peer code is zero, this registry's own code, or the record has a zero field.
    error InvalidPeer(bytes8 registryCode);
    /// @notice No peer record for this registry code.
    error PeerNotFound(bytes8 registryCode);
    /// @notice The destination account id is zero.
    error InvalidPeerAccount(uint64 accountId);
    /// @notice No outbound transfer has this id.
    error OutboundNotFound(uint64 transferId);
    /// @notice The outbound transfer is not in the status the call needs.
    error OutboundNotInStatus(uint64 transferId, OutboundStatus status);
    /// @notice A proposal for this transfer was already recorded.
    error ProposalAlreadySent(uint64 transferId);
    /// @notice The proposal does not describe the transfer's record or its locked units (`index` is the
    /// unit, or type(uint256).max for the header).
    error ProposalMismatch(uint64 transferId, uint256 index);
    /// @notice A peer's message is not signed by the operator its peer record names.
    error PeerSignatureInvalid(bytes8 registryCode, address expected, address recovered);
    /// @notice This registry already answered the proposal.
    error AlreadyAnswered(bytes8 sourceRegistry, uint64 transferId);
    /// @notice The destination may not accept after the proposal's deadline (its own chain's time).
    error ProposalDeadlinePassed(uint256 deadline, uint256 timestamp);
    /// @notice The answer is malformed: ids differ, this registry is neither party, or an acceptance
    /// carries a reason (a refusal must carry one).
    error InvalidAnswer(uint64 transferId);
    /// @notice The acquiring Party of an ITMO transfer is not a Party this registry records with that
    /// registry code, or (at the destination) not the Party of the destination account's section.
    error InvalidAcquiringParty(bytes8 party, bytes8 registryCode);

    event PeerSet(
        bytes8 indexed registryCode, address operator, uint64 chainId, address registry, string apiUrl
    );
    event TransferOutInitiated(
        uint64 indexed transferId,
        uint64 indexed fromAccount,
        bytes8 toRegistry,
        uint64 toAccount,
        address initiator,
        uint64 quantity
    );
    /// @notice The transfer was approved (by its initiator under the single policy): its units are InTransit.
    event TransferOutApproved(uint64 indexed transferId, address approver);
    /// @notice The source operator's signed proposal, as recorded on the source chain.
    event ProposalSent(
        uint64 indexed transferId, bytes32 proposalDigest, address signer, uint256 deadline, bytes signature
    );
    /// @notice The source operator's signed proposal, as recorded on the destination chain.
    event ProposalReceived(
        bytes8 indexed sourceRegistry,
        uint64 indexed transferId,
        bytes32 proposalDigest,
        address signer,
        uint256 deadline,
        bytes signature
    );
    /// @notice The destination's signed answer, recorded on both chains.
    event AnswerRecorded(
        bytes8 indexed sourceRegistry,
        uint64 indexed transferId,
        bytes8 destRegistry,
        bool accepted,
        uint8 reason,
        bytes32 answerDigest,
        address signer,
        bytes signature
    );
    /// @notice An accepted unit arrived: local serials `[start, end]` are the source's `[originStart,
    /// originEnd]`.
    event UnitsImported(
        bytes8 indexed sourceRegistry,
        uint64 indexed transferId,
        uint64 start,
        uint64 end,
        uint64 originStart,
        uint64 originEnd
    );
}

/// @title IInterop
/// @notice Transfers between two registries (see IInteropEvents). InteropModule implements every function
/// but recordAnswer, which InteropAnswerModule implements (one module would exceed the code size limit).
interface IInterop is IInteropEvents {
    /// @notice Records or replaces a peer registry. Signer: REGISTRY_ADMIN_ROLE.
    function setPeer(SetPeerRequest calldata request, bytes calldata signature) external;

    /// @notice Transfers ranges to an account of a peer registry. Single policy: the units are InTransit at
    /// once; two-person policy: Pending until approveTransferOut. Signer: a representative who may initiate.
    function transferOut(
        TransferOutRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 transferId);

    /// @notice Approves a pending outbound transfer: its units are InTransit. Signer: a representative who
    /// may approve, not the initiator. `blockStarts` lists the transfer's blocks.
    function approveTransferOut(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Records the source operator's proposal for an InTransit transfer, after checking that it
    /// describes exactly the locked blocks with their attributes. Signer: RELAYER_ROLE.
    function sendProposal(Proposal calldata proposal, bytes calldata signature) external;

    /// @notice Records the destination's answer. On the destination: the answer is this registry's signed
    /// request (RELAYER_ROLE) and the proposal inside is checked against the source's peer record; an
    /// acceptance issues the units. On the source: the answer is checked against the destination's peer
    /// record and must answer the recorded proposal; `blockStarts` lists the transfer's blocks.
    function recordAnswer(Answer calldata answer, bytes calldata signature, uint64[] calldata blockStarts)
        external;

    /// @notice Transfers ITMOs held under `authorizationId` to an account of a peer registry, in the section
    /// of `toParty` (decision D47). Single policy: InTransit at once; two-person: Pending until
    /// approveTransferOut. Signer: a representative who may initiate.
    function transferItmosOut(
        TransferItmosOutRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 transferId);

    /// @notice The ITMO terms an outbound transfer's proposal must carry: none for ordinary units.
    function outboundItmos(uint64 transferId) external view returns (ItmoTerms[] memory);

    function getPeer(bytes8 registryCode) external view returns (Peer memory);

    function getOutbound(uint64 transferId) external view returns (Outbound memory);

    /// @notice The digest of this registry's answer to a peer's transfer, or zero.
    function inboundAnswer(bytes8 sourceRegistry, uint64 transferId) external view returns (bytes32);
}
