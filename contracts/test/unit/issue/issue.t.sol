// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountKind,
    AccountStatus,
    UnitState,
    Issuance,
    IssueRequest,
    InitiateTransferRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice issue: issuer role, project, destination, the double-issuance guard, labels, serial space.
/// @dev The base setUp issued [1, 1000] for PROJECT / ACCU. Tests of the guard use PROJECT_2 with
/// periods of their own.
contract IssueTest is UnitTest {
    uint64 internal constant DAY = 1 days;
    bytes32 internal constant UNKNOWN_PROJECT = "ERF999999";
    bytes8 internal constant CH = "CH";
    /// @dev Monitoring period of the PROJECT_2 issuance made in setUp: days 100..200 (inclusive).
    uint64 internal constant A = 100 * DAY;
    uint64 internal constant B = 200 * DAY;

    function setUp() public override {
        super.setUp();
        registerProject(PROJECT_2);
        _issueP2(A, B, 10);
    }

    function _request(uint64 quantity) internal view returns (IssueRequest memory r) {
        r = issueRequest(quantity, seller, 1000 * DAY, 1100 * DAY);
        r.projectId = PROJECT_2;
    }

    function _prepare(uint64 quantity) internal view returns (IssueRequest memory r, bytes memory s) {
        r = _request(quantity);
        s = signIssue(ISSUER_KEY, r);
    }

    function _prepareP2(uint64 periodStart, uint64 periodEnd)
        internal
        view
        returns (IssueRequest memory r, bytes memory s)
    {
        r = _request(10);
        r.monitoringStart = periodStart;
        r.monitoringEnd = periodEnd;
        s = signIssue(ISSUER_KEY, r);
    }

    function _issueP2(uint64 periodStart, uint64 periodEnd, uint64 quantity) internal returns (uint64 start) {
        (, start,) = issueFor(PROJECT_2, ACCU, periodStart, periodEnd, quantity);
    }

    function _expectRefused(IssueRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitIssue(r, s);
        assertStateUnchanged(before);
    }

    function _overlap(uint64 existingStart, uint64 existingEnd) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(
            IRegistryBase.MonitoringPeriodOverlap.selector, PROJECT_2, ACCU, existingStart, existingEnd
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Caller, signature, role
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, role)
        );
        vm.prank(issuer);
        admin.issue(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        submitIssue(r, s);
        // The replay fails on the nonce before the guard would see the repeated monitoring period.
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, issuer, r.nonce + 1));
    }

    function test_RevertWhen_QuantityAlteredAfterSigning() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        r.quantity = 10_000;
        address recovered = recoverSigner(digestOf(this.hashIssue(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, issuer, recovered));
    }

    function test_RevertWhen_SignedForAnotherChain() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        bytes32 structHash = this.hashIssue(r);
        vm.chainId(31_338);
        address recovered = recoverSigner(digestOf(structHash), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, issuer, recovered));
    }

    function test_RevertWhen_SignedForAnotherContract() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        UnitRegistry other = deployOtherRegistry();
        address recovered = recoverSigner(digestFor(address(other), this.hashIssue(r)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, issuer, recovered));
        vm.prank(relayer);
        IAdministration(address(other)).issue(r, s);
    }

    function test_RevertWhen_SignatureMalleable() public {
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        (bytes memory twin, bytes32 sHigh) = highS(s);
        _expectRefused(r, twin, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, sHigh));
    }

    function test_RevertWhen_SignerNotIssuer() public {
        IssueRequest memory r = _request(10);
        r.signer = adminAddr;
        r.nonce = nextNonce(adminAddr);
        bytes memory s = signIssue(ADMIN_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, adminAddr, registry.ISSUER_ROLE())
        );
    }

    function test_RevertWhen_IssuerRoleRevoked() public {
        bytes32 role = registry.ISSUER_ROLE();
        vm.prank(adminAddr);
        registry.revokeRole(role, issuer);
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.MissingRole.selector, issuer, role));
    }

    // ---------------------------------------------------------------------------------------------
    // Project and destination
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_ProjectNotFound() public {
        IssueRequest memory r = _request(10);
        r.projectId = UNKNOWN_PROJECT;
        bytes memory s = signIssue(ISSUER_KEY, r);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.ProjectNotFound.selector, UNKNOWN_PROJECT));
    }

    function test_RevertWhen_AccountNotFound() public {
        IssueRequest memory r = _request(10);
        r.toAccount = 3;
        bytes memory s = signIssue(ISSUER_KEY, r);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 3));
    }

    function test_RevertWhen_AccountSuspended() public {
        setStatus(seller, AccountStatus.Suspended);
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, seller));
    }

    function test_RevertWhen_AccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (IssueRequest memory r, bytes memory s) = _prepare(10);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller));
    }

    function test_RevertWhen_DestinationIsCancellationAccount() public {
        uint64 to = openAccountOfKind(AccountKind.Cancellation);
        (IssueRequest memory r,) = _prepare(10);
        r.toAccount = to;
        bytes memory s = signIssue(ISSUER_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.AccountCannotReceive.selector, to, AccountKind.Cancellation)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Double-issuance guard (PROJECT_2 / ACCU already has [A, B])
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_MonitoringPeriodReversed() public {
        (IssueRequest memory r, bytes memory s) = _prepareP2(B + 10 * DAY, B + 5 * DAY);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.InvalidMonitoringPeriod.selector, B + 10 * DAY, B + 5 * DAY)
        );
    }

    function test_RevertWhen_PeriodStartsOnLastDay() public {
        // [A, B] then [B, C]: the shared boundary day would be credited twice.
        (IssueRequest memory r, bytes memory s) = _prepareP2(B, B + 100 * DAY);
        _expectRefused(r, s, _overlap(A, B));
    }

    function test_RevertWhen_PeriodEndsOnFirstDay() public {
        (IssueRequest memory r, bytes memory s) = _prepareP2(A - 50 * DAY, A);
        _expectRefused(r, s, _overlap(A, B));
    }

    function test_RevertWhen_PeriodInside() public {
        (IssueRequest memory r, bytes memory s) = _prepareP2(A + DAY, B - DAY);
        _expectRefused(r, s, _overlap(A, B));
    }

    function test_RevertWhen_PeriodContains() public {
        (IssueRequest memory r, bytes memory s) = _prepareP2(A - DAY, B + DAY);
        _expectRefused(r, s, _overlap(A, B));
    }

    function test_RevertWhen_PeriodIdentical() public {
        (IssueRequest memory r, bytes memory s) = _prepareP2(A, B);
        _expectRefused(r, s, _overlap(A, B));
    }

    function test_RevertWhen_SingleDayInsidePeriod() public {
        (IssueRequest memory r, bytes memory s) = _prepareP2(A + 5 * DAY, A + 5 * DAY);
        _expectRefused(r, s, _overlap(A, B));
    }

    function test_RevertWhen_OverlapsALaterPeriod_ReportsThatOne() public {
        _issueP2(B + DAY, B + 100 * DAY, 10);
        (IssueRequest memory r, bytes memory s) = _prepareP2(B + 50 * DAY, B + 150 * DAY);
        _expectRefused(r, s, _overlap(B + DAY, B + 100 * DAY));
    }

    function test_WhenPeriodStartsTheDayAfter_Accepts() public {
        // [A, B] then [B + 1, C]: adjacent, not overlapping. Monitoring bounds are whole units of time,
        // so "the day after" is B + 1 in the same unit the issuer uses.
        _issueP2(B + 1, B + 100 * DAY, 10);
        _issueP2(A - 50 * DAY, A - 1, 10);
    }

    function test_WhenOutOfOrder_Accepts() public {
        // An earlier, non-overlapping period issued later.
        uint64 start = _issueP2(A - 90 * DAY, A - 10 * DAY, 7);
        assertBlock(start, start + 6, seller, UnitState.Held, 0);
        // And one between two existing periods.
        _issueP2(B + 50 * DAY, B + 60 * DAY, 1);
        _issueP2(B + 10 * DAY, B + 20 * DAY, 1);
    }

    function test_WhenOtherUnitType_Accepts() public {
        (,, uint64 end) = issueFor(PROJECT_2, KACCU, A, B, 10);
        assertBlock(end - 9, end, seller, UnitState.Held, 0);
    }

    function test_WhenOtherProject_Accepts() public {
        bytes32 third = "ERF300000";
        issueFor(third, ACCU, A, B, 10);
    }

    function test_WhenSingleDayPeriod_Accepts() public {
        _issueP2(B + DAY, B + DAY, 1);
    }

    function testFuzz_issue_overlapIffIntervalsIntersect(uint64 c, uint64 d) public {
        c = uint64(bound(c, 0, 400 * DAY));
        d = uint64(bound(d, c, 400 * DAY));
        (IssueRequest memory r, bytes memory s) = _prepareP2(c, d);
        if (c <= B && A <= d) {
            _expectRefused(r, s, _overlap(A, B));
        } else {
            submitIssue(r, s);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Labels at issuance
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_LabelNotFound() public {
        IssueRequest memory r = _request(10);
        r.labels = 1 << 3;
        bytes memory s = signIssue(ISSUER_KEY, r);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.LabelNotFound.selector, 3));
    }

    function test_RevertWhen_LabelOwnedByAnotherAuthority() public {
        uint8 labelId = defineLabel("NDC-eligible");
        IssueRequest memory r = _request(10);
        r.labels = uint256(1) << labelId;
        bytes memory s = signIssue(ISSUER_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotLabelAuthority.selector, labelId, issuer)
        );
    }

    function test_RevertWhen_OneOfSeveralLabelsForeign() public {
        uint8 own = defineIssuerLabel("Issuer-owned");
        uint8 foreign = defineLabel("NDC-eligible");
        IssueRequest memory r = _request(10);
        r.labels = (uint256(1) << own) | (uint256(1) << foreign);
        bytes memory s = signIssue(ISSUER_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.NotLabelAuthority.selector, foreign, issuer)
        );
    }

    function test_WhenIssuerOwnsLabels_AppliesThem() public {
        uint8 first = defineIssuerLabel("Article 6.2");
        uint8 second = defineIssuerLabel("CORSIA-eligible");
        IssueRequest memory r = _request(10);
        r.labels = (uint256(1) << first) | (uint256(1) << second);
        bytes memory s = signIssue(ISSUER_KEY, r);
        uint64 start = uint64(counter(1));
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(start, start + 9, seller, UnitState.Held, 0);
        vm.expectEmit();
        emit IRegistryBase.LabelChanged(start, start + 9, first, true);
        vm.expectEmit();
        emit IRegistryBase.LabelChanged(start, start + 9, second, true);
        submitIssue(r, s);
        assertEq(labelsAt(start), r.labels, "labels at issuance");

        // They survive a split.
        uint64 id = initiatePending(start + 3, start + 4, start);
        assertEq(labelsAt(start), r.labels, "head keeps labels");
        assertEq(labelsAt(start + 3), r.labels, "moved part keeps labels");
        assertEq(labelsAt(start + 5), r.labels, "tail keeps labels");
        assertBlock(start + 3, start + 4, seller, UnitState.Pending, id);
    }

    // ---------------------------------------------------------------------------------------------
    // Quantity and serial space
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_QuantityZero() public {
        (IssueRequest memory r, bytes memory s) = _prepare(0);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidQuantity.selector, 0));
    }

    function test_RevertWhen_QuantityMaxUint64() public {
        uint64 next = uint64(counter(1));
        (IssueRequest memory r, bytes memory s) = _prepare(type(uint64).max);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.SerialSpaceExhausted.selector, next, type(uint64).max)
        );
    }

    function test_RevertWhen_SerialSpaceExhausted() public {
        // 2^62 units are one block and cost the same gas as one unit.
        uint64 quarter = uint64(1) << 62;
        (IssueRequest memory r, bytes memory s) = _prepare(quarter);
        (, uint64 start, uint64 end) = submitIssue(r, s);
        assertEq(end - start + 1, quarter, "one block of 2^62 units");

        (r, s) = _prepareP2(2000 * DAY, 2001 * DAY);
        r.quantity = quarter;
        s = signIssue(ISSUER_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.SerialSpaceExhausted.selector, end + 1, quarter)
        );
    }

    function test_WhenSerialSpaceFilledExactly_LastSerialIsMaxMinusOne() public {
        uint64 next = uint64(counter(1));
        // NOTE: the contract keeps nextSerial <= MAX_SERIAL (2^63 - 1), so the last issuable serial is
        // MAX_SERIAL - 1: one serial short of what SerialOutOfBounds allows. Harmless, and it keeps the
        // counter itself inside a signed 64-bit column.
        (IssueRequest memory r, bytes memory s) = _prepare(MAX_SERIAL - next + 1);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.SerialSpaceExhausted.selector, next, MAX_SERIAL - next + 1)
        );

        (r, s) = _prepare(MAX_SERIAL - next);
        (, uint64 start, uint64 end) = submitIssue(r, s);
        assertEq(start, next, "start");
        assertEq(end, MAX_SERIAL - 1, "end");
        assertEq(counter(1), MAX_SERIAL, "next serial");

        (r, s) = _prepareP2(2000 * DAY, 2001 * DAY);
        r.quantity = 1;
        s = signIssue(ISSUER_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.SerialSpaceExhausted.selector, MAX_SERIAL, 1)
        );

        // The top units move like any others, and a range past 2^63 - 1 is refused before the lookup.
        uint64 id = initiatePending(end - 9, end, start);
        assertBlock(end - 9, end, seller, UnitState.Pending, id);
        InitiateTransferRequest memory t = transferRequest(ar1, seller, buyer, range(start, MAX_SERIAL + 1));
        bytes memory ts = signInitiate(AR1_KEY, t);
        bytes32 before = stateDigest();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.SerialOutOfBounds.selector, MAX_SERIAL + 1));
        submitInitiate(t, ts, hints(start));
        assertStateUnchanged(before);
    }

    function test_IssueGasIndependentOfQuantity() public {
        (IssueRequest memory small, bytes memory smallSig) = _prepareP2(3000 * DAY, 3000 * DAY);
        uint256 g = gasleft();
        submitIssue(small, smallSig);
        uint256 gasSmall = g - gasleft();

        (IssueRequest memory big, bytes memory bigSig) = _prepareP2(3001 * DAY, 3001 * DAY);
        big.quantity = uint64(1) << 62;
        bigSig = signIssue(ISSUER_KEY, big);
        g = gasleft();
        submitIssue(big, bigSig);
        uint256 gasBig = g - gasleft();

        // Only calldata bytes differ; storage writes are the same.
        assertLe(gasBig, gasSmall + 1000, "2^62 units cost what one unit costs");
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenValid_IssuesOneBlock() public {
        (IssueRequest memory r, bytes memory s) = _prepare(500);
        (, uint64 start, uint64 issuanceId, uint64 nextOp,) = registry.counters();
        uint64 end = start + 499;

        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(issuer, r.nonce, digestOf(this.hashIssue(r)));
        vm.expectEmit();
        emit IRegistryBase.UnitsIssued(
            issuanceId, PROJECT_2, seller, ACCU, 2024, 1000 * DAY, 1100 * DAY, "AU", start, end
        );
        vm.expectEmit();
        emit IRegistryBase.BlockChanged(start, end, seller, UnitState.Held, 0);
        (uint64 gotId, uint64 gotStart, uint64 gotEnd) = submitIssue(r, s);

        assertEq(gotId, issuanceId, "issuance id");
        assertEq(gotStart, start, "start");
        assertEq(gotEnd, end, "end");
        assertEq(counter(1), end + 1, "next serial");
        assertEq(counter(2), issuanceId + 1, "next issuance id");
        assertEq(counter(3), nextOp, "operation counter untouched");
        assertBlock(start, end, seller, UnitState.Held, 0);
        assertEq(blockAt(start).issuance, issuanceId, "block issuance");
        assertEq(labelsAt(start), 0, "no labels");

        Issuance memory i = registry.getIssuance(issuanceId);
        assertEq(i.projectId, PROJECT_2, "project");
        assertEq(i.unitType, ACCU, "unit type");
        assertEq(i.start, start, "issuance start");
        assertEq(i.end, end, "issuance end");
        assertEq(i.monitoringStart, 1000 * DAY, "monitoring start");
        assertEq(i.monitoringEnd, 1100 * DAY, "monitoring end");
        assertEq(i.vintage, 2024, "vintage");
        assertEq(i.originRegistry, AU, "origin defaults to the registry code");
    }

    function test_WhenOriginRegistryGiven_KeepsIt() public {
        IssueRequest memory r = _request(5);
        r.originRegistry = CH;
        bytes memory s = signIssue(ISSUER_KEY, r);
        (uint64 id,,) = submitIssue(r, s);
        assertEq(registry.getIssuance(id).originRegistry, CH, "origin");
    }

    function test_WhenIssuedToOtherKinds_Accepts() public {
        // Issuance goes to any open account; only transfers refuse cancellation accounts.
        IssueRequest memory r = _request(5);
        r.toAccount = buyer;
        bytes memory s = signIssue(ISSUER_KEY, r);
        (, uint64 start, uint64 end) = submitIssue(r, s);
        assertBlock(start, end, buyer, UnitState.Held, 0);
    }

    function test_SerialsAreConsecutiveAcrossIssuances() public {
        uint64 next = uint64(counter(1));
        uint64 s1 = _issueP2(5000 * DAY, 5000 * DAY, 3);
        uint64 s2 = _issueP2(5001 * DAY, 5001 * DAY, 4);
        assertEq(s1, next, "first");
        assertEq(s2, next + 3, "second follows the first");
    }

    function testFuzz_issue_blockMatchesQuantity(uint64 quantity) public {
        quantity = uint64(bound(quantity, 1, MAX_SERIAL - 1011));
        (IssueRequest memory r, bytes memory s) = _prepare(quantity);
        (, uint64 start, uint64 end) = submitIssue(r, s);
        assertEq(end - start + 1, quantity, "quantity");
        assertBlock(start, end, seller, UnitState.Held, 0);
    }
}
