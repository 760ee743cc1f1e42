// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {IArticle6, IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountKind, AccountStatus, UnitState, Issuance} from "../../../src/libraries/RegistryTypes.sol";
import {
    Article64Share,
    MechanismAccounts,
    Forward,
    IssueArticle64Request
} from "../../../src/libraries/Article6Types.sol";

/// @notice issueArticle64: one signed request issues into the pending account, moves 5% (rounded up) to
/// the share of proceeds, cancels 2% (rounded up) for OMGE and forwards the rest exactly as instructed.
/// @dev The base setUp issued [1, 1000], so every issuance here starts at serial 1001.
contract IssueArticle64Test is Article6Test {
    MechanismAccounts internal m;
    uint64 internal constant FIRST = 1001;

    function setUp() public override {
        super.setUp();
        m = configureMechanism();
        registerProject(PROJECT_2);
    }

    function _prepare(uint64 quantity, Forward[] memory forwards)
        internal
        view
        returns (IssueArticle64Request memory r, bytes memory s)
    {
        r = issue64Request(quantity, forwards);
        s = signIssue64(ISSUER_KEY, r);
    }

    function _expectRefused(IssueArticle64Request memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitIssue64(r, s);
        assertA6Unchanged(before);
    }

    function _expectRefused(uint64 quantity, Forward[] memory forwards, bytes memory err) internal {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(quantity, forwards);
        _expectRefused(r, s, err);
    }

    // ---------------------------------------------------------------------------------------------
    // Worked examples
    // ---------------------------------------------------------------------------------------------

    /// @dev 1000 -> 50 / 20 / 930: [1001, 1050] share of proceeds, [1051, 1070] OMGE, [1071, 2000]
    /// forwarded as 900 to one participant and 30 to another.
    function test_WhenIssued1000_Splits50And20And930() public {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(1000, forwards2(auSingle, 900, buyer, 30));
        uint64 issuanceId = uint64(counter(2));
        uint64 cancellationId = nextOperationId();
        vm.recordLogs();
        (uint64 id, uint64 start, uint64 end) = submitIssue64(r, s);
        Cheats.Log[] memory logs = vm.getRecordedLogs();

        assertEq(id, issuanceId, "issuance id");
        assertEq(start, FIRST, "first serial");
        assertEq(end, 2000, "last serial");
        assertBlock(1001, 1050, m.shareOfProceeds, UnitState.Held, 0);
        assertBlock(1051, 1070, m.omgeCancellation, UnitState.Cancelled, cancellationId);
        assertBlock(1071, 1970, auSingle, UnitState.Held, 0);
        assertBlock(1971, 2000, buyer, UnitState.Held, 0);
        assertEq(blockAt(2001).end, 0, "nothing beyond the issuance");
        assertEq(counter(1), 2001, "next serial");

        Issuance memory issuance = registry.getIssuance(id);
        assertEq(issuance.start, FIRST, "issuance start");
        assertEq(issuance.end, 2000, "issuance end");
        assertEq(bytes32(issuance.originRegistry), bytes32(bytes8("AU")), "origin registry");

        _assertEvents(logs, id, cancellationId, 1000, 50, 20, 930);
        _assertParts(logs, id);
    }

    /// @dev 1001 -> 51 / 21 / 929: [1001, 1051], [1052, 1072], [1073, 2001].
    function test_WhenIssued1001_Splits51And21And929() public {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(1001, forwards1(auSingle, 929));
        uint64 cancellationId = nextOperationId();
        vm.recordLogs();
        (uint64 id,,) = submitIssue64(r, s);
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(1001, 1051, m.shareOfProceeds, UnitState.Held, 0);
        assertBlock(1052, 1072, m.omgeCancellation, UnitState.Cancelled, cancellationId);
        assertBlock(1073, 2001, auSingle, UnitState.Held, 0);
        _assertEvents(logs, id, cancellationId, 1001, 51, 21, 929);
    }

    /// @dev 19 -> 1 / 1 / 17: [1001, 1001], [1002, 1002], [1003, 1019].
    function test_WhenIssued19_Splits1And1And17() public {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(19, forwards1(auSingle, 17));
        uint64 cancellationId = nextOperationId();
        vm.recordLogs();
        (uint64 id,,) = submitIssue64(r, s);
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(1001, 1001, m.shareOfProceeds, UnitState.Held, 0);
        assertBlock(1002, 1002, m.omgeCancellation, UnitState.Cancelled, cancellationId);
        assertBlock(1003, 1019, auSingle, UnitState.Held, 0);
        _assertEvents(logs, id, cancellationId, 19, 1, 1, 17);
    }

    /// @dev Two units are the smallest issuance: one to each share, nothing forwarded.
    function test_WhenIssued2_NothingIsForwarded() public {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(2, new Forward[](0));
        submitIssue64(r, s);
        assertBlock(1001, 1001, m.shareOfProceeds, UnitState.Held, 0);
        assertBlock(1002, 1002, m.omgeCancellation, UnitState.Cancelled, nextOperationId() - 1);
    }

    function test_SharesViewMatchesTheExamples() public view {
        _assertShares(1000, 50, 20, 930);
        _assertShares(1001, 51, 21, 929);
        _assertShares(19, 1, 1, 17);
        _assertShares(2, 1, 1, 0);
        _assertShares(100, 5, 2, 93);
        _assertShares(101, 6, 3, 92);
    }

    function test_RevertWhen_SharesViewAskedForOneUnit() public {
        vm.expectRevert(abi.encodeWithSelector(IArticle6Events.IssuanceTooSmall.selector, 1, 1, 1));
        a6.article64Shares(1);
    }

    /// @dev Each share is the least whole number at or above its percentage.
    function testFuzz_shares_roundUpToTheLeastWholeUnit(uint64 quantity) public view {
        quantity = uint64(bound(quantity, 2, MAX_SERIAL));
        (uint64 sop, uint64 omge, uint64 rest) = a6.article64Shares(quantity);
        uint256 q = quantity;
        assertTrue(uint256(sop) * 100 >= q * 5, "share of proceeds at least 5%");
        assertTrue((uint256(sop) - 1) * 100 < q * 5, "share of proceeds the least such");
        assertTrue(uint256(omge) * 100 >= q * 2, "OMGE at least 2%");
        assertTrue((uint256(omge) - 1) * 100 < q * 2, "OMGE the least such");
        assertEq(uint256(sop) + omge + rest, q, "parts add up");
    }

    function testFuzz_issueArticle64_partitionsTheIssuance(uint64 quantity, uint64 split) public {
        quantity = uint64(bound(quantity, 2, 1e15));
        (uint64 sop, uint64 omge, uint64 rest) = a6.article64Shares(quantity);
        Forward[] memory forwards;
        if (rest == 0) {
            forwards = new Forward[](0);
        } else if (rest == 1) {
            forwards = forwards1(auSingle, 1);
        } else {
            uint64 first = uint64(bound(split, 1, rest - 1));
            forwards = forwards2(auSingle, first, buyer, rest - first);
        }
        (IssueArticle64Request memory r, bytes memory s) = _prepare(quantity, forwards);
        submitIssue64(r, s);
        uint64 cursor = FIRST;
        assertBlock(cursor, cursor + sop - 1, m.shareOfProceeds, UnitState.Held, 0);
        cursor += sop;
        assertBlock(cursor, cursor + omge - 1, m.omgeCancellation, UnitState.Cancelled, nextOperationId() - 1);
        cursor += omge;
        for (uint256 i; i < forwards.length; ++i) {
            assertBlock(cursor, cursor + forwards[i].quantity - 1, forwards[i].accountId, UnitState.Held, 0);
            cursor += forwards[i].quantity;
        }
        assertEq(cursor, FIRST + quantity, "the parts cover the issuance exactly");
    }

    // ---------------------------------------------------------------------------------------------
    // Refusals
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(1000, forwards1(auSingle, 930));
        bytes32 before = a6Digest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, role)
        );
        vm.prank(issuer);
        a6.issueArticle64(r, s);
        assertA6Unchanged(before);
    }

    function test_RevertWhen_ForwardAlteredAfterSigning() public {
        (IssueArticle64Request memory r, bytes memory s) = _prepare(1000, forwards1(auSingle, 930));
        r.forwards[0].accountId = buyer;
        address recovered = recoverSigner(digestOf(this.hashIssueArticle64(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, issuer, recovered));
    }

    function test_RevertWhen_SignerNotIssuer() public {
        IssueArticle64Request memory r = issue64Request(1000, forwards1(auSingle, 930));
        r.signer = adminAddr;
        r.nonce = nextNonce(adminAddr);
        bytes32 role = registry.ISSUER_ROLE();
        _expectRefused(
            r,
            signIssue64(ADMIN_KEY, r),
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, adminAddr, role)
        );
    }

    function test_RevertWhen_MechanismNotConfigured() public {
        // A fresh registry with this test's actors and project but no mechanism accounts.
        setUpRegistry();
        a6 = IArticle6(address(registry));
        registerProject(PROJECT_2);
        (IssueArticle64Request memory r, bytes memory s) = _prepare(1000, forwards1(1, 930));
        vm.expectRevert(abi.encodeWithSelector(IArticle6Events.MechanismNotConfigured.selector));
        submitIssue64(r, s);
    }

    function test_RevertWhen_ProjectNotFound() public {
        (IssueArticle64Request memory r,) = _prepare(1000, forwards1(auSingle, 930));
        r.projectId = "ERF999999";
        _expectRefused(
            r,
            signIssue64(ISSUER_KEY, r),
            abi.encodeWithSelector(IRegistryBase.ProjectNotFound.selector, bytes32("ERF999999"))
        );
    }

    function test_RevertWhen_QuantityZero() public {
        _expectRefused(0, new Forward[](0), abi.encodeWithSelector(IRegistryBase.InvalidQuantity.selector, 0));
    }

    function test_RevertWhen_QuantityOne() public {
        _expectRefused(
            1, new Forward[](0), abi.encodeWithSelector(IArticle6Events.IssuanceTooSmall.selector, 1, 1, 1)
        );
    }

    function test_RevertWhen_NoForwardWhileUnitsRemain() public {
        _expectRefused(
            1000,
            new Forward[](0),
            abi.encodeWithSelector(IArticle6Events.InvalidForwardCount.selector, 0, 256)
        );
    }

    function test_RevertWhen_TooManyForwards() public {
        Forward[] memory forwards = new Forward[](257);
        for (uint256 i; i < forwards.length; ++i) {
            forwards[i] = Forward(auSingle, 1);
        }
        _expectRefused(
            1000, forwards, abi.encodeWithSelector(IArticle6Events.InvalidForwardCount.selector, 257, 256)
        );
    }

    function test_RevertWhen_ForwardsFallShort() public {
        _expectRefused(
            1000,
            forwards2(auSingle, 900, buyer, 29),
            abi.encodeWithSelector(IArticle6Events.ForwardedQuantityMismatch.selector, 930, 929)
        );
    }

    function test_RevertWhen_ForwardsExceedTheRemainder() public {
        _expectRefused(
            1000,
            forwards2(auSingle, 900, buyer, 31),
            abi.encodeWithSelector(IArticle6Events.ForwardedQuantityMismatch.selector, 930, 931)
        );
    }

    function test_RevertWhen_ForwardOfZero() public {
        _expectRefused(
            1000,
            forwards2(auSingle, 930, buyer, 0),
            abi.encodeWithSelector(IRegistryBase.InvalidQuantity.selector, 0)
        );
    }

    function test_RevertWhen_ForwardToThePendingAccount() public {
        _expectRefused(
            1000,
            forwards1(m.pending, 930),
            abi.encodeWithSelector(IRegistryBase.SameAccount.selector, m.pending)
        );
    }

    function test_RevertWhen_ForwardToACancellationAccount() public {
        _expectRefused(
            1000,
            forwards1(m.omgeCancellation, 930),
            abi.encodeWithSelector(
                IRegistryBase.AccountCannotReceive.selector, m.omgeCancellation, AccountKind.OmgeCancellation
            )
        );
    }

    function test_RevertWhen_ForwardToUnknownAccount() public {
        _expectRefused(
            1000,
            forwards1(9_999_999, 930),
            abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 9_999_999)
        );
    }

    function test_RevertWhen_ForwardToSuspendedAccount() public {
        setStatus(auSingle, AccountStatus.Suspended);
        _expectRefused(
            1000,
            forwards1(auSingle, 930),
            abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, auSingle)
        );
    }

    function test_RevertWhen_PendingAccountSuspended() public {
        setStatus(m.pending, AccountStatus.Suspended);
        _expectRefused(
            1000,
            forwards1(auSingle, 930),
            abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, m.pending)
        );
    }

    function test_RevertWhen_ShareOfProceedsAccountClosed() public {
        setStatus(m.shareOfProceeds, AccountStatus.Closed);
        _expectRefused(
            1000,
            forwards1(auSingle, 930),
            abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, m.shareOfProceeds)
        );
    }

    function test_RevertWhen_OmgeAccountSuspended() public {
        setStatus(m.omgeCancellation, AccountStatus.Suspended);
        _expectRefused(
            1000,
            forwards1(auSingle, 930),
            abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, m.omgeCancellation)
        );
    }

    function test_RevertWhen_MonitoringPeriodOverlaps() public {
        (IssueArticle64Request memory first, bytes memory s) = _prepare(1000, forwards1(auSingle, 930));
        submitIssue64(first, s);
        _expectRefused(
            1000,
            forwards1(auSingle, 930),
            abi.encodeWithSelector(
                IRegistryBase.MonitoringPeriodOverlap.selector,
                PROJECT_2,
                bytes32("A6.4ER"),
                first.monitoringStart,
                first.monitoringEnd
            )
        );
    }

    function test_RevertWhen_SerialSpaceExhausted() public {
        uint64 quantity = MAX_SERIAL - FIRST + 1;
        (,, uint64 rest) = a6.article64Shares(quantity);
        _expectRefused(
            quantity,
            forwards1(auSingle, rest),
            abi.encodeWithSelector(IRegistryBase.SerialSpaceExhausted.selector, FIRST, quantity)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _assertShares(uint64 quantity, uint64 sop, uint64 omge, uint64 rest) internal view {
        (uint64 a, uint64 b, uint64 c) = a6.article64Shares(quantity);
        assertEq(a, sop, "share of proceeds");
        assertEq(b, omge, "OMGE");
        assertEq(c, rest, "forwarded");
    }

    /// @dev UnitsIssued into the pending account for the whole block; UnitsCancelled for the OMGE share
    /// in the OMGE account with purpose Omge; Article64Issued with the three figures.
    function _assertEvents(
        Cheats.Log[] memory logs,
        uint64 issuanceId,
        uint64 cancellationId,
        uint64 quantity,
        uint64 sop,
        uint64 omge,
        uint64 rest
    ) internal view {
        bytes memory cancelledData = abi.encode(uint8(2), omge, "", "");
        bytes memory summaryData = abi.encode(m.pending, quantity, sop, omge, rest);
        bool issued;
        bool cancelled;
        bool summary;
        for (uint256 i; i < logs.length; ++i) {
            bytes32 topic = logs[i].topics[0];
            if (topic == IRegistryBase.UnitsIssued.selector) {
                assertEq(uint256(logs[i].topics[3]), m.pending, "issued into the pending account");
                assertEq(_issuedQuantity(logs[i].data), quantity, "whole quantity issued");
                issued = true;
            } else if (topic == IRegistryBase.UnitsCancelled.selector) {
                assertEq(uint256(logs[i].topics[1]), cancellationId, "cancellation id");
                assertEq(uint256(logs[i].topics[2]), m.omgeCancellation, "in the OMGE account");
                assertEq(keccak256(logs[i].data), keccak256(cancelledData), "purpose Omge, OMGE quantity");
                cancelled = true;
            } else if (topic == IArticle6Events.Article64Issued.selector) {
                assertEq(uint256(logs[i].topics[1]), issuanceId, "issuance");
                assertEq(uint256(logs[i].topics[2]), cancellationId, "OMGE cancellation");
                assertEq(
                    keccak256(logs[i].data), keccak256(summaryData), "pending account and the three parts"
                );
                summary = true;
            }
        }
        assertTrue(issued && cancelled && summary, "UnitsIssued, UnitsCancelled and Article64Issued emitted");
    }

    function _issuedQuantity(bytes memory data) internal pure returns (uint64) {
        (,,,,, uint64 start, uint64 end) =
            abi.decode(data, (bytes32, uint16, uint64, uint64, bytes8, uint64, uint64));
        return end - start + 1;
    }

    /// @dev One Article64Distributed and one BlockChanged per part, in serial order.
    function _assertParts(Cheats.Log[] memory logs, uint64 issuanceId) internal view {
        uint64[4] memory starts = [uint64(1001), 1051, 1071, 1971];
        uint64[4] memory ends = [uint64(1050), 1070, 1970, 2000];
        uint64[4] memory accounts = [m.shareOfProceeds, m.omgeCancellation, auSingle, buyer];
        Article64Share[4] memory shares = [
            Article64Share.ShareOfProceeds,
            Article64Share.Omge,
            Article64Share.Forwarded,
            Article64Share.Forwarded
        ];
        uint256 parts;
        uint256 changes;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IArticle6Events.Article64Distributed.selector) {
                assertEq(uint256(logs[i].topics[1]), issuanceId, "part issuance");
                assertEq(uint256(logs[i].topics[2]), uint256(shares[parts]), "part share");
                assertEq(uint256(logs[i].topics[3]), accounts[parts], "part account");
                (uint64 start, uint64 end) = abi.decode(logs[i].data, (uint64, uint64));
                assertEq(start, starts[parts], "part start");
                assertEq(end, ends[parts], "part end");
                ++parts;
            } else if (logs[i].topics[0] == IRegistryBase.BlockChanged.selector) {
                ++changes;
            }
        }
        assertEq(parts, 4, "four parts");
        assertEq(changes, 5, "one BlockChanged at issuance and one per part");
    }
}
