// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryBase} from "./base/RegistryBase.sol";
import {IUnitRegistry} from "./interfaces/IUnitRegistry.sol";
import {IRegistryModule} from "./interfaces/IRegistryModule.sol";
import {RequestHashing} from "./libraries/RequestHashing.sol";
import {
    AccountKind,
    ApprovalPolicy,
    UnitState,
    Account,
    UnitBlock,
    Issuance,
    PendingTransfer,
    Label,
    Range,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest
} from "./libraries/RegistryTypes.sol";

/// @title UnitRegistry
/// @notice The registry's address: the ledger core (transfers, cancellation, labels, views) and the
/// router to its modules (administration and issuance), which all share this contract's storage.
/// @dev Split by concern to stay under the 24,576-byte code size limit that production chains
/// enforce. The unit-moving hot path lives here, so transfers pay no routing cost.
contract UnitRegistry is RegistryBase, IUnitRegistry {
    using RequestHashing for *;

    /// @param code Registry code that prefixes account ids, e.g. "AU".
    /// @param admin Receives DEFAULT_ADMIN_ROLE (role management) and REGISTRY_ADMIN_ROLE.
    /// @param modules Module deployments; each one's selectors are routed to it. Two modules may not
    /// claim the same selector.
    constructor(bytes8 code, address admin, address[] memory modules) {
        _registryCode = code;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRY_ADMIN_ROLE, admin);
        _counters = Counters({nextAccountId: 1_000_001, nextSerial: 1, nextIssuanceId: 1, nextOperationId: 1});
        for (uint256 m; m < modules.length; ++m) {
            bytes4[] memory selectors = IRegistryModule(modules[m]).moduleSelectors();
            for (uint256 i; i < selectors.length; ++i) {
                if (_modules[selectors[i]] != address(0)) revert DuplicateSelector(selectors[i]);
                _modules[selectors[i]] = modules[m];
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Units
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUnitRegistry
    function initiateTransfer(
        InitiateTransferRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 transferId) {
        bytes32 digest = _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        bool single = _checkTransferParties(request);
        // NOTE: a single-policy transfer completes at once and stores no record, so its id need not
        // come from the counter: taken from the request's digest it saves the counter slot's read and
        // write, 5,000 gas cold (gas snapshot `transfer_whole_block_single`). Digest ids lie in
        // [2^62, 2^63), above every counter id and within a signed 64-bit SQL column.
        transferId = single ? _digestId(digest) : _counters.nextOperationId++;
        Move memory move = Move({
            fromAccount: request.fromAccount,
            fromState: UnitState.Held,
            fromLock: 0,
            toAccount: single ? request.toAccount : request.fromAccount,
            toState: single ? UnitState.Held : UnitState.Pending,
            toLock: single ? 0 : transferId
        });
        uint64 quantity = _moveRanges(request.ranges, blockStarts, move);
        if (single) {
            // NOTE: one log instead of TransferInitiated plus TransferCompleted, and two topics
            // instead of three: 1,500 gas less (gas snapshot `transfer_whole_block_single`).
            emit TransferExecuted(
                request.fromAccount, request.toAccount, transferId, request.signer, quantity
            );
        } else {
            emit TransferInitiated(
                transferId, request.fromAccount, request.toAccount, request.signer, quantity
            );
            _recordPending(transferId, request.fromAccount, request.toAccount, quantity, request.signer);
        }
    }

    /// @inheritdoc IUnitRegistry
    function approveTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        PendingTransfer calldata transfer,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(
            request.hash(RequestHashing.APPROVE_TRANSFER_TYPEHASH),
            request.signer,
            request.nonce,
            request.deadline,
            signature
        );
        uint64 transferId = request.transferId;
        _takePending(transferId, transfer, blockStarts);
        uint64 from = transfer.fromAccount;
        uint64 to = transfer.toAccount;
        _requireOpen(from);
        _requireRight(from, request.signer, _RIGHT_APPROVE);
        if (request.signer == transfer.initiator) {
            revert ApproverIsInitiator(transferId, request.signer);
        }
        _requireOpen(to);

        _settlePending(transferId, from, transfer.quantity, blockStarts, to);
        emit TransferCompleted(transferId, request.signer);
    }

    /// @inheritdoc IUnitRegistry
    function rescindTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        PendingTransfer calldata transfer,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(
            request.hash(RequestHashing.RESCIND_TRANSFER_TYPEHASH),
            request.signer,
            request.nonce,
            request.deadline,
            signature
        );
        uint64 transferId = request.transferId;
        _takePending(transferId, transfer, blockStarts);
        uint64 from = transfer.fromAccount;
        _requireOpen(from);
        _requireRight(from, request.signer, _RIGHT_APPOINTED);

        _settlePending(transferId, from, transfer.quantity, blockStarts, from);
        emit TransferRescinded(transferId, request.signer);
    }

    /// @inheritdoc IUnitRegistry
    function cancel(CancelRequest calldata request, bytes calldata signature, uint64[] calldata blockStarts)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 cancellationId)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 accountId = request.accountId;
        _requireOpen(accountId);
        _requireRight(accountId, request.signer, _RIGHT_INITIATE);

        cancellationId = _counters.nextOperationId++;
        Move memory move = Move({
            fromAccount: accountId,
            fromState: UnitState.Held,
            fromLock: 0,
            toAccount: accountId,
            toState: UnitState.Cancelled,
            toLock: cancellationId
        });
        _emitCancelled(request, cancellationId, _moveRanges(request.ranges, blockStarts, move));
    }

    /// @inheritdoc IUnitRegistry
    function setLabel(
        SetLabelRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireLabelAuthority(uint256(1) << request.labelId, request.signer);
        Range[] calldata ranges = request.ranges;
        _checkRangeCount(ranges.length, blockStarts.length);
        for (uint256 i; i < ranges.length; ++i) {
            _labelRange(blockStarts[i], ranges[i].start, ranges[i].end, request.labelId, request.applied);
        }
    }

    /// @inheritdoc IUnitRegistry
    function batch(bytes[] calldata calls) external onlyRole(RELAYER_ROLE) {
        // NOTE: no return values. A transaction's return data reaches no one (the relayer reads every
        // outcome from the logs, decision D6), and collecting and encoding it cost 1,150 gas for a
        // lone request (gas snapshot `api_transfer_whole_block_single`).
        for (uint256 i; i < calls.length; ++i) {
            // NOTE: delegatecall to this contract keeps msg.sender (the relayer), so each call passes
            // the same role check it would pass on its own; a revert undoes only that call.
            uint256 gasBefore = gasleft();
            (bool ok, bytes memory result) = address(this).delegatecall(calls[i]);
            if (!ok) {
                // NOTE: a call that ran out of gas leaves only what EIP-150 withholds: 1/64 per
                // call frame, so about 1/32 through the module router's second delegatecall.
                // Reporting that as the request's failure would drop a valid request and let
                // eth_estimateGas settle on too little gas; revert the whole batch instead. Real
                // request failures revert at a check, having used a small share of the gas.
                if (gasleft() < gasBefore / 16) revert BatchOutOfGas(i);
                emit BatchItemFailed(i, result);
            }
        }
    }

    /// @notice Routes calls of module functions to their module, which runs on this contract's storage.
    fallback() external {
        address module = _modules[msg.sig];
        if (module == address(0)) revert UnknownFunction(msg.sig);
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUnitRegistry
    function registryCode() external view returns (bytes8) {
        return _registryCode;
    }

    /// @inheritdoc IUnitRegistry
    function getAccount(uint64 accountId) external view returns (Account memory) {
        return _accounts[accountId];
    }

    /// @inheritdoc IUnitRegistry
    function representativeRights(uint64 accountId, address representative) external view returns (uint8) {
        return _rights[accountId][representative];
    }

    /// @inheritdoc IUnitRegistry
    function getBlock(uint64 start) external view returns (UnitBlock memory unitBlock, uint256 labels) {
        return (_blocks[start], _blockLabels[start]);
    }

    /// @inheritdoc IUnitRegistry
    function getIssuance(uint64 issuanceId) external view returns (Issuance memory) {
        return _issuances[issuanceId];
    }

    /// @inheritdoc IUnitRegistry
    function nonceBitmap(address signer, uint256 word) external view returns (uint256) {
        return _nonceBitmaps[signer][word];
    }

    /// @inheritdoc IUnitRegistry
    function pendingTransferHash(uint64 transferId) external view returns (bytes32) {
        return _pendingTransfers[transferId];
    }

    /// @inheritdoc IUnitRegistry
    function pendingTransferOf(uint64 accountId, address initiator)
        external
        view
        returns (uint64 transferId, bytes24 recordHash)
    {
        uint256 word = _rightsWord(accountId, initiator);
        return (uint64((word >> 8) & _ID_MASK), bytes24(bytes32(word)));
    }

    /// @inheritdoc IUnitRegistry
    function isTransferPending(uint64 transferId, PendingTransfer calldata transfer)
        external
        view
        returns (bool)
    {
        return _isPending(transferId, _recordHash(transfer), transfer.fromAccount, transfer.initiator);
    }

    /// @inheritdoc IUnitRegistry
    function isProjectRegistered(bytes32 projectId) external view returns (bool) {
        return _projects[projectId];
    }

    /// @inheritdoc IUnitRegistry
    function getLabel(uint8 labelId) external view returns (Label memory) {
        return _labels[labelId];
    }

    /// @inheritdoc IUnitRegistry
    function counters()
        external
        view
        returns (
            uint64 nextAccountId,
            uint64 nextSerial,
            uint64 nextIssuanceId,
            uint64 nextOperationId,
            uint16 labelCount
        )
    {
        Counters memory c = _counters;
        return (c.nextAccountId, c.nextSerial, c.nextIssuanceId, c.nextOperationId, _labelCount);
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    /// @dev Checks both accounts and the initiator's right; returns whether the source account's policy
    /// is `single`.
    function _checkTransferParties(InitiateTransferRequest calldata request)
        private
        view
        returns (bool single)
    {
        uint64 from = request.fromAccount;
        uint64 to = request.toAccount;
        Account storage source = _requireOpen(from);
        _requireRight(from, request.signer, _RIGHT_INITIATE);
        if (from == to) revert SameAccount(from);
        _requireCanReceive(to);
        return source.approvalPolicy == ApprovalPolicy.Single;
    }

    /// @dev The id of a transfer that needs no record: 62 bits of the request's digest, plus 2^62.
    function _digestId(bytes32 digest) private pure returns (uint64) {
        return uint64(uint256(digest) >> 194) | uint64(1 << 62);
    }

    /// @dev Checks that `transferId` is pending and that `transfer` is its record (D46, D50), and clears
    /// it: the decision is taken in this call or the call reverts.
    function _takePending(uint64 transferId, PendingTransfer calldata transfer, uint64[] calldata blockStarts)
        private
    {
        if (_takePending(transferId, _recordHash(transfer), transfer.fromAccount, transfer.initiator)) {
            return;
        }
        // NOTE: nothing is kept where this record says. If the first hinted block is still locked by the
        // transfer, the transfer is pending and the record names another source or initiator.
        if (blockStarts.length != 0) {
            UnitBlock storage b = _blocks[blockStarts[0]];
            if (b.state == UnitState.Pending && b.lockId == transferId) {
                revert TransferRecordMismatch(transferId);
            }
        }
        revert TransferNotPending(transferId);
    }

    /// @dev `keccak256(abi.encode(transfer))` of a record as it arrived.
    function _recordHash(PendingTransfer calldata transfer) private pure returns (bytes32 supplied) {
        // NOTE: the record's four words hashed as they arrived. The stored hash is of a clean
        // abi.encode, so a record with dirty padding cannot match; reading its fields later
        // validates them again.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, transfer, 0x80)
            supplied := keccak256(ptr, 0x80)
        }
    }

    /// @dev Returns pending transfer blocks to `to` as Held; they must add up to the transfer.
    function _settlePending(
        uint64 transferId,
        uint64 from,
        uint64 quantity,
        uint64[] calldata blockStarts,
        uint64 to
    ) private {
        if (blockStarts.length == 0 || blockStarts.length > MAX_RANGES) {
            revert InvalidRangeCount(blockStarts.length, MAX_RANGES);
        }
        Move memory move = Move({
            fromAccount: from,
            fromState: UnitState.Pending,
            fromLock: transferId,
            toAccount: to,
            toState: UnitState.Held,
            toLock: 0
        });
        uint64 moved;
        for (uint256 i; i < blockStarts.length; ++i) {
            uint64 start = blockStarts[i];
            uint64 end = _blocks[start].end;
            // A hint that starts no block has end 0; name it, rather than report the range [start, 0].
            if (end == 0) revert BlockNotFound(start);
            moved += _moveRange(start, start, end, move);
        }
        if (moved != quantity) revert TransferQuantityMismatch(transferId, quantity, moved);
    }

    /// @dev A function of its own so that the event's strings do not overflow the caller's stack.
    function _emitCancelled(CancelRequest calldata request, uint64 cancellationId, uint64 quantity) private {
        emit UnitsCancelled(
            cancellationId, request.accountId, request.purpose, quantity, request.beneficiary, request.reason
        );
    }

    /// @dev Isolates `[start, end]` in the block at `hint` and sets or clears one label bit on it.
    function _labelRange(uint64 hint, uint64 start, uint64 end, uint8 labelId, bool applied) private {
        UnitBlock memory b = _loadBlock(hint, start, end);
        if (b.state == UnitState.Cancelled) revert UnitsAlreadyCancelled(start, end);
        _split(hint, b, start, end);
        uint256 bit = uint256(1) << labelId;
        uint256 labels = _blockLabels[start];
        _blockLabels[start] = applied ? labels | bit : labels & ~bit;
        emit LabelChanged(start, end, labelId, applied);
    }
}
