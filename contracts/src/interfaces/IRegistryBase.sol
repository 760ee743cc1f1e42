// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    CancellationPurpose
} from "../libraries/RegistryTypes.sol";

/// @title IRegistryBase
/// @notice Errors and events shared by the registry core and its modules. Every error is named after
/// the check that failed and carries the offending values; the API maps each one to a stable code.
interface IRegistryBase {
    // ---------------------------------------------------------------------------------------------
    // Errors: named after the check that failed, carrying the offending values.
    // ---------------------------------------------------------------------------------------------

    /// @notice The request's deadline (unix seconds) has passed.
    error DeadlineExpired(uint256 deadline, uint256 timestamp);
    /// @notice The signature was not made by the request's `signer` (another key, another domain, or
    /// data altered after signing).
    error InvalidSigner(address signer, address recovered);
    /// @notice The signer already used this unordered nonce (decision D33).
    error NonceUsed(address signer, uint256 nonce);
    /// @notice The signer lacks a registry role the operation needs.
    error MissingRole(address signer, bytes32 role);
    /// @notice The account id is unknown.
    error AccountNotFound(uint64 accountId);
    /// @notice The account is suspended.
    error AccountSuspended(uint64 accountId);
    /// @notice The account is closed.
    error AccountClosed(uint64 accountId);
    /// @notice Units cannot be transferred into an account of this kind.
    error AccountCannotReceive(uint64 accountId, AccountKind kind);
    /// @notice The account kind or approval policy is not valid for a new account.
    error InvalidAccountKind(AccountKind kind);
    /// @notice The requested status change is not allowed from the account's current status.
    error InvalidStatusChange(uint64 accountId, AccountStatus from, AccountStatus to);
    /// @notice A new account needs at least one representative and exactly one primary.
    error PrimaryRepresentativeRequired(uint256 primaries);
    /// @notice A representative address is zero, listed twice, or given no right at all.
    error InvalidRepresentative(address representative);
    /// @notice The primary representative can be replaced by appointing another primary, not removed.
    error CannotRemovePrimary(uint64 accountId, address representative);
    /// @notice The signer is not an authorised representative of the account.
    error NotRepresentative(uint64 accountId, address signer);
    /// @notice The representative may not initiate transactions from the account.
    error CannotInitiate(uint64 accountId, address signer);
    /// @notice The representative may not approve transactions from the account.
    error CannotApprove(uint64 accountId, address signer);
    /// @notice Under the two-person policy the approver must differ from the initiator.
    error ApproverIsInitiator(uint64 transferId, address approver);
    /// @notice The source and destination accounts are the same.
    error SameAccount(uint64 accountId);
    /// @notice A serial range is empty, starts at zero, or has start > end.
    error InvalidRange(uint64 start, uint64 end);
    /// @notice A serial is at or beyond 2^63, the largest value a signed 64-bit SQL column can hold.
    error SerialOutOfBounds(uint64 serial);
    /// @notice A request lists no ranges, or more than the per-request maximum.
    error InvalidRangeCount(uint256 count, uint256 max);
    /// @notice The number of block hints differs from the number of ranges.
    error BlockHintsMismatch(uint256 ranges, uint256 hints);
    /// @notice No block starts at the hinted serial.
    error BlockNotFound(uint64 blockStart);
    /// @notice The range is not inside the block (it lies outside it or spans into the next block).
    error RangeNotInBlock(uint64 blockStart, uint64 blockEnd, uint64 start, uint64 end);
    /// @notice The units are held by another account.
    error UnitsNotHeld(uint64 accountId, uint64 start, uint64 end);
    /// @notice The units are locked (pending, reserved, escrowed or associated) and cannot be used.
    error UnitsLocked(uint64 start, uint64 end, UnitState state, uint64 lockId);
    /// @notice The units are cancelled; a cancelled unit never moves or changes again.
    error UnitsAlreadyCancelled(uint64 start, uint64 end);
    /// @notice The quantity is zero.
    error InvalidQuantity(uint64 quantity);
    /// @notice Issuing this quantity would leave no next serial below 2^63 - 1 (the last issuable
    /// serial is 2^63 - 2, so that the next-serial counter also fits a signed 64-bit column).
    error SerialSpaceExhausted(uint64 nextSerial, uint64 quantity);
    /// @notice The project is not registered.
    error ProjectNotFound(bytes32 projectId);
    /// @notice The project id is already registered, or is zero.
    error ProjectAlreadyRegistered(bytes32 projectId);
    /// @notice The monitoring period ends before it starts.
    error InvalidMonitoringPeriod(uint64 start, uint64 end);
    /// @notice The monitoring period overlaps an earlier issuance of the same project and unit type.
    error MonitoringPeriodOverlap(
        bytes32 projectId, bytes32 unitType, uint64 existingStart, uint64 existingEnd
    );
    /// @notice The transfer id is unknown.
    error TransferNotFound(uint64 transferId);
    /// @notice No transfer with this id is awaiting a decision (it never existed, was not a two-person
    /// transfer, or was already approved or rescinded).
    error TransferNotPending(uint64 transferId);
    /// @notice The pending transfer record passed with a decision is not the one recorded at initiation.
    error TransferRecordMismatch(uint64 transferId);
    /// @notice The hinted blocks do not add up to the transfer's quantity.
    error TransferQuantityMismatch(uint64 transferId, uint64 expected, uint64 actual);
    /// @notice The hinted blocks of a lock (a reservation, escrow or association) do not add up to its
    /// quantity.
    error LockedQuantityMismatch(uint64 operationId, uint64 expected, uint64 actual);
    /// @notice The label id is not defined.
    error LabelNotFound(uint8 labelId);
    /// @notice All 256 label ids are in use, or the label name is empty.
    error InvalidLabel(bytes32 name);
    /// @notice The signer is not the authority that owns the label.
    error NotLabelAuthority(uint8 labelId, address signer);

