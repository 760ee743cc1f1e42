// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {Cheats} from "../../utils/Cheats.sol";
import {IUnitRegistry} from "../../../src/interfaces/IUnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    UnitState,
    TransferStatus,
    Range,
    IssueRequest,
    InitiateTransferRequest,
    CancelRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice batch: each call applies or fails on its own; failures are reported, not fatal.
contract BatchTest is UnitTest {
    /// @dev A second seller block that the failing call targets, apart from what the good calls touch.
    uint64 internal otherStart;

    function setUp() public override {
        super.setUp();
        (otherStart,) = issueTo(seller, 10);
    }

    /// @dev Signed call data of a transfer of `[start, end]` from the seller to the buyer by ar1.
    function _initiateCall(uint64 start, uint64 end, uint64 hint) internal view returns (bytes memory) {
        InitiateTransferRequest memory r = transferRequest(ar1, seller, buyer, range(start, end));
        return abi.encodeCall(IUnitRegistry.initiateTransfer, (r, signInitiate(AR1_KEY, r), hints(hint)));
    }

    /// @dev Signed call data of a cancellation by ar3 of seller units the buyer does not hold.
    function _failingCancelCall() internal view returns (bytes memory call, bytes memory reason) {
        CancelRequest memory r = cancelRequest(ar3, buyer, range(otherStart, otherStart + 9));
        call = abi.encodeCall(IUnitRegistry.cancel, (r, signCancel(AR3_KEY, r), hints(otherStart)));
        reason =
            abi.encodeWithSelector(IRegistryBase.UnitsNotHeld.selector, buyer, otherStart, otherStart + 9);
    }

    /// @dev Runs a batch as the relayer and reads each item's outcome from the logs, as node.relayer
    /// does: an item failed if a BatchItemFailed names it (its revert data is then in `results`).
    function _batch(bytes[] memory calls) internal returns (bool[] memory ok, bytes[] memory results) {
        vm.recordLogs();
        vm.prank(relayer);
        registry.batch(calls);
        return _outcomes(calls.length);
    }

    function _outcomes(uint256 count) internal returns (bool[] memory ok, bytes[] memory results) {
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        ok = new bool[](count);
        results = new bytes[](count);
        for (uint256 i; i < count; ++i) {
            ok[i] = true;
        }
        for (uint256 j; j < logs.length; ++j) {
            if (logs[j].emitter != address(registry)) continue;
            if (logs[j].topics[0] != IRegistryBase.BatchItemFailed.selector) continue;
            (uint256 index, bytes memory reason) = abi.decode(logs[j].data, (uint256, bytes));
            ok[index] = false;
            results[index] = reason;
        }
    }

    /// @dev Signed call data of a transfer of `[start, end]` by ar1 with the unordered nonce `2^255 | n`.
    function _unorderedCall(uint64 start, uint64 end, uint256 n, uint64 hint)
        internal
        view
        returns (bytes memory)
    {
        InitiateTransferRequest memory r = transferRequest(ar1, seller, buyer, range(start, end));
        r.nonce = (1 << 255) | n;
        return abi.encodeCall(IUnitRegistry.initiateTransfer, (r, signInitiate(AR1_KEY, r), hints(hint)));
    }

    /// @dev Requests one signer prepared concurrently all apply, whatever order the relayer sends them
    /// in; a resend of one of them in a later batch is refused with NonceUsed and changes nothing.
    function test_WhenUnorderedNonces_AnyOrderThenResendRefused() public {
        bytes[] memory calls = new bytes[](3);
        calls[0] = _unorderedCall(21, 30, 2, 1);
        calls[1] = _unorderedCall(1, 10, 0, 1);
        calls[2] = _unorderedCall(11, 20, 1, 11);
        (bool[] memory ok,) = _batch(calls);
        assertTrue(ok[0] && ok[1] && ok[2], "all applied");

        bytes[] memory resend = new bytes[](1);
        resend[0] = calls[1];
        bytes memory reason = abi.encodeWithSelector(IRegistryBase.NonceUsed.selector, ar1, 1 << 255);
        bytes32 before = stateDigest();
        vm.expectEmit();
        emit IRegistryBase.BatchItemFailed(0, reason);
        (ok,) = _batch(resend);
        assertFalse(ok[0], "resend refused");
        assertStateUnchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        bytes[] memory calls = new bytes[](1);
        calls[0] = _initiateCall(1, 10, 1);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ar1, role)
        );
        vm.prank(ar1);
        registry.batch(calls);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_ItemRunsOutOfGas() public {
        // A transfer of 256 single-unit ranges needs millions of gas; with one million the item runs
        // out. Reporting that as the request's failure would drop a valid request, so the whole batch
        // reverts instead and the relayer can resend it with more gas.
        Range[] memory many = new Range[](256);
        uint64[] memory starts = new uint64[](256);
        for (uint64 i; i < 256; ++i) {
            many[i] = Range(i + 1, i + 1);
            starts[i] = i + 1;
        }
        InitiateTransferRequest memory r = transferRequest(ar1, seller, buyer, many);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(IUnitRegistry.initiateTransfer, (r, signInitiate(AR1_KEY, r), starts));
        calls[1] = calls[0];
        bytes32 before = stateDigest();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.BatchOutOfGas.selector, 0));
        vm.prank(relayer);
        registry.batch{gas: 1_000_000}(calls);
        assertStateUnchanged(before);

        // With enough gas the same batch applies its first item and reports the second as a replay.
        (bool[] memory ok,) = _batch(calls);
        assertTrue(ok[0], "applied with enough gas");
        assertFalse(ok[1], "second is a replay");
    }

    function test_WhenEmpty_ReturnsNothing() public {
        bytes32 before = stateDigest();
        (bool[] memory ok, bytes[] memory results) = _batch(new bytes[](0));
        assertEq(ok.length, 0, "no flags");
        assertEq(results.length, 0, "no results");
        assertStateUnchanged(before);
    }

    function test_WhenOneGoodOneFailing_GoodApplies() public {
        bytes[] memory calls = new bytes[](2);
        calls[0] = _initiateCall(1, 10, 1);
        bytes memory reason;
        (calls[1], reason) = _failingCancelCall();
        uint64 expectedId = nextOperationId();
        uint256 ar1Nonce = registry.nonces(ar1);
        uint256 ar3Nonce = registry.nonces(ar3);

        vm.expectEmit();
        emit IRegistryBase.TransferInitiated(expectedId, seller, buyer, ar1, 10);
        vm.expectEmit();
        emit IRegistryBase.BatchItemFailed(1, reason);
        (bool[] memory ok, bytes[] memory results) = _batch(calls);

        assertTrue(ok[0], "first applied");
        assertFalse(ok[1], "second failed");
        assertEq(keccak256(results[1]), keccak256(reason), "second reports the revert data");
        assertBlock(1, 10, seller, UnitState.Pending, expectedId);
        notePending(expectedId, seller, buyer, range(1, 10), ar1);
        assertTransfer(expectedId, seller, buyer, 10, TransferStatus.Pending);
        assertEq(registry.nonces(ar1), ar1Nonce + 1, "good call consumed its nonce");
        assertEq(registry.nonces(ar3), ar3Nonce, "failed call did not consume its nonce");
    }

    function test_WhenFailingFirst_LaterCallsStillApply() public {
        bytes[] memory calls = new bytes[](2);
        bytes memory reason;
        (calls[0], reason) = _failingCancelCall();
        calls[1] = _initiateCall(1, 10, 1);
        vm.expectEmit();
        emit IRegistryBase.BatchItemFailed(0, reason);
        (bool[] memory ok,) = _batch(calls);
        assertFalse(ok[0], "first failed");
        assertTrue(ok[1], "second applied");
        assertEq(uint256(blockAt(1).state), uint256(UnitState.Pending), "transfer applied");
    }

    function test_WhenAllFail_NothingChanges() public {
        bytes[] memory calls = new bytes[](2);
        (calls[0],) = _failingCancelCall();
        (calls[1],) = _failingCancelCall();
        bytes32 before = stateDigest();
        (bool[] memory ok,) = _batch(calls);
        assertFalse(ok[0] || ok[1], "both failed");
        assertStateUnchanged(before);
    }

    function test_WhenSameRequestTwice_SecondIsAReplay() public {
        bytes[] memory calls = new bytes[](2);
        calls[0] = _initiateCall(1, 10, 1);
        calls[1] = calls[0];
        uint256 nonce = registry.nonces(ar1);
        vm.expectEmit();
        emit IRegistryBase.BatchItemFailed(
            1, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, ar1, nonce + 1)
        );
        (bool[] memory ok,) = _batch(calls);
        assertTrue(ok[0], "first applied");
        assertFalse(ok[1], "replay refused");
        assertEq(registry.nonces(ar1), nonce + 1, "one nonce used");
    }

    function test_WhenSequentialNonces_AllApply() public {
        // Requests of one signer with consecutive nonces, relayed together.
        InitiateTransferRequest memory a = transferRequest(ar1, seller, buyer, range(1, 10));
        InitiateTransferRequest memory b = transferRequest(ar1, seller, buyer, range(11, 20));
        b.nonce = a.nonce + 1;
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(IUnitRegistry.initiateTransfer, (a, signInitiate(AR1_KEY, a), hints(1)));
        calls[1] = abi.encodeCall(IUnitRegistry.initiateTransfer, (b, signInitiate(AR1_KEY, b), hints(11)));
        (bool[] memory ok,) = _batch(calls);
        assertTrue(ok[0] && ok[1], "both applied");
        assertEq(registry.nonces(ar1), a.nonce + 2, "two nonces used");
    }

    function test_WhenModuleCall_RoutesThroughFallback() public {
        IssueRequest memory r = issueRequest(25, buyer, 10, 20);
        bytes[] memory calls = new bytes[](1);
        calls[0] = abi.encodeCall(IAdministration.issue, (r, signIssue(ISSUER_KEY, r)));
        uint64 next = uint64(counter(1));
        (bool[] memory ok,) = _batch(calls);
        assertTrue(ok[0], "issued");
        (uint64 issuanceId, uint64 start, uint64 end) = (uint64(counter(2)) - 1, next, uint64(counter(1)) - 1);
        assertEq(issuanceId, 3, "third issuance");
        assertEq(start, next, "start");
        assertEq(end, next + 24, "end");
        assertBlock(start, end, buyer, UnitState.Held, 0);
    }

    function test_WhenUnknownSelector_ItemFailsWithUnknownFunction() public {
        bytes4 selector = bytes4(keccak256("reserve(uint64,uint64)"));
        bytes[] memory calls = new bytes[](1);
        calls[0] = abi.encodeWithSelector(selector, 1, 2);
        bytes memory reason = abi.encodeWithSelector(IRegistryBase.UnknownFunction.selector, selector);
        vm.expectEmit();
        emit IRegistryBase.BatchItemFailed(0, reason);
        (bool[] memory ok, bytes[] memory results) = _batch(calls);
        assertFalse(ok[0], "failed");
        assertEq(keccak256(results[0]), keccak256(reason), "reason");
    }

    function test_WhenItemNeedsAdminRole_RelayerGainsNothing() public {
        // Items run by delegatecall with the relayer as msg.sender, never as the registry itself.
        bytes32 issuerRole = registry.ISSUER_ROLE();
        bytes[] memory calls = new bytes[](1);
        calls[0] = abi.encodeCall(IAccessControl.grantRole, (issuerRole, relayer));
        (bool[] memory ok, bytes[] memory results) = _batch(calls);
        assertFalse(ok[0], "refused");
        assertEq(
            keccak256(results[0]),
            keccak256(
                abi.encodeWithSelector(
                    IAccessControl.AccessControlUnauthorizedAccount.selector, relayer, bytes32(0)
                )
            ),
            "needs DEFAULT_ADMIN_ROLE"
        );
        assertFalse(registry.hasRole(issuerRole, relayer), "no role granted");
    }

    function test_WhenNested_InnerBatchReportsItsOwnFailures() public {
        bytes[] memory inner = new bytes[](2);
        inner[0] = _initiateCall(1, 10, 1);
        (inner[1],) = _failingCancelCall();
        bytes[] memory outer = new bytes[](1);
        outer[0] = abi.encodeCall(IUnitRegistry.batch, (inner));
        vm.recordLogs();
        vm.prank(relayer);
        registry.batch(outer);
        (bool[] memory innerOk,) = _outcomes(2);
        // The inner batch's BatchItemFailed(1) is the only failure logged: the outer item applied.
        assertTrue(innerOk[0], "inner first applied");
        assertFalse(innerOk[1], "inner second failed");
        assertEq(uint256(blockAt(1).state), uint256(UnitState.Pending), "inner transfer applied");
    }
}
