// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {RegistryBase} from "./RegistryBase.sol";
import {IInteropEvents} from "../interfaces/IInterop.sol";
import {InteropHashing} from "../libraries/InteropHashing.sol";
import {UnitState, UnitBlock, Issuance} from "../libraries/RegistryTypes.sol";
import {
    OutboundStatus,
    Peer,
    Outbound,
    InteropUnit,
    Proposal,
    Answer,
    InteropStorage
} from "../libraries/InteropTypes.sol";

/// @title InteropBase
/// @notice The protocol steps InteropModule (ordinary units) and InteropItmoModule (ITMOs) share: recording
/// a proposal, and recording an answer as the destination or as the source.
abstract contract InteropBase is RegistryBase, IInteropEvents {
    using InteropHashing for *;

    function _peer(bytes8 code) internal view returns (Peer storage peer) {
        peer = InteropStorage.layout().peers[code];
        if (peer.operator == address(0)) revert PeerNotFound(code);
    }

    function _outbound(uint64 transferId, OutboundStatus expected)
        internal
        view
        returns (Outbound storage o)
    {
        o = InteropStorage.layout().outbound[transferId];
        if (o.status == OutboundStatus.None) revert OutboundNotFound(transferId);
        if (o.status != expected) revert OutboundNotInStatus(transferId, o.status);
    }

    /// @dev Checks the source operator's proposal against the InTransit transfer's record and locked
    /// blocks, and records its digest. The caller checks the proposal's ITMO terms.
    function _sendProposal(Proposal calldata p, bytes calldata signature) internal {
        bytes32 digest = _verify(p.hash(), p.signer, p.nonce, p.deadline, signature);
        _requireRole(RELAYER_ROLE, p.signer);
        uint64 transferId = p.transferId;
        Outbound storage o = _outbound(transferId, OutboundStatus.InTransit);
        if (o.proposalDigest != bytes32(0)) revert ProposalAlreadySent(transferId);
        if (
            p.sourceRegistry != _registryCode || p.destRegistry != o.toRegistry
                || p.fromAccount != o.fromAccount || p.toAccount != o.toAccount
        ) revert ProposalMismatch(transferId, type(uint256).max);
        _checkUnits(p, o.quantity);
        o.proposalDigest = digest;
        emit ProposalSent(transferId, digest, p.signer, p.deadline, signature);
    }

    /// @dev Checks an answer's shape; returns the proposal's struct hash and whether this registry is the
    /// proposal's destination (else its source).
    function _checkAnswer(Answer calldata a) internal view returns (bytes32 proposalHash, bool destination) {
        Proposal calldata p = a.proposal;
        if (a.transferId != p.transferId || a.accepted != (a.reason == 0)) {
            revert InvalidAnswer(a.transferId);
        }
        proposalHash = p.hash();
        destination = p.destRegistry == _registryCode;
        if (!destination && p.sourceRegistry != _registryCode) revert InvalidAnswer(a.transferId);
    }

    /// @dev Recovers the signer of `structHash` in the peer's domain; it must be the peer's operator.
    function _checkPeerSignature(bytes8 code, bytes32 structHash, address named, bytes calldata signature)
        internal
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

    /// @dev Records this registry's own answer to a peer's proposal; an acceptance issues the units.
    /// Returns the first local serial of each imported unit (none for a refusal).
    function _answerAsDestination(Answer calldata a, bytes calldata signature, bytes32 proposalHash)
        internal
        returns (uint64[] memory starts)
    {
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
            _requireCanReceive(p.toAccount);
            starts = new uint64[](p.units.length);
            for (uint256 i; i < p.units.length; ++i) {
                starts[i] = _import(source, p.transferId, p.toAccount, p.units[i]);
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

    /// @dev Records the peer's answer to this registry's proposal and settles the units: accepted,
    /// InTransit -> TransferredOut (terminal, still locked by the transfer's id); refused, InTransit ->
    /// Held in the source account under `returnLock` (0, or the ITMOs' authorization).
    function _answerAsSource(
        Answer calldata a,
        bytes calldata signature,
        bytes32 proposalHash,
        uint64[] calldata blockStarts,
        uint64 returnLock
    ) internal {
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
        bool accepted = a.accepted;
        uint64 from = o.fromAccount;
        o.status = accepted ? OutboundStatus.Transferred : OutboundStatus.Returned;
        Move memory move = Move({
            fromAccount: from,
            fromState: UnitState.InTransit,
            fromLock: transferId,
            toAccount: from,
            toState: accepted ? UnitState.TransferredOut : UnitState.Held,
            toLock: accepted ? transferId : returnLock
        });
        _moveLocked(transferId, blockStarts, move, o.quantity);
        _emitAnswer(a, answerDigest, signature);
    }

    /// @dev Issues one accepted unit anew in `toAccount`, with the source's attributes and origin; labels
    /// defined here under the same name are applied, others are not (their names stay in the proposal).
    /// Labels only this registry sets (the Article 6 ones, whose authority is the registry itself) never
    /// cross by name: ITMOs get them from their terms. Returns the unit's first local serial.
    function _import(bytes8 source, uint64 transferId, uint64 toAccount, InteropUnit calldata u)
        private
        returns (uint64)
    {
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
                if (_labels[uint8(id)].name == u.labels[i] && _labels[uint8(id)].authority != address(this)) {
                    labels |= uint256(1) << id;
                }
            }
        }
        if (labels != 0) {
            _blockLabels[start] = labels;
            _emitLabels(start, end, labels);
        }
        emit UnitsImported(source, transferId, start, end, u.start, u.end);
        return start;
    }
}
