// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats} from "../../utils/Cheats.sol";
import {RegistryFixture} from "../../utils/RegistryFixture.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IUnitRegistry} from "../../../src/interfaces/IUnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    UnitBlock,
    Range,
    Representative,
    DefineLabelRequest,
    IssueRequest,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest,
    SetAccountStatusRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice Drives the registry with random signed requests, submitted by the relayer as in production,
/// and keeps ghost state that the invariant suite compares with the chain.
/// @dev The handler predicts the outcome of every request it sends: success, or the exact custom error
/// (a suspended account, a representative without the right, the initiator approving, a cancelled
/// block). A request that does otherwise counts in `ghost_unexpectedOutcomes`, which an invariant keeps
/// at zero; the handler itself never reverts on a finding, since the invariant runner ignores reverts.
contract RegistryHandler is RegistryFixture {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @dev An account under test with its representatives' keys and rights (bits as in the contract).
    struct Holder {
        uint64 id;
        bool single;
        uint256[] keys;
        uint8[] rights;
    }

    struct PendingTransfer {
        uint64 fromAccount;
        uint64 toAccount;
        address initiator;
        uint64 quantity;
        uint64[] blockStarts;
    }

    /// @dev A cancelled range and its fingerprint when it was cancelled.
    struct CancelledRange {
        uint64 start;
        uint64 end;
        uint64 account;
        UnitState state;
        uint64 lockId;
        uint256 labels;
    }

    /// @dev Ranges picked for a request: each inside a distinct block, named by its start and end.
    struct Picked {
        Range[] ranges;
        uint64[] hintStarts;
        uint64[] blockEnds;
    }

    /// @dev A block as rebuilt from BlockChanged and LabelChanged events alone.
    struct MirrorBlock {
        uint64 end;
        uint64 account;
        UnitState state;
        uint64 lockId;
        uint256 labels;
    }

    // ---------------------------------------------------------------------------------------------
    // Constants
    // ---------------------------------------------------------------------------------------------

    uint256 internal constant AR4_KEY = 0xA404;
    uint8 internal constant RIGHT_INITIATE = 2;
    uint8 internal constant RIGHT_APPROVE = 4;
    /// @dev Large issuances stay below 2^56 so that ~50 of them cannot exhaust the serial space.
    uint256 internal constant MAX_LARGE_ISSUE = 2 ** 56;
    uint256 internal constant MAX_RANGES_PER_REQUEST = 3;

    bytes32 internal constant OP_REOPEN = "reopen";
    bytes32 internal constant OP_SUSPEND = "suspend";

    bytes32 internal constant BLOCK_CHANGED = keccak256("BlockChanged(uint64,uint64,uint64,uint8,uint64)");
    bytes32 internal constant LABEL_CHANGED = keccak256("LabelChanged(uint64,uint64,uint8,bool)");

    // ---------------------------------------------------------------------------------------------
    // Set-up state
    // ---------------------------------------------------------------------------------------------

    Holder[] internal _holders;
    mapping(uint64 accountId => uint256 index) internal _holderIndex;
    /// @dev Labels 0 and 1 belong to the labeller; label 2 to the issuer, who may attach it at issuance.
    uint8[3] internal _labelIds;
    uint64 internal _periodCursor;

    // ---------------------------------------------------------------------------------------------
    // Ghost state
    // ---------------------------------------------------------------------------------------------

    uint64[] internal ghost_issuanceIds;
    mapping(uint64 issuanceId => uint64[] starts) internal ghost_issuanceBlockStarts;
    /// @dev Every block start of every issuance, for picking random blocks.
    uint64[] internal ghost_blockStarts;
    mapping(uint64 start => uint64 issuanceId) internal ghost_issuanceOfStart;
    uint256 public ghost_totalIssued;
    /// @dev Units per account and state, as the handler expects them.
    mapping(uint64 accountId => uint256[7] units) internal ghost_units;

    uint64[] internal ghost_pendingTransferIds;
    mapping(uint64 transferId => PendingTransfer) internal ghost_pendingTransfers;

    CancelledRange[] internal ghost_cancelled;

    mapping(uint64 start => MirrorBlock) internal ghost_mirror;
    uint64[] internal ghost_mirrorStarts;
    /// @dev Events the mirror could not apply (a range in no known block, or across blocks).
    uint256 public ghost_mirrorErrors;

    uint256 public ghost_unexpectedOutcomes;
    bytes public ghost_lastUnexpected;
    /// @dev A split the handler predicted that found an existing block start, or similar bookkeeping
    /// contradictions.
    uint256 public ghost_bookkeepingErrors;

    /// @dev Outcomes per operation, for the run summary.
    mapping(bytes32 operation => uint256) public ghost_succeeded;
    mapping(bytes32 operation => uint256) public ghost_refused;

    // ---------------------------------------------------------------------------------------------
    // Set-up
    // ---------------------------------------------------------------------------------------------

    /// @notice Deploys the registry and opens the accounts under test. Separate from the constructor
    /// because signing calls this contract's own external hash functions.
    function initialize() public virtual {
        setUpRegistry();
        address ar4 = vm.addr(AR4_KEY);
        bytes32 labelAuthority = registry.LABEL_AUTHORITY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(labelAuthority, issuer);
        _labelIds[0] = defineLabel("green");
        _labelIds[1] = defineLabel("blue");
        _labelIds[2] = _defineIssuerLabel("origin-verified");
        registerProject(PROJECT);
        _periodCursor = 1_600_000_000;

        // two_person, three representatives; ar3 may only initiate.
        Representative[] memory reps = new Representative[](3);
        reps[0] = rep(ar1, true, true, true);
        reps[1] = rep(ar2, false, true, true);
        reps[2] = rep(ar3, false, true, false);
        _addHolder(
            openAccount(ApprovalPolicy.TwoPerson, reps), false, _keys3(AR1_KEY, AR2_KEY, AR3_KEY), reps
        );

        // two_person; ar2 initiates, ar4 may only approve.
        reps = new Representative[](2);
        reps[0] = rep(ar2, true, true, true);
        reps[1] = rep(ar4, false, false, true);
        _addHolder(openAccount(ApprovalPolicy.TwoPerson, reps), false, _keys2(AR2_KEY, AR4_KEY), reps);

        // single, one representative.
        reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        uint256[] memory keys = new uint256[](1);
        keys[0] = AR3_KEY;
        _addHolder(openAccount(ApprovalPolicy.Single, reps), true, keys, reps);

        // single; ar4 may only approve, so cannot initiate.
        reps = new Representative[](2);
        reps[0] = rep(ar1, true, true, true);
        reps[1] = rep(ar4, false, false, true);
        _addHolder(openAccount(ApprovalPolicy.Single, reps), true, _keys2(AR1_KEY, AR4_KEY), reps);
    }

    // ---------------------------------------------------------------------------------------------
    // Operations (the fuzzer's targets)
    // ---------------------------------------------------------------------------------------------

    /// @notice Issues a small (1..20) or large (up to 2^56) block, sometimes with the issuer's label.
    function issue(uint256 accountSeed, uint256 quantitySeed, bool labelled) external {
        Holder storage holder = _holders[accountSeed % _holders.length];
        uint64 quantity = uint64(
            quantitySeed % 2 == 0
                ? bound(quantitySeed >> 1, 1, 20)
                : bound(quantitySeed >> 1, 1, MAX_LARGE_ISSUE)
        );
        uint256 labels = labelled ? uint256(1) << _labelIds[2] : 0;
        IssueRequest memory r = issueRequest(quantity, holder.id, _periodCursor, _periodCursor + 364 days);
        _periodCursor += 365 days;
        r.labels = labels;
        bytes memory sig = signDigest(ISSUER_KEY, digestOf(this.hashIssue(r)));

        bytes memory expected = _suspendedError(holder.id);
        (bool ok, bytes memory ret) =
            _submit("issue", abi.encodeCall(IAdministration.issue, (r, sig)), expected);
        if (!ok) return;
        (uint64 issuanceId, uint64 start, uint64 end) = abi.decode(ret, (uint64, uint64, uint64));
        if (end - start + 1 != quantity) ++ghost_bookkeepingErrors;
        ghost_issuanceIds.push(issuanceId);
        _addStart(issuanceId, start);
        ghost_totalIssued += quantity;
        ghost_units[holder.id][uint8(UnitState.Held)] += quantity;
    }

    /// @notice Initiates a transfer of 1..3 sub-ranges of distinct Held blocks of a random account.
    function initiate(uint256 fromSeed, uint256 toSeed, uint256 signerSeed, uint256 rangeSeed) external {
        uint256 fromIndex = fromSeed % _holders.length;
        Holder storage from = _holders[fromIndex];
        Holder storage to = _holders[(fromIndex + 1 + toSeed % (_holders.length - 1)) % _holders.length];
        Picked memory picked = _pickHeldRanges(from.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        (uint256 key, uint8 rights) = _pickRepresentative(from, signerSeed, RIGHT_INITIATE, address(0));
        address signer = vm.addr(key);
        InitiateTransferRequest memory r = transferRequest(signer, from.id, to.id, picked.ranges);
        bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(r)));

        bytes memory expected = _suspendedError(from.id);
        if (expected.length == 0 && rights & RIGHT_INITIATE == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, from.id, signer);
        }
        if (expected.length == 0) expected = _suspendedError(to.id);
        (bool ok, bytes memory ret) = _submit(
            "initiate", abi.encodeCall(IUnitRegistry.initiateTransfer, (r, sig, picked.hintStarts)), expected
        );
        if (ok) _recordInitiated(from, to.id, signer, abi.decode(ret, (uint64)), picked);
    }

    /// @dev Books a successful initiation: the new block starts, units by state and, under the
    /// two-person policy, the pending transfer with its blocks.
    function _recordInitiated(
        Holder storage from,
        uint64 toId,
        address initiator,
        uint64 transferId,
        Picked memory picked
    ) internal {
        uint64 quantity = _applyMoves(picked);
        ghost_units[from.id][uint8(UnitState.Held)] -= quantity;
        if (from.single) {
            ghost_units[toId][uint8(UnitState.Held)] += quantity;
            return;
        }
        ghost_units[from.id][uint8(UnitState.Pending)] += quantity;
        PendingTransfer storage pending = ghost_pendingTransfers[transferId];
        pending.fromAccount = from.id;
        pending.toAccount = toId;
        pending.initiator = initiator;
        pending.quantity = quantity;
        // Each range is now a block of its own.
        for (uint256 i; i < picked.ranges.length; ++i) {
            pending.blockStarts.push(picked.ranges[i].start);
        }
        ghost_pendingTransferIds.push(transferId);
    }

    /// @notice Approves a random pending transfer, signed by a random representative of its source.
    function approve(uint256 transferSeed, uint256 signerSeed) external {
        if (ghost_pendingTransferIds.length == 0) return;
        uint256 slot = transferSeed % ghost_pendingTransferIds.length;
        uint64 transferId = ghost_pendingTransferIds[slot];
        PendingTransfer storage pending = ghost_pendingTransfers[transferId];
        (uint256 key, uint8 rights) =
            _pickRepresentative(_holderOf(pending.fromAccount), signerSeed, RIGHT_APPROVE, pending.initiator);
        address signer = vm.addr(key);
        TransferDecisionRequest memory r = decisionRequest(signer, transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, true)));

        bytes memory expected = _suspendedError(pending.fromAccount);
        if (expected.length == 0 && rights & RIGHT_APPROVE == 0) {
            expected =
                abi.encodeWithSelector(IRegistryBase.CannotApprove.selector, pending.fromAccount, signer);
        }
        if (expected.length == 0 && signer == pending.initiator) {
            expected = abi.encodeWithSelector(IRegistryBase.ApproverIsInitiator.selector, transferId, signer);
        }
        if (expected.length == 0) expected = _suspendedError(pending.toAccount);
        (uint64[] memory starts, bytes memory shortfall) = _decisionHints(transferId, transferSeed);
        if (expected.length == 0) expected = shortfall;
        (bool ok,) =
            _submit("approve", abi.encodeCall(IUnitRegistry.approveTransfer, (r, sig, starts)), expected);
        if (!ok) return;
        ghost_units[pending.fromAccount][uint8(UnitState.Pending)] -= pending.quantity;
        ghost_units[pending.toAccount][uint8(UnitState.Held)] += pending.quantity;
        _removePending(slot);
    }

    /// @notice Rescinds a random pending transfer, signed by a random representative of its source.
    function rescind(uint256 transferSeed, uint256 signerSeed) external {
        if (ghost_pendingTransferIds.length == 0) return;
        uint256 slot = transferSeed % ghost_pendingTransferIds.length;
        uint64 transferId = ghost_pendingTransferIds[slot];
        PendingTransfer storage pending = ghost_pendingTransfers[transferId];
        (uint256 key,) = _pickRepresentative(_holderOf(pending.fromAccount), signerSeed, 0, address(0));
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, false)));

        bytes memory expected = _suspendedError(pending.fromAccount);
        (uint64[] memory starts, bytes memory shortfall) = _decisionHints(transferId, transferSeed);
        if (expected.length == 0) expected = shortfall;
        (bool ok,) =
            _submit("rescind", abi.encodeCall(IUnitRegistry.rescindTransfer, (r, sig, starts)), expected);
        if (!ok) return;
        ghost_units[pending.fromAccount][uint8(UnitState.Pending)] -= pending.quantity;
        ghost_units[pending.fromAccount][uint8(UnitState.Held)] += pending.quantity;
        _removePending(slot);
    }

    /// @notice Cancels 1..3 sub-ranges of Held blocks of a random account and records their fingerprint.
    function cancel(uint256 accountSeed, uint256 signerSeed, uint256 rangeSeed) external {
        Holder storage holder = _holders[accountSeed % _holders.length];
        (uint256 key, uint8 rights) = _pickRepresentative(holder, signerSeed, RIGHT_INITIATE, address(0));
        Picked memory picked = _pickHeldRanges(holder.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        Range[] memory ranges = picked.ranges;
        CancelRequest memory r = cancelRequest(vm.addr(key), holder.id, ranges);
        bytes memory sig = signDigest(key, digestOf(this.hashCancel(r)));

        bytes memory expected = _suspendedError(holder.id);
        if (expected.length == 0 && rights & RIGHT_INITIATE == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, holder.id, vm.addr(key));
        }
        (bool ok, bytes memory ret) =
            _submit("cancel", abi.encodeCall(IUnitRegistry.cancel, (r, sig, picked.hintStarts)), expected);
        if (!ok) return;
        uint64 cancellationId = abi.decode(ret, (uint64));

        uint64 quantity = _applyMoves(picked);
        ghost_units[holder.id][uint8(UnitState.Held)] -= quantity;
        ghost_units[holder.id][uint8(UnitState.Cancelled)] += quantity;
        for (uint256 i; i < ranges.length; ++i) {
            // The fingerprint is read back from the chain right after cancellation; it must already
            // match what the request asked for.
            (UnitBlock memory b, uint256 labels) = registry.getBlock(ranges[i].start);
            if (
                b.end != ranges[i].end || b.account != holder.id || b.state != UnitState.Cancelled
                    || b.lockId != cancellationId
            ) ++ghost_bookkeepingErrors;
            ghost_cancelled.push(CancelledRange(ranges[i].start, b.end, b.account, b.state, b.lockId, labels));
        }
    }

    /// @notice Applies or removes a label on a sub-range of any random block. A cancelled block must be
    /// refused with UnitsAlreadyCancelled.
    function setLabel(uint256 blockSeed, uint256 rangeSeed, bool applied, uint256 labelSeed) external {
        if (ghost_blockStarts.length == 0) return;
        uint64 hint = ghost_blockStarts[blockSeed % ghost_blockStarts.length];
        UnitBlock memory b = blockAt(hint);
        (uint64 s, uint64 e) = _subRange(hint, b.end, rangeSeed);
        uint8 labelId = _labelIds[labelSeed % 2];
        SetLabelRequest memory r = labelRequest(labelId, applied, range(s, e));
        bytes memory sig = signDigest(LABELLER_KEY, digestOf(this.hashSetLabel(r)));

        bytes memory expected = b.state == UnitState.Cancelled
            ? abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, s, e)
            : bytes("");
        (bool ok,) =
            _submit("setLabel", abi.encodeCall(IUnitRegistry.setLabel, (r, sig, hints(hint))), expected);
        if (!ok) return;
        uint64 issuanceId = b.issuance;
        // A label splits the block like a move does; new pieces of a locked block belong to its lock.
        if (s > hint) {
            _addStart(issuanceId, s);
            _recordLockedSplit(b, s);
        }
        if (e < b.end) {
            _addStart(issuanceId, e + 1);
            _recordLockedSplit(b, e + 1);
        }
    }

    /// @dev Books a new block `start` cut out of the locked block `b`: a pending transfer's new piece.
    function _recordLockedSplit(UnitBlock memory b, uint64 start) internal virtual {
        if (b.state == UnitState.Pending) ghost_pendingTransfers[b.lockId].blockStarts.push(start);
    }

    /// @notice Reopens a suspended account, or (one time in four) suspends an open one, so that most
    /// of the time most accounts are open.
    function setAccountStatus(uint256 accountSeed, uint256 suspendSeed) external {
        Holder storage holder = _holders[accountSeed % _holders.length];
        AccountStatus current = registry.getAccount(holder.id).status;
        AccountStatus next = current == AccountStatus.Suspended ? AccountStatus.Open : AccountStatus.Suspended;
        if (next == AccountStatus.Suspended && suspendSeed % 4 != 0) return;
        SetAccountStatusRequest memory r = SetAccountStatusRequest({
            signer: adminAddr,
            accountId: holder.id,
            status: next,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashSetAccountStatus(r)));
        bytes32 operation = next == AccountStatus.Open ? OP_REOPEN : OP_SUSPEND;
        _submit(operation, abi.encodeCall(IAdministration.setAccountStatus, (r, sig)), "");
    }

    // ---------------------------------------------------------------------------------------------
    // Ghost views for the invariant suite
    // ---------------------------------------------------------------------------------------------

    function getRegistry() external view returns (UnitRegistry) {
        return registry;
    }

    function selectors() public pure virtual returns (bytes4[] memory s) {
        s = new bytes4[](7);
        s[0] = this.issue.selector;
        s[1] = this.initiate.selector;
        s[2] = this.approve.selector;
        s[3] = this.rescind.selector;
        s[4] = this.cancel.selector;
        s[5] = this.setLabel.selector;
        s[6] = this.setAccountStatus.selector;
    }

    function accountIds() external view returns (uint64[] memory ids) {
        ids = new uint64[](_holders.length);
        for (uint256 i; i < ids.length; ++i) {
            ids[i] = _holders[i].id;
        }
    }

    function issuanceIds() external view returns (uint64[] memory) {
        return ghost_issuanceIds;
    }

    function issuanceBlockStarts(uint64 issuanceId) external view returns (uint64[] memory) {
        return ghost_issuanceBlockStarts[issuanceId];
    }

    function isGhostBlockStart(uint64 start, uint64 issuanceId) external view returns (bool) {
        return ghost_issuanceOfStart[start] == issuanceId && issuanceId != 0;
    }

    function units(uint64 accountId, UnitState state) external view returns (uint256) {
        return ghost_units[accountId][uint8(state)];
    }

    function pendingTransferIds() external view returns (uint64[] memory) {
        return ghost_pendingTransferIds;
    }

    function pendingTransfer(uint64 transferId) external view returns (PendingTransfer memory) {
        return ghost_pendingTransfers[transferId];
    }

    function cancelledRanges() external view returns (CancelledRange[] memory) {
        return ghost_cancelled;
    }

    function mirrorBlockCount() external view returns (uint256) {
        return ghost_mirrorStarts.length;
    }

    function mirrorBlock(uint64 start) external view returns (MirrorBlock memory) {
        return ghost_mirror[start];
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    /// @dev Sends `data` from the relayer and checks the outcome against `expectedError` (empty: the
    /// call must succeed). Feeds the call's events to the mirror. Returns whether it succeeded.
    function _submit(bytes32 operation, bytes memory data, bytes memory expectedError)
        internal
        returns (bool ok, bytes memory ret)
    {
        vm.recordLogs();
        vm.prank(relayer);
        (ok, ret) = address(registry).call(data);
        bool asExpected = expectedError.length == 0 ? ok : !ok && keccak256(ret) == keccak256(expectedError);
        if (!asExpected) {
            ++ghost_unexpectedOutcomes;
            ghost_lastUnexpected = abi.encode(operation, ok, ret, expectedError);
        }
        if (ok) {
            ++ghost_succeeded[operation];
            _mirrorLogs(vm.getRecordedLogs());
        } else {
            ++ghost_refused[operation];
        }
        // An unexpected success leaves the ghost state behind the chain; treat it as a refusal here
        // (the invariant on unexpected outcomes reports it) so the ghost stays self-consistent.
        if (!asExpected && ok && expectedError.length != 0) ok = false;
    }

    /// @dev The hints for approving or rescinding a pending transfer: usually all its blocks. One time
    /// in eight all but the last, which must be refused with TransferQuantityMismatch; one time in four
    /// the last replaced by a block of another pending transfer, which must be refused with UnitsLocked.
    function _decisionHints(uint64 transferId, uint256 seed)
        internal
        view
        returns (uint64[] memory starts, bytes memory refusal)
    {
        PendingTransfer storage pending = ghost_pendingTransfers[transferId];
        starts = pending.blockStarts;
        uint256 n = starts.length;
        uint256 mode = (seed >> 128) % 8;
        if (mode == 0 && n >= 2) {
            uint64 last = starts[n - 1];
            uint64 missing = blockAt(last).end - last + 1;
            assembly ("memory-safe") {
                mstore(starts, sub(n, 1))
            }
            refusal = abi.encodeWithSelector(
                IRegistryBase.TransferQuantityMismatch.selector,
                transferId,
                pending.quantity,
                pending.quantity - missing
            );
        } else if ((mode == 1 || mode == 2) && ghost_pendingTransferIds.length >= 2) {
            uint64 other = ghost_pendingTransferIds[(seed >> 136) % ghost_pendingTransferIds.length];
            if (other == transferId) return (starts, "");
            uint64 foreign = ghost_pendingTransfers[other].blockStarts[0];
            starts[n - 1] = foreign;
            refusal = abi.encodeWithSelector(
                IRegistryBase.UnitsLocked.selector, foreign, blockAt(foreign).end, UnitState.Pending, other
            );
        }
    }

    /// @dev The error a request gets when `accountId` is suspended, or empty.
    function _suspendedError(uint64 accountId) internal view virtual returns (bytes memory) {
        if (registry.getAccount(accountId).status != AccountStatus.Suspended) return "";
        return abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, accountId);
    }

    /// @dev A representative of `holder`: one in four picks is any representative (so that missing
    /// rights get exercised); the others prefer one with `right` who is not `excluded`, if there is one.
    function _pickRepresentative(Holder storage holder, uint256 seed, uint8 right, address excluded)
        internal
        view
        returns (uint256 key, uint8 rights)
    {
        uint256 n = holder.keys.length;
        uint256 first = (seed >> 2) % n;
        for (uint256 i; i < n && seed % 4 != 0; ++i) {
            uint256 j = (first + i) % n;
            if (holder.rights[j] & right == right && vm.addr(holder.keys[j]) != excluded) {
                return (holder.keys[j], holder.rights[j]);
            }
        }
        return (holder.keys[first], holder.rights[first]);
    }

    function _holderOf(uint64 accountId) internal view returns (Holder storage) {
        return _holders[_holderIndex[accountId]];
    }

    /// @dev Picks up to three distinct Held blocks of `accountId`, scanning from a random block, and a
    /// random sub-range of each. Returns no ranges if the account holds nothing.
    function _pickHeldRanges(uint64 accountId, uint256 seed) internal view returns (Picked memory picked) {
        uint256 want = 1 + (seed % MAX_RANGES_PER_REQUEST);
        picked = Picked(new Range[](want), new uint64[](want), new uint64[](want));
        uint256 found;
        uint256 n = ghost_blockStarts.length;
        uint256 offset = n == 0 ? 0 : (seed >> 8) % n;
        for (uint256 i; i < n && found < want; ++i) {
            uint64 start = ghost_blockStarts[(offset + i) % n];
            UnitBlock memory b = blockAt(start);
            if (b.account != accountId || b.state != UnitState.Held) continue;
            (uint64 s, uint64 e) = _subRange(start, b.end, uint256(keccak256(abi.encode(seed, found))));
            picked.ranges[found] = Range(s, e);
            picked.hintStarts[found] = start;
            picked.blockEnds[found] = b.end;
            ++found;
        }
        _truncate(picked, found);
    }

    /// @dev Shrinks the picked arrays to their first `length` entries.
    function _truncate(Picked memory picked, uint256 length) internal pure {
        Range[] memory ranges = picked.ranges;
        uint64[] memory hintStarts = picked.hintStarts;
        uint64[] memory blockEnds = picked.blockEnds;
        assembly ("memory-safe") {
            mstore(ranges, length)
            mstore(hintStarts, length)
            mstore(blockEnds, length)
        }
    }

    /// @dev A sub-range of `[start, end]`: the whole block, a prefix, a suffix or any range, equally
    /// often, so that edge splits are as common as three-way ones.
    function _subRange(uint64 start, uint64 end, uint256 seed) internal pure returns (uint64 s, uint64 e) {
        uint256 shape = seed % 4;
        uint256 a = uint256(keccak256(abi.encode(seed, "a")));
        uint256 b = uint256(keccak256(abi.encode(seed, "b")));
        s = shape == 0 || shape == 1 ? start : uint64(bound(a, start, end));
        e = shape == 0 || shape == 2 ? end : uint64(bound(b, s, end));
    }

    /// @dev Records the block starts that moving the picked ranges out of their blocks created, and
    /// returns the quantity moved.
    function _applyMoves(Picked memory picked) internal returns (uint64 quantity) {
        for (uint256 i; i < picked.ranges.length; ++i) {
            uint64 hint = picked.hintStarts[i];
            uint64 issuanceId = ghost_issuanceOfStart[hint];
            (uint64 s, uint64 e) = (picked.ranges[i].start, picked.ranges[i].end);
            if (s > hint) _addStart(issuanceId, s);
            if (e < picked.blockEnds[i]) _addStart(issuanceId, e + 1);
            quantity += e - s + 1;
        }
    }

    function _addStart(uint64 issuanceId, uint64 start) internal {
        if (ghost_issuanceOfStart[start] != 0) {
            ++ghost_bookkeepingErrors;
            return;
        }
        ghost_issuanceOfStart[start] = issuanceId;
        ghost_issuanceBlockStarts[issuanceId].push(start);
        ghost_blockStarts.push(start);
    }

    function _removePending(uint256 slot) internal {
        uint64 transferId = ghost_pendingTransferIds[slot];
        ghost_pendingTransferIds[slot] = ghost_pendingTransferIds[ghost_pendingTransferIds.length - 1];
        ghost_pendingTransferIds.pop();
        delete ghost_pendingTransfers[transferId];
    }

    // ---------------------------------------------------------------------------------------------
    // Mirror from events
    // ---------------------------------------------------------------------------------------------

    /// @dev Applies the registry's BlockChanged and LabelChanged events, in order, to the mirror, the
    /// way an indexer that sees nothing but events would: isolate the range (splitting the block that
    /// contains it), then overwrite holder, state and lock, or set or clear one label bit.
    function _mirrorLogs(Cheats.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            Cheats.Log memory log = logs[i];
            if (log.emitter != address(registry)) continue;
            if (log.topics[0] == BLOCK_CHANGED) {
                uint64 start = uint64(uint256(log.topics[1]));
                (uint64 end, UnitState state, uint64 lockId) =
                    abi.decode(log.data, (uint64, UnitState, uint64));
                MirrorBlock storage m = _mirrorIsolate(start, end, true);
                m.account = uint64(uint256(log.topics[2]));
                m.state = state;
                m.lockId = lockId;
            } else if (log.topics[0] == LABEL_CHANGED) {
                uint64 start = uint64(uint256(log.topics[1]));
                uint256 bit = uint256(1) << uint8(uint256(log.topics[2]));
                (uint64 end, bool applied) = abi.decode(log.data, (uint64, bool));
                MirrorBlock storage m = _mirrorIsolate(start, end, false);
                m.labels = applied ? m.labels | bit : m.labels & ~bit;
            }
        }
    }

    /// @dev Returns the mirror block `[s, e]`, splitting the block that contains it. A range in no
    /// block is a new issuance when `mayCreate` (BlockChanged), else an error.
    function _mirrorIsolate(uint64 s, uint64 e, bool mayCreate) internal returns (MirrorBlock storage) {
        uint64 container = _mirrorContainer(s);
        if (container == 0) {
            if (!mayCreate) ++ghost_mirrorErrors;
            ghost_mirror[s].end = e;
            ghost_mirrorStarts.push(s);
            return ghost_mirror[s];
        }
        MirrorBlock memory whole = ghost_mirror[container];
        if (e > whole.end) {
            ++ghost_mirrorErrors;
            return ghost_mirror[container];
        }
        if (s > container) {
            ghost_mirror[container].end = s - 1;
            ghost_mirror[s] = whole;
            ghost_mirrorStarts.push(s);
        }
        if (e < whole.end) {
            ghost_mirror[e + 1] = whole;
            ghost_mirrorStarts.push(e + 1);
            ghost_mirror[s].end = e;
        }
        return ghost_mirror[s];
    }

    /// @dev The start of the mirror block containing `serial`, or 0.
    function _mirrorContainer(uint64 serial) internal view returns (uint64) {
        if (ghost_mirror[serial].end != 0) return serial;
        uint64[] storage starts = ghost_mirrorStarts;
        for (uint256 i; i < starts.length; ++i) {
            uint64 start = starts[i];
            if (start < serial && serial <= ghost_mirror[start].end) return start;
        }
        return 0;
    }

    // ---------------------------------------------------------------------------------------------
    // Set-up helpers
    // ---------------------------------------------------------------------------------------------

    function _addHolder(uint64 id, bool single, uint256[] memory keys, Representative[] memory reps)
        internal
    {
        _holderIndex[id] = _holders.length;
        Holder storage holder = _holders.push();
        holder.id = id;
        holder.single = single;
        for (uint256 i; i < keys.length; ++i) {
            holder.keys.push(keys[i]);
            holder.rights.push(registry.representativeRights(id, reps[i].addr));
        }
    }

    function _defineIssuerLabel(bytes32 name) internal returns (uint8) {
        DefineLabelRequest memory r = DefineLabelRequest({
            signer: adminAddr,
            name: name,
            authority: issuer,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashDefineLabel(r)));
        vm.prank(relayer);
        return admin.defineLabel(r, sig);
    }

    function _keys2(uint256 a, uint256 b) internal pure returns (uint256[] memory keys) {
        keys = new uint256[](2);
        (keys[0], keys[1]) = (a, b);
    }

    function _keys3(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory keys) {
        keys = new uint256[](3);
        (keys[0], keys[1], keys[2]) = (a, b, c);
    }
}
