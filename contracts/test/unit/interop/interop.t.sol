// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IInterop, IInteropEvents} from "../../../src/interfaces/IInterop.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {InteropHashing} from "../../../src/libraries/InteropHashing.sol";
import {
    ApprovalPolicy,
    UnitState,
    UnitBlock,
    Issuance,
    Range,
    Representative,
    OpenAccountRequest,
    TransferDecisionRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    OutboundStatus,
    SetPeerRequest,
    TransferOutRequest,
    InteropUnit,
    ItmoTerms,
    Proposal,
    Answer
} from "../../../src/libraries/InteropTypes.sol";

/// @notice The inter-registry protocol between two registries on one chain (AU is the fixture's
/// registry, NZ a second deployment with its own domain and operator): transfer out, proposal, the
/// answer recorded on both sides, and the refusals that keep units in exactly one registry.
contract InteropTest is UnitTest {
    UnitRegistry internal nz;
    uint64 internal nzAccount;
    uint256 internal constant NZ_OPERATOR_KEY = 0x4E2;
    address internal nzOperator;
    bytes8 internal constant NZ = "NZ";

    function hashSetPeer(SetPeerRequest calldata r) external pure returns (bytes32) {
        return InteropHashing.hash(r);
    }

    function hashTransferOut(TransferOutRequest calldata r) external pure returns (bytes32) {
        return InteropHashing.hash(r);
    }

    function hashApproveOut(TransferDecisionRequest calldata r) external pure returns (bytes32) {
        return InteropHashing.hashApprove(r);
    }

    function hashProposal(Proposal calldata p) external pure returns (bytes32) {
        return InteropHashing.hash(p);
    }

    function hashAnswer(Answer calldata a) external pure returns (bytes32) {
        return InteropHashing.hash(a, InteropHashing.hash(a.proposal));
    }

    function setUp() public override {
        super.setUp();
        nzOperator = vm.addr(NZ_OPERATOR_KEY);
        nz = new UnitRegistry("NZ", adminAddr, deployModules());
        vm.startPrank(adminAddr);
        nz.grantRole(nz.RELAYER_ROLE(), relayer);
        nz.grantRole(nz.RELAYER_ROLE(), nzOperator);
        vm.stopPrank();
        // Each registry records the other; AU's operator is the fixture's relayer key.
        _setPeer(address(registry), NZ, nzOperator, address(nz));
        _setPeer(address(nz), AU, relayer, address(registry));
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        r.nonce = nz.nonces(adminAddr);
        bytes memory sig = signDigest(ADMIN_KEY, digestFor(address(nz), this.hashOpenAccount(r)));
        vm.prank(relayer);
        nzAccount = IAdministration(address(nz)).openAccount(r, sig);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _setPeer(address at, bytes8 code, address operator, address peerRegistry) internal {
        SetPeerRequest memory r = _peerRequest(at, code, operator, peerRegistry);
        bytes memory sig = signDigest(ADMIN_KEY, digestFor(at, this.hashSetPeer(r)));
        vm.prank(relayer);
        IInterop(at).setPeer(r, sig);
    }

    function _peerRequest(address at, bytes8 code, address operator, address peerRegistry)
        internal
        view
        returns (SetPeerRequest memory)
    {
        return SetPeerRequest({
            signer: adminAddr,
            registryCode: code,
            apiUrl: "http://peer.example",
            operator: operator,
            chainId: uint64(block.chainid),
            registry: peerRegistry,
            nonce: UnitRegistry(payable(at)).nonces(adminAddr),
            deadline: deadline()
        });
    }

    function _starts(uint64 start) internal pure returns (uint64[] memory starts) {
        starts = new uint64[](1);
        starts[0] = start;
    }

    /// @dev Transfers [start, end] of the seller (two-person) account out to NZ, signed by `key`.
    function _transferOut(uint256 key, uint64 start, uint64 end) internal returns (uint64) {
        Range[] memory ranges = new Range[](1);
        ranges[0] = Range(start, end);
        TransferOutRequest memory r = TransferOutRequest({
            signer: vm.addr(key),
            fromAccount: seller,
            toRegistry: NZ,
            toAccount: nzAccount,
            ranges: ranges,
            nonce: nextNonce(vm.addr(key)),
            deadline: deadline()
        });
        bytes memory sig = sign(key, this.hashTransferOut(r));
        vm.prank(relayer);
        return IInterop(address(registry)).transferOut(r, sig, _starts(start));
    }

    function _approveOut(uint256 key, uint64 transferId, uint64 start) internal {
        TransferDecisionRequest memory r = TransferDecisionRequest({
            signer: vm.addr(key), transferId: transferId, nonce: nextNonce(vm.addr(key)), deadline: deadline()
        });
        bytes memory sig = sign(key, this.hashApproveOut(r));
        vm.prank(relayer);
        IInterop(address(registry)).approveTransferOut(r, sig, _starts(start));
    }

    /// @dev The proposal of [start, end], read from AU's block and issuance.
    function _proposal(uint64 transferId, uint64 start, uint64 end)
        internal
        view
        returns (Proposal memory p)
    {
        (UnitBlock memory b,) = registry.getBlock(start);
        Issuance memory iss = registry.getIssuance(b.issuance);
        InteropUnit[] memory units = new InteropUnit[](1);
        units[0] = InteropUnit({
            start: start,
            end: end,
            projectId: iss.projectId,
            unitType: iss.unitType,
            vintage: iss.vintage,
            monitoringStart: iss.monitoringStart,
            monitoringEnd: iss.monitoringEnd,
            originRegistry: iss.originRegistry == bytes8(0) ? AU : iss.originRegistry,
            labels: new bytes32[](0)
        });
        p = Proposal({
            signer: relayer,
            transferId: transferId,
            sourceRegistry: AU,
            destRegistry: NZ,
            fromAccount: seller,
            toAccount: nzAccount,
            units: units,
            itmos: new ItmoTerms[](0),
            nonce: registry.nonces(relayer),
            deadline: block.timestamp + 1 hours
        });
    }

    function _send(Proposal memory p) internal returns (bytes memory sig) {
        sig = signDigest(RELAYER_KEY, digestFor(address(registry), this.hashProposal(p)));
        vm.prank(relayer);
        IInterop(address(registry)).sendProposal(p, sig);
    }

    function _answer(Proposal memory p, bytes memory proposalSig, uint8 reason)
        internal
        view
        returns (Answer memory a, bytes memory sig)
    {
        a = Answer({
            signer: nzOperator,
            transferId: p.transferId,
            proposal: p,
            proposalSignature: proposalSig,
            accepted: reason == 0,
            reason: reason,
            nonce: nz.nonces(nzOperator),
            deadline: p.deadline
        });
        sig = signDigest(NZ_OPERATOR_KEY, digestFor(address(nz), this.hashAnswer(a)));
    }

    /// @dev A whole-block transfer of the seller's [1, 100], approved and proposed.
    function _inTransit() internal returns (uint64 transferId, Proposal memory p, bytes memory proposalSig) {
        transferId = _transferOut(AR1_KEY, 1, 100);
        _approveOut(AR2_KEY, transferId, 1);
        p = _proposal(transferId, 1, 100);
        proposalSig = _send(p);
    }

    // ---------------------------------------------------------------------------------------------
    // Tests
    // ---------------------------------------------------------------------------------------------

    function test_AcceptedTransferLeavesTheSourceAndArrivesAtTheDestination() public {
        (uint64 transferId, Proposal memory p, bytes memory proposalSig) = _inTransit();
        assertBlock(1, 100, seller, UnitState.InTransit, transferId);
        (Answer memory a, bytes memory answerSig) = _answer(p, proposalSig, 0);
        // The destination records its answer: the units are issued anew with their origin.
        vm.prank(relayer);
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
        (UnitBlock memory imported,) = nz.getBlock(1);
        assertEq(imported.end, 100, "imported end");
        assertEq(imported.account, nzAccount, "imported account");
        assertEq(uint256(imported.state), uint256(UnitState.Held), "imported state");
        assertTrue(nz.getIssuance(imported.issuance).originRegistry == AU, "origin");
        // The source records the same answer: the units leave, terminally.
        vm.prank(relayer);
        IInterop(address(registry)).recordAnswer(a, answerSig, _starts(1));
        assertBlock(1, 100, seller, UnitState.TransferredOut, transferId);
        assertEq(
            uint256(IInterop(address(registry)).getOutbound(transferId).status),
            uint256(OutboundStatus.Transferred),
            "status"
        );
        // Neither side takes the answer twice.
        vm.prank(relayer);
        vm.expectRevert();
        IInterop(address(registry)).recordAnswer(a, answerSig, _starts(1));
    }

    function test_RefusedTransferReturnsTheUnits() public {
        (uint64 transferId, Proposal memory p, bytes memory proposalSig) = _inTransit();
        (Answer memory a, bytes memory answerSig) = _answer(p, proposalSig, 1);
        vm.prank(relayer);
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
        (UnitBlock memory none,) = nz.getBlock(1);
        assertEq(uint256(none.state), uint256(UnitState.None), "nothing imported");
        vm.prank(relayer);
        IInterop(address(registry)).recordAnswer(a, answerSig, _starts(1));
        assertBlock(1, 100, seller, UnitState.Held, 0);
        assertEq(
            uint256(IInterop(address(registry)).getOutbound(transferId).status),
            uint256(OutboundStatus.Returned),
            "status"
        );
    }

    function test_RevertWhen_DestinationAcceptsAfterTheDeadline() public {
        (, Proposal memory p, bytes memory proposalSig) = _inTransit();
        (Answer memory a, bytes memory answerSig) = _answer(p, proposalSig, 0);
        a.deadline = p.deadline + 1 days;
        answerSig = signDigest(NZ_OPERATOR_KEY, digestFor(address(nz), this.hashAnswer(a)));
        vm.warp(p.deadline + 1);
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(IInteropEvents.ProposalDeadlinePassed.selector, p.deadline, p.deadline + 1)
        );
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
    }

    function test_RevertWhen_ProposalIsNotSignedByThePeerOperator() public {
        (, Proposal memory p,) = _inTransit();
        bytes memory forged = signDigest(OUTSIDER_KEY, digestFor(address(registry), this.hashProposal(p)));
        (Answer memory a, bytes memory answerSig) = _answer(p, forged, 0);
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(IInteropEvents.PeerSignatureInvalid.selector, AU, relayer, outsider)
        );
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
    }

    function test_RevertWhen_SourceGetsAnAnswerNotSignedByThePeer() public {
        (, Proposal memory p, bytes memory proposalSig) = _inTransit();
        (Answer memory a,) = _answer(p, proposalSig, 0);
        bytes memory forged = signDigest(OUTSIDER_KEY, digestFor(address(nz), this.hashAnswer(a)));
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(IInteropEvents.PeerSignatureInvalid.selector, NZ, nzOperator, outsider)
        );
        IInterop(address(registry)).recordAnswer(a, forged, _starts(1));
    }

    function test_RevertWhen_ProposalDoesNotDescribeTheLockedUnits() public {
        uint64 transferId = _transferOut(AR1_KEY, 1, 100);
        _approveOut(AR2_KEY, transferId, 1);
        Proposal memory p = _proposal(transferId, 1, 100);
        p.units[0].vintage += 1;
        bytes memory sig = signDigest(RELAYER_KEY, digestFor(address(registry), this.hashProposal(p)));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IInteropEvents.ProposalMismatch.selector, transferId, 0));
        IInterop(address(registry)).sendProposal(p, sig);
    }

    function test_RevertWhen_InitiatorApprovesTheirOwnTransferOut() public {
        uint64 transferId = _transferOut(AR1_KEY, 1, 100);
        assertBlock(1, 100, seller, UnitState.Pending, transferId);
        TransferDecisionRequest memory r = TransferDecisionRequest({
            signer: ar1, transferId: transferId, nonce: nextNonce(ar1), deadline: deadline()
        });
        bytes memory sig = sign(AR1_KEY, this.hashApproveOut(r));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.ApproverIsInitiator.selector, transferId, ar1));
        IInterop(address(registry)).approveTransferOut(r, sig, _starts(1));
    }

    function test_RevertWhen_PeerIsUnknown() public {
        Range[] memory ranges = new Range[](1);
        ranges[0] = Range(1, 10);
        TransferOutRequest memory r = TransferOutRequest({
            signer: ar1,
            fromAccount: seller,
            toRegistry: "JP",
            toAccount: 1_000_001,
            ranges: ranges,
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = sign(AR1_KEY, this.hashTransferOut(r));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IInteropEvents.PeerNotFound.selector, bytes8("JP")));
        IInterop(address(registry)).transferOut(r, sig, _starts(1));
    }

    function test_RevertWhen_NonAdministratorSetsAPeer() public {
        SetPeerRequest memory r = _peerRequest(address(registry), "JP", nzOperator, address(nz));
        r.signer = outsider;
        r.nonce = registry.nonces(outsider);
        bytes memory sig = signDigest(OUTSIDER_KEY, digestFor(address(registry), this.hashSetPeer(r)));
        bytes32 role = registry.REGISTRY_ADMIN_ROLE();
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.MissingRole.selector, outsider, role));
        IInterop(address(registry)).setPeer(r, sig);
    }
}
