// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountStatus, UnitState, CancellationPurpose, Range} from "../../../src/libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    Article6Action,
    ItmoIdentifier,
    CancelItmosRequest
} from "../../../src/libraries/Article6Types.sol";

/// @notice cancelItmos: use towards an NDC, use for OIMP, voluntary and OMGE cancellation of authorized
/// units, each recorded per range; the purpose must be authorized; the first transfer at use is recorded
/// once, before the units are cancelled.
/// @dev setUp authorizes [1001, 2000] held by Australia's single-policy account, first transfer at use.
contract CancelItmosTest is Article6Test {
    uint64 internal constant S = 1001;
    uint64 internal constant E = 2000;
    uint64 internal auth;

    function setUp() public override {
        super.setUp();
        issueTo(auSingle, 1000);
        auth = authorize(S, E, S, FirstTransferDefinition.AtUseOrCancellation, BOTH);
    }

    function _prepare(uint64 start, uint64 end, CancellationPurpose purpose)
        internal
        view
        returns (CancelItmosRequest memory r, bytes memory s)
    {
        r = cancelItmosRequest(ar1, auSingle, auth, range(start, end), purpose);
        s = signCancelItmos(AR1_KEY, r);
    }

    function _expectRefused(
        CancelItmosRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitCancelItmos(r, s, starts);
        assertA6Unchanged(before);
    }

    function _expectRefused(CancelItmosRequest memory r, bytes memory s, bytes memory err) internal {
        _expectRefused(r, s, err, hints(S));
    }

    // ---------------------------------------------------------------------------------------------
    // Refusals
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, CancellationPurpose.NdcUse);
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        a6.cancelItmos(r, s, hints(S));
    }

    function test_RevertWhen_PurposeAlteredAfterSigning() public {
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, CancellationPurpose.Voluntary);
        r.purpose = CancellationPurpose.NdcUse;
        address recovered = recoverSigner(digestOf(this.hashCancelItmos(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, ar1, recovered));
    }

    function test_RevertWhen_SignatureReplayed() public {
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, CancellationPurpose.NdcUse);
        submitCancelItmos(r, s, hints(S));
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, r.nonce + 1));
    }

    function test_RevertWhen_SignerNotRepresentative() public {
        CancelItmosRequest memory r =
            cancelItmosRequest(outsider, auSingle, auth, range(S, S + 9), CancellationPurpose.NdcUse);
        _expectRefused(
            r,
            signCancelItmos(OUTSIDER_KEY, r),
            abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, auSingle, outsider)
        );
    }

    function test_RevertWhen_SignerCannotInitiate() public {
        setRepresentative(auSingle, rep(ar3, false, false, true));
        CancelItmosRequest memory r =
            cancelItmosRequest(ar3, auSingle, auth, range(S, S + 9), CancellationPurpose.NdcUse);
        _expectRefused(
            r,
            signCancelItmos(AR3_KEY, r),
            abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, auSingle, ar3)
        );
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(auSingle, AccountStatus.Suspended);
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, CancellationPurpose.NdcUse);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, auSingle));
    }

    function test_RevertWhen_AccountNotFound() public {
        CancelItmosRequest memory r =
            cancelItmosRequest(ar1, 9_999_999, auth, range(S, S + 9), CancellationPurpose.NdcUse);
        _expectRefused(
            r,
            signCancelItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 9_999_999)
        );
    }

    function test_RevertWhen_AuthorizationNotFound() public {
        CancelItmosRequest memory r =
            cancelItmosRequest(ar1, auSingle, 999, range(S, S + 9), CancellationPurpose.NdcUse);
        _expectRefused(
            r,
            signCancelItmos(AR1_KEY, r),
            abi.encodeWithSelector(IArticle6Events.AuthorizationNotFound.selector, 999)
        );
    }

    function test_RevertWhen_NdcUseNotAuthorized() public {
        issueTo(auSingle, 10);
        uint64 oimpOnly =
            authorize(2001, 2010, 2001, FirstTransferDefinition.AtUseOrCancellation, PURPOSE_OIMP);
        CancelItmosRequest memory r =
            cancelItmosRequest(ar1, auSingle, oimpOnly, range(2001, 2010), CancellationPurpose.NdcUse);
        _expectRefused(
            r,
            signCancelItmos(AR1_KEY, r),
            abi.encodeWithSelector(
                IArticle6Events.PurposeNotAuthorized.selector, oimpOnly, CancellationPurpose.NdcUse
            ),
            hints(2001)
        );
    }

    function test_RevertWhen_OimpUseNotAuthorized() public {
        issueTo(auSingle, 10);
        uint64 ndcOnly = authorize(2001, 2010, 2001, FirstTransferDefinition.AtUseOrCancellation, PURPOSE_NDC);
        CancelItmosRequest memory r =
            cancelItmosRequest(ar1, auSingle, ndcOnly, range(2001, 2010), CancellationPurpose.Oimp);
        _expectRefused(
            r,
            signCancelItmos(AR1_KEY, r),
            abi.encodeWithSelector(
                IArticle6Events.PurposeNotAuthorized.selector, ndcOnly, CancellationPurpose.Oimp
            ),
            hints(2001)
        );
    }

    function test_RevertWhen_UnitsNotAuthorized() public {
        (CancelItmosRequest memory r,) = _prepare(1, 10, CancellationPurpose.NdcUse);
        r.accountId = seller;
        _expectRefused(
            r,
            signCancelItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Held, 0),
            hints(1)
        );
    }

    function test_RevertWhen_UnitsHeldByAnotherAccount() public {
        transferItmos(AR1_KEY, auSingle, buyer, auth, S, S + 9, S);
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, CancellationPurpose.NdcUse);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, auSingle, S, S + 9));
    }

    function test_RevertWhen_UnitsAlreadyCancelled() public {
        cancelItmos(AR1_KEY, auSingle, auth, S, S + 9, S, CancellationPurpose.NdcUse);
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, S + 9, CancellationPurpose.Voluntary);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, S, S + 9));
    }

    function test_RevertWhen_RangeOutsideTheBlock() public {
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S, E + 1, CancellationPurpose.NdcUse);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, S, E, S, E + 1));
    }

    function test_RevertWhen_NoRanges() public {
        CancelItmosRequest memory r =
            cancelItmosRequest(ar1, auSingle, auth, new Range[](0), CancellationPurpose.NdcUse);
        _expectRefused(
            r,
            signCancelItmos(AR1_KEY, r),
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256),
            new uint64[](0)
        );
    }

    function test_RevertWhen_TheCoreCancelsAuthorizedUnits() public {
        bytes32 before = a6Digest();
        vm.expectRevert(
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, S, S + 9, UnitState.Held, auth)
        );
        this.coreCancel(S, S + 9);
        assertA6Unchanged(before);
    }

    function coreCancel(uint64 start, uint64 end) external {
        cancelUnits(AR1_KEY, auSingle, range(start, end), hints(S));
    }

    // ---------------------------------------------------------------------------------------------
    // Effects
    // ---------------------------------------------------------------------------------------------

    function test_WhenUsedTowardsNdc_RecordsFirstTransferThenUse() public {
        _assertUse(CancellationPurpose.NdcUse, Article6Action.UseTowardsNdc);
    }

    function test_WhenUsedForOimp_RecordsFirstTransferThenUse() public {
        _assertUse(CancellationPurpose.Oimp, Article6Action.UseForOimp);
    }

    function test_WhenCancelledVoluntarily_RecordsFirstTransferThenCancellation() public {
        _assertUse(CancellationPurpose.Voluntary, Article6Action.VoluntaryCancellation);
    }

    function test_WhenCancelledForOmge_RecordsFirstTransferThenOmge() public {
        _assertUse(CancellationPurpose.Omge, Article6Action.OmgeCancellation);
    }

    function test_WhenUsedAfterAnInternationalTransfer_NoSecondFirstTransfer() public {
        transferItmos(AR1_KEY, auSingle, chAccount, auth, S, S + 99, S);
        CancelItmosRequest memory r =
            cancelItmosRequest(ar3, chAccount, auth, range(S, S + 49), CancellationPurpose.NdcUse);
        bytes memory s = signCancelItmos(AR3_KEY, r);
        vm.recordLogs();
        uint64 id = submitCancelItmos(r, s, hints(S));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(actionsOf(logs, Article6Action.FirstTransfer).length, 0, "first transfer recorded already");
        ActionRecord[] memory uses = actionsOf(logs, Article6Action.UseTowardsNdc);
        assertEq(uses.length, 1, "one use");
        assertAction(uses[0], S, S + 49, chAccount, CH, bytes8(0));
        assertEq(uses[0].operationId, id, "under the cancellation id");
        assertBlock(S, S + 49, chAccount, UnitState.Cancelled, id);
    }

    function test_WhenSeveralRanges_RecordsEach() public {
        CancelItmosRequest memory r = cancelItmosRequest(
            ar1, auSingle, auth, ranges2(S, S + 9, S + 500, S + 509), CancellationPurpose.NdcUse
        );
        bytes memory s = signCancelItmos(AR1_KEY, r);
        vm.recordLogs();
        uint64 id = submitCancelItmos(r, s, hints2(S, S + 10));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(actionsOf(logs, Article6Action.UseTowardsNdc).length, 2, "one use per range");
        assertEq(actionsOf(logs, Article6Action.FirstTransfer).length, 2, "one first transfer per range");
        assertBlock(S + 500, S + 509, auSingle, UnitState.Cancelled, id);
    }

    function test_WhenCancelled_IdentifierStillAnswers() public {
        uint64 id = cancelItmos(AR1_KEY, auSingle, auth, S + 10, S + 19, S, CancellationPurpose.NdcUse);
        ItmoIdentifier memory itmo = a6.itmoIdentifier(S + 10);
        assertEq(itmo.authorizationId, auth, "authorization of a cancelled block");
        assertEq(itmo.start, S + 10, "start");
        assertEq(itmo.end, S + 19, "end");
        assertTrue(itmo.firstTransferred, "first transferred at use");
        assertBlock(S + 10, S + 19, auSingle, UnitState.Cancelled, id);
    }

    function _assertUse(CancellationPurpose purpose, Article6Action action) internal {
        (CancelItmosRequest memory r, bytes memory s) = _prepare(S + 100, S + 199, purpose);
        uint64 expectedId = nextOperationId();
        vm.recordLogs();
        uint64 id = submitCancelItmos(r, s, hints(S));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(id, expectedId, "cancellation id is the next operation id");
        assertBlock(S, S + 99, auSingle, UnitState.Held, auth);
        assertBlock(S + 100, S + 199, auSingle, UnitState.Cancelled, id);
        assertBlock(S + 200, E, auSingle, UnitState.Held, auth);
        assertEq(labelsAt(S + 100), ndcBit() | oimpBit() | firstTransferredBit(), "first transferred");
        assertEq(labelsAt(S + 200), ndcBit() | oimpBit(), "the rest not first transferred");

        ActionRecord[] memory first = actionsOf(logs, Article6Action.FirstTransfer);
        ActionRecord[] memory uses = actionsOf(logs, action);
        assertEq(first.length, 1, "one first transfer");
        assertEq(uses.length, 1, "one use");
        assertAction(first[0], S + 100, S + 199, auSingle, AU, bytes8(0));
        assertAction(uses[0], S + 100, S + 199, auSingle, AU, bytes8(0));
        assertEq(first[0].operationId, id, "first transfer at the cancellation");

        // The label is set before the units are cancelled: LabelChanged precedes their BlockChanged.
        uint256 labelAt;
        uint256 cancelledAt;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IRegistryBase.LabelChanged.selector) labelAt = i;
            if (logs[i].topics[0] == IRegistryBase.BlockChanged.selector) cancelledAt = i;
            if (logs[i].topics[0] == IRegistryBase.UnitsCancelled.selector) {
                assertEq(uint256(logs[i].topics[1]), id, "UnitsCancelled id");
                (CancellationPurpose p, uint64 q,,) =
                    abi.decode(logs[i].data, (CancellationPurpose, uint64, string, string));
                assertEq(uint256(p), uint256(purpose), "UnitsCancelled purpose");
                assertEq(q, 100, "UnitsCancelled quantity");
            }
        }
        assertTrue(labelAt < cancelledAt, "labelled before cancelled");
    }
}
