// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRegistryBase} from "./IRegistryBase.sol";
import {
    Account,
    UnitBlock,
    Issuance,
    PendingTransfer,
    Label,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest
} from "../libraries/RegistryTypes.sol";

/// @title IUnitRegistry
/// @notice A registry of serialized environmental units held in blocks of consecutive serial numbers:
/// the ledger core (transfers, cancellation, labels) and the address every module is reached through.
/// @dev Every state-changing function takes an EIP-712 signed request and may only be submitted by an
/// address holding the relayer role. The contract checks the signature, the signer's nonce, the deadline
/// and the signer's authority itself, so a compromised relayer or API can delay requests but never forge
/// one. Functions that touch serial ranges also take `blockStarts`: for each range, the first serial of
/// the block that contains it. These hints are not signed; they only let the contract find a block in
/// O(1) and are verified in full.
interface IUnitRegistry is IRegistryBase {
    // ---------------------------------------------------------------------------------------------
    // Units
    // ---------------------------------------------------------------------------------------------

    /// @notice Initiates a transfer of the given ranges. With the `single` policy it completes at once;
    /// with `two_person` the units become Pending until another representative approves. A two-person
    /// transfer's id comes from the operation counter; a single-policy transfer, which keeps no record,
    /// is numbered from its request's digest, in [2^62, 2^63).
    /// @dev Requirements: signer is a representative of `fromAccount` who may initiate; both accounts
    /// open and different; every range Held by `fromAccount`.
    function initiateTransfer(
        InitiateTransferRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 transferId);

    /// @notice Approves a pending transfer; its units move to the destination account.
    /// @dev Requirements: `transfer` is the transfer's record as TransferInitiated logged it (only its
    /// hash is stored, decision D46; unsigned, like the hints); signer is a representative of the
    /// source account who may approve and is not the initiator; both accounts open; `blockStarts`
    /// lists exactly the transfer's pending blocks.
    function approveTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        PendingTransfer calldata transfer,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Rescinds a pending transfer; its units return to Held in the source account.
    /// @dev Requirements: `transfer` is the transfer's record, as for approveTransfer; signer is a
    /// representative of the source account; `blockStarts` lists exactly the transfer's pending blocks.
    function rescindTransfer(
        TransferDecisionRequest calldata request,
        bytes calldata signature,
        PendingTransfer calldata transfer,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Cancels the given ranges with a purpose, beneficiary and reason. Cancellation is final.
    /// @dev Requirements: signer is a representative of the account who may initiate; account open; every
    /// range Held by the account.
    function cancel(CancelRequest calldata request, bytes calldata signature, uint64[] calldata blockStarts)
        external
        returns (uint64 cancellationId);

    /// @notice Applies or removes a label on serial ranges, whoever holds them.
    /// @dev Requirements: signer is the label's authority; no range is cancelled.
    function setLabel(
        SetLabelRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Executes several calls to this contract in one transaction. A failing call emits
    /// BatchItemFailed with its revert data and does not undo the others; an applied request emits
    /// RequestExecuted. Outcomes are in the logs only: the batch returns nothing.
    function batch(bytes[] calldata calls) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The registry code that prefixes account ids, e.g. "AU".
    function registryCode() external view returns (bytes8);

    function getAccount(uint64 accountId) external view returns (Account memory);

    /// @notice Rights of a representative as bit flags: 1 appointed, 2 may initiate, 4 may approve.
    function representativeRights(uint64 accountId, address representative) external view returns (uint8);

    /// @notice The block that starts at `start` (state None if there is none) and its label bitmap.
    function getBlock(uint64 start) external view returns (UnitBlock memory unitBlock, uint256 labels);

    function getIssuance(uint64 issuanceId) external view returns (Issuance memory);

    /// @notice Whether `transferId` is a pending two-person transfer whose record is `transfer`
    /// (decisions D46, D50): what approveTransfer and rescindTransfer check.
    function isTransferPending(uint64 transferId, PendingTransfer calldata transfer)
        external
        view
        returns (bool);

    /// @notice The pending transfer kept in `initiator`'s rights slot for `accountId` (decision D50): its
    /// id and the top 192 bits of `keccak256(abi.encode(PendingTransfer))`; zeros when there is none.
    /// A representative's first pending transfer from an account is kept there.
    function pendingTransferOf(uint64 accountId, address initiator)
        external
        view
        returns (uint64 transferId, bytes24 recordHash);

    /// @notice The record hash `keccak256(abi.encode(PendingTransfer))` of a pending two-person transfer
    /// initiated while its initiator already had one pending from the same account (decisions D46,
    /// D50); zero once the transfer is decided, and for any other id.
    function pendingTransferHash(uint64 transferId) external view returns (bytes32);

    /// @notice One word of a signer's unordered nonces (decision D33): bit b is set once the nonce
    /// `word << 8 | b` is used. `word` is an unordered nonce shifted right by 8, so its bit 247 is set.
    function nonceBitmap(address signer, uint256 word) external view returns (uint256);

    function isProjectRegistered(bytes32 projectId) external view returns (bool);

    function getLabel(uint8 labelId) external view returns (Label memory);

    /// @notice The next account id, serial, issuance id and operation id to be assigned, and the
    /// number of labels defined.
    function counters()
        external
        view
        returns (
            uint64 nextAccountId,
            uint64 nextSerial,
            uint64 nextIssuanceId,
            uint64 nextOperationId,
            uint16 labelCount
        );
}
