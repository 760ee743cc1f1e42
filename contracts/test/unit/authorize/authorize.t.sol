// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    UnitState,
    Range,
    Label,
    CancelRequest,
    InitiateTransferRequest,
    SetLabelRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    Article6Action,
    Authorization,
    AuthorizeRequest
} from "../../../src/libraries/Article6Types.sol";

/// @notice authorize: only the Party's label authority, only units of its section, the letter's terms,
/// the lock and labels it applies (which survive splits and transfers), and the first transfer it
/// records per the Party's definition.
contract AuthorizeTest is Article6Test {
    function _prepare(uint64 start, uint64 end) internal returns (AuthorizeRequest memory r, bytes memory s) {
        r = authorizeRequest(range(start, end), FirstTransferDefinition.AtUseOrCancellation, BOTH);
        s = signAuthorize(LABELLER_KEY, r);
    }

    function _expectRefused(
        AuthorizeRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitAuthorize(r, s, starts);
        assertA6Unchanged(before);
    }

    function _expectRefused(AuthorizeRequest memory r, bytes memory err) internal {
        _expectRefused(r, signAuthorize(LABELLER_KEY, r), err, hints(1));
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(1, 10);
        bytes32 before = a6Digest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, labeller, role)
        );
        vm.prank(labeller);
        a6.authorize(r, s, hints(1));
        assertA6Unchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(1, 10);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1),
            hints(1)
        );
    }

    function test_RevertWhen_RangeAlteredAfterSigning() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(1, 10);
        r.ranges[0].end = 1000;
        address recovered = recoverSigner(digestOf(this.hashAuthorize(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, labeller, recovered), hints(1)
        );
    }

    function test_RevertWhen_DefinitionAlteredAfterSigning() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(1, 10);
        r.firstTransferDefinition = FirstTransferDefinition.AtAuthorization;
        address recovered = recoverSigner(digestOf(this.hashAuthorize(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, labeller, recovered), hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(1, 10);
        submitAuthorize(r, s, hints(1));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, labeller, r.nonce + 1), hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Only the Party's label authority
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_PartyNotFound() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.party = NZ;
        _expectRefused(r, abi.encodeWithSelector(IArticle6Events.PartyNotFound.selector, NZ));
    }

    function test_RevertWhen_SignerIsAnotherPartysLabelAuthority() public {
        AuthorizeRequest memory r =
            authorizeRequest(range(1, 10), FirstTransferDefinition.AtAuthorization, BOTH);
        r.signer = chLabeller;
        r.nonce = nextNonce(chLabeller);
        _expectRefused(
            r,
            signAuthorize(CH_LABELLER_KEY, r),
            abi.encodeWithSelector(IArticle6Events.NotPartyLabelAuthority.selector, AU, chLabeller),
            hints(1)
        );
    }

    function test_RevertWhen_LabelAuthoritySignsForAnotherParty() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.party = CH;
        _expectRefused(
            r, abi.encodeWithSelector(IArticle6Events.NotPartyLabelAuthority.selector, CH, labeller)
        );
    }

    function test_RevertWhen_SignerIsRegistryAdministrator() public {
        AuthorizeRequest memory r =
            authorizeRequest(range(1, 10), FirstTransferDefinition.AtAuthorization, BOTH);
        r.signer = adminAddr;
        r.nonce = nextNonce(adminAddr);
        _expectRefused(
            r,
            signAuthorize(ADMIN_KEY, r),
            abi.encodeWithSelector(IArticle6Events.NotPartyLabelAuthority.selector, AU, adminAddr),
            hints(1)
        );
    }

    function test_RevertWhen_LabelAuthorityRoleRevoked() public {
        bytes32 role = registry.LABEL_AUTHORITY_ROLE();
        vm.prank(adminAddr);
        registry.revokeRole(role, labeller);
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        _expectRefused(
            r, abi.encodeWithSelector(IArticle6Events.NotPartyLabelAuthority.selector, AU, labeller)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // The letter's terms
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_LetterIdZero() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.letterId = bytes32(0);
        _expectRefused(r, abi.encodeWithSelector(IArticle6Events.InvalidLetterId.selector, bytes32(0)));
    }

    function test_RevertWhen_CooperativeApproachNotFound() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.approachId = "NOWHERE";
        _expectRefused(
            r,
            abi.encodeWithSelector(IArticle6Events.CooperativeApproachNotFound.selector, bytes32("NOWHERE"))
        );
    }

    function test_RevertWhen_PartyNotInApproach() public {
        registerApproach("CH-ONLY", parties1(CH));
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.approachId = "CH-ONLY";
        _expectRefused(
            r, abi.encodeWithSelector(IArticle6Events.PartyNotInApproach.selector, bytes32("CH-ONLY"), AU)
        );
    }

    function test_RevertWhen_NoPurpose() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.purposes = 0;
        _expectRefused(r, abi.encodeWithSelector(IArticle6Events.InvalidPurposes.selector, uint8(0)));
    }

    function test_RevertWhen_UnknownPurposeBit() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.purposes = 4 | PURPOSE_NDC;
        _expectRefused(r, abi.encodeWithSelector(IArticle6Events.InvalidPurposes.selector, uint8(5)));
    }

    function test_RevertWhen_FirstTransferDefinitionNone() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.firstTransferDefinition = FirstTransferDefinition.None;
        _expectRefused(
            r,
            abi.encodeWithSelector(
                IArticle6Events.InvalidFirstTransferDefinition.selector, FirstTransferDefinition.None
            )
        );
    }

    function test_RevertWhen_AuthorizationDateZero() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.authorizedAt = 0;
        _expectRefused(
            r, abi.encodeWithSelector(IArticle6Events.InvalidAuthorizationDate.selector, 0, block.timestamp)
        );
    }

    function test_RevertWhen_AuthorizationDateInTheFuture() public {
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        r.authorizedAt = uint64(block.timestamp + 1);
        _expectRefused(
            r,
            abi.encodeWithSelector(
                IArticle6Events.InvalidAuthorizationDate.selector, block.timestamp + 1, block.timestamp
            )
        );
    }

    function test_RevertWhen_LetterRepeatedWithOtherTerms() public {
        (AuthorizeRequest memory first, bytes memory s) = _prepare(1, 10);
        uint64 id = submitAuthorize(first, s, hints(1));
        AuthorizeRequest memory r =
            authorizeRequest(range(11, 20), first.firstTransferDefinition, PURPOSE_NDC);
        r.letterId = first.letterId;
        _expectRefused(
            r,
            signAuthorize(LABELLER_KEY, r),
            abi.encodeWithSelector(IArticle6Events.AuthorizationMismatch.selector, AU, first.letterId, id),
            hints(11)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // The units
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_UnitsInAnotherPartysSection() public {
        (, uint64 start,) = issueFor(PROJECT_2, ACCU, 1, 2, 10);
        // issueFor issues to the seller; move them to Switzerland's account with the core.
        initiate(AR1_KEY, seller, chAccount, range(start, start + 9), hints(start));
        approve(AR2_KEY, nextOperationId() - 1, hints(start));
        (AuthorizeRequest memory r,) = _prepare(start, start + 9);
        _expectRefused(
            r,
            signAuthorize(LABELLER_KEY, r),
            abi.encodeWithSelector(IArticle6Events.UnitsNotInPartySection.selector, chAccount, CH, AU),
            hints(start)
        );
    }

    function test_RevertWhen_UnitsAlreadyAuthorized() public {
        uint64 id = authorize(1, 10, 1, FirstTransferDefinition.AtAuthorization, BOTH);
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        _expectRefused(
            r, abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Held, uint64(id))
        );
    }

    function test_RevertWhen_UnitsPending() public {
        uint64 transferId = initiate(AR1_KEY, seller, buyer, range(1, 10), hints(1));
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        _expectRefused(
            r,
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Pending, transferId)
        );
    }

    function test_RevertWhen_UnitsAlreadyCancelled() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        _expectRefused(r, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 1, 10));
    }

    function test_RevertWhen_HolderSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (AuthorizeRequest memory r,) = _prepare(1, 10);
        _expectRefused(r, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller));
    }

    function test_RevertWhen_NoRanges() public {
        AuthorizeRequest memory r =
            authorizeRequest(new Range[](0), FirstTransferDefinition.AtAuthorization, BOTH);
        _expectRefused(
            r,
            signAuthorize(LABELLER_KEY, r),
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256),
            new uint64[](0)
        );
    }

    function test_RevertWhen_HintCountMismatch() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(1, 10);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.BlockHintsMismatch.selector, 1, 2), hints2(1, 1)
        );
    }

    function test_RevertWhen_HintStartsNoBlock() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(5, 10);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 5), hints(5));
    }

    function test_RevertWhen_RangeOutsideTheBlock() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(995, 1005);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, 1, 1000, 995, 1005), hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Effects
    // ---------------------------------------------------------------------------------------------

    function test_WhenAuthorized_UnitsAreLockedAndLabelled() public {
        (AuthorizeRequest memory r, bytes memory s) = _prepare(101, 200);
        uint64 expectedId = nextOperationId();
        (uint16 labelsBefore) = uint16(counter(4));
        vm.recordLogs();
        uint64 id = submitAuthorize(r, s, hints(1));
        Cheats.Log[] memory logs = vm.getRecordedLogs();

        assertEq(id, expectedId, "authorization id is the next operation id");
        assertEq(nextOperationId(), expectedId + 1, "one operation id used");
        assertEq(counter(4), labelsBefore, "no label defined by an authorization");
        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, seller, UnitState.Held, id);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
        assertEq(labelsAt(101), ndcBit() | oimpBit(), "purpose labels");
        assertEq(labelsAt(1), 0, "head unlabelled");
        assertEq(labelsAt(201), 0, "tail unlabelled");

        Authorization memory a = a6.getAuthorization(id);
        assertEq(bytes32(a.party), bytes32(AU), "party");
        assertEq(a.approachId, APPROACH, "approach");
        assertEq(a.letterId, r.letterId, "letter");
        assertEq(a.purposes, BOTH, "purposes");
        assertEq(uint256(a.firstTransferDefinition), uint256(r.firstTransferDefinition), "definition");
        assertEq(a.authorizedAt, AUTHORIZED_AT, "date");
        assertEq(a6.authorizationOf(AU, r.letterId), id, "letter index");

        ActionRecord[] memory auths = actionsOf(logs, Article6Action.Authorization);
        assertEq(auths.length, 1, "one authorization record");
        assertAction(auths[0], 101, 200, seller, AU, bytes8(0));
        assertEq(auths[0].operationId, id, "operation");
        assertEq(auths[0].authorizationId, id, "authorization");
        assertEq(
            actionsOf(logs, Article6Action.FirstTransfer).length, 0, "no first transfer at authorization"
        );
    }

    function test_WhenOimpOnly_OnlyTheOimpLabel() public {
        uint64 id = authorize(1, 10, 1, FirstTransferDefinition.AtUseOrCancellation, PURPOSE_OIMP);
        assertEq(labelsAt(1), oimpBit(), "OIMP label only");
        assertEq(a6.getAuthorization(id).purposes, PURPOSE_OIMP, "purposes");
    }

    function test_WhenFirstTransferAtAuthorization_RecordsItAtOnce() public {
        _assertFirstTransferAtAuthorization(FirstTransferDefinition.AtAuthorization);
    }

    /// @dev The units exist before they are authorized, so "at issuance" falls on the authorization.
    function test_WhenFirstTransferAtIssuance_RecordsItAtAuthorization() public {
        _assertFirstTransferAtAuthorization(FirstTransferDefinition.AtIssuance);
    }

    function _assertFirstTransferAtAuthorization(FirstTransferDefinition definition) internal {
        AuthorizeRequest memory r = authorizeRequest(range(1, 10), definition, PURPOSE_NDC);
        bytes memory s = signAuthorize(LABELLER_KEY, r);
        vm.recordLogs();
        uint64 id = submitAuthorize(r, s, hints(1));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(labelsAt(1), ndcBit() | firstTransferredBit(), "NDC and first-transferred labels");
        ActionRecord[] memory firsts = actionsOf(logs, Article6Action.FirstTransfer);
        assertEq(firsts.length, 1, "one first transfer");
        assertAction(firsts[0], 1, 10, seller, AU, bytes8(0));
        assertEq(firsts[0].operationId, id, "at the authorization");
    }

    function test_WhenLetterRepeated_AddsUnitsUnderTheSameId() public {
        (AuthorizeRequest memory first, bytes memory s) = _prepare(1, 10);
        uint64 id = submitAuthorize(first, s, hints(1));
        AuthorizeRequest memory again =
            authorizeRequest(range(21, 30), first.firstTransferDefinition, first.purposes);
        again.letterId = first.letterId;
        bytes memory s2 = signAuthorize(LABELLER_KEY, again);
        vm.recordLogs();
        uint64 second = submitAuthorize(again, s2, hints(11));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertEq(second, id, "same authorization id");
        assertBlock(21, 30, seller, UnitState.Held, id);
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(
                logs[i].topics[0] != IArticle6Events.AuthorizationRecorded.selector, "letter recorded twice"
            );
        }
        ActionRecord[] memory auths = actionsOf(logs, Article6Action.Authorization);
        assertEq(auths.length, 1, "the new range is recorded");
        assertEq(auths[0].authorizationId, id, "under the letter's id");
        assertTrue(auths[0].operationId != id, "in an operation of its own");
    }

    function test_WhenSeveralRanges_AuthorizesEach() public {
        AuthorizeRequest memory r =
            authorizeRequest(ranges2(1, 10, 500, 509), FirstTransferDefinition.AtAuthorization, BOTH);
        uint64 id = submitAuthorize(r, signAuthorize(LABELLER_KEY, r), hints2(1, 11));
        assertBlock(1, 10, seller, UnitState.Held, id);
        assertBlock(500, 509, seller, UnitState.Held, id);
        assertBlock(11, 499, seller, UnitState.Held, 0);
    }

    function test_WhenAuthorized_TheCoreRefusesToMoveTheUnits() public {
        uint64 id = authorize(1, 10, 1, FirstTransferDefinition.AtUseOrCancellation, BOTH);
        bytes memory locked =
            abi.encodeWithSelector(IRegistryBase.UnitsLocked.selector, 1, 10, UnitState.Held, id);

        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(1, 10));
        bytes memory ts = signInitiate(AR1_KEY, t);
        vm.expectRevert(locked);
        submitInitiate(t, ts, hints(1));

        CancelRequest memory c = cancelRequest(ar1, seller, range(1, 10));
        bytes memory cs = signCancel(AR1_KEY, c);
        vm.expectRevert(locked);
        submitCancel(c, cs, hints(1));
    }

    function test_WhenAuthorized_TheCoreCannotSetOrClearItsLabels() public {
        authorize(1, 10, 1, FirstTransferDefinition.AtAuthorization, BOTH);
        (uint8 ndc,,,) = a6.article6Labels();
        Label memory label = registry.getLabel(ndc);
        assertEq(label.authority, address(registry), "the registry itself owns the label");
        SetLabelRequest memory clear = labelRequest(ndc, false, range(1, 10));
        bytes memory sig = signSetLabel(LABELLER_KEY, clear);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.NotLabelAuthority.selector, ndc, labeller));
        submitSetLabel(clear, sig, hints(1));
        assertEq(labelsAt(1), ndcBit() | oimpBit() | firstTransferredBit(), "labels unchanged");
    }

    /// @dev The lock and the labels are copied by every split, whichever module causes it: an ITMO
    /// transfer of a middle piece (Pending, then completed), and a core label on another piece.
    function test_WhenBlockSplits_AuthorizationSurvivesOnEveryPiece() public {
        uint64 id = authorize(1, 1000, 1, FirstTransferDefinition.AtUseOrCancellation, BOTH);
        uint256 purposes = ndcBit() | oimpBit();
        uint8 corsia = defineLabel("CORSIA_ELIGIBLE");
        setLabel(corsia, true, range(800, 809), hints(1));
        uint64 transferId = transferItmos(AR1_KEY, seller, auSingle, id, 300, 399, 1);
        assertBlock(1, 299, seller, UnitState.Held, id);
        assertBlock(300, 399, seller, UnitState.Pending, transferId);
        assertBlock(400, 799, seller, UnitState.Held, id);
        assertBlock(800, 809, seller, UnitState.Held, id);
        assertBlock(810, 1000, seller, UnitState.Held, id);
        decideItmo(AR2_KEY, transferId, true, hints(300));
        assertBlock(300, 399, auSingle, UnitState.Held, id);
        assertEq(labelsAt(1), purposes, "head");
        assertEq(labelsAt(300), purposes, "transferred piece");
        assertEq(labelsAt(400), purposes, "middle");
        assertEq(labelsAt(800), purposes | (uint256(1) << corsia), "core-labelled piece");
        assertEq(labelsAt(810), purposes, "tail");
    }

    function testFuzz_authorize_splitsBlock(uint64 start, uint64 length) public {
        start = uint64(bound(start, 1, ISSUED));
        uint64 end = uint64(bound(uint256(start) + length, start, ISSUED));
        uint64 id = authorize(start, end, 1, FirstTransferDefinition.AtUseOrCancellation, PURPOSE_NDC);
        assertBlock(start, end, seller, UnitState.Held, id);
        assertEq(labelsAt(start), ndcBit(), "labelled");
        if (start > 1) assertBlock(1, start - 1, seller, UnitState.Held, 0);
        if (end < ISSUED) assertBlock(end + 1, ISSUED, seller, UnitState.Held, 0);
    }
}
