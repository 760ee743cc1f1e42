// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats} from "../../utils/Cheats.sol";
import {RegistryFixture} from "../../utils/RegistryFixture.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IUnitRegistry} from "../../../src/interfaces/IUnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    IArticle6,
    IArticle6Events,
    IArticle6Authorization,
    IArticle6Transfers,
    IArticle64
} from "../../../src/interfaces/IArticle6.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    Article6Action,
    MechanismAccounts,
    Forward,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    SetMechanismAccountsRequest,
    AuthorizeRequest,
    IssueArticle64Request,
    TransferItmosRequest,
    CancelItmosRequest
} from "../../../src/libraries/Article6Types.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    UnitState,
    UnitBlock,
    PendingTransfer,
    Range,
    Representative,
    DefineLabelRequest,
    IssueRequest,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest,
    SetAccountStatusRequest,
    OpenAccountRequest
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

    struct GhostTransfer {
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
    bytes32 internal constant ACTION_RECORDED =
        keccak256("Article6ActionRecorded(uint64,uint64,uint8,uint64,uint64,uint64,bytes8,bytes8)");

    bytes8 internal constant AU = "AU";
    bytes8 internal constant CH = "CH";
    bytes32 internal constant APPROACH = "AU-CH-2030";

    // ---------------------------------------------------------------------------------------------
    // Set-up state
    // ---------------------------------------------------------------------------------------------

    Holder[] internal _holders;
    mapping(uint64 accountId => uint256 index) internal _holderIndex;
    /// @dev Labels 0 and 1 belong to the labeller; label 2 to the issuer, who may attach it at issuance.
    uint8[3] internal _labelIds;
    uint64 internal _periodCursor;

    IArticle6 internal a6;
    /// @dev Accounts the handler knows but does not pick as holders: the 6.4 mechanism accounts.
    uint64[] internal _extraAccounts;
    MechanismAccounts internal _mechanism;
    /// @dev The holder in Switzerland's section; every other holder is in Australia's.
    uint64 internal _swissHolder;
    uint256 internal _letters;

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
    /// @dev Pending ITMO transfers; their records share `ghost_pendingTransfers` (ids never collide).
    uint64[] internal ghost_itmoPendingTransferIds;
    mapping(uint64 transferId => GhostTransfer) internal ghost_pendingTransfers;
    /// @dev Units the FirstTransfer records covered, summed over every record.
    uint256 public ghost_firstTransferred;

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

        _initializeArticle6();
    }

    /// @dev Parties AU (authority: the labeller) and CH (authority: the issuer) in one approach, a single
    /// policy holder in Switzerland's section, and the 6.4 mechanism accounts.
    function _initializeArticle6() internal {
        a6 = IArticle6(address(registry));
        _registerParty(AU, "AU-NR", labeller);
        _registerParty(CH, "CH-NR", issuer);
        bytes8[] memory parties = new bytes8[](2);
        (parties[0], parties[1]) = (AU, CH);
        RegisterCooperativeApproachRequest memory ra = RegisterCooperativeApproachRequest({
            signer: adminAddr,
            approachId: APPROACH,
            name: "Australia-Switzerland",
            parties: parties,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashRegisterApproach(ra)));
        vm.prank(relayer);
        a6.registerCooperativeApproach(ra, sig);

        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory ro = openAccountRequest(ApprovalPolicy.Single, reps);
        ro.party = CH;
        sig = signDigest(ADMIN_KEY, digestOf(this.hashOpenAccount(ro)));
        vm.prank(relayer);
        _swissHolder = admin.openAccount(ro, sig);
        uint256[] memory keys = new uint256[](1);
        keys[0] = AR3_KEY;
        _addHolder(_swissHolder, true, keys, reps);

        _mechanism = MechanismAccounts({
            pending: _openExtra(AccountKind.Pending),
            holding: _openExtra(AccountKind.Holding),
            cancellation: _openExtra(AccountKind.Cancellation),
            omgeCancellation: _openExtra(AccountKind.OmgeCancellation),
            shareOfProceeds: _openExtra(AccountKind.ShareOfProceeds)
        });
        SetMechanismAccountsRequest memory rm = SetMechanismAccountsRequest({
            signer: adminAddr,
            pending: _mechanism.pending,
            holding: _mechanism.holding,
            cancellation: _mechanism.cancellation,
            omgeCancellation: _mechanism.omgeCancellation,
            shareOfProceeds: _mechanism.shareOfProceeds,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        sig = signDigest(ADMIN_KEY, digestOf(this.hashSetMechanism(rm)));
        vm.prank(relayer);
        a6.setMechanismAccounts(rm, sig);
    }

    function _registerParty(bytes8 party, bytes8 registryId, address authority) internal {
        RegisterPartyRequest memory r = RegisterPartyRequest({
            signer: adminAddr,
            party: party,
            registryId: registryId,
            labelAuthority: authority,
            administrators: new address[](0),
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashRegisterParty(r)));
        vm.prank(relayer);
        a6.registerParty(r, sig);
    }

    function _openExtra(AccountKind kind) internal returns (uint64 id) {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        r.kind = kind;
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashOpenAccount(r)));
        vm.prank(relayer);
        id = admin.openAccount(r, sig);
        _extraAccounts.push(id);
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
        (Picked memory picked, bytes memory lockedError) = _pickCoreRanges(from.id, rangeSeed);
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
        if (expected.length == 0) expected = lockedError;
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
        GhostTransfer storage pending = ghost_pendingTransfers[transferId];
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
        GhostTransfer storage pending = ghost_pendingTransfers[transferId];
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
        (bool ok,) = _submit(
            "approve",
            abi.encodeCall(IUnitRegistry.approveTransfer, (r, sig, _record(pending), starts)),
            expected
        );
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
        GhostTransfer storage pending = ghost_pendingTransfers[transferId];
        (uint256 key,) = _pickRepresentative(_holderOf(pending.fromAccount), signerSeed, 0, address(0));
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, false)));

        bytes memory expected = _suspendedError(pending.fromAccount);
        (uint64[] memory starts, bytes memory shortfall) = _decisionHints(transferId, transferSeed);
        if (expected.length == 0) expected = shortfall;
        (bool ok,) = _submit(
            "rescind",
            abi.encodeCall(IUnitRegistry.rescindTransfer, (r, sig, _record(pending), starts)),
            expected
        );
        if (!ok) return;
        ghost_units[pending.fromAccount][uint8(UnitState.Pending)] -= pending.quantity;
        ghost_units[pending.fromAccount][uint8(UnitState.Held)] += pending.quantity;
        _removePending(slot);
    }

    /// @notice Cancels 1..3 sub-ranges of Held blocks of a random account and records their fingerprint.
    function cancel(uint256 accountSeed, uint256 signerSeed, uint256 rangeSeed) external {
        Holder storage holder = _holders[accountSeed % _holders.length];
        (uint256 key, uint8 rights) = _pickRepresentative(holder, signerSeed, RIGHT_INITIATE, address(0));
        (Picked memory picked, bytes memory lockedError) = _pickCoreRanges(holder.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        Range[] memory ranges = picked.ranges;
        CancelRequest memory r = cancelRequest(vm.addr(key), holder.id, ranges);
        bytes memory sig = signDigest(key, digestOf(this.hashCancel(r)));

        bytes memory expected = _suspendedError(holder.id);
        if (expected.length == 0 && rights & RIGHT_INITIATE == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, holder.id, vm.addr(key));
        }
        if (expected.length == 0) expected = lockedError;
        (bool ok, bytes memory ret) =
            _submit("cancel", abi.encodeCall(IUnitRegistry.cancel, (r, sig, picked.hintStarts)), expected);
        if (!ok) return;
        _recordCancelled(holder.id, abi.decode(ret, (uint64)), picked);
    }

    /// @dev Books a successful cancellation: new block starts, units by state, and the fingerprint of
    /// every cancelled range.
    function _recordCancelled(uint64 accountId, uint64 cancellationId, Picked memory picked) internal {
        Range[] memory ranges = picked.ranges;
        uint64 quantity = _applyMoves(picked);
        ghost_units[accountId][uint8(UnitState.Held)] -= quantity;
        ghost_units[accountId][uint8(UnitState.Cancelled)] += quantity;
        for (uint256 i; i < ranges.length; ++i) {
            // The fingerprint is read back from the chain right after cancellation; it must already
            // match what the request asked for.
            (UnitBlock memory b, uint256 labels) = registry.getBlock(ranges[i].start);
            if (
                b.end != ranges[i].end || b.account != accountId || b.state != UnitState.Cancelled
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
    // Article 6 operations (the fuzzer's targets)
    // ---------------------------------------------------------------------------------------------

    /// @notice Australia's label authority authorizes a sub-range of any random block under a new letter,
    /// with a random first-transfer definition and purposes. Units that are not Held and unlocked, or
    /// outside Australia's section, or of a suspended account, must be refused with the exact error.
    function authorize(uint256 blockSeed, uint256 rangeSeed, uint256 termsSeed) external {
        if (ghost_blockStarts.length == 0) return;
        uint64 hint = ghost_blockStarts[blockSeed % ghost_blockStarts.length];
        UnitBlock memory b = blockAt(hint);
        (uint64 s, uint64 e) = _subRange(hint, b.end, rangeSeed);
        AuthorizeRequest memory r = AuthorizeRequest({
            signer: labeller,
            party: AU,
            letterId: _letterId(++_letters),
            approachId: APPROACH,
            purposes: uint8(1 + termsSeed % 3),
            firstTransferDefinition: FirstTransferDefinition(1 + (termsSeed >> 8) % 3),
            authorizedAt: uint64(block.timestamp),
            ranges: range(s, e),
            nonce: nextNonce(labeller),
            deadline: deadline()
        });
        bytes memory sig = signDigest(LABELLER_KEY, digestOf(this.hashAuthorize(r)));

        bytes memory expected = _suspendedError(b.account);
        if (expected.length == 0 && b.account == _swissHolder) {
            expected =
                abi.encodeWithSelector(IArticle6Events.UnitsNotInPartySection.selector, b.account, CH, AU);
        }
        if (expected.length == 0 && b.state == UnitState.Cancelled) {
            expected = abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, s, e);
        } else if (expected.length == 0 && (b.state != UnitState.Held || b.lockId != 0)) {
            expected = abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, s, e, b.state, b.lockId);
        }
        if (_isExtra(b.account) && expected.length == 0) {
            // Mechanism accounts are in no holder's hands; authorizing there is fine, but keep it simple.
            return;
        }
        (bool ok,) = _submit(
            "authorize", abi.encodeCall(IArticle6Authorization.authorize, (r, sig, hints(hint))), expected
        );
        if (!ok) return;
        if (s > hint) _addStart(b.issuance, s);
        if (e < b.end) _addStart(b.issuance, e + 1);
    }

    /// @notice Transfers 1..3 sub-ranges of blocks under one authorization between two random holders,
    /// within Australia's section or across to Switzerland's and back.
    function transferItmos(uint256 fromSeed, uint256 toSeed, uint256 signerSeed, uint256 rangeSeed) external {
        uint256 fromIndex = fromSeed % _holders.length;
        Holder storage from = _holders[fromIndex];
        Holder storage to = _holders[(fromIndex + 1 + toSeed % (_holders.length - 1)) % _holders.length];
        (Picked memory picked, uint64 authorizationId) = _pickItmoRanges(from.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        (uint256 key, uint8 rights) = _pickRepresentative(from, signerSeed, RIGHT_INITIATE, address(0));
        address signer = vm.addr(key);
        bytes memory expected = _suspendedError(from.id);
        if (expected.length == 0 && rights & RIGHT_INITIATE == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, from.id, signer);
        }
        if (expected.length == 0) expected = _suspendedError(to.id);
        (bool ok, bytes memory ret) = _submit(
            "transferItmos", _transferItmosCall(key, from.id, to.id, authorizationId, picked), expected
        );
        if (!ok) return;
        uint256 before = ghost_pendingTransferIds.length;
        _recordInitiated(from, to.id, signer, abi.decode(ret, (uint64)), picked);
        if (ghost_pendingTransferIds.length > before) {
            // _recordInitiated books pending transfers as core ones; move it to the ITMO list.
            ghost_itmoPendingTransferIds.push(ghost_pendingTransferIds[before]);
            ghost_pendingTransferIds.pop();
        }
    }

    function _transferItmosCall(
        uint256 key,
        uint64 from,
        uint64 to,
        uint64 authorizationId,
        Picked memory picked
    ) internal view returns (bytes memory) {
        address signer = vm.addr(key);
        TransferItmosRequest memory r = TransferItmosRequest({
            signer: signer,
            fromAccount: from,
            toAccount: to,
            authorizationId: authorizationId,
            ranges: picked.ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
        bytes memory sig = signDigest(key, digestOf(this.hashTransferItmos(r)));
        return abi.encodeCall(IArticle6Transfers.transferItmos, (r, sig, picked.hintStarts));
    }

    /// @notice Approves or rescinds a random pending ITMO transfer, with the same hint mistakes as for
    /// core transfers.
    function decideItmoTransfer(uint256 transferSeed, uint256 signerSeed, bool approval) external {
        if (ghost_itmoPendingTransferIds.length == 0) return;
        uint256 slot = transferSeed % ghost_itmoPendingTransferIds.length;
        uint64 transferId = ghost_itmoPendingTransferIds[slot];
        GhostTransfer storage pending = ghost_pendingTransfers[transferId];
        (uint256 key, uint8 rights) = _pickRepresentative(
            _holderOf(pending.fromAccount),
            signerSeed,
            approval ? RIGHT_APPROVE : 0,
            approval ? pending.initiator : address(0)
        );
        bytes memory expected = _decisionExpectation(transferId, vm.addr(key), rights, approval);
        (uint64[] memory starts, bytes memory shortfall) = _decisionHints(transferId, transferSeed);
        if (expected.length == 0) expected = shortfall;
        (bool ok,) = _submit(
            approval ? bytes32("approveItmo") : bytes32("rescindItmo"),
            _decisionCall(key, transferId, approval, starts),
            expected
        );
        if (!ok) return;
        uint64 back = approval ? pending.toAccount : pending.fromAccount;
        ghost_units[pending.fromAccount][uint8(UnitState.Pending)] -= pending.quantity;
        ghost_units[back][uint8(UnitState.Held)] += pending.quantity;
        ghost_itmoPendingTransferIds[slot] =
            ghost_itmoPendingTransferIds[ghost_itmoPendingTransferIds.length - 1];
        ghost_itmoPendingTransferIds.pop();
        delete ghost_pendingTransfers[transferId];
    }

    /// @dev The error an approval or rescission must get before its hints are looked at, or empty.
    function _decisionExpectation(uint64 transferId, address signer, uint8 rights, bool approval)
        internal
        view
        returns (bytes memory expected)
    {
        GhostTransfer storage pending = ghost_pendingTransfers[transferId];
        expected = _suspendedError(pending.fromAccount);
        if (!approval) return expected;
        if (expected.length == 0 && rights & RIGHT_APPROVE == 0) {
            expected =
                abi.encodeWithSelector(IRegistryBase.CannotApprove.selector, pending.fromAccount, signer);
        }
        if (expected.length == 0 && signer == pending.initiator) {
            expected = abi.encodeWithSelector(IRegistryBase.ApproverIsInitiator.selector, transferId, signer);
        }
        if (expected.length == 0) expected = _suspendedError(pending.toAccount);
    }

    function _decisionCall(uint256 key, uint64 transferId, bool approval, uint64[] memory starts)
        internal
        view
        returns (bytes memory)
    {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashItmoDecision(r, approval)));
        return approval
            ? abi.encodeCall(IArticle6Transfers.approveItmoTransfer, (r, sig, starts))
            : abi.encodeCall(IArticle6Transfers.rescindItmoTransfer, (r, sig, starts));
    }

    /// @notice Uses or cancels 1..3 sub-ranges under one authorization with a random purpose; a use the
    /// authorization does not cover must be refused with PurposeNotAuthorized.
    function cancelItmos(uint256 accountSeed, uint256 signerSeed, uint256 rangeSeed, uint8 purposeSeed)
        external
    {
        Holder storage holder = _holders[accountSeed % _holders.length];
        (Picked memory picked, uint64 authorizationId) = _pickItmoRanges(holder.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        (uint256 key, uint8 rights) = _pickRepresentative(holder, signerSeed, RIGHT_INITIATE, address(0));
        CancelItmosRequest memory r = CancelItmosRequest({
            signer: vm.addr(key),
            accountId: holder.id,
            authorizationId: authorizationId,
            ranges: picked.ranges,
            purpose: CancellationPurpose(purposeSeed % 4),
            beneficiary: "beneficiary",
            reason: "reason",
            nonce: nextNonce(vm.addr(key)),
            deadline: deadline()
        });
        bytes memory sig = signDigest(key, digestOf(this.hashCancelItmos(r)));

        bytes memory expected = _suspendedError(holder.id);
        if (expected.length == 0 && rights & RIGHT_INITIATE == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, holder.id, vm.addr(key));
        }
        uint8 purposes = a6.getAuthorization(authorizationId).purposes;
        bool unauthorized = (r.purpose == CancellationPurpose.NdcUse && purposes & PURPOSE_NDC == 0)
            || (r.purpose == CancellationPurpose.Oimp && purposes & PURPOSE_OIMP == 0);
        if (expected.length == 0 && unauthorized) {
            expected = abi.encodeWithSelector(
                IArticle6Events.PurposeNotAuthorized.selector, authorizationId, r.purpose
            );
        }
        (bool ok, bytes memory ret) = _submit(
            "cancelItmos",
            abi.encodeCall(IArticle6Transfers.cancelItmos, (r, sig, picked.hintStarts)),
            expected
        );
        if (ok) _recordCancelled(holder.id, abi.decode(ret, (uint64)), picked);
    }

    /// @notice Issues A6.4ERs (2..40 or up to 2^56) and forwards the remainder to one or two random
    /// holders; a suspended participant must be refused with AccountSuspended.
    function issueArticle64(uint256 quantitySeed, uint256 forwardSeed) external {
        uint64 quantity = uint64(
            quantitySeed % 2 == 0
                ? bound(quantitySeed >> 1, 2, 40)
                : bound(quantitySeed >> 1, 2, MAX_LARGE_ISSUE)
        );
        (uint64 sop, uint64 omge, uint64 rest) = a6.article64Shares(quantity);
        Forward[] memory forwards = _forwards(rest, forwardSeed);
        IssueArticle64Request memory r = IssueArticle64Request({
            signer: issuer,
            projectId: PROJECT,
            unitType: "A6.4ER",
            vintage: 2026,
            monitoringStart: _periodCursor,
            monitoringEnd: _periodCursor + 364 days,
            quantity: quantity,
            forwards: forwards,
            nonce: nextNonce(issuer),
            deadline: deadline()
        });
        _periodCursor += 365 days;
        bytes memory sig = signDigest(ISSUER_KEY, digestOf(this.hashIssueArticle64(r)));

        bytes memory expected;
        for (uint256 i; i < forwards.length && expected.length == 0; ++i) {
            expected = _suspendedError(forwards[i].accountId);
        }
        (bool ok, bytes memory ret) =
            _submit("issueArticle64", abi.encodeCall(IArticle64.issueArticle64, (r, sig)), expected);
        if (!ok) return;
        (uint64 issuanceId, uint64 start,) = abi.decode(ret, (uint64, uint64, uint64));
        ghost_issuanceIds.push(issuanceId);
        ghost_totalIssued += quantity;
        _addStart(issuanceId, start);
        ghost_units[_mechanism.shareOfProceeds][uint8(UnitState.Held)] += sop;
        _addStart(issuanceId, start + sop);
        ghost_units[_mechanism.omgeCancellation][uint8(UnitState.Cancelled)] += omge;
        (UnitBlock memory b, uint256 labels) = registry.getBlock(start + sop);
        ghost_cancelled.push(CancelledRange(start + sop, b.end, b.account, b.state, b.lockId, labels));
        uint64 cursor = start + sop + omge;
        for (uint256 i; i < forwards.length; ++i) {
            _addStart(issuanceId, cursor);
            ghost_units[forwards[i].accountId][uint8(UnitState.Held)] += forwards[i].quantity;
            cursor += forwards[i].quantity;
        }
    }

    /// @dev One or two forwards to random holders adding up to `rest`; none if nothing remains.
    function _forwards(uint64 rest, uint256 seed) internal view returns (Forward[] memory forwards) {
        if (rest == 0) return new Forward[](0);
        uint64 a = _holders[seed % _holders.length].id;
        if (rest == 1 || seed % 3 == 0) {
            forwards = new Forward[](1);
            forwards[0] = Forward(a, rest);
            return forwards;
        }
        uint64 b = _holders[(seed >> 8) % _holders.length].id;
        uint64 first = uint64(bound(seed >> 16, 1, rest - 1));
        forwards = new Forward[](2);
        forwards[0] = Forward(a, first);
        forwards[1] = Forward(b, rest - first);
    }

    /// @dev The id of the handler's `letter`th letter of authorization (from 1).
    function _letterId(uint256 letter) internal pure returns (bytes32) {
        return bytes32(abi.encodePacked("LOA-", uint64(letter)));
    }

    function _isExtra(uint64 accountId) internal view returns (bool) {
        for (uint256 i; i < _extraAccounts.length; ++i) {
            if (_extraAccounts[i] == accountId) return true;
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------------
    // Ghost views for the invariant suite
    // ---------------------------------------------------------------------------------------------

    function getRegistry() external view returns (UnitRegistry) {
        return registry;
    }

    function selectors() public pure virtual returns (bytes4[] memory s) {
        s = new bytes4[](12);
        s[0] = this.issue.selector;
        s[1] = this.initiate.selector;
        s[2] = this.approve.selector;
        s[3] = this.rescind.selector;
        s[4] = this.cancel.selector;
        s[5] = this.setLabel.selector;
        s[6] = this.setAccountStatus.selector;
        s[7] = this.authorize.selector;
        s[8] = this.transferItmos.selector;
        s[9] = this.decideItmoTransfer.selector;
        s[10] = this.cancelItmos.selector;
        s[11] = this.issueArticle64.selector;
    }

    /// @dev Every account that can hold units: the holders and the mechanism accounts.
    function accountIds() external view returns (uint64[] memory ids) {
        ids = new uint64[](_holders.length + _extraAccounts.length);
        for (uint256 i; i < _holders.length; ++i) {
            ids[i] = _holders[i].id;
        }
        for (uint256 i; i < _extraAccounts.length; ++i) {
            ids[_holders.length + i] = _extraAccounts[i];
        }
    }

    function itmoPendingTransferIds() external view returns (uint64[] memory) {
        return ghost_itmoPendingTransferIds;
    }

    function getArticle6() external view returns (IArticle6) {
        return a6;
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

    /// @dev The record approve and rescind are relayed with (the registry keeps its hash, D46).
    function _record(GhostTransfer storage pending) internal view returns (PendingTransfer memory) {
        return PendingTransfer({
            fromAccount: pending.fromAccount,
            toAccount: pending.toAccount,
            quantity: pending.quantity,
            initiator: pending.initiator
        });
    }

    function pendingTransfer(uint64 transferId) external view returns (GhostTransfer memory) {
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
        GhostTransfer storage pending = ghost_pendingTransfers[transferId];
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

    /// @dev Ranges for an operation on unlocked units (a core transfer or cancellation, a reservation,
    /// escrow or association): unlocked Held blocks of the account; one time in eight, if the account
    /// holds one, a single authorized block, which must be refused with UnitsLocked (the returned error).
    function _pickCoreRanges(uint64 accountId, uint256 seed)
        internal
        view
        returns (Picked memory picked, bytes memory lockedError)
    {
        if (seed % 8 == 7) {
            uint64 authorizationId;
            (picked, authorizationId) = _pickItmoRanges(accountId, seed);
            if (picked.ranges.length != 0) {
                _truncate(picked, 1);
                lockedError = abi.encodeWithSelector(
                    IRegistryBase.UnitsLocked.selector,
                    picked.ranges[0].start,
                    picked.ranges[0].end,
                    UnitState.Held,
                    authorizationId
                );
                return (picked, lockedError);
            }
        }
        picked = _pickHeldRanges(accountId, seed, 0);
    }

    /// @dev Ranges of up to three Held blocks of the account under one authorization: the first
    /// authorized block found from a random offset names it.
    function _pickItmoRanges(uint64 accountId, uint256 seed)
        internal
        view
        returns (Picked memory picked, uint64 authorizationId)
    {
        uint256 n = ghost_blockStarts.length;
        uint256 offset = n == 0 ? 0 : (seed >> 8) % n;
        for (uint256 i; i < n; ++i) {
            UnitBlock memory b = blockAt(ghost_blockStarts[(offset + i) % n]);
            if (b.account == accountId && b.state == UnitState.Held && b.lockId != 0) {
                authorizationId = b.lockId;
                break;
            }
        }
        if (authorizationId == 0) return (Picked(new Range[](0), new uint64[](0), new uint64[](0)), 0);
        picked = _pickHeldRanges(accountId, seed, authorizationId);
    }

    /// @dev Picks up to three distinct Held blocks of `accountId` locked by `lock` (0: unlocked),
    /// scanning from a random block, and a random sub-range of each. Returns no ranges if there are none.
    function _pickHeldRanges(uint64 accountId, uint256 seed, uint64 lock)
        internal
        view
        returns (Picked memory picked)
    {
        uint256 want = 1 + (seed % MAX_RANGES_PER_REQUEST);
        picked = Picked(new Range[](want), new uint64[](want), new uint64[](want));
        uint256 found;
        uint256 n = ghost_blockStarts.length;
        uint256 offset = n == 0 ? 0 : (seed >> 8) % n;
        for (uint256 i; i < n && found < want; ++i) {
            uint64 start = ghost_blockStarts[(offset + i) % n];
            UnitBlock memory b = blockAt(start);
            if (b.account != accountId || b.state != UnitState.Held || b.lockId != lock) continue;
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
            } else if (log.topics[0] == ACTION_RECORDED) {
                if (uint256(log.topics[3]) == uint256(Article6Action.FirstTransfer)) {
                    (uint64 start, uint64 end) = abi.decode(log.data, (uint64, uint64));
                    ghost_firstTransferred += uint256(end) - start + 1;
                }
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
