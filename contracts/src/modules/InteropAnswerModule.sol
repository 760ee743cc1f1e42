// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Article6Base} from "../base/Article6Base.sol";
import {InteropBase} from "../base/InteropBase.sol";
import {IInterop} from "../interfaces/IInterop.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {UnitState} from "../libraries/RegistryTypes.sol";
import {
    FirstTransferDefinition,
    Article6Action,
    Authorization,
    PURPOSE_NDC,
    PURPOSE_OIMP
} from "../libraries/Article6Types.sol";
import {ItmoTerms, ItmoOutbound, Proposal, Answer, InteropStorage} from "../libraries/InteropTypes.sol";

/// @title InteropAnswerModule
/// @notice IInterop.recordAnswer: the destination's answer to a proposal, recorded on either chain. At the
/// destination an acceptance issues the units anew and, for ITMOs, records the acquisition (decision D47);
/// at the source it settles the transfer and, for ITMOs, records the first transfer (where none was
/// recorded) and the transfer. Refused ITMOs return to their authorization.
contract InteropAnswerModule is Article6Base, InteropBase, IRegistryModule {
    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](1);
        selectors[0] = IInterop.recordAnswer.selector;
    }

    /// @notice See IInterop.
    function recordAnswer(Answer calldata a, bytes calldata signature, uint64[] calldata blockStarts)
        external
        onlyRole(RELAYER_ROLE)
    {
        (bytes32 proposalHash, bool destination) = _checkAnswer(a);
        Proposal calldata p = a.proposal;
        bool itmos = p.itmos.length != 0;
        if (p.itmos.length > 1) revert ProposalMismatch(p.transferId, type(uint256).max);
        if (destination) {
            uint64[] memory starts = _answerAsDestination(a, signature, proposalHash);
            if (a.accepted && itmos) _acquire(p.itmos[0], p.toAccount, starts);
            return;
        }
        // The proposal is the one this chain recorded (its digest is checked), so it carries the ITMO
        // terms exactly when the transfer is one of ITMOs.
        ItmoOutbound storage itmo = InteropStorage.layout().itmoOutbound[a.transferId];
        _answerAsSource(a, signature, proposalHash, blockStarts, itmo.authorizationId);
        if (a.accepted && itmos) _recordTransferOut(itmo, a.transferId, p.fromAccount, blockStarts);
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    /// @dev The source's side once the peer accepted: per block (now TransferredOut), the first transfer
    /// if none was recorded, then the transfer to the acquiring Party.
    function _recordTransferOut(
        ItmoOutbound storage itmo,
        uint64 transferId,
        uint64 fromAccount,
        uint64[] calldata blockStarts
    ) private {
        Article6Storage storage $ = _storage();
        Leg memory leg = Leg({
            operationId: transferId,
            authorizationId: itmo.authorizationId,
            fromAccount: fromAccount,
            toAccount: 0,
            fromParty: itmo.fromParty,
            toParty: itmo.toParty
        });
        uint256 firstTransferred = uint256(1) << $.firstTransferredLabel;
        for (uint256 i; i < blockStarts.length; ++i) {
            uint64 start = blockStarts[i];
            uint64 end = _blocks[start].end;
            if (_blockLabels[start] & firstTransferred == 0) _markFirstTransfer($, leg, start, end);
            emit Article6ActionRecorded(
                transferId,
                leg.authorizationId,
                Article6Action.Transfer,
                start,
                end,
                fromAccount,
                leg.fromParty,
                leg.toParty
            );
        }
    }

    /// @dev The destination's side of an acceptance: the units just imported (`starts`) are held under
    /// this registry's record of the source's letter, labelled as the letter authorizes and first
    /// transferred, and their acquisition by the destination account's Party is recorded.
    function _acquire(ItmoTerms calldata t, uint64 toAccount, uint64[] memory starts) private {
        Article6Storage storage $ = _storage();
        bytes8 party = _accounts[toAccount].party;
        if (party != t.acquiringParty) revert InvalidAcquiringParty(t.acquiringParty, _registryCode);
        _requireParty($, party);
        if (!$.participates[t.approachId][party]) revert PartyNotInApproach(t.approachId, party);
        uint64 authorizationId = _letter($, t);
        uint256 labels = uint256(1) << $.firstTransferredLabel;
        if (t.purposes & PURPOSE_NDC != 0) labels |= uint256(1) << $.ndcLabel;
        if (t.purposes & PURPOSE_OIMP != 0) labels |= uint256(1) << $.oimpLabel;
        Move memory move = Move({
            fromAccount: toAccount,
            fromState: UnitState.Held,
            fromLock: 0,
            toAccount: toAccount,
            toState: UnitState.Held,
            toLock: authorizationId
        });
        Leg memory leg = Leg({
            operationId: _counters.nextOperationId++,
            authorizationId: authorizationId,
            fromAccount: 0,
            toAccount: toAccount,
            fromParty: t.transferringParty,
            toParty: party
        });
        for (uint256 i; i < starts.length; ++i) {
            uint64 start = starts[i];
            uint64 end = _blocks[start].end;
            _moveRange(start, start, end, move);
            _blockLabels[start] |= labels;
            _emitLabels(start, end, labels);
            _emitAcquisition(leg, start, end);
        }
    }

    function _emitAcquisition(Leg memory leg, uint64 start, uint64 end) private {
        emit Article6ActionRecorded(
            leg.operationId,
            leg.authorizationId,
            Article6Action.Acquisition,
            start,
            end,
            leg.toAccount,
            leg.toParty,
            leg.fromParty
        );
    }

    /// @dev This registry's record of the source's letter: the one recorded before under the authorizing
    /// Party and letter id, whose terms must be the same, or a new one.
    function _letter(Article6Storage storage $, ItmoTerms calldata t) private returns (uint64 id) {
        bytes8 party = t.authorizingParty;
        id = $.letters[party][t.letterId];
        FirstTransferDefinition definition = FirstTransferDefinition(t.firstTransferDefinition);
        if (id != 0) {
            Authorization storage a = $.authorizations[id];
            if (
                a.approachId != t.approachId || a.purposes != t.purposes
                    || a.firstTransferDefinition != definition || a.authorizedAt != t.authorizedAt
            ) revert AuthorizationMismatch(party, t.letterId, id);
            return id;
        }
        if (t.letterId == bytes32(0) || party == bytes8(0)) revert InvalidLetterId(t.letterId);
        id = _counters.nextOperationId++;
        $.letters[party][t.letterId] = id;
        $.authorizations[id] = Authorization({
            party: party,
            firstTransferDefinition: definition,
            purposes: t.purposes,
            authorizedAt: t.authorizedAt,
            approachId: t.approachId,
            letterId: t.letterId
        });
        emit AuthorizationRecorded(
            id, party, t.approachId, t.letterId, t.purposes, definition, t.authorizedAt
        );
    }
}
