// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {RegistryBase} from "../base/RegistryBase.sol";
import {IInterop} from "../interfaces/IInterop.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {InteropHashing} from "../libraries/InteropHashing.sol";
import {
    ApprovalPolicy,
    UnitState,
    UnitBlock,
    Issuance,
    TransferDecisionRequest
} from "../libraries/RegistryTypes.sol";
import {
    OutboundStatus,
    Peer,
    Outbound,
    SetPeerRequest,
    TransferOutRequest,
    InteropUnit,
    Proposal,
    Answer,
    InteropStorage
} from "../libraries/InteropTypes.sol";

/// @title InteropModule
/// @notice Inter-registry transfers (IInterop). Runs by delegatecall from UnitRegistry on its storage; its
/// own state lives in the ERC-7201 namespace of InteropStorage. The core transfer path is untouched: an
/// outbound transfer has its own request, record and states.
contract InteropModule is RegistryBase, IInterop, IRegistryModule {
    using InteropHashing for *;

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](8);
        selectors[0] = IInterop.setPeer.selector;
        selectors[1] = IInterop.transferOut.selector;
        selectors[2] = IInterop.approveTransferOut.selector;
        selectors[3] = IInterop.sendProposal.selector;
        selectors[4] = IInterop.recordAnswer.selector;
        selectors[5] = IInterop.getPeer.selector;
        selectors[6] = IInterop.getOutbound.selector;
        selectors[7] = IInterop.inboundAnswer.selector;
    }

    /// @inheritdoc IInterop
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

    /// @inheritdoc IInterop
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

    /// @inheritdoc IInterop
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

    /// @inheritdoc IInterop
    function sendProposal(Proposal calldata p, bytes calldata signature) external onlyRole(RELAYER_ROLE) {
        bytes32 digest = _verify(p.hash(), p.signer, p.nonce, p.deadline, signature);
        _requireRole(RELAYER_ROLE, p.signer);
        uint64 transferId = p.transferId;
        Outbound storage o = _outbound(transferId, OutboundStatus.InTransit);
        if (o.proposalDigest != bytes32(0)) revert ProposalAlreadySent(transferId);
        if (
            p.sourceRegistry != _registryCode || p.destRegistry != o.toRegistry
                || p.fromAccount != o.fromAccount || p.toAccount != o.toAccount
        ) revert ProposalMismatch(transferId, type(uint256).max);
        if (p.itmos.length != 0) revert ItmoTransferNotSupported(transferId);
        _checkUnits(p, o.quantity);
        o.proposalDigest = digest;
        emit ProposalSent(transferId, digest, p.signer, p.deadline, signature);
    }

    /// @inheritdoc IInterop
    function recordAnswer(Answer calldata a, bytes calldata signature, uint64[] calldata blockStarts)
        external
        onlyRole(RELAYER_ROLE)
    {
        Proposal calldata p = a.proposal;
        if (a.transferId != p.transferId || a.accepted != (a.reason == 0)) {
            revert InvalidAnswer(a.transferId);
        }
        bytes32 proposalHash = p.hash();
        if (p.destRegistry == _registryCode) _answerAsDestination(a, signature, proposalHash);
        else if (p.sourceRegistry == _registryCode) _answerAsSource(a, signature, proposalHash, blockStarts);
        else revert InvalidAnswer(a.transferId);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IInterop
    function getPeer(bytes8 registryCode) external view returns (Peer memory) {
        return InteropStorage.layout().peers[registryCode];
    }

    /// @inheritdoc IInterop
    function getOutbound(uint64 transferId) external view returns (Outbound memory) {
        return InteropStorage.layout().outbound[transferId];
    }

    /// @inheritdoc IInterop
    function inboundAnswer(bytes8 sourceRegistry, uint64 transferId) external view returns (bytes32) {
        return InteropStorage.layout().inbound[sourceRegistry][transferId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    function _peer(bytes8 code) private view returns (Peer storage peer) {
        peer = InteropStorage.layout().peers[code];
        if (peer.operator == address(0)) revert PeerNotFound(code);
    }

    function _outbound(uint64 transferId, OutboundStatus expected) private view returns (Outbound storage o) {
        o = InteropStorage.layout().outbound[transferId];
        if (o.status == OutboundStatus.None) revert OutboundNotFound(transferId);
        if (o.status != expected) revert OutboundNotInStatus(transferId, o.status);
    }

    /// @dev Recovers the signer of `structHash` in the peer's domain; it must be the peer's operator.
    function _checkPeerSignature(bytes8 code, bytes32 structHash, address named, bytes calldata signature)
        private
        view
        returns (bytes32 digest)
    {
        Peer storage peer = _peer(code);
        digest = InteropHashing.peerDigest(peer.chainId, peer.registry, structHash);
        address recovered = ECDSA.recoverCalldata(digest, signature);
        if (recovered != peer.operator || named != recovered) {
            revert PeerSignatureInvalid(code, peer.operator, recovered);
        }
    }

    /// @dev The units must be the transfer's InTransit blocks, whole, in increasing order, each with its
    /// issuance's attributes and its labels' names, and add up to the transfer's quantity.
    function _checkUnits(Proposal calldata p, uint64 quantity) private view {
        uint64 total;
        uint64 previousEnd;
        for (uint256 i; i < p.units.length; ++i) {
            InteropUnit calldata u = p.units[i];
            UnitBlock memory b = _blocks[u.start];
            if (
                u.start <= previousEnd || b.end != u.end || b.state != UnitState.InTransit
                    || b.lockId != p.transferId || b.account != p.fromAccount
            ) revert ProposalMismatch(p.transferId, i);
            Issuance storage iss = _issuances[b.issuance];
            bytes8 origin = iss.originRegistry == bytes8(0) ? _registryCode : iss.originRegistry;
            if (
                u.projectId != iss.projectId || u.unitType != iss.unitType || u.vintage != iss.vintage
                    || u.monitoringStart != iss.monitoringStart || u.monitoringEnd != iss.monitoringEnd
                    || u.originRegistry != origin
                    || keccak256(abi.encodePacked(u.labels)) != _labelNamesHash(_blockLabels[u.start])
            ) revert ProposalMismatch(p.transferId, i);
            previousEnd = u.end;
            total += u.end - u.start + 1;
        }
        if (total != quantity) revert ProposalMismatch(p.transferId, p.units.length);
    }

    /// @dev keccak256 of the packed names of the labels in `labels`, in label id order.
    function _labelNamesHash(uint256 labels) private view returns (bytes32) {
        bytes memory names;
        for (uint256 id; labels >> id != 0; ++id) {
            if ((labels >> id) & 1 != 0) names = abi.encodePacked(names, _labels[uint8(id)].name);
        }
        return keccak256(names);
    }

    function _answerAsDestination(Answer calldata a, bytes calldata signature, bytes32 proposalHash) private {
        bytes32 answerDigest = _verify(a.hash(proposalHash), a.signer, a.nonce, a.deadline, signature);
        _requireRole(RELAYER_ROLE, a.signer);
        Proposal calldata p = a.proposal;
        bytes8 source = p.sourceRegistry;
        bytes32 proposalDigest = _checkPeerSignature(source, proposalHash, p.signer, a.proposalSignature);
        mapping(uint64 => bytes32) storage inbound = InteropStorage.layout().inbound[source];
        if (inbound[p.transferId] != bytes32(0)) revert AlreadyAnswered(source, p.transferId);
        inbound[p.transferId] = answerDigest;
        if (a.accepted) {
            if (block.timestamp > p.deadline) revert ProposalDeadlinePassed(p.deadline, block.timestamp);
            if (p.itmos.length != 0) revert ItmoTransferNotSupported(p.transferId);
            _requireCanReceive(p.toAccount);
            for (uint256 i; i < p.units.length; ++i) {
                _import(source, p.transferId, p.toAccount, p.units[i]);
            }
        }
        emit ProposalReceived(source, p.transferId, proposalDigest, p.signer, p.deadline, a.proposalSignature);
        _emitAnswer(a, answerDigest, signature);
    }

    /// @dev A function of its own so that the event's arguments do not overflow the caller's stack.
    function _emitAnswer(Answer calldata a, bytes32 answerDigest, bytes calldata signature) private {
        emit AnswerRecorded(
            a.proposal.sourceRegistry,
            a.transferId,
            a.proposal.destRegistry,
            a.accepted,
            a.reason,
            answerDigest,
            a.signer,
            signature
        );
    }

    function _answerAsSource(
        Answer calldata a,
        bytes calldata signature,
        bytes32 proposalHash,
        uint64[] calldata blockStarts
    ) private {
        uint64 transferId = a.transferId;
        Outbound storage o = _outbound(transferId, OutboundStatus.InTransit);
        if (o.proposalDigest != _hashTypedDataV4(proposalHash)) {
            revert ProposalMismatch(transferId, type(uint256).max);
        }
        bytes32 answerDigest =
            _checkPeerSignature(a.proposal.destRegistry, a.hash(proposalHash), a.signer, signature);
        // NOTE: a peer's answer is not this registry's signed request (no local nonce), but the journal
        // follows every relayed message by its RequestExecuted; replay is refused by the status check.
        emit RequestExecuted(a.signer, a.nonce, answerDigest);
        o.answerDigest = answerDigest;
        _settleOutbound(o, transferId, a.accepted, blockStarts);
        _emitAnswer(a, answerDigest, signature);
    }

    /// @dev Accepted: InTransit -> TransferredOut (terminal, still locked by the transfer's id). Refused:
    /// InTransit -> Held in the source account.
    function _settleOutbound(
        Outbound storage o,
        uint64 transferId,
        bool accepted,
        uint64[] calldata blockStarts
    ) private {
        uint64 from = o.fromAccount;
        o.status = accepted ? OutboundStatus.Transferred : OutboundStatus.Returned;
        Move memory move = Move({
            fromAccount: from,
            fromState: UnitState.InTransit,
            fromLock: transferId,
            toAccount: from,
            toState: accepted ? UnitState.TransferredOut : UnitState.Held,
            toLock: accepted ? transferId : 0
        });
        _moveLocked(transferId, blockStarts, move, o.quantity);
    }

    /// @dev Issues one accepted unit anew in `toAccount`, with the source's attributes and origin; labels
    /// defined here under the same name are applied, others are not (their names stay in the proposal).
    function _import(bytes8 source, uint64 transferId, uint64 toAccount, InteropUnit calldata u) private {
        Issuance memory issuance = Issuance({
            projectId: u.projectId,
            unitType: u.unitType,
            start: 0,
            end: 0,
            monitoringStart: u.monitoringStart,
            monitoringEnd: u.monitoringEnd,
            vintage: u.vintage,
            originRegistry: u.originRegistry
        });
        (, uint64 start, uint64 end) = _issue(issuance, u.end - u.start + 1, toAccount);
        uint256 labels;
        uint16 count = _labelCount;
        for (uint256 i; i < u.labels.length; ++i) {
            for (uint16 id; id < count; ++id) {
                if (_labels[uint8(id)].name == u.labels[i]) labels |= uint256(1) << id;
            }
        }
        if (labels != 0) {
            _blockLabels[start] = labels;
            _emitLabels(start, end, labels);
        }
        emit UnitsImported(source, transferId, start, end, u.start, u.end);
    }
}
