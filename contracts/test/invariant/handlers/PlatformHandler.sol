// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryHandler} from "./RegistryHandler.sol";
import {IUnitRegistry} from "../../../src/interfaces/IUnitRegistry.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {ICertificates} from "../../../src/interfaces/ICertificates.sol";
import {IArticle6Transfers} from "../../../src/interfaces/IArticle6.sol";
import {TransferItmosRequest, CancelItmosRequest} from "../../../src/libraries/Article6Types.sol";
import {
    AccountKind,
    ApprovalPolicy,
    CancellationPurpose,
    UnitState,
    UnitBlock,
    Range,
    Representative,
    OpenAccountRequest,
    InitiateTransferRequest,
    CancelRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    RegisterPlatformRequest,
    SetPlatformStatusRequest,
    GrantConsentRequest,
    RevokeConsentRequest,
    ReserveRequest,
    ReservationDecisionRequest,
    EscrowRequest,
    SettleEscrowRequest,
    ReleaseEscrowRequest,
    AssociateRequest,
    DissociateRequest,
    RetireAssociationRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice The registry handler plus the platform models and third-party certificates: two platforms
/// with custodial accounts among the accounts under test, consents, reservations (released or
/// transferred into custody), escrows (settled or released by the platform, another platform, a seller
/// or the administrator), associations (dissociated or retired), platform suspension, and attempts to
/// use locked units on every path. Every outcome is predicted, as in the base handler.
contract PlatformHandler is RegistryHandler {
    /// @dev An active reservation, escrow or association and the blocks it holds. `party` is the
    /// platform, or the third-party registry of an association.
    struct Lock {
        UnitState state;
        uint64 account;
        address party;
        uint64 quantity;
        uint64[] blockStarts;
    }

    uint256 internal constant CUSTODIAN_KEY = 0xC057;
    uint256 internal constant SIGNER_A_KEY = 0x9A51;
    uint256 internal constant SIGNER_B_KEY = 0x9A52;
    uint256 internal constant THIRD_PARTY_KEY = 0x3D9;
    address internal constant PLATFORM_A = address(0x9A7A);
    address internal constant PLATFORM_B = address(0x9A7B);

    bytes32 internal constant OP_RESERVE = "reserve";
    bytes32 internal constant OP_RELEASE_RESERVATION = "releaseReservation";
    bytes32 internal constant OP_TRANSFER_RESERVATION = "transferReservation";
    bytes32 internal constant OP_ESCROW = "escrow";
    bytes32 internal constant OP_SETTLE_ESCROW = "settleEscrow";
    bytes32 internal constant OP_RELEASE_ESCROW = "releaseEscrow";
    bytes32 internal constant OP_ASSOCIATE = "associate";
    bytes32 internal constant OP_DISSOCIATE = "dissociate";
    bytes32 internal constant OP_RETIRE = "retireAssociation";
    bytes32 internal constant OP_GRANT_CONSENT = "grantConsent";
    bytes32 internal constant OP_REVOKE_CONSENT = "revokeConsent";
    bytes32 internal constant OP_SUSPEND_PLATFORM = "suspendPlatform";
    bytes32 internal constant OP_REACTIVATE_PLATFORM = "reactivatePlatform";
    bytes32 internal constant OP_USE_LOCKED = "useLocked";

    address[2] internal _platforms;
    uint256[2] internal _signerKeys;
    mapping(uint64 accountId => address platform) internal _custodianOf;
    address internal _thirdParty;
    uint256 internal _certificateCursor;

    mapping(uint64 lockId => Lock) internal ghost_locks;
    uint64[] internal ghost_reservationIds;
    uint64[] internal ghost_escrowIds;
    uint64[] internal ghost_associationIds;
    bytes32[] internal ghost_usedCertificates;
    mapping(bytes32 certificateId => uint64 associationId) internal ghost_certificates;

    // ---------------------------------------------------------------------------------------------
    // Set-up
    // ---------------------------------------------------------------------------------------------

    /// @notice The base accounts, then platform A and platform B, each with a custodial account (single
    /// policy, the custodian alone) that joins the accounts under test, a third-party registry, and every
    /// account's Reserved and Escrowed consents for platform A. Platform B gets no consent.
    function initialize() public override {
        super.initialize();
        _platforms = [PLATFORM_A, PLATFORM_B];
        _signerKeys = [SIGNER_A_KEY, SIGNER_B_KEY];
        _thirdParty = vm.addr(THIRD_PARTY_KEY);
        for (uint256 p; p < 2; ++p) {
            Representative[] memory reps = new Representative[](1);
            reps[0] = rep(vm.addr(CUSTODIAN_KEY), true, true, true);
            OpenAccountRequest memory o = openAccountRequest(ApprovalPolicy.Single, reps);
            o.kind = AccountKind.Custodial;
            bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashOpenAccount(o)));
            vm.prank(relayer);
            uint64 custody = admin.openAccount(o, sig);
            uint256[] memory keys = new uint256[](1);
            keys[0] = CUSTODIAN_KEY;
            _addHolder(custody, true, keys, reps);
            _custodianOf[custody] = _platforms[p];

            address[] memory signers = new address[](1);
            signers[0] = vm.addr(_signerKeys[p]);
            RegisterPlatformRequest memory r = RegisterPlatformRequest({
                signer: adminAddr,
                platform: _platforms[p],
                name: "Platform",
                custodialAccount: custody,
                signers: signers,
                nonce: nextNonce(adminAddr),
                deadline: deadline()
            });
            sig = signDigest(ADMIN_KEY, digestOf(this.hashRegisterPlatform(r)));
            vm.prank(relayer);
            _platformsApi().registerPlatform(r, sig);
        }
        bytes32 role = ICertificates(address(registry)).THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, _thirdParty);
        for (uint256 h; h < _holders.length; ++h) {
            _grant(_holders[h], ConsentScope.Reserved);
            _grant(_holders[h], ConsentScope.Escrowed);
        }
    }

    function _grant(Holder storage holder, ConsentScope scope) internal {
        (uint256 key,) = _pickRepresentative(holder, 1, RIGHT_INITIATE, address(0));
        GrantConsentRequest memory g = _grantRequest(key, holder.id, scope);
        bytes memory sig = signDigest(key, digestOf(this.hashGrantConsent(g)));
        vm.prank(relayer);
        _platformsApi().grantConsent(g, sig);
    }

    // ---------------------------------------------------------------------------------------------
    // Operations (the fuzzer's targets)
    // ---------------------------------------------------------------------------------------------

    /// @notice Reserves 1..3 sub-ranges of Held blocks of a random account for platform A, or one time
    /// in four for platform B, which has no consent. One time in eight the range is an authorized block
    /// instead (Held, locked by its authorization), which must be refused with UnitsLocked.
    function reserve(uint256 accountSeed, uint256 signerSeed, uint256 rangeSeed, uint256 platformSeed)
        external
    {
        _lockUnits(UnitState.Reserved, accountSeed, signerSeed, rangeSeed, platformSeed);
    }

    /// @notice Escrows 1..3 sub-ranges, like reserve.
    function escrow(uint256 accountSeed, uint256 signerSeed, uint256 rangeSeed, uint256 platformSeed)
        external
    {
        _lockUnits(UnitState.Escrowed, accountSeed, signerSeed, rangeSeed, platformSeed);
    }

    /// @notice Associates 1..3 sub-ranges with a fresh certificate, or one time in five with one already
    /// used, which must be refused. One time in eight the range is an authorized block instead, which must
    /// be refused with UnitsLocked.
    function associate(uint256 accountSeed, uint256 signerSeed, uint256 rangeSeed, uint256 certificateSeed)
        external
    {
        Holder storage holder = _holders[accountSeed % _holders.length];
        (Picked memory picked, bytes memory lockedError) = _pickCoreRanges(holder.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        bytes32 certificateId = certificateSeed % 5 == 0 && ghost_usedCertificates.length != 0
            ? ghost_usedCertificates[(certificateSeed >> 8) % ghost_usedCertificates.length]
            : bytes32(++_certificateCursor);
        (bytes memory data, bytes memory expected) = _associateCall(holder, signerSeed, certificateId, picked);
        if (expected.length == 0) expected = lockedError;
        (bool ok, bytes memory ret) = _submit(OP_ASSOCIATE, data, expected);
        if (!ok) return;
        uint64 associationId = abi.decode(ret, (uint64));
        _recordLock(associationId, UnitState.Associated, holder.id, _thirdParty, picked);
        ghost_certificates[certificateId] = associationId;
        ghost_usedCertificates.push(certificateId);
    }

    /// @dev The signed associate call for the picked ranges, and its expected refusal before the units
    /// are looked at: the account checks, then a certificate already used.
    function _associateCall(
        Holder storage holder,
        uint256 signerSeed,
        bytes32 certificateId,
        Picked memory picked
    ) internal view returns (bytes memory data, bytes memory expected) {
        (uint256 key, uint8 rights) = _pickRepresentative(holder, signerSeed, RIGHT_INITIATE, address(0));
        AssociateRequest memory r = AssociateRequest({
            signer: vm.addr(key),
            accountId: holder.id,
            thirdPartyRegistry: _thirdParty,
            certificateId: certificateId,
            ranges: picked.ranges,
            nonce: nextNonce(vm.addr(key)),
            deadline: deadline()
        });
        bytes memory sig = signDigest(key, digestOf(this.hashAssociate(r)));
        data = abi.encodeCall(ICertificates.associate, (r, sig, picked.hintStarts));

        expected = _accountActionError(holder.id, vm.addr(key), rights);
        uint64 used = ghost_certificates[certificateId];
        if (expected.length == 0 && used != 0) {
            expected = abi.encodeWithSelector(
                ICertificates.CertificateAlreadyUsed.selector, _thirdParty, certificateId, used
            );
        }
    }

    /// @notice Releases a random reservation, signed by a random representative of its account.
    function releaseReservation(uint256 lockSeed, uint256 signerSeed, uint256 hintSeed) external {
        if (ghost_reservationIds.length == 0) return;
        uint256 slot = lockSeed % ghost_reservationIds.length;
        uint64 id = ghost_reservationIds[slot];
        Lock storage l = ghost_locks[id];
        (uint256 key,) = _pickRepresentative(_holderOf(l.account), signerSeed, 0, address(0));
        ReservationDecisionRequest memory r = _reservationDecision(key, id);
        bytes memory sig = signDigest(key, digestOf(this.hashReservationDecision(r, true)));

        bytes memory expected = _suspendedError(l.account);
        (uint64[] memory starts, bytes memory fault) = _lockHints(id, hintSeed);
        if (expected.length == 0) expected = fault;
        (bool ok,) = _submit(
            OP_RELEASE_RESERVATION, abi.encodeCall(IPlatforms.releaseReservation, (r, sig, starts)), expected
        );
        if (!ok) return;
        _unlock(id, l.account, UnitState.Held);
        _removeLock(ghost_reservationIds, slot);
    }

    /// @notice Transfers a random reservation into its platform's custodial account, as a transfer that
    /// completes at once (single policy) or waits for approval (two-person policy).
    function transferReservation(uint256 lockSeed, uint256 signerSeed, uint256 hintSeed) external {
        if (ghost_reservationIds.length == 0) return;
        uint256 slot = lockSeed % ghost_reservationIds.length;
        uint64 id = ghost_reservationIds[slot];
        (uint256 key, uint8 rights) =
            _pickRepresentative(_holderOf(ghost_locks[id].account), signerSeed, RIGHT_INITIATE, address(0));
        ReservationDecisionRequest memory r = _reservationDecision(key, id);
        bytes memory sig = signDigest(key, digestOf(this.hashReservationDecision(r, false)));
        (uint64[] memory starts, bytes memory expected) =
            _transferReservationExpectation(id, vm.addr(key), rights, hintSeed);
        (bool ok, bytes memory ret) = _submit(
            OP_TRANSFER_RESERVATION,
            abi.encodeCall(IPlatforms.transferReservation, (r, sig, starts)),
            expected
        );
        if (ok) _recordReservationTransfer(slot, vm.addr(key), abi.decode(ret, (uint64)));
    }

    /// @dev The hints and the expected refusal of transferring reservation `id`: the seller account, the
    /// right to initiate, the platform, the custodial account, then the hints.
    function _transferReservationExpectation(uint64 id, address signer, uint8 rights, uint256 hintSeed)
        internal
        view
        returns (uint64[] memory starts, bytes memory expected)
    {
        Lock storage l = ghost_locks[id];
        uint64 custody = _platformsApi().getPlatform(l.party).custodialAccount;
        expected = _accountActionError(l.account, signer, rights);
        if (expected.length == 0) expected = _platformSuspendedError(l.party);
        if (expected.length == 0 && custody == l.account) {
            expected = abi.encodeWithSelector(IRegistryBase.SameAccount.selector, l.account);
        }
        if (expected.length == 0) expected = _suspendedError(custody);
        bytes memory fault;
        (starts, fault) = _lockHints(id, hintSeed);
        if (expected.length == 0) expected = fault;
    }

    /// @dev Books a reservation transferred into custody: Held there at once under the single policy,
    /// else a pending transfer over the reservation's blocks.
    function _recordReservationTransfer(uint256 slot, address initiator, uint64 transferId) internal {
        Lock storage l = ghost_locks[ghost_reservationIds[slot]];
        Holder storage from = _holderOf(l.account);
        uint64 custody = _platformsApi().getPlatform(l.party).custodialAccount;
        ghost_units[from.id][uint8(UnitState.Reserved)] -= l.quantity;
        if (from.single) {
            ghost_units[custody][uint8(UnitState.Held)] += l.quantity;
        } else {
            ghost_units[from.id][uint8(UnitState.Pending)] += l.quantity;
            GhostTransfer storage pending = ghost_pendingTransfers[transferId];
            pending.fromAccount = from.id;
            pending.toAccount = custody;
            pending.initiator = initiator;
            pending.quantity = l.quantity;
            pending.blockStarts = l.blockStarts;
            ghost_pendingTransferIds.push(transferId);
        }
        _removeLock(ghost_reservationIds, slot);
    }

    /// @notice Settles a random escrow to a random account. The signer is, by seed, the escrow's
    /// platform (most often), the other platform, the administrator (override) or the seller.
    function settleEscrow(uint256 lockSeed, uint256 signerSeed, uint256 toSeed, uint256 hintSeed) external {
        if (ghost_escrowIds.length == 0) return;
        uint256 slot = lockSeed % ghost_escrowIds.length;
        uint64 id = ghost_escrowIds[slot];
        Lock storage l = ghost_locks[id];
        uint64 to = _holders[toSeed % _holders.length].id;
        uint256 key = _escrowDecider(l, signerSeed);
        SettleEscrowRequest memory r = SettleEscrowRequest({
            signer: vm.addr(key),
            escrowId: id,
            toAccount: to,
            nonce: nextNonce(vm.addr(key)),
            deadline: deadline()
        });
        bytes memory sig = signDigest(key, digestOf(this.hashSettleEscrow(r)));

        bytes memory expected = _escrowControlError(id, l, vm.addr(key));
        if (expected.length == 0) expected = _suspendedError(l.account);
        if (expected.length == 0 && to == l.account) {
            expected = abi.encodeWithSelector(IRegistryBase.SameAccount.selector, to);
        }
        if (expected.length == 0) expected = _suspendedError(to);
        (uint64[] memory starts, bytes memory fault) = _lockHints(id, hintSeed);
        if (expected.length == 0) expected = fault;
        (bool ok,) =
            _submit(OP_SETTLE_ESCROW, abi.encodeCall(IPlatforms.settleEscrow, (r, sig, starts)), expected);
        if (!ok) return;
        _unlock(id, to, UnitState.Held);
        _removeLock(ghost_escrowIds, slot);
    }

    /// @notice Releases a random escrow; signers as in settleEscrow.
    function releaseEscrow(uint256 lockSeed, uint256 signerSeed, uint256 hintSeed) external {
        if (ghost_escrowIds.length == 0) return;
        uint256 slot = lockSeed % ghost_escrowIds.length;
        uint64 id = ghost_escrowIds[slot];
        Lock storage l = ghost_locks[id];
        uint256 key = _escrowDecider(l, signerSeed);
        ReleaseEscrowRequest memory r = ReleaseEscrowRequest({
            signer: vm.addr(key), escrowId: id, nonce: nextNonce(vm.addr(key)), deadline: deadline()
        });
        bytes memory sig = signDigest(key, digestOf(this.hashReleaseEscrow(r)));

        bytes memory expected = _escrowControlError(id, l, vm.addr(key));
        if (expected.length == 0) expected = _suspendedError(l.account);
        (uint64[] memory starts, bytes memory fault) = _lockHints(id, hintSeed);
        if (expected.length == 0) expected = fault;
        (bool ok,) =
            _submit(OP_RELEASE_ESCROW, abi.encodeCall(IPlatforms.releaseEscrow, (r, sig, starts)), expected);
        if (!ok) return;
        _unlock(id, l.account, UnitState.Held);
        _removeLock(ghost_escrowIds, slot);
    }

    /// @notice The third-party registry dissociates a random association.
    function dissociate(uint256 lockSeed, uint256 hintSeed) external {
        if (ghost_associationIds.length == 0) return;
        uint256 slot = lockSeed % ghost_associationIds.length;
        uint64 id = ghost_associationIds[slot];
        Lock storage l = ghost_locks[id];
        DissociateRequest memory r = DissociateRequest({
            signer: _thirdParty, associationId: id, nonce: nextNonce(_thirdParty), deadline: deadline()
        });
        bytes memory sig = signDigest(THIRD_PARTY_KEY, digestOf(this.hashDissociate(r)));

        bytes memory expected = _suspendedError(l.account);
        (uint64[] memory starts, bytes memory fault) = _lockHints(id, hintSeed);
        if (expected.length == 0) expected = fault;
        (bool ok,) =
            _submit(OP_DISSOCIATE, abi.encodeCall(ICertificates.dissociate, (r, sig, starts)), expected);
        if (!ok) return;
        _unlock(id, l.account, UnitState.Held);
        _removeLock(ghost_associationIds, slot);
    }

    /// @notice The third-party registry retires the certificate of a random association: its units are
    /// cancelled, and their fingerprints join the cancelled ranges that must never move.
    function retireAssociation(uint256 lockSeed, uint256 hintSeed) external {
        if (ghost_associationIds.length == 0) return;
        uint256 slot = lockSeed % ghost_associationIds.length;
        uint64 id = ghost_associationIds[slot];
        Lock storage l = ghost_locks[id];
        RetireAssociationRequest memory r = RetireAssociationRequest({
            signer: _thirdParty,
            associationId: id,
            beneficiary: "Beneficiary",
            reason: "Certificate retired",
            nonce: nextNonce(_thirdParty),
            deadline: deadline()
        });
        bytes memory sig = signDigest(THIRD_PARTY_KEY, digestOf(this.hashRetireAssociation(r)));

        bytes memory expected = _suspendedError(l.account);
        (uint64[] memory starts, bytes memory fault) = _lockHints(id, hintSeed);
        if (expected.length == 0) expected = fault;
        (bool ok, bytes memory ret) =
            _submit(OP_RETIRE, abi.encodeCall(ICertificates.retireAssociation, (r, sig, starts)), expected);
        if (!ok) return;
        uint64 cancellationId = abi.decode(ret, (uint64));
        ghost_units[l.account][uint8(UnitState.Associated)] -= l.quantity;
        ghost_units[l.account][uint8(UnitState.Cancelled)] += l.quantity;
        for (uint256 i; i < l.blockStarts.length; ++i) {
            (UnitBlock memory b, uint256 labels) = registry.getBlock(l.blockStarts[i]);
            if (b.account != l.account || b.state != UnitState.Cancelled || b.lockId != cancellationId) {
                ++ghost_bookkeepingErrors;
            }
            ghost_cancelled.push(
                CancelledRange(l.blockStarts[i], b.end, b.account, b.state, b.lockId, labels)
            );
        }
        _removeLock(ghost_associationIds, slot);
    }

    /// @notice Grants a missing Reserved or Escrowed consent for platform A, or now and then revokes an
    /// active one, so that reservations and escrows sometimes meet a platform without consent.
    function toggleConsent(uint256 accountSeed, uint256 scopeSeed, uint256 signerSeed) external {
        Holder storage holder = _holders[accountSeed % _holders.length];
        ConsentScope scope = scopeSeed % 2 == 0 ? ConsentScope.Reserved : ConsentScope.Escrowed;
        uint64 active = _platformsApi().activeConsent(holder.id, PLATFORM_A, scope);
        if (active != 0) {
            if ((scopeSeed >> 1) % 4 != 0) return;
            (uint256 revoker,) = _pickRepresentative(holder, signerSeed, 0, address(0));
            RevokeConsentRequest memory r = RevokeConsentRequest({
                signer: vm.addr(revoker),
                consentId: active,
                nonce: nextNonce(vm.addr(revoker)),
                deadline: deadline()
            });
            bytes memory rs = signDigest(revoker, digestOf(this.hashRevokeConsent(r)));
            _submit(OP_REVOKE_CONSENT, abi.encodeCall(IPlatforms.revokeConsent, (r, rs)), "");
            return;
        }
        (uint256 key, uint8 rights) = _pickRepresentative(holder, signerSeed, RIGHT_INITIATE, address(0));
        GrantConsentRequest memory g = _grantRequest(key, holder.id, scope);
        bytes memory sig = signDigest(key, digestOf(this.hashGrantConsent(g)));
        bytes memory expected = _accountActionError(holder.id, vm.addr(key), rights);
        if (expected.length == 0) expected = _platformSuspendedError(PLATFORM_A);
        _submit(OP_GRANT_CONSENT, abi.encodeCall(IPlatforms.grantConsent, (g, sig)), expected);
    }

    /// @notice Reactivates a suspended platform, or (one time in four) suspends an active one.
    function setPlatformStatus(uint256 platformSeed, uint256 suspendSeed) external {
        address platform = _platforms[platformSeed % 2];
        bool suspended = _isSuspended(platform);
        if (!suspended && suspendSeed % 4 != 0) return;
        SetPlatformStatusRequest memory r = SetPlatformStatusRequest({
            signer: adminAddr,
            platform: platform,
            status: suspended ? PlatformStatus.Active : PlatformStatus.Suspended,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashSetPlatformStatus(r)));
        _submit(
            suspended ? OP_REACTIVATE_PLATFORM : OP_SUSPEND_PLATFORM,
            abi.encodeCall(IPlatforms.setPlatformStatus, (r, sig)),
            ""
        );
    }

    /// @notice Tries to transfer, cancel, reserve, escrow or associate a sub-range of a locked block
    /// (pending, reserved, escrowed, associated, or Held under an Article 6 authorization), or to
    /// transfer or use it as ITMOs under another authorization. After the checks that come first
    /// (suspension, platform, consent), each path must refuse with UnitsLocked: the platform locks and
    /// the authorization lock refuse each other's units.
    function useLocked(uint256 blockSeed, uint256 rangeSeed, uint256 opSeed) external {
        uint256 n = ghost_blockStarts.length;
        if (n == 0) return;
        uint64 hint;
        UnitBlock memory b;
        for (uint256 i; i < n; ++i) {
            uint64 start = ghost_blockStarts[(blockSeed % n + i) % n];
            UnitBlock memory candidate = blockAt(start);
            bool locked = candidate.state != UnitState.Held || candidate.lockId != 0;
            if (locked && candidate.state != UnitState.Cancelled && !_isExtra(candidate.account)) {
                (hint, b) = (start, candidate);
                break;
            }
        }
        if (hint == 0) return;
        (uint64 s, uint64 e) = _subRange(hint, b.end, rangeSeed);
        Holder storage holder = _holderOf(b.account);
        (uint256 key,) = _pickRepresentative(holder, 1, RIGHT_INITIATE, address(0));
        uint256 op = opSeed % 7;
        uint64 authorizationId = op < 5 ? 0 : _otherAuthorization(b, opSeed >> 8);
        // Without another authorization to name, fall back to a core or platform path.
        if (op >= 5 && authorizationId == 0) op = opSeed % 5;
        (bytes memory data, bytes memory expected) = op < 5
            ? _useLockedCall(op, key, holder, s, e, hint)
            : _useLockedItmoCall(op == 5, key, holder, authorizationId, range(s, e), hint);
        if (expected.length == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, s, e, b.state, b.lockId);
        }
        _submit(OP_USE_LOCKED, data, expected);
    }

    /// @dev An existing authorization, from a random letter on, other than the one that locks `b`; or 0.
    function _otherAuthorization(UnitBlock memory b, uint256 seed) internal view returns (uint64) {
        uint256 letters = _letters;
        for (uint256 i; i < letters; ++i) {
            uint256 letter = 1 + (seed + i) % letters;
            uint64 id = a6.authorizationOf(AU, _letterId(letter));
            if (id != 0 && !(b.state == UnitState.Held && id == b.lockId)) return id;
        }
        return 0;
    }

    /// @dev The signed transferItmos (to the next holder) or cancelItmos (voluntary, so that no purpose
    /// check comes first) call for `ranges` under `authorizationId`, and the refusal that comes before the
    /// units are looked at.
    function _useLockedItmoCall(
        bool transfer,
        uint256 key,
        Holder storage holder,
        uint64 authorizationId,
        Range[] memory ranges,
        uint64 hint
    ) internal view returns (bytes memory data, bytes memory expected) {
        address signer = vm.addr(key);
        expected = _suspendedError(holder.id);
        if (transfer) {
            uint64 to = _holders[(_holderIndex[holder.id] + 1) % _holders.length].id;
            TransferItmosRequest memory t = TransferItmosRequest({
                signer: signer,
                fromAccount: holder.id,
                toAccount: to,
                authorizationId: authorizationId,
                ranges: ranges,
                nonce: nextNonce(signer),
                deadline: deadline()
            });
            bytes memory sig = signDigest(key, digestOf(this.hashTransferItmos(t)));
            data = abi.encodeCall(IArticle6Transfers.transferItmos, (t, sig, hints(hint)));
            if (expected.length == 0) expected = _suspendedError(to);
        } else {
            CancelItmosRequest memory c = CancelItmosRequest({
                signer: signer,
                accountId: holder.id,
                authorizationId: authorizationId,
                ranges: ranges,
                purpose: CancellationPurpose.Voluntary,
                beneficiary: "beneficiary",
                reason: "reason",
                nonce: nextNonce(signer),
                deadline: deadline()
            });
            bytes memory sig = signDigest(key, digestOf(this.hashCancelItmos(c)));
            data = abi.encodeCall(IArticle6Transfers.cancelItmos, (c, sig, hints(hint)));
        }
    }

    function _useLockedCall(uint256 op, uint256 key, Holder storage holder, uint64 s, uint64 e, uint64 hint)
        internal
        view
        returns (bytes memory data, bytes memory expected)
    {
        address signer = vm.addr(key);
        expected = _suspendedError(holder.id);
        if (op == 0) {
            uint64 to = _holders[(_holderIndex[holder.id] + 1) % _holders.length].id;
            InitiateTransferRequest memory t = transferRequest(signer, holder.id, to, range(s, e));
            bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(t)));
            data = abi.encodeCall(IUnitRegistry.initiateTransfer, (t, sig, hints(hint)));
            if (expected.length == 0) expected = _suspendedError(to);
        } else if (op == 1) {
            CancelRequest memory c = cancelRequest(signer, holder.id, range(s, e));
            bytes memory sig = signDigest(key, digestOf(this.hashCancel(c)));
            data = abi.encodeCall(IUnitRegistry.cancel, (c, sig, hints(hint)));
        } else if (op == 2) {
            ReserveRequest memory r = _reserveRequest(signer, holder.id, PLATFORM_A, range(s, e));
            bytes memory sig = signDigest(key, digestOf(this.hashReserve(r)));
            data = abi.encodeCall(IPlatforms.reserve, (r, sig, hints(hint)));
            expected =
                _lockPermissionError(holder.id, signer, RIGHT_INITIATE, PLATFORM_A, ConsentScope.Reserved);
        } else if (op == 3) {
            EscrowRequest memory r = _escrowRequest(signer, holder.id, PLATFORM_A, range(s, e));
            bytes memory sig = signDigest(key, digestOf(this.hashEscrow(r)));
            data = abi.encodeCall(IPlatforms.escrow, (r, sig, hints(hint)));
            expected =
                _lockPermissionError(holder.id, signer, RIGHT_INITIATE, PLATFORM_A, ConsentScope.Escrowed);
        } else {
            AssociateRequest memory r = AssociateRequest({
                signer: signer,
                accountId: holder.id,
                thirdPartyRegistry: _thirdParty,
                certificateId: bytes32(type(uint256).max - _certificateCursor),
                ranges: range(s, e),
                nonce: nextNonce(signer),
                deadline: deadline()
            });
            bytes memory sig = signDigest(key, digestOf(this.hashAssociate(r)));
            data = abi.encodeCall(ICertificates.associate, (r, sig, hints(hint)));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Ghost views for the invariant suite
    // ---------------------------------------------------------------------------------------------

    function selectors() public pure override returns (bytes4[] memory s) {
        bytes4[] memory base = super.selectors();
        s = new bytes4[](base.length + 12);
        for (uint256 i; i < base.length; ++i) {
            s[i] = base[i];
        }
        uint256 n = base.length;
        s[n] = this.reserve.selector;
        s[n + 1] = this.releaseReservation.selector;
        s[n + 2] = this.transferReservation.selector;
        s[n + 3] = this.escrow.selector;
        s[n + 4] = this.settleEscrow.selector;
        s[n + 5] = this.releaseEscrow.selector;
        s[n + 6] = this.associate.selector;
        s[n + 7] = this.dissociate.selector;
        s[n + 8] = this.retireAssociation.selector;
        s[n + 9] = this.toggleConsent.selector;
        s[n + 10] = this.setPlatformStatus.selector;
        s[n + 11] = this.useLocked.selector;
    }

    /// @notice The active reservations, escrows or associations (by the state their units are in).
    function lockIds(UnitState state) external view returns (uint64[] memory) {
        return _lockIds(state);
    }

    function lockOf(uint64 lockId) external view returns (Lock memory) {
        return ghost_locks[lockId];
    }

    // ---------------------------------------------------------------------------------------------
    // Expected outcomes
    // ---------------------------------------------------------------------------------------------

    /// @dev A suspended account, or the custodial account of a suspended platform (frozen on every path).
    function _suspendedError(uint64 accountId) internal view override returns (bytes memory refusal) {
        refusal = super._suspendedError(accountId);
        if (refusal.length == 0) refusal = _platformSuspendedError(_custodianOf[accountId]);
    }

    function _platformSuspendedError(address platform) internal view returns (bytes memory) {
        if (platform == address(0) || !_isSuspended(platform)) return "";
        return abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, platform);
    }

    function _isSuspended(address platform) internal view returns (bool) {
        return _platformsApi().getPlatform(platform).status == PlatformStatus.Suspended;
    }

    /// @dev What an account's representative acting for it meets first: suspension, then a missing
    /// right to initiate.
    function _accountActionError(uint64 accountId, address signer, uint8 rights)
        internal
        view
        returns (bytes memory expected)
    {
        expected = _suspendedError(accountId);
        if (expected.length == 0 && rights & RIGHT_INITIATE == 0) {
            expected = abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, accountId, signer);
        }
    }

    /// @dev Reserving or escrowing for `platform`: the account checks, then the platform's status, then
    /// the consent of the matching scope.
    function _lockPermissionError(
        uint64 accountId,
        address signer,
        uint8 rights,
        address platform,
        ConsentScope scope
    ) internal view returns (bytes memory expected) {
        expected = _accountActionError(accountId, signer, rights);
        if (expected.length == 0) expected = _platformSuspendedError(platform);
        if (expected.length == 0 && _platformsApi().activeConsent(accountId, platform, scope) == 0) {
            expected = abi.encodeWithSelector(IPlatforms.ConsentRequired.selector, accountId, platform, scope);
        }
    }

    /// @dev The administrator overrides; a signer of the escrow's platform decides it while the platform
    /// is active; anyone else is refused.
    function _escrowControlError(uint64 escrowId, Lock storage l, address signer)
        internal
        view
        returns (bytes memory)
    {
        if (signer == adminAddr) return "";
        if (_platformsApi().platformOfSigner(signer) != l.party) {
            return abi.encodeWithSelector(IPlatforms.NotEscrowController.selector, escrowId, signer);
        }
        return _platformSuspendedError(l.party);
    }

    /// @dev Who signs an escrow decision: the escrow's platform five times in eight, else the other
    /// platform, the administrator or the seller's first representative.
    function _escrowDecider(Lock storage l, uint256 seed) internal view returns (uint256) {
        uint256 mine = l.party == PLATFORM_A ? 0 : 1;
        uint256 pick = seed % 8;
        if (pick < 5) return _signerKeys[mine];
        if (pick == 5) return _signerKeys[1 - mine];
        if (pick == 6) return ADMIN_KEY;
        return _holderOf(l.account).keys[0];
    }

    /// @dev The hints for deciding a lock: usually all its blocks. One time in eight all but the last,
    /// which must be refused with LockedQuantityMismatch; one time in eight the last replaced by a block
    /// of another lock, which must be refused with UnitsLocked.
    function _lockHints(uint64 lockId, uint256 seed)
        internal
        view
        returns (uint64[] memory starts, bytes memory refusal)
    {
        Lock storage l = ghost_locks[lockId];
        starts = l.blockStarts;
        uint256 n = starts.length;
        uint256 mode = (seed >> 128) % 8;
        if (mode == 0 && n >= 2) {
            uint64 last = starts[n - 1];
            uint64 missing = blockAt(last).end - last + 1;
            assembly ("memory-safe") {
                mstore(starts, sub(n, 1))
            }
            refusal = abi.encodeWithSelector(
                IRegistryBase.LockedQuantityMismatch.selector, lockId, l.quantity, l.quantity - missing
            );
        } else if (mode == 1) {
            uint64 foreign = _foreignLockedBlock(lockId, seed);
            if (foreign == 0) return (starts, "");
            starts[n - 1] = foreign;
            UnitBlock memory b = blockAt(foreign);
            refusal =
                abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, foreign, b.end, b.state, b.lockId);
        }
    }

    /// @dev The first block of another active lock, or 0.
    function _foreignLockedBlock(uint64 lockId, uint256 seed) internal view returns (uint64) {
        uint64[] storage ids = _lockIds(UnitState(uint8(UnitState.Reserved) + uint8((seed >> 136) % 3)));
        if (ids.length == 0) return 0;
        uint64 other = ids[(seed >> 144) % ids.length];
        if (other == lockId) return 0;
        return ghost_locks[other].blockStarts[0];
    }

    // ---------------------------------------------------------------------------------------------
    // Bookkeeping
    // ---------------------------------------------------------------------------------------------

    function _lockUnits(
        UnitState state,
        uint256 accountSeed,
        uint256 signerSeed,
        uint256 rangeSeed,
        uint256 platformSeed
    ) internal {
        Holder storage holder = _holders[accountSeed % _holders.length];
        (Picked memory picked, bytes memory lockedError) = _pickCoreRanges(holder.id, rangeSeed);
        if (picked.ranges.length == 0) return;
        address platform = _platforms[platformSeed % 4 == 0 ? 1 : 0];
        (bytes memory data, bytes memory expected) = _lockCall(state, holder, signerSeed, platform, picked);
        if (expected.length == 0) expected = lockedError;
        (bool ok, bytes memory ret) =
            _submit(state == UnitState.Reserved ? OP_RESERVE : OP_ESCROW, data, expected);
        if (ok) _recordLock(abi.decode(ret, (uint64)), state, holder.id, platform, picked);
    }

    /// @dev The signed reserve or escrow call for the picked ranges, and its expected refusal.
    function _lockCall(
        UnitState state,
        Holder storage holder,
        uint256 signerSeed,
        address platform,
        Picked memory picked
    ) internal view returns (bytes memory data, bytes memory expected) {
        (uint256 key, uint8 rights) = _pickRepresentative(holder, signerSeed, RIGHT_INITIATE, address(0));
        address signer = vm.addr(key);
        bool reserving = state == UnitState.Reserved;
        expected = _lockPermissionError(
            holder.id, signer, rights, platform, reserving ? ConsentScope.Reserved : ConsentScope.Escrowed
        );
        if (reserving) {
            ReserveRequest memory r = _reserveRequest(signer, holder.id, platform, picked.ranges);
            bytes memory sig = signDigest(key, digestOf(this.hashReserve(r)));
            data = abi.encodeCall(IPlatforms.reserve, (r, sig, picked.hintStarts));
        } else {
            EscrowRequest memory r = _escrowRequest(signer, holder.id, platform, picked.ranges);
            bytes memory sig = signDigest(key, digestOf(this.hashEscrow(r)));
            data = abi.encodeCall(IPlatforms.escrow, (r, sig, picked.hintStarts));
        }
    }

    function _recordLock(
        uint64 lockId,
        UnitState state,
        uint64 accountId,
        address party,
        Picked memory picked
    ) internal {
        uint64 quantity = _applyMoves(picked);
        ghost_units[accountId][uint8(UnitState.Held)] -= quantity;
        ghost_units[accountId][uint8(state)] += quantity;
        Lock storage l = ghost_locks[lockId];
        l.state = state;
        l.account = accountId;
        l.party = party;
        l.quantity = quantity;
        // Each range is now a block of its own.
        for (uint256 i; i < picked.ranges.length; ++i) {
            l.blockStarts.push(picked.ranges[i].start);
        }
        _lockIds(state).push(lockId);
    }

    /// @dev Books the lock's units leaving their locked state for Held in `to`.
    function _unlock(uint64 lockId, uint64 to, UnitState toState) internal {
        Lock storage l = ghost_locks[lockId];
        ghost_units[l.account][uint8(l.state)] -= l.quantity;
        ghost_units[to][uint8(toState)] += l.quantity;
    }

    function _removeLock(uint64[] storage ids, uint256 slot) internal {
        uint64 lockId = ids[slot];
        ids[slot] = ids[ids.length - 1];
        ids.pop();
        delete ghost_locks[lockId];
    }

    function _lockIds(UnitState state) internal view returns (uint64[] storage) {
        if (state == UnitState.Reserved) return ghost_reservationIds;
        if (state == UnitState.Escrowed) return ghost_escrowIds;
        return ghost_associationIds;
    }

    /// @dev New pieces of a reserved, escrowed or associated block belong to its lock.
    function _recordLockedSplit(UnitBlock memory b, uint64 start) internal override {
        if (b.state == UnitState.Reserved || b.state == UnitState.Escrowed || b.state == UnitState.Associated)
        {
            ghost_locks[b.lockId].blockStarts.push(start);
        } else {
            super._recordLockedSplit(b, start);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Requests and hashing
    // ---------------------------------------------------------------------------------------------

    function _platformsApi() internal view returns (IPlatforms) {
        return IPlatforms(address(registry));
    }

    function _grantRequest(uint256 key, uint64 accountId, ConsentScope scope)
        internal
        view
        returns (GrantConsentRequest memory)
    {
        return GrantConsentRequest({
            signer: vm.addr(key),
            accountId: accountId,
            platform: PLATFORM_A,
            scope: scope,
            nonce: nextNonce(vm.addr(key)),
            deadline: deadline()
        });
    }

    function _reserveRequest(address signer, uint64 accountId, address platform, Range[] memory ranges)
        internal
        view
        returns (ReserveRequest memory)
    {
        return ReserveRequest({
            signer: signer,
            accountId: accountId,
            platform: platform,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function _escrowRequest(address signer, uint64 accountId, address platform, Range[] memory ranges)
        internal
        view
        returns (EscrowRequest memory)
    {
        return EscrowRequest({
            signer: signer,
            accountId: accountId,
            platform: platform,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function _reservationDecision(uint256 key, uint64 reservationId)
        internal
        view
        returns (ReservationDecisionRequest memory)
    {
        return ReservationDecisionRequest({
            signer: vm.addr(key),
            reservationId: reservationId,
            nonce: nextNonce(vm.addr(key)),
            deadline: deadline()
        });
    }
}
