// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Article6Base} from "../base/Article6Base.sol";
import {IArticle6Transfers} from "../interfaces/IArticle6.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {Article6Hashing} from "../libraries/Article6Hashing.sol";
import {
    ApprovalPolicy,
    UnitState,
    TransferStatus,
    CancellationPurpose,
    Account,
    Range,
    TransferDecisionRequest
} from "../libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    Article6Action,
    Authorization,
    ItmoTransfer,
    TransferItmosRequest,
    CancelItmosRequest
} from "../libraries/Article6Types.sol";

/// @title Article6TransferModule
/// @notice Transfers, uses and cancellations of authorized units, with the Article 6 actions they record.
/// @dev Runs only by delegatecall from UnitRegistry (see IArticle6 for the design). Authorized units
/// move here as the core moves Held units, with the authorization id as the lock they move from and to.
contract Article6TransferModule is Article6Base, IArticle6Transfers, IRegistryModule {
    using Article6Hashing for *;

    /// @dev A use or cancellation: its leg (id, authorization, account, authorizing Party), the move that
    /// cancels each range, the action it records, the using Party, and whether it is the first transfer.
    struct Use {
        Leg leg;
        Move move;
        Article6Action action;
        bytes8 usingParty;
        bool firstTransferAtUse;
    }

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](5);
        selectors[0] = IArticle6Transfers.transferItmos.selector;
        selectors[1] = IArticle6Transfers.approveItmoTransfer.selector;
        selectors[2] = IArticle6Transfers.rescindItmoTransfer.selector;
        selectors[3] = IArticle6Transfers.cancelItmos.selector;
        selectors[4] = IArticle6Transfers.getItmoTransfer.selector;
    }

    // ---------------------------------------------------------------------------------------------
    // Movements of authorized units
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle6Transfers
    function transferItmos(
        TransferItmosRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 transferId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        Article6Storage storage $ = _storage();
        (Leg memory leg, bool single) = _prepareItmoTransfer($, request);
        transferId = leg.operationId;
        uint64 quantity = _initiateItmoTransfer($, leg, single, request.ranges, blockStarts);
        emit TransferInitiated(transferId, leg.fromAccount, leg.toAccount, request.signer, quantity);
        emit ItmoTransferInitiated(transferId, leg.authorizationId);
        if (single) {
            emit TransferCompleted(transferId, request.signer);
        } else {
            $.transfers[transferId] = ItmoTransfer({
                fromAccount: leg.fromAccount,
                toAccount: leg.toAccount,
                quantity: quantity,
                authorizationId: leg.authorizationId,
                status: TransferStatus.Pending,
                initiator: request.signer
            });
        }
    }

    /// @inheritdoc IArticle6Transfers
    function approveItmoTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(
            request.hash(Article6Hashing.APPROVE_ITMO_TRANSFER_TYPEHASH),
            request.signer,
            request.nonce,
            request.deadline,
            signature
        );
        Article6Storage storage $ = _storage();
        uint64 transferId = request.transferId;
        ItmoTransfer storage transfer = _pendingItmoTransfer($, transferId);
        Leg memory leg = Leg({
            operationId: transferId,
            authorizationId: transfer.authorizationId,
            fromAccount: transfer.fromAccount,
            toAccount: transfer.toAccount,
            fromParty: _requireOpen(transfer.fromAccount).party,
            toParty: bytes8(0)
        });
        _requireRight(leg.fromAccount, request.signer, _RIGHT_APPROVE);
        if (request.signer == transfer.initiator) revert ApproverIsInitiator(transferId, request.signer);
        leg.toParty = _requireOpen(leg.toAccount).party;
        // The approach's participants may have changed since the transfer was initiated.
        _checkAcquiringParty($, $.authorizations[leg.authorizationId].approachId, leg);

        transfer.status = TransferStatus.Completed;
        _settleItmoTransfer($, transfer, blockStarts, leg, true);
        emit TransferCompleted(transferId, request.signer);
    }

    /// @inheritdoc IArticle6Transfers
    function rescindItmoTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(
            request.hash(Article6Hashing.RESCIND_ITMO_TRANSFER_TYPEHASH),
            request.signer,
            request.nonce,
            request.deadline,
            signature
        );
        Article6Storage storage $ = _storage();
        uint64 transferId = request.transferId;
        ItmoTransfer storage transfer = _pendingItmoTransfer($, transferId);
        uint64 from = transfer.fromAccount;
        _requireOpen(from);
        _requireRight(from, request.signer, _RIGHT_APPOINTED);

        transfer.status = TransferStatus.Rescinded;
        Leg memory leg = Leg({
            operationId: transferId,
            authorizationId: transfer.authorizationId,
            fromAccount: from,
            toAccount: from,
            fromParty: bytes8(0),
            toParty: bytes8(0)
        });
        _settleItmoTransfer($, transfer, blockStarts, leg, false);
        emit TransferRescinded(transferId, request.signer);
    }

    /// @inheritdoc IArticle6Transfers
    function cancelItmos(
        CancelItmosRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 cancellationId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        Article6Storage storage $ = _storage();
        Use memory use = _prepareUse($, request);
        cancellationId = use.leg.operationId;
        Range[] calldata ranges = request.ranges;
        _checkRangeCount(ranges.length, blockStarts.length);
        uint64 quantity;
        for (uint256 i; i < ranges.length; ++i) {
            quantity += _useRange($, use, blockStarts[i], ranges[i].start, ranges[i].end);
        }
        $.cancellations[cancellationId] = use.leg.authorizationId;
        _emitCancelled(request, cancellationId, quantity);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle6Transfers
    function getItmoTransfer(uint64 transferId) external view returns (ItmoTransfer memory) {
        return _storage().transfers[transferId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    function _pendingItmoTransfer(Article6Storage storage $, uint64 transferId)
        private
        view
        returns (ItmoTransfer storage transfer)
    {
        transfer = $.transfers[transferId];
        if (transfer.status == TransferStatus.None) revert TransferNotFound(transferId);
        if (transfer.status != TransferStatus.Pending) revert TransferNotPending(transferId);
    }

    /// @dev Checks an ITMO transfer request as the core checks a transfer, plus its authorization and,
    /// between Parties, the acquiring Party; assigns its id. Returns its leg and whether the source
    /// account's policy is `single`.
    function _prepareItmoTransfer(Article6Storage storage $, TransferItmosRequest calldata request)
        private
        returns (Leg memory leg, bool single)
    {
        uint64 from = request.fromAccount;
        uint64 to = request.toAccount;
        Account storage source = _requireOpen(from);
        _requireRight(from, request.signer, _RIGHT_INITIATE);
        if (from == to) revert SameAccount(from);
        _requireCanReceive(to);
        Authorization storage authorization = _authorization($, request.authorizationId);
        leg = Leg({
            operationId: 0,
            authorizationId: request.authorizationId,
            fromAccount: from,
            toAccount: to,
            fromParty: source.party,
            toParty: _accounts[to].party
        });
        _checkAcquiringParty($, authorization.approachId, leg);
        single = source.approvalPolicy == ApprovalPolicy.Single;
        leg.operationId = _counters.nextOperationId++;
    }

    /// @dev Moves the ranges of an ITMO transfer: to the destination, recording the leg, under the
    /// `single` policy; Pending under the transfer's id otherwise. Returns the quantity.
    function _initiateItmoTransfer(
        Article6Storage storage $,
        Leg memory leg,
        bool single,
        Range[] calldata ranges,
        uint64[] calldata blockStarts
    ) private returns (uint64 quantity) {
        Move memory move = Move({
            fromAccount: leg.fromAccount,
            fromState: UnitState.Held,
            fromLock: leg.authorizationId,
            toAccount: single ? leg.toAccount : leg.fromAccount,
            toState: single ? UnitState.Held : UnitState.Pending,
            toLock: single ? leg.authorizationId : leg.operationId
        });
        _checkRangeCount(ranges.length, blockStarts.length);
        for (uint256 i; i < ranges.length; ++i) {
            uint64 start = ranges[i].start;
            uint64 end = ranges[i].end;
            quantity += _moveRange(blockStarts[i], start, end, move);
            if (single) _recordLeg($, leg, start, end);
        }
    }

    /// @dev Moves a pending ITMO transfer's blocks to the destination (`complete`) or back to the source,
    /// Held under their authorization again; the blocks must add up to the transfer's quantity.
    function _settleItmoTransfer(
        Article6Storage storage $,
        ItmoTransfer storage transfer,
        uint64[] calldata blockStarts,
        Leg memory leg,
        bool complete
    ) private {
        if (blockStarts.length == 0 || blockStarts.length > MAX_RANGES) {
            revert InvalidRangeCount(blockStarts.length, MAX_RANGES);
        }
        Move memory move = Move({
            fromAccount: transfer.fromAccount,
            fromState: UnitState.Pending,
            fromLock: leg.operationId,
            toAccount: leg.toAccount,
            toState: UnitState.Held,
            toLock: leg.authorizationId
        });
        uint64 moved;
        for (uint256 i; i < blockStarts.length; ++i) {
            uint64 start = blockStarts[i];
            uint64 end = _blocks[start].end;
            // A hint that starts no block has end 0; name it, rather than report the range [start, 0].
            if (end == 0) revert BlockNotFound(start);
            moved += _moveRange(start, start, end, move);
            if (complete) _recordLeg($, leg, start, end);
        }
        if (moved != transfer.quantity) {
            revert TransferQuantityMismatch(leg.operationId, transfer.quantity, moved);
        }
    }

    /// @dev Checks a use or cancellation request and assigns its cancellation id.
    function _prepareUse(Article6Storage storage $, CancelItmosRequest calldata request)
        private
        returns (Use memory use)
    {
        uint64 accountId = request.accountId;
        use.usingParty = _requireOpen(accountId).party;
        _requireRight(accountId, request.signer, _RIGHT_INITIATE);
        uint64 authorizationId = request.authorizationId;
        Authorization storage authorization = _authorization($, authorizationId);
        use.action = _useAction(authorizationId, authorization.purposes, request.purpose);
        use.firstTransferAtUse =
            authorization.firstTransferDefinition == FirstTransferDefinition.AtUseOrCancellation;
        uint64 cancellationId = _counters.nextOperationId++;
        use.leg = Leg({
            operationId: cancellationId,
            authorizationId: authorizationId,
            fromAccount: accountId,
            toAccount: accountId,
            fromParty: authorization.party,
            toParty: bytes8(0)
        });
        use.move = Move({
            fromAccount: accountId,
            fromState: UnitState.Held,
            fromLock: authorizationId,
            toAccount: accountId,
            toState: UnitState.Cancelled,
            toLock: cancellationId
        });
    }

    /// @dev Cancels `[start, end]` and records its use, preceded by its first transfer where the
    /// definition says so and none was recorded. Returns its quantity.
    function _useRange(Article6Storage storage $, Use memory use, uint64 hint, uint64 start, uint64 end)
        private
        returns (uint64 quantity)
    {
        // The first transfer precedes the use, so it is labelled before the units are cancelled.
        if (use.firstTransferAtUse && _blockLabels[hint] & (uint256(1) << $.firstTransferredLabel) == 0) {
            _split(hint, _loadBlock(hint, start, end), start, end);
            hint = start;
            _markFirstTransfer($, use.leg, start, end);
        }
        quantity = _moveRange(hint, start, end, use.move);
        emit Article6ActionRecorded(
            use.leg.operationId,
            use.leg.authorizationId,
            use.action,
            start,
            end,
            use.leg.fromAccount,
            use.usingParty,
            0
        );
    }

    /// @dev The action a cancellation purpose records; uses need the matching authorized purpose.
    function _useAction(uint64 authorizationId, uint8 purposes, CancellationPurpose purpose)
        private
        pure
        returns (Article6Action)
    {
        if (purpose == CancellationPurpose.NdcUse) {
            if (purposes & PURPOSE_NDC == 0) revert PurposeNotAuthorized(authorizationId, purpose);
            return Article6Action.UseTowardsNdc;
        }
        if (purpose == CancellationPurpose.Oimp) {
            if (purposes & PURPOSE_OIMP == 0) revert PurposeNotAuthorized(authorizationId, purpose);
            return Article6Action.UseForOimp;
        }
        if (purpose == CancellationPurpose.Omge) return Article6Action.OmgeCancellation;
        return Article6Action.VoluntaryCancellation;
    }

    /// @dev A function of its own so that the event's strings do not overflow the caller's stack.
    function _emitCancelled(CancelItmosRequest calldata request, uint64 cancellationId, uint64 quantity)
        private
    {
        emit UnitsCancelled(
            cancellationId, request.accountId, request.purpose, quantity, request.beneficiary, request.reason
        );
    }
}
