// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {NoncesKeyed} from "@openzeppelin/contracts/utils/NoncesKeyed.sol";

import {IRegistryBase} from "../interfaces/IRegistryBase.sol";
import {IPlatforms} from "../interfaces/IPlatforms.sol";
import {PlatformStorage} from "../libraries/PlatformStorage.sol";
import {PlatformStatus} from "../libraries/PlatformTypes.sol";
import {
    AccountKind,
    UnitState,
    Account,
    AccountStatus,
    UnitBlock,
    Issuance,
    PendingTransfer,
    Label,
    Period,
    Range
} from "../libraries/RegistryTypes.sol";

/// @title RegistryBase
/// @notice Storage layout, roles and the checks every path shares, for the registry core and its modules.
/// @dev The core (UnitRegistry) and every module inherit this contract, so that a module executed by
/// delegatecall from the core sees the core's storage under the same layout. New state is appended at
/// the end, never inserted. Blocks are keyed by their first serial; operating on a sub-range splits the
/// block into at most three, so gas never depends on the number of units in a block. Blocks are never
/// merged: merging would need a neighbour search, and the mirror can present adjacent blocks together.
abstract contract RegistryBase is IRegistryBase, AccessControl, EIP712, NoncesKeyed {
    bytes32 public constant REGISTRY_ADMIN_ROLE = keccak256("REGISTRY_ADMIN_ROLE");
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant LABEL_AUTHORITY_ROLE = keccak256("LABEL_AUTHORITY_ROLE");
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");

    /// @notice Serials stay below 2^63 so that they fit a signed 64-bit SQL column.
    uint64 public constant MAX_SERIAL = uint64(type(int64).max);
    /// @notice Ranges per request; bounds the gas of one request.
    uint256 public constant MAX_RANGES = 256;

    uint8 internal constant _RIGHT_APPOINTED = 1;
    uint8 internal constant _RIGHT_INITIATE = 2;
    uint8 internal constant _RIGHT_APPROVE = 4;

    /// @dev A nonce with this bit set is unordered (decision D33): it is bit `nonce & 0xff` of the signer's
    /// bitmap word `nonce >> 8`, usable once, in any order. Other nonces are OpenZeppelin keyed nonces.
    uint256 internal constant _UNORDERED_NONCE = 1 << 255;
    /// @dev The id field of a pending record kept in a rights slot (D50): 56 bits, like a block's lock.
    uint256 internal constant _ID_MASK = (1 << 56) - 1;

    /// @dev Sequences packed in one slot so that an operation pays for one counter write.
    struct Counters {
        uint64 nextAccountId;
        uint64 nextSerial;
        uint64 nextIssuanceId;
        uint64 nextOperationId;
    }

    /// @dev What a unit-moving operation expects of each block and what it turns it into.
    struct Move {
        uint64 fromAccount;
        UnitState fromState;
        uint64 fromLock;
        uint64 toAccount;
        UnitState toState;
        uint64 toLock;
    }

    bytes8 internal _registryCode;
    uint16 internal _labelCount;
    Counters internal _counters;

    mapping(uint64 accountId => Account) internal _accounts;
    /// @dev A representative's rights are the low byte of the slot. The other 248 bits hold the pending
    /// transfer the representative initiated from the account, if any (decision D50): its id in bits
    /// 8-63 and the top 192 bits of its record hash in bits 64-255. Solidity reads and writes the uint8
    /// value masked, so a rights change keeps the pending record.
    mapping(uint64 accountId => mapping(address representative => uint8 rights)) internal _rights;
    mapping(bytes32 projectId => bool) internal _projects;
    mapping(bytes32 projectUnitType => Period[]) internal _periods;
    mapping(uint64 issuanceId => Issuance) internal _issuances;
    mapping(uint64 start => UnitBlock) internal _blocks;
    mapping(uint64 start => uint256 bitmap) internal _blockLabels;
    /// @dev A pending two-person transfer's record hash (D46), for a transfer whose initiator's rights slot
    /// already held another pending record when it was initiated (D50); zero once it is decided, and for
    /// every other id.
    mapping(uint64 transferId => bytes32 recordHash) internal _pendingTransfers;
    mapping(uint8 labelId => Label) internal _labels;
    mapping(bytes4 selector => address module) internal _modules;
    /// @dev Unordered nonces (D33): bit b of word w is set once nonce (w << 8 | b) is used. Bits are never
    /// cleared, so only a word's first nonce writes a zero slot.
    mapping(address signer => mapping(uint256 word => uint256 bits)) internal _nonceBitmaps;

    // NOTE: EIP712 keeps the domain in immutables of each contract's own code. A module running by
    // delegatecall sees address(this) != its cached address and rebuilds the domain for the core's
    // address, so every request is signed for the one UnitRegistry domain.
    constructor() EIP712("UnitRegistry", "1") {}

    /// @dev Checks deadline, signature (OpenZeppelin ECDSA rejects malleable high-s signatures) and
    /// nonce, in that order, then records the request as executed. Returns the request's EIP-712 digest.
    function _verify(
        bytes32 structHash,
        address signer,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) internal returns (bytes32 digest) {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline, block.timestamp);
        digest = _hashTypedDataV4(structHash);
        address recovered = ECDSA.recoverCalldata(digest, signature);
        if (recovered != signer) revert InvalidSigner(signer, recovered);
        if (nonce & _UNORDERED_NONCE == 0) _useCheckedNonce(signer, nonce);
        else _useUnorderedNonce(signer, nonce);
        emit RequestExecuted(signer, nonce, digest);
    }

    /// @dev Marks an unordered nonce used, or reverts NonceUsed. A fresh keyed lane (what the API used
    /// to give every request) writes a zero slot: 22,100 gas cold. Here the API fills a word's 256 bits
    /// one request after another, so all but a word's first request rewrite a non-zero slot: 5,000 gas
    /// cold (gas snapshot `api_transfer_whole_block_single` against `api_transfer_first_of_word`).
    function _useUnorderedNonce(address signer, uint256 nonce) internal {
        uint256 bit = 1 << (nonce & 0xff);
        // NOTE: flip and check the flipped bit: one read and one write of the slot.
        uint256 bits = _nonceBitmaps[signer][nonce >> 8] ^= bit;
        if (bits & bit == 0) revert NonceUsed(signer, nonce);
    }

    /// @dev Records a two-person transfer as pending (D46, D50): its id and record hash go in the upper
    /// bits of the initiator's rights slot for the source account, a slot the initiate just read and
    /// that is never zero for a representative, so the write costs 2,900 gas instead of the 22,100 of a
    /// new slot. If that slot already holds a pending transfer, the hash goes in the id-keyed slot.
    function _recordPending(uint64 transferId, uint64 from, uint64 to, uint64 quantity, address initiator)
        internal
    {
        bytes32 recordHash = keccak256(
            abi.encode(
                PendingTransfer({fromAccount: from, toAccount: to, quantity: quantity, initiator: initiator})
            )
        );
        uint256 slot = _rightsSlot(from, initiator);
        uint256 word;
        assembly ("memory-safe") {
            word := sload(slot)
        }
        if (word >> 8 == 0) {
            // Counter ids stay far below 2^56 (the blocks' lock field has 56 bits).
            word |= (uint256(transferId) << 8) | (uint256(recordHash) >> 64 << 64);
            assembly ("memory-safe") {
                sstore(slot, word)
            }
        } else {
            _pendingTransfers[transferId] = recordHash;
        }
    }

    /// @dev Checks that `transferId` is pending with the record whose hash is `recordHash` (of `from`'s
    /// units, initiated by `initiator`), and clears it: the decision is taken in this call or the call
    /// reverts. Returns false if no record is kept under `transferId` where this record says (a decided
    /// or unknown transfer, or a record naming another source or initiator); the caller tells them apart.
    function _takePending(uint64 transferId, bytes32 recordHash, uint64 from, address initiator)
        internal
        returns (bool)
    {
        uint256 slot = _rightsSlot(from, initiator);
        uint256 word;
        assembly ("memory-safe") {
            word := sload(slot)
        }
        if (transferId != 0 && (word >> 8) & _ID_MASK == transferId) {
            if (word >> 64 != uint256(recordHash) >> 64) revert TransferRecordMismatch(transferId);
            // NOTE: only the rights byte is kept. Resetting a non-zero slot costs 2,900 gas; it forgoes
            // the 4,800 refund of clearing an id-keyed slot, a good trade against 22,100 at initiation.
            assembly ("memory-safe") {
                sstore(slot, and(word, 0xff))
            }
            return true;
        }
        bytes32 stored = _pendingTransfers[transferId];
        if (stored == 0) return false;
        if (stored != recordHash) revert TransferRecordMismatch(transferId);
        // NOTE: cleared rather than marked decided: 4,800 gas refunded (D46).
        delete _pendingTransfers[transferId];
        return true;
    }

    /// @dev Whether `transferId` is pending with the record whose hash is `recordHash`.
    function _isPending(uint64 transferId, bytes32 recordHash, uint64 from, address initiator)
        internal
        view
        returns (bool)
    {
        uint256 word = _rightsWord(from, initiator);
        if (transferId != 0 && (word >> 8) & _ID_MASK == transferId) {
            return word >> 64 == uint256(recordHash) >> 64;
        }
        return _pendingTransfers[transferId] == recordHash && recordHash != 0;
    }

    /// @dev The whole storage word of `_rights[accountId][representative]`.
    function _rightsWord(uint64 accountId, address representative) internal view returns (uint256 word) {
        uint256 slot = _rightsSlot(accountId, representative);
        assembly ("memory-safe") {
            word := sload(slot)
        }
    }

    /// @dev The storage slot of `_rights[accountId][representative]`.
    function _rightsSlot(uint64 accountId, address representative) internal pure returns (uint256 slot) {
        assembly ("memory-safe") {
            mstore(0, accountId)
            mstore(0x20, _rights.slot)
            mstore(0x20, keccak256(0, 0x40))
            mstore(0, representative)
            slot := keccak256(0, 0x40)
        }
    }

    function _requireRole(bytes32 role, address signer) internal view {
        if (!hasRole(role, signer)) revert MissingRole(signer, role);
    }

    function _requireRight(uint64 accountId, address signer, uint8 right) internal view {
        uint8 rights = _rights[accountId][signer];
        if (rights == 0) revert NotRepresentative(accountId, signer);
        if (rights & right != right) {
            if (right == _RIGHT_INITIATE) revert CannotInitiate(accountId, signer);
            revert CannotApprove(accountId, signer);
        }
    }

    /// @dev The signer must own every label in the bitmap and still hold LABEL_AUTHORITY_ROLE, so that
    /// revoking the role stops an authority at once without redefining its labels.
    function _requireLabelAuthority(uint256 labels, address signer) internal view {
        if (labels == 0) return;
        for (uint256 id; labels >> id != 0; ++id) {
            if ((labels >> id) & 1 != 0) {
                Label storage label = _labels[uint8(id)];
                if (label.authority == address(0)) revert LabelNotFound(uint8(id));
                if (label.authority != signer) revert NotLabelAuthority(uint8(id), signer);
            }
        }
        _requireRole(LABEL_AUTHORITY_ROLE, signer);
    }

    /// @dev Units reach cancellation accounts only by being cancelled, never by issuance or transfer.
    function _requireCanReceive(uint64 accountId) internal view {
        AccountKind kind = _requireOpen(accountId).kind;
        if (kind == AccountKind.Cancellation || kind == AccountKind.OmgeCancellation) {
            revert AccountCannotReceive(accountId, kind);
        }
    }

    function _existingAccount(uint64 accountId) internal view returns (Account storage account) {
        account = _accounts[accountId];
        if (account.status == AccountStatus.None) revert AccountNotFound(accountId);
    }

    function _requireOpen(uint64 accountId) internal view returns (Account storage account) {
        account = _accounts[accountId];
        // NOTE: both fields read before any branch, so that the optimizer loads their slot once.
        AccountStatus status = account.status;
        AccountKind kind = account.kind;
        if (status == AccountStatus.None) revert AccountNotFound(accountId);
        if (status == AccountStatus.Suspended) revert AccountSuspended(accountId);
        if (status == AccountStatus.Closed) revert AccountClosed(accountId);
        if (kind == AccountKind.Custodial) _requireCustodianActive(accountId);
    }

    /// @dev A suspended platform's custodial account is frozen like a suspended account, on every path
    /// that checks an account (IPlatforms). Only custodial accounts pay for the extra read.
    function _requireCustodianActive(uint64 accountId) internal view {
        PlatformStorage.Layout storage platforms = PlatformStorage.layout();
        address platform = platforms.custodians[accountId];
        if (platform != address(0) && platforms.platforms[platform].status == PlatformStatus.Suspended) {
            revert IPlatforms.PlatformSuspended(platform);
        }
    }

    function _checkRangeCount(uint256 ranges, uint256 hints) internal pure {
        if (ranges == 0 || ranges > MAX_RANGES) revert InvalidRangeCount(ranges, MAX_RANGES);
        if (ranges != hints) revert BlockHintsMismatch(ranges, hints);
    }

    /// @dev Moves every range per `move` and returns the total quantity.
    function _moveRanges(Range[] calldata ranges, uint64[] calldata blockStarts, Move memory move)
        internal
        returns (uint64 quantity)
    {
        _checkRangeCount(ranges.length, blockStarts.length);
        for (uint256 i; i < ranges.length; ++i) {
            quantity += _moveRange(blockStarts[i], ranges[i].start, ranges[i].end, move);
        }
    }

    /// @dev Held in `accountId` -> `state` locked by `lockId`, in the same account.
    function _lockMove(uint64 accountId, UnitState state, uint64 lockId) internal pure returns (Move memory) {
        return Move({
            fromAccount: accountId,
            fromState: UnitState.Held,
            fromLock: 0,
            toAccount: accountId,
            toState: state,
            toLock: lockId
        });
    }

    /// @dev `state` locked by `lockId` in `accountId` -> Held in the same account.
    function _unlockMove(uint64 accountId, UnitState state, uint64 lockId)
        internal
        pure
        returns (Move memory)
    {
        return Move({
            fromAccount: accountId,
            fromState: state,
            fromLock: lockId,
            toAccount: accountId,
            toState: UnitState.Held,
            toLock: 0
        });
    }

    /// @dev Moves every block a lock holds per `move`: each hint is the first serial of one whole block, and
    /// the blocks must add up to the lock's quantity. Returns the quantity moved. Used by the platform
    /// modules for reservations, escrows and associations (the core settles transfers the same way).
    function _moveLocked(uint64 lockId, uint64[] calldata blockStarts, Move memory move, uint64 expected)
        internal
        returns (uint64 moved)
    {
        if (blockStarts.length == 0 || blockStarts.length > MAX_RANGES) {
            revert InvalidRangeCount(blockStarts.length, MAX_RANGES);
        }
        for (uint256 i; i < blockStarts.length; ++i) {
            uint64 start = blockStarts[i];
            uint64 end = _blocks[start].end;
            // A hint that starts no block has end 0; name it, rather than report the range [start, 0].
            if (end == 0) revert BlockNotFound(start);
            moved += _moveRange(start, start, end, move);
        }
        if (moved != expected) revert LockedQuantityMismatch(lockId, expected, moved);
    }

    /// @dev Checks that `[start, end]` lies in the block at `hint` with the expected holder, state and
    /// lock, isolates it as a block of its own and rewrites it per `move`. Returns its quantity.
    function _moveRange(uint64 hint, uint64 start, uint64 end, Move memory move) internal returns (uint64) {
        UnitBlock memory b = _loadBlock(hint, start, end);
        if (b.state != move.fromState || b.lockId != move.fromLock) {
            if (b.state == UnitState.Cancelled) revert UnitsAlreadyCancelled(start, end);
            revert UnitsLocked(start, end, b.state, b.lockId);
        }
        if (b.account != move.fromAccount) revert UnitsNotHeld(move.fromAccount, start, end);

        b.account = move.toAccount;
        b.state = move.toState;
        b.lockId = uint56(move.toLock);
        _split(hint, b, start, end);
        emit BlockChanged(start, end, move.toAccount, move.toState, move.toLock);
        // Cannot underflow: _loadBlock checked start <= end.
        unchecked {
            return end - start + 1;
        }
    }

    /// @dev Loads the block at `hint` and checks that `[start, end]` is a valid range inside it.
    function _loadBlock(uint64 hint, uint64 start, uint64 end) internal view returns (UnitBlock memory b) {
        if (start == 0 || start > end) revert InvalidRange(start, end);
        if (end > MAX_SERIAL) revert SerialOutOfBounds(end);
        b = _blocks[hint];
        if (b.state == UnitState.None) revert BlockNotFound(hint);
        if (start < hint || end > b.end) revert RangeNotInBlock(hint, b.end, start, end);
    }

    /// @dev Writes `b` (already updated by the caller, `b.end` still the old block end) as the block
    /// `[start, end]`, and keeps the parts of the old block before and after it as blocks with the old
    /// values and labels. At most three slot writes plus label copies: O(1) in the number of units.
    function _split(uint64 hint, UnitBlock memory b, uint64 start, uint64 end) internal {
        uint64 blockEnd = b.end;
        if (start == hint && end == blockEnd) {
            _storeBlock(start, b);
            return;
        }
        UnitBlock storage old = _blocks[hint];
        uint256 labels = _blockLabels[hint];
        if (end < blockEnd) {
            UnitBlock memory tail = old;
            _blocks[end + 1] = tail;
            if (labels != 0) _blockLabels[end + 1] = labels;
        }
        if (start > hint) {
            old.end = start - 1;
            if (labels != 0) _blockLabels[start] = labels;
        }
        b.end = end;
        _storeBlock(start, b);
    }

    /// @dev `_blocks[start] = b` in one SSTORE: Solidity's member-by-member copy of a memory struct
    /// writes the slot twice and reads it back in between (about 200 gas more; D50).
    function _storeBlock(uint64 start, UnitBlock memory b) internal {
        uint256 word = uint256(b.end) | (uint256(b.account) << 64) | (uint256(b.issuance) << 128)
            | (uint256(b.lockId) << 192) | (uint256(uint8(b.state)) << 248);
        UnitBlock storage stored = _blocks[start];
        assembly ("memory-safe") {
            sstore(stored.slot, word)
        }
    }

    /// @dev Records a new issuance of `quantity` units as one block of consecutive serials Held by
    /// `toAccount`, and emits UnitsIssued and BlockChanged. `issuance.start` and `.end` are assigned here.
    /// The caller checks the issuer, the project, the destination and the monitoring period.
    function _issue(Issuance memory issuance, uint64 quantity, uint64 toAccount)
        internal
        returns (uint64 issuanceId, uint64 start, uint64 end)
    {
        if (quantity == 0) revert InvalidQuantity(quantity);
        Counters memory c = _counters;
        start = c.nextSerial;
        // A quantity that would reach MAX_SERIAL is refused before the addition can overflow.
        if (quantity > MAX_SERIAL - start) revert SerialSpaceExhausted(start, quantity);
        end = start + quantity - 1;
        issuanceId = c.nextIssuanceId;
        _counters.nextSerial = end + 1;
        _counters.nextIssuanceId = issuanceId + 1;

        issuance.start = start;
        issuance.end = end;
        _issuances[issuanceId] = issuance;
        _blocks[start] =
            UnitBlock({end: end, account: toAccount, issuance: issuanceId, lockId: 0, state: UnitState.Held});
        emit UnitsIssued(
            issuanceId,
            issuance.projectId,
            toAccount,
            issuance.unitType,
            issuance.vintage,
            issuance.monitoringStart,
            issuance.monitoringEnd,
            issuance.originRegistry,
            start,
            end
        );
        emit BlockChanged(start, end, toAccount, UnitState.Held, 0);
    }

    /// @dev Refuses a monitoring period that ends before it starts or overlaps an earlier issuance of the
    /// same project and unit type, and records it.
    function _guardDoubleIssuance(bytes32 projectId, bytes32 unitType, uint64 start, uint64 end) internal {
        if (start > end) revert InvalidMonitoringPeriod(start, end);
        Period[] storage periods = _periods[keccak256(abi.encode(projectId, unitType))];
        // NOTE: a linear scan. Issuances per project and unit type number in the tens over a project's
        // life, only issuers can add to the list, and an exact check beats a cheaper "strictly after the
        // last period" rule that would refuse legitimate out-of-order issuances.
        for (uint256 i; i < periods.length; ++i) {
            Period memory p = periods[i];
            if (start <= p.end && p.start <= end) {
                revert MonitoringPeriodOverlap(projectId, unitType, p.start, p.end);
            }
        }
        periods.push(Period({start: start, end: end}));
    }

    function _emitLabels(uint64 start, uint64 end, uint256 labels) internal {
        for (uint256 id; labels != 0; ++id) {
            if (labels & 1 != 0) emit LabelChanged(start, end, uint8(id), true);
            labels >>= 1;
        }
    }
}
