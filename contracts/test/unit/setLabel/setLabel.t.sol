// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {UnitState, Range, SetLabelRequest} from "../../../src/libraries/RegistryTypes.sol";

/// @notice setLabel: authority, ranges, cancelled units; labels survive splits and transfers.
contract SetLabelTest is UnitTest {
    /// @dev Owned by the labeller.
    uint8 internal ndc;
    /// @dev Owned by the labeller too; a second bit to show labels combine.
    uint8 internal corsia;

    function setUp() public override {
        super.setUp();
        ndc = defineLabel("NDC-eligible");
        corsia = defineLabel("CORSIA-eligible");
    }

    function _prepare(uint8 labelId, bool applied, Range[] memory ranges)
        internal
        view
        returns (SetLabelRequest memory r, bytes memory s)
    {
        r = labelRequest(labelId, applied, ranges);
        s = signSetLabel(LABELLER_KEY, r);
    }

    function _expectRefused(
        SetLabelRequest memory r,
        bytes memory s,
        bytes memory err,
        uint64[] memory starts
    ) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitSetLabel(r, s, starts);
        assertStateUnchanged(before);
    }

    function _bit(uint8 labelId) internal pure returns (uint256) {
        return uint256(1) << labelId;
    }

    // ---------------------------------------------------------------------------------------------
    // Caller, signature, authority
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 10));
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, labeller, role)
        );
        vm.prank(labeller);
        registry.setLabel(r, s, hints(1));
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 10));
        vm.warp(r.deadline + 1);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1),
            hints(1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 10));
        submitSetLabel(r, s, hints(1));
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, labeller, r.nonce + 1), hints(1)
        );
    }

    function test_RevertWhen_AppliedFlagAlteredAfterSigning() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 10));
        r.applied = false;
        address recovered = recoverSigner(digestOf(this.hashSetLabel(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, labeller, recovered), hints(1)
        );
    }

    function test_RevertWhen_LabelNotFound() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(2, true, range(1, 10));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.LabelNotFound.selector, 2), hints(1));
    }

    function test_RevertWhen_LabelIdIsTheLast() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(255, true, range(1, 10));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.LabelNotFound.selector, 255), hints(1));
    }

    function test_RevertWhen_SignerNotLabelAuthority() public {
        uint8 issuerLabel = defineIssuerLabel("Issuer-only");
        (SetLabelRequest memory r, bytes memory s) = _prepare(issuerLabel, true, range(1, 10));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.NotLabelAuthority.selector, issuerLabel, labeller),
            hints(1)
        );
    }

    function test_RevertWhen_AuthorityRoleRevoked() public {
        bytes32 role = registry.LABEL_AUTHORITY_ROLE();
        vm.prank(adminAddr);
        registry.revokeRole(role, labeller);
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.MissingRole.selector, labeller, role), hints(1)
        );
    }

    function test_RevertWhen_AdminSigns() public {
        SetLabelRequest memory r = labelRequest(ndc, true, range(1, 10));
        r.signer = adminAddr;
        r.nonce = nextNonce(adminAddr);
        bytes memory s = signSetLabel(ADMIN_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotLabelAuthority.selector, ndc, adminAddr), hints(1)
        );
    }

    function test_RevertWhen_HolderSigns() public {
        SetLabelRequest memory r = labelRequest(ndc, true, range(1, 10));
        r.signer = ar1;
        r.nonce = nextNonce(ar1);
        bytes memory s = signSetLabel(AR1_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotLabelAuthority.selector, ndc, ar1), hints(1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Ranges and unit states
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_NoRanges() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, new Range[](0));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 0, 256), new uint64[](0)
        );
    }

    function test_RevertWhen_TooManyRanges() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, new Range[](257));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidRangeCount.selector, 257, 256),
            new uint64[](257)
        );
    }

    function test_RevertWhen_HintCountMismatch() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.BlockHintsMismatch.selector, 1, 0), new uint64[](0)
        );
    }

    function test_RevertWhen_StartAfterEnd() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(3, 2));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidRange.selector, 3, 2), hints(1));
    }

    function test_RevertWhen_SerialOutOfBounds() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, type(uint64).max));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.SerialOutOfBounds.selector, type(uint64).max), hints(1)
        );
    }

    function test_RevertWhen_RangeOutsideEveryBlock() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1001, 1001));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.BlockNotFound.selector, 1001), hints(1001));
    }

    function test_RevertWhen_RangeSpansBlocks() public {
        issueTo(seller, 10);
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1000, 1001));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.RangeNotInBlock.selector, 1, 1000, 1000, 1001),
            hints(1)
        );
    }

    function test_RevertWhen_UnitsCancelled() public {
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(2, 3));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 2, 3), hints(1)
        );
    }

    function test_RevertWhen_RemovingFromCancelledUnits() public {
        setLabel(ndc, true, range(1, 10), hints(1));
        cancelUnits(AR1_KEY, seller, range(1, 10), hints(1));
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, false, range(1, 10));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.UnitsAlreadyCancelled.selector, 1, 10), hints(1)
        );
        assertEq(labelsAt(1), _bit(ndc), "a cancelled block keeps its labels");
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenWholeBlock_LabelsWithoutSplit() public {
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, true, range(1, 1000));
        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(labeller, r.nonce, digestOf(this.hashSetLabel(r)));
        vm.expectEmit();
        emit IRegistryBase.LabelChanged(1, 1000, ndc, true);
        submitSetLabel(r, s, hints(1));
        assertBlock(1, 1000, seller, UnitState.Held, 0);
        assertEq(labelsAt(1), _bit(ndc), "labelled");
    }

    function test_WhenSubRange_SplitsAndLabelsOnlyIt() public {
        setLabel(ndc, true, range(101, 200), hints(1));
        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertBlock(101, 200, seller, UnitState.Held, 0);
        assertBlock(201, 1000, seller, UnitState.Held, 0);
        assertEq(labelsAt(1), 0, "before: unlabelled");
        assertEq(labelsAt(101), _bit(ndc), "middle: labelled");
        assertEq(labelsAt(201), 0, "after: unlabelled");
    }

    function test_WhenTwoLabels_TheyCombine() public {
        setLabel(ndc, true, range(1, 1000), hints(1));
        setLabel(corsia, true, range(1, 500), hints(1));
        assertEq(labelsAt(1), _bit(ndc) | _bit(corsia), "both");
        assertEq(labelsAt(501), _bit(ndc), "ndc only");
    }

    function test_WhenRemoved_OnlyThatLabelGoes() public {
        setLabel(ndc, true, range(1, 1000), hints(1));
        setLabel(corsia, true, range(1, 1000), hints(1));
        (SetLabelRequest memory r, bytes memory s) = _prepare(ndc, false, range(401, 600));
        vm.expectEmit();
        emit IRegistryBase.LabelChanged(401, 600, ndc, false);
        submitSetLabel(r, s, hints(1));
        assertEq(labelsAt(1), _bit(ndc) | _bit(corsia), "before kept");
        assertEq(labelsAt(401), _bit(corsia), "middle lost ndc only");
        assertEq(labelsAt(601), _bit(ndc) | _bit(corsia), "after kept");
    }

    function test_WhenRemovingAbsentLabel_NoChange() public {
        setLabel(ndc, false, range(1, 1000), hints(1));
        assertEq(labelsAt(1), 0, "still none");
    }

    function test_WhenUnitsPending_LabelsThem() public {
        uint64 id = initiatePending(101, 200, 1);
        setLabel(ndc, true, range(101, 150), hints(101));
        assertBlock(101, 150, seller, UnitState.Pending, id);
        assertBlock(151, 200, seller, UnitState.Pending, id);
        assertEq(labelsAt(101), _bit(ndc), "pending units labelled");
        // The pending transfer now spans two blocks; both must be named to approve it.
        approve(AR2_KEY, id, hints2(101, 151));
        assertBlock(101, 150, buyer, UnitState.Held, 0);
        assertEq(labelsAt(101), _bit(ndc), "label kept through approval");
        assertEq(labelsAt(151), 0, "unlabelled part stays unlabelled");
    }

    function test_WhenOtherAccountsUnits_LabelsThem() public {
        uint64 id = initiatePending(1, 10, 1);
        approve(AR2_KEY, id, hints(1));
        setLabel(ndc, true, range(1, 10), hints(1));
        assertEq(labelsAt(1), _bit(ndc), "the authority labels whoever holds the units");
    }

    function test_LabelsSurviveSplitsAndTransfers() public {
        // Label [101, 300], then move [151, 250] to the buyer: three labelled pieces.
        setLabel(ndc, true, range(101, 300), hints(1));
        uint64 id = initiatePending(151, 250, 101);
        assertEq(labelsAt(101), _bit(ndc), "[101,150] labelled");
        assertEq(labelsAt(151), _bit(ndc), "[151,250] labelled while pending");
        assertEq(labelsAt(251), _bit(ndc), "[251,300] labelled");
        approve(AR2_KEY, id, hints(151));
        assertBlock(151, 250, buyer, UnitState.Held, 0);
        assertEq(labelsAt(151), _bit(ndc), "[151,250] labelled in the buyer's account");

        // Split the transferred piece again: the buyer moves [200, 210] onward (single policy).
        uint64 third = openBuyerAccount();
        initiate(AR3_KEY, buyer, third, range(200, 210), hints(151));
        assertBlock(151, 199, buyer, UnitState.Held, 0);
        assertBlock(200, 210, third, UnitState.Held, 0);
        assertBlock(211, 250, buyer, UnitState.Held, 0);
        assertEq(labelsAt(151), _bit(ndc), "[151,199] labelled");
        assertEq(labelsAt(200), _bit(ndc), "[200,210] labelled");
        assertEq(labelsAt(211), _bit(ndc), "[211,250] labelled");

        // Unlabelled neighbours stay unlabelled.
        assertEq(labelsAt(1), 0, "[1,100] unlabelled");
        assertEq(labelsAt(301), 0, "[301,1000] unlabelled");

        // Cancellation keeps the labels too.
        uint64 cancellation = cancelUnits(AR3_KEY, third, range(205, 210), hints(200));
        assertBlock(205, 210, third, UnitState.Cancelled, cancellation);
        assertEq(labelsAt(200), _bit(ndc), "[200,204] labelled");
        assertEq(labelsAt(205), _bit(ndc), "[205,210] labelled after cancellation");
    }

    function testFuzz_setLabel_splitsBlock(uint64 start, uint64 length, bool twice) public {
        start = uint64(bound(start, 1, ISSUED));
        length = uint64(bound(length, 1, ISSUED - start + 1));
        uint64 end = start + length - 1;
        setLabel(ndc, true, range(start, end), hints(1));
        if (twice) setLabel(corsia, true, range(start, end), hints(start));

        uint256 expected = twice ? _bit(ndc) | _bit(corsia) : _bit(ndc);
        assertBlock(start, end, seller, UnitState.Held, 0);
        assertEq(labelsAt(start), expected, "range labelled");
        if (start > 1) assertEq(labelsAt(1), 0, "before unlabelled");
        if (end < ISSUED) assertEq(labelsAt(end + 1), 0, "after unlabelled");
    }
}
