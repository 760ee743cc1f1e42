// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Article6Base} from "../base/Article6Base.sol";
import {InteropBase} from "../base/InteropBase.sol";
import {IInterop} from "../interfaces/IInterop.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {InteropHashing} from "../libraries/InteropHashing.sol";
import {ApprovalPolicy, UnitState, Account, TransferDecisionRequest} from "../libraries/RegistryTypes.sol";
import {Authorization} from "../libraries/Article6Types.sol";
import {
    OutboundStatus,
    Peer,
    Outbound,
    SetPeerRequest,
    TransferOutRequest,
    TransferItmosOutRequest,
    ItmoTerms,
    ItmoOutbound,
    Proposal,
    InteropStorage
} from "../libraries/InteropTypes.sol";

/// @title InteropModule
/// @notice Inter-registry transfers (IInterop), all but recordAnswer (InteropAnswerModule): peers, transfers
/// out of ordinary units and of ITMOs (decision D47), proposals, views. Runs by delegatecall from
/// UnitRegistry on its storage; its own state lives in the ERC-7201 namespace of InteropStorage. The core
/// transfer path is untouched: an outbound transfer has its own request, record and states.
contract InteropModule is Article6Base, InteropBase, IRegistryModule {
    using InteropHashing for *;

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](9);
        selectors[0] = IInterop.setPeer.selector;
        selectors[1] = IInterop.transferOut.selector;
        selectors[2] = IInterop.approveTransferOut.selector;
        selectors[3] = IInterop.sendProposal.selector;
        selectors[4] = IInterop.transferItmosOut.selector;
        selectors[5] = IInterop.getPeer.selector;
        selectors[6] = IInterop.getOutbound.selector;
        selectors[7] = IInterop.inboundAnswer.selector;
        selectors[8] = IInterop.outboundItmos.selector;
    }

    /// @notice See IInterop.
    function setPeer(SetPeerRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        bytes8 code = request.registryCode;
        if (
            code == bytes8(0) || code == _registryCode || request.operator == address(0)
                || request.registry == address(0) || request.chainId == 0
        ) revert InvalidPeer(code);
        InteropStorage.layout().peers[code] = Peer({
            operator: request.operator,
            registry: request.registry,
            chainId: request.chainId,
            apiUrl: request.apiUrl
        });
        emit PeerSet(code, request.operator, request.chainId, request.registry, request.apiUrl);
    }

    /// @notice See IInterop.
    function transferOut(
        TransferOutRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 transferId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 from = request.fromAccount;
        bool single = _requireOpen(from).approvalPolicy == ApprovalPolicy.Single;
        _requireRight(from, request.signer, _RIGHT_INITIATE);
        _peer(request.toRegistry);
        if (request.toAccount == 0) revert InvalidPeerAccount(request.toAccount);

        transferId = _counters.nextOperationId++;
        uint64 quantity = _moveRanges(
            request.ranges,
            blockStarts,
            _lockMove(from, single ? UnitState.InTransit : UnitState.Pending, transferId)
        );
        InteropStorage.layout().outbound[transferId] = Outbound({
            fromAccount: from,
            toAccount: request.toAccount,
            quantity: quantity,
            status: single ? OutboundStatus.InTransit : OutboundStatus.Pending,
            toRegistry: request.toRegistry,
            initiator: request.signer,
            proposalDigest: bytes32(0),
            answerDigest: bytes32(0)
        });
        emit TransferOutInitiated(
            transferId, from, request.toRegistry, request.toAccount, request.signer, quantity
        );
        if (single) emit TransferOutApproved(transferId, request.signer);
    }

    /// @notice See IInterop.
    function approveTransferOut(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(request.hashApprove(), request.signer, request.nonce, request.deadline, signature);
        uint64 transferId = request.transferId;
        Outbound storage o = _outbound(transferId, OutboundStatus.Pending);
        uint64 from = o.fromAccount;
        _requireOpen(from);
        _requireRight(from, request.signer, _RIGHT_APPROVE);
        if (request.signer == o.initiator) revert ApproverIsInitiator(transferId, request.signer);
        o.status = OutboundStatus.InTransit;
        Move memory move = Move({
            fromAccount: from,
            fromState: UnitState.Pending,
            fromLock: transferId,
            toAccount: from,
            toState: UnitState.InTransit,
            toLock: transferId
        });
        _moveLocked(transferId, blockStarts, move, o.quantity);
        emit TransferOutApproved(transferId, request.signer);
    }

    /// @notice See IInterop. A transfer of ITMOs needs exactly the terms it recorded, others none.
    function sendProposal(Proposal calldata p, bytes calldata signature) external onlyRole(RELAYER_ROLE) {
        bytes32 terms = InteropStorage.layout().itmoOutbound[p.transferId].termsHash;
        if (terms == 0
                ? p.itmos.length != 0
                : p.itmos.length != 1 || InteropHashing.hashTerms(p.itmos[0]) != terms) {
            revert ProposalMismatch(p.transferId, type(uint256).max);
        }
        _sendProposal(p, signature);
    }

    /// @notice See IInterop.Itmos
    function transferItmosOut(
        TransferItmosOutRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 transferId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        (ItmoOutbound memory itmo, bool single) = _prepareOut(request);
        transferId = _counters.nextOperationId++;
        Move memory move = Move({
            fromAccount: request.fromAccount,
            fromState: UnitState.Held,
            fromLock: itmo.authorizationId,
            toAccount: request.fromAccount,
            toState: single ? UnitState.InTransit : UnitState.Pending,
            toLock: transferId
        });
        uint64 quantity = _moveRanges(request.ranges, blockStarts, move);
        InteropStorage.layout().itmoOutbound[transferId] = itmo;
        _recordOut(request, transferId, quantity, single);
    }

    /// @notice See IInterop.Itmos
    function outboundItmos(uint64 transferId) external view returns (ItmoTerms[] memory terms) {
        ItmoOutbound storage itmo = InteropStorage.layout().itmoOutbound[transferId];
        if (itmo.termsHash == 0) return terms;
        terms = new ItmoTerms[](1);
        terms[0] = _terms(_storage(), itmo);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice See IInterop.
    function getPeer(bytes8 registryCode) external view returns (Peer memory) {
        return InteropStorage.layout().peers[registryCode];
    }

    /// @notice See IInterop.
    function getOutbound(uint64 transferId) external view returns (Outbound memory) {
        return InteropStorage.layout().outbound[transferId];
    }

    /// @notice See IInterop.
    function inboundAnswer(bytes8 sourceRegistry, uint64 transferId) external view returns (bytes32) {
        return InteropStorage.layout().inbound[sourceRegistry][transferId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    /// @dev Checks a transfer of ITMOs out as transferOut checks a transfer, plus its authorization and the
    /// acquiring Party: one this registry records as the peer's, taking part in the approach. Returns the
    /// transfer's ITMO record and whether the source account's policy is `single`.
    function _prepareOut(TransferItmosOutRequest calldata request)
        private
        view
        returns (ItmoOutbound memory itmo, bool single)
    {
        uint64 from = request.fromAccount;
        Account storage source = _requireOpen(from);
        single = source.approvalPolicy == ApprovalPolicy.Single;
        _requireRight(from, request.signer, _RIGHT_INITIATE);
        bytes8 peer = request.toRegistry;
        _peer(peer);
        if (request.toAccount == 0) revert InvalidPeerAccount(request.toAccount);
        Article6Storage storage $ = _storage();
        bytes32 approachId = _authorization($, request.authorizationId).approachId;
        bytes8 toParty = request.toParty;
        if (_requireParty($, toParty).registryId != peer) revert InvalidAcquiringParty(toParty, peer);
        if (!$.participates[approachId][toParty]) revert PartyNotInApproach(approachId, toParty);
        itmo = ItmoOutbound({
            authorizationId: request.authorizationId, fromParty: source.party, toParty: toParty, termsHash: 0
        });
        itmo.termsHash = _terms($, itmo).hashTerms();
    }

    /// @dev Records the outbound transfer as transferOut does.
    function _recordOut(
        TransferItmosOutRequest calldata request,
        uint64 transferId,
        uint64 quantity,
        bool single
    ) private {
        InteropStorage.layout().outbound[transferId] = Outbound({
            fromAccount: request.fromAccount,
            toAccount: request.toAccount,
            quantity: quantity,
            status: single ? OutboundStatus.InTransit : OutboundStatus.Pending,
            toRegistry: request.toRegistry,
            initiator: request.signer,
            proposalDigest: bytes32(0),
            answerDigest: bytes32(0)
        });
        emit TransferOutInitiated(
            transferId, request.fromAccount, request.toRegistry, request.toAccount, request.signer, quantity
        );
        if (single) emit TransferOutApproved(transferId, request.signer);
    }

    /// @dev The terms of an outbound ITMO transfer, from the authorization as this registry records it.
    function _terms(Article6Storage storage $, ItmoOutbound memory itmo)
        private
        view
        returns (ItmoTerms memory)
    {
        Authorization storage a = $.authorizations[itmo.authorizationId];
        return ItmoTerms({
            authorizationId: itmo.authorizationId,
            authorizingParty: a.party,
            approachId: a.approachId,
            letterId: a.letterId,
            purposes: a.purposes,
            firstTransferDefinition: uint8(a.firstTransferDefinition),
            authorizedAt: a.authorizedAt,
            transferringParty: itmo.fromParty,
            acquiringParty: itmo.toParty
        });
    }
}
