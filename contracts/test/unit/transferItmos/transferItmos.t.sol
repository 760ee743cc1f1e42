// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    TransferStatus,
    CancellationPurpose,
    UnitBlock,
    Range,
    TransferDecisionRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    FirstTransferDefinition,
    Article6Action,
    ItmoTransfer,
    TransferItmosRequest
} from "../../../src/libraries/Article6Types.sol";

/// @notice transferItmos: the core's checks, the authorization, the acquiring Party, the single and
/// two-person paths, and the records: Transfer and Acquisition between Parties only, and the first
/// transfer exactly once per unit however the units are split or moved.
/// @dev setUp authorizes [1001, 2000], held by Australia's single-policy account, first transfer at use.
contract TransferItmosTest is Article6Test {
    uint64 internal constant S = 1001;
    uint64 internal constant E = 2000;
    uint64 internal auth;

    function setUp() public override {
        super.setUp();
        issueTo(auSingle, 1000);
        auth = authorize(S, E, S, FirstTransferDefinition.AtUseOrCancellation, BOTH);
    }

    function _prepare(uint64 start, uint64 end, uint64 to)
        internal
        view
        returns (TransferItmosRequest memory r, bytes memory s)
    {
        r = itmoTransferRequest(ar1, auSingle, to, auth, range(start, end));
        s = signTransferItmos(AR1_KEY, r);
    }

    function _expectRefused(
        TransferItmosRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitTransferItmos(r, s, starts);
        assertA6Unchanged(before);
    }

    function _expectRefused(TransferItmosRequest memory r, bytes memory s, bytes memory err) internal {
        _expectRefused(r, s, err, hints(S));
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, chAccount);
        bytes32 before = a6Digest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        a6.transferItmos(r, s, hints(S));
        assertA6Unchanged(before);
    }

    function test_RevertWhen_DestinationAlteredAfterSigning() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, buyer);
        r.toAccount = chAccount;
        address recovered = recoverSigner(digestOf(this.hashTransferItmos(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
    }

    function test_RevertWhen_SignatureReplayed() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, buyer);
        submitTransferItmos(r, s, hints(S));
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1));
    }

    // ---------------------------------------------------------------------------------------------
    // Accounts and rights (the core's checks)
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_SignerNotRepresentative() public {
        TransferItmosRequest memory r = itmoTransferRequest(outsider, auSingle, buyer, auth, range(S, S + 9));
        _expectRefused(
            r,
            signTransferItmos(OUTSIDER_KEY, r),
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, auSingle, outsider)
        );
    }

    function test_RevertWhen_SignerCannotInitiate() public {
        setRepresentative(auSingle, rep(ar3, false, false, true));
        TransferItmosRequest memory r = itmoTransferRequest(ar3, auSingle, buyer, auth, range(S, S + 9));
        _expectRefused(
            r,
            signTransferItmos(AR3_KEY, r),
            abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, auSingle, ar3)
        );
    }

    function test_RevertWhen_SourceSuspended() public {
        setStatus(auSingle, AccountStatus.Suspended);
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, buyer);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, auSingle));
    }

    function test_RevertWhen_SameAccount() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, auSingle);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.SameAccount.selector, auSingle));
    }

    function test_RevertWhen_DestinationNotFound() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, 9_999_999);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 9_999_999));
    }

    function test_RevertWhen_DestinationClosed() public {
        setStatus(chAccount, AccountStatus.Closed);
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, chAccount);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, chAccount));
    }

    function test_RevertWhen_DestinationIsACancellationAccount() public {
        uint64 omge = openKind(AccountKind.OmgeCancellation);
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, omge);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.AccountCannotReceive.selector, omge, AccountKind.OmgeCancellation
            )
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Authorization and Parties
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_AuthorizationNotFound() public {
        TransferItmosRequest memory r = itmoTransferRequest(ar1, auSingle, buyer, 999, range(S, S + 9));
        _expectRefused(
            r,
            signTransferItmos(AR1_KEY, r),
            abi.encodeWithSelector(IArticle6Events.AuthorizationNotFound.selector, 999)
        );
    }

    /// @dev A core transfer id is an operation id too, but not an authorization.
    function test_RevertWhen_IdIsACoreTransfer() public {
        uint64 coreTransfer = initiate(AR1_KEY, seller, buyer, range(1, 10), hints(1));
        TransferItmosRequest memory r =
            itmoTransferRequest(ar1, auSingle, buyer, coreTransfer, range(S, S + 9));
        _expectRefused(
            r,
            signTransferItmos(AR1_KEY, r),
            abi.encodeWithSelector(IArticle6Events.AuthorizationNotFound.selector, coreTransfer)
        );
    }

    function test_RevertWhen_AcquiringPartyNotRegistered() public {
        uint64 nz = openInSection(NZ, ApprovalPolicy.Single, reps1(rep(ar3, true, true, true)));
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, nz);
        _expectRefused(r, s, abi.encodeWithSelector(IArticle6Events.PartyNotFound.selector, NZ));
    }

    function test_RevertWhen_AcquiringPartyNotInApproach() public {
        registerParty("JP", "JP-NR", labeller, address(0));
        uint64 jp = openInSection("JP", ApprovalPolicy.Single, reps1(rep(ar3, true, true, true)));
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, jp);
        _expectRefused(
            r, s, abi.encodeWithSelector(IArticle6Events.PartyNotInApproach.selector, APPROACH, bytes8("JP"))
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Units
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_UnitsNotAuthorized() public {
        issueTo(auSingle, 10);
        TransferItmosRequest memory r = itmoTransferRequest(ar1, auSingle, buyer, auth, range(2001, 2010));
        _expectRefused(
            r,
            signTransferItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 2001, 2010, UnitState.Held, 0),
            hints(2001)
        );
    }

    function test_RevertWhen_UnitsUnderAnotherAuthorization() public {
        issueTo(auSingle, 10);
        uint64 other = authorize(2001, 2010, 2001, FirstTransferDefinition.AtAuthorization, PURPOSE_NDC);
        TransferItmosRequest memory r = itmoTransferRequest(ar1, auSingle, buyer, auth, range(2001, 2010));
        _expectRefused(
            r,
            signTransferItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 2001, 2010, UnitState.Held, other),
            hints(2001)
        );
    }

    function test_RevertWhen_UnitsHeldByAnotherAccount() public {
        transferItmos(AR1_KEY, auSingle, buyer, auth, S, S + 9, S);
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, chAccount);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, auSingle, S, S + 9));
    }

    function test_RevertWhen_UnitsCancelled() public {
        cancelItmos(AR1_KEY, auSingle, auth, S, S + 9, S, CancellationPurpose.NdcUse);
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, chAccount);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, S, S + 9));
    }

    function test_RevertWhen_UnitsPendingInAnItmoTransfer() public {
        uint64 transferId = _pendingFromSeller(1, 10, chAccount);
        TransferItmosRequest memory r = itmoTransferRequest(ar1, seller, buyer, auth, range(1, 10));
        r.authorizationId = a6.getItmoTransfer(transferId).authorizationId;
        _expectRefused(
            r,
            signTransferItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Pending, transferId),
            hints(1)
        );
    }

    function test_RevertWhen_NoRanges() public {
        TransferItmosRequest memory r = itmoTransferRequest(ar1, auSingle, buyer, auth, new Range[](0));
        _expectRefused(
            r,
            signTransferItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256),
            new uint64[](0)
        );
    }

    function test_RevertWhen_HintCountMismatch() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, buyer);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.BlockHintsMismatch.selector, 1, 0), new uint64[](0)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Effects
    // ---------------------------------------------------------------------------------------------

    function test_WhenWithinOneParty_MovesWithoutArticle6Records() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S, S + 99, buyer);
        uint64 expectedId = nextOperationId();
        vm.recordLogs();
        uint64 transferId = submitTransferItmos(r, s, hints(S));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(transferId, expectedId, "transfer id is the next operation id");
        assertBlock(S, S + 99, buyer, UnitState.Held, auth);
        assertBlock(S + 100, E, auSingle, UnitState.Held, auth);
        assertEq(labelsAt(S), ndcBit() | oimpBit(), "labels travel with the units");
        assertEq(_countActions(logs), 0, "no Article 6 action within one section");
        assertEq(_count(logs, IRegistryBase.TransferInitiated.selector), 1, "TransferInitiated");
        assertEq(_count(logs, IRegistryBase.TransferCompleted.selector), 1, "TransferCompleted");
        assertEq(_count(logs, IArticle6Events.ItmoTransferInitiated.selector), 1, "ItmoTransferInitiated");
        assertEq(
            uint256(a6.getItmoTransfer(transferId).status), uint256(TransferStatus.None), "no pending record"
        );
    }

    function test_WhenBetweenParties_RecordsFirstTransferTransferAndAcquisition() public {
        (TransferItmosRequest memory r, bytes memory s) = _prepare(S + 100, S + 199, chAccount);
        vm.recordLogs();
        uint64 transferId = submitTransferItmos(r, s, hints(S));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(S + 100, S + 199, chAccount, UnitState.Held, auth);
        assertEq(labelsAt(S + 100), ndcBit() | oimpBit() | firstTransferredBit(), "first-transferred label");
        assertEq(labelsAt(S), ndcBit() | oimpBit(), "the rest not first transferred");

        ActionRecord[] memory first = actionsOf(logs, Article6Action.FirstTransfer);
        ActionRecord[] memory transfer = actionsOf(logs, Article6Action.Transfer);
        ActionRecord[] memory acquisition = actionsOf(logs, Article6Action.Acquisition);
        assertEq(first.length, 1, "one first transfer");
        assertEq(transfer.length, 1, "one transfer");
        assertEq(acquisition.length, 1, "one acquisition");
        assertAction(first[0], S + 100, S + 199, auSingle, AU, CH);
        assertAction(transfer[0], S + 100, S + 199, auSingle, AU, CH);
        assertAction(acquisition[0], S + 100, S + 199, chAccount, CH, AU);
        assertEq(transfer[0].operationId, transferId, "operation");
        assertEq(transfer[0].authorizationId, auth, "authorization");
    }

    function test_WhenTransferredBackAndForth_FirstTransferIsNotRecordedAgain() public {
        transferItmos(AR1_KEY, auSingle, chAccount, auth, S, S + 99, S);
        vm.recordLogs();
        transferItmos(AR3_KEY, chAccount, auSingle, auth, S, S + 49, S);
        transferItmos(AR1_KEY, auSingle, chAccount, auth, S, S + 49, S);
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(actionsOf(logs, Article6Action.FirstTransfer).length, 0, "no second first transfer");
        ActionRecord[] memory transfers = actionsOf(logs, Article6Action.Transfer);
        assertEq(transfers.length, 2, "two transfers");
        assertAction(transfers[0], S, S + 49, chAccount, CH, AU);
        assertAction(transfers[1], S, S + 49, auSingle, AU, CH);
    }

    function test_WhenFirstTransferedAtAuthorization_TransferRecordsNone() public {
        issueTo(auSingle, 10);
        uint64 early = authorize(2001, 2010, 2001, FirstTransferDefinition.AtAuthorization, PURPOSE_NDC);
        vm.recordLogs();
        transferItmos(AR1_KEY, auSingle, chAccount, early, 2001, 2010, 2001);
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(actionsOf(logs, Article6Action.FirstTransfer).length, 0, "recorded at authorization already");
        assertEq(actionsOf(logs, Article6Action.Transfer).length, 1, "transfer recorded");
    }

    function test_WhenTwoPerson_UnitsArePendingAndNothingIsRecordedYet() public {
        vm.recordLogs();
        uint64 transferId = _pendingFromSeller(1, 10, chAccount);
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(1, 10, seller, UnitState.Pending, transferId);
        ItmoTransfer memory t = a6.getItmoTransfer(transferId);
        assertEq(t.fromAccount, seller, "from");
        assertEq(t.toAccount, chAccount, "to");
        assertEq(t.quantity, 10, "quantity");
        assertEq(uint256(t.status), uint256(TransferStatus.Pending), "pending");
        assertEq(t.initiator, ar1, "initiator");
        assertEq(_countActions(logs), 1, "only the authorization of the setup helper");
        // The core's approval does not know ITMO transfers. It finds no record of its own, but the
        // hinted block is locked by this id, so it refuses the (empty) record as another's (D50).
        TransferDecisionRequest memory d = decisionRequest(ar2, transferId);
        bytes memory ds = signApprove(AR2_KEY, d);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.TransferRecordMismatch.selector, transferId));
        submitApprove(d, ds, hints(1));
    }

    /// @dev Random splits and moves between three accounts of two Parties: the first transfer of every
    /// unit is recorded exactly once, by the authorizing Party, and only for units that have been in
    /// Switzerland's section at some point; the first-transferred label marks exactly those units.
    function testFuzz_firstTransferRecordedOncePerUnit(uint256 seed) public {
        uint8[1000] memory firstTransfers;
        bool[1000] memory crossed;
        vm.recordLogs();
        for (uint256 step; step < 12; ++step) {
            seed = uint256(keccak256(abi.encode(seed, step)));
            uint64 serial = S + uint64(seed % 1000);
            (uint64 blockStart, UnitBlock memory b) = _containing(serial);
            uint64 start = uint64(bound(seed >> 16, blockStart, serial));
            uint64 end = uint64(bound(seed >> 80, serial, b.end));
            uint64 to = _destination(b.account, seed >> 144);
            transferItmos(_keyOf(b.account), b.account, to, auth, start, end, blockStart);
            if (to == chAccount || b.account == chAccount) {
                for (uint64 u = start; u <= end; ++u) {
                    crossed[u - S] = true;
                }
            }
        }
        ActionRecord[] memory firsts = actionsOf(vm.getRecordedLogs(), Article6Action.FirstTransfer);
        for (uint256 i; i < firsts.length; ++i) {
            assertEq(
                bytes32(firsts[i].party), bytes32(AU), "first transferring Party is the authorizing Party"
            );
            for (uint64 u = firsts[i].start; u <= firsts[i].end; ++u) {
                ++firstTransfers[u - S];
            }
        }
        for (uint64 start = S; start <= E;) {
            UnitBlock memory b = blockAt(start);
            bool labelled = labelsAt(start) & firstTransferredBit() != 0;
            for (uint64 u = start; u <= b.end; ++u) {
                assertEq(
                    firstTransfers[u - S], crossed[u - S] ? 1 : 0, "first transfer once per unit that crossed"
                );
                assertEq(labelled, crossed[u - S], "the label marks exactly those units");
            }
            start = b.end + 1;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @dev Authorizes `[start, end]` of the seller's (two-person) units and initiates their ITMO
    /// transfer to `to`; returns the transfer id.
    function _pendingFromSeller(uint64 start, uint64 end, uint64 to) internal returns (uint64) {
        uint64 id = authorize(start, end, 1, FirstTransferDefinition.AtUseOrCancellation, BOTH);
        return transferItmos(AR1_KEY, seller, to, id, start, end, start);
    }

    function _containing(uint64 serial) internal view returns (uint64 start, UnitBlock memory b) {
        start = S;
        b = blockAt(start);
        while (b.end < serial) {
            start = b.end + 1;
            b = blockAt(start);
        }
    }

    function _keyOf(uint64 account) internal view returns (uint256) {
        return account == auSingle ? AR1_KEY : AR3_KEY;
    }

    function _destination(uint64 from, uint256 pick) internal view returns (uint64) {
        uint64[3] memory accounts = [auSingle, buyer, chAccount];
        uint64 to = accounts[pick % 3];
        return to == from ? accounts[(pick + 1) % 3] : to;
    }

    function _count(Cheats.Log[] memory logs, bytes32 topic) internal pure returns (uint256 n) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length > 0 && logs[i].topics[0] == topic) ++n;
        }
    }

    function _countActions(Cheats.Log[] memory logs) internal pure returns (uint256) {
        return _count(logs, IArticle6Events.Article6ActionRecorded.selector);
    }
}