    // ---------------------------------------------------------------------------------------------
    // Events: past tense, emitted right after the state change.
    // ---------------------------------------------------------------------------------------------

    /// @notice A signed request was verified and applied. `digest` is its EIP-712 hash.
    event RequestExecuted(address indexed signer, uint256 nonce, bytes32 indexed digest);
    /// @notice A call in a relayer batch reverted; the other calls still applied.
    event BatchItemFailed(uint256 index, bytes reason);
    event AccountOpened(
        uint64 indexed accountId,
        AccountKind kind,
        ApprovalPolicy approvalPolicy,
        bytes8 party,
        string holderName
    );
    /// @notice A representative was appointed, changed, or (all flags false) removed.
    event RepresentativeSet(
        uint64 indexed accountId,
        address indexed representative,
        bool primary,
        bool canInitiate,
        bool canApprove
    );
    event AccountStatusChanged(uint64 indexed accountId, AccountStatus status);
    event ProjectRegistered(bytes32 indexed projectId, string name, string methodology, bytes8 country);
    event LabelDefined(uint8 indexed labelId, bytes32 name, address authority);
    event UnitsIssued(
        uint64 indexed issuanceId,
        bytes32 indexed projectId,
        uint64 indexed accountId,
        bytes32 unitType,
        uint16 vintage,
        uint64 monitoringStart,
        uint64 monitoringEnd,
        bytes8 originRegistry,
        uint64 start,
        uint64 end
    );
    event TransferInitiated(
        uint64 indexed transferId,
        uint64 indexed fromAccount,
        uint64 indexed toAccount,
        address initiator,
        uint64 quantity
    );
    /// @notice The transfer's units arrived in the destination account. Under the `single` policy the
    /// approver is the initiator.
    event TransferCompleted(uint64 indexed transferId, address approver);
    /// @notice A core transfer under the `single` policy: initiated and completed by `initiator` in one
    /// request (TransferInitiated plus TransferCompleted in one log). Its id comes from the request's
    /// digest (UnitRegistry.initiateTransfer).
    event TransferExecuted(
        uint64 indexed fromAccount,
        uint64 indexed toAccount,
        uint64 transferId,
        address initiator,
        uint64 quantity
    );
    event TransferRescinded(uint64 indexed transferId, address representative);
    event UnitsCancelled(
        uint64 indexed cancellationId,
        uint64 indexed accountId,
        CancellationPurpose purpose,
        uint64 quantity,
        string beneficiary,
        string reason
    );
    /// @notice The serial range `[start, end]` now belongs to `accountId` in `state`, locked by `lockId`
    /// (a transfer or cancellation id; 0 when Held). Emitted for every range any operation touches, so
    /// that a mirror can track blocks from this one event.
    event BlockChanged(
        uint64 indexed start, uint64 end, uint64 indexed accountId, UnitState state, uint64 lockId
    );
    /// @notice A label was applied to (or removed from) the serial range `[start, end]`.
    event LabelChanged(uint64 indexed start, uint64 end, uint8 indexed labelId, bool applied);

    /// @notice A call in a batch ran out of gas; the whole batch reverts so no request is dropped.
    error BatchOutOfGas(uint256 index);

    /// @notice No module implements the called function.
    error UnknownFunction(bytes4 selector);

    /// @notice Two modules given to the registry's constructor implement the same function.
    error DuplicateSelector(bytes4 selector);
}
