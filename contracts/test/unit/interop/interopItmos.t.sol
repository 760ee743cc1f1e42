// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IArticle6} from "../../../src/interfaces/IArticle6.sol";
import {IInterop, IInteropEvents} from "../../../src/interfaces/IInterop.sol";
import {InteropHashing} from "../../../src/libraries/InteropHashing.sol";
import {
    ApprovalPolicy,
    UnitState,
    UnitBlock,
    Issuance,
    Representative,
    OpenAccountRequest,
    TransferDecisionRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    FirstTransferDefinition,
    Article6Action,
    Authorization,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest
} from "../../../src/libraries/Article6Types.sol";
import {
    OutboundStatus,
    SetPeerRequest,
    TransferItmosOutRequest,
    InteropUnit,
    ItmoTerms,
    Proposal,
    Answer
} from "../../../src/libraries/InteropTypes.sol";

/// @notice ITMOs between two registries on one chain (decision D47): AU (the fixture's registry, Parties
/// AU, CH and NZ, NZ's section held by the peer registry "NZ") and NZ (a second deployment with Parties AU
/// and NZ in the same approach, and an account in NZ's section). The source records the first transfer and
/// the transfer on the acceptance; the destination holds the units under its record of AU's letter and
/// records the acquisition.
contract InteropItmoTest is Article6Test {
    UnitRegistry internal nz;
    uint64 internal nzAccount;
    uint64 internal nzPlain;
    uint256 internal constant NZ_OPERATOR_KEY = 0x4E2;
    address internal nzOperator;
    bytes8 internal constant NZ_CODE = "NZ";

    function hashSetPeer(SetPeerRequest calldata r) external pure returns (bytes32) {
        return InteropHashing.hash(r);
    }

    function hashItmosOut(TransferItmosOutRequest calldata r) external pure returns (bytes32) {
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
        nz = new UnitRegistry(NZ_CODE, adminAddr, deployModules());
        vm.startPrank(adminAddr);
        nz.grantRole(nz.RELAYER_ROLE(), relayer);
        nz.grantRole(nz.RELAYER_ROLE(), nzOperator);
        nz.grantRole(nz.LABEL_AUTHORITY_ROLE(), labeller);
        vm.stopPrank();
        _setPeer(address(registry), NZ_CODE, nzOperator, address(nz));
        _setPeer(address(nz), AU, relayer, address(registry));
        // AU knows Party NZ, whose section is in registry NZ, and NZ takes part in the approach.
        registerParty(NZ, NZ_CODE, labeller, address(0));
        bytes8[] memory all = new bytes8[](3);
        (all[0], all[1], all[2]) = (AU, CH, NZ);
        registerApproach(APPROACH, all);
        // NZ knows Parties AU and NZ in the same approach, and has an account in NZ's section.
        _nzParty(AU, AU);
        _nzParty(NZ, NZ_CODE);
        RegisterCooperativeApproachRequest memory ar = approachRequest(APPROACH, parties2(AU, NZ));
        ar.nonce = nz.nonces(adminAddr);
        bytes memory approachSig =
            signDigest(ADMIN_KEY, digestFor(address(nz), this.hashRegisterApproach(ar)));
        vm.prank(relayer);
        IArticle6(address(nz)).registerCooperativeApproach(ar, approachSig);
        nzAccount = _nzOpen(NZ);
        nzPlain = _nzOpen(bytes8(0));
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _setPeer(address at, bytes8 code, address operator, address peerRegistry) internal {
        SetPeerRequest memory r = SetPeerRequest({
            signer: adminAddr,
            registryCode: code,
            apiUrl: "http://peer.example",
            operator: operator,
            chainId: uint64(block.chainid),
            registry: peerRegistry,
            nonce: UnitRegistry(payable(at)).nonces(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestFor(at, this.hashSetPeer(r)));
        vm.prank(relayer);
        IInterop(at).setPeer(r, sig);
    }

    function _nzParty(bytes8 party, bytes8 registryId) internal {
        RegisterPartyRequest memory r = partyRequest(party, registryId, labeller, address(0));
        r.nonce = nz.nonces(adminAddr);
        bytes memory sig = signDigest(ADMIN_KEY, digestFor(address(nz), this.hashRegisterParty(r)));
        vm.prank(relayer);
        IArticle6(address(nz)).registerParty(r, sig);
    }

    function _nzOpen(bytes8 party) internal returns (uint64) {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        r.party = party;
        r.nonce = nz.nonces(adminAddr);
        bytes memory sig = signDigest(ADMIN_KEY, digestFor(address(nz), this.hashOpenAccount(r)));
        vm.prank(relayer);
        return IAdministration(address(nz)).openAccount(r, sig);
    }

    /// @dev Authorizes the seller's [1, 100] for NDC use and sends them out to `to` (in `toParty`'s
    /// section), approved by a second representative.
    function _outAndApproved(uint64 to, bytes8 toParty) internal returns (uint64 transferId, uint64 authId) {
        authId = authorize(1, 100, 1, FirstTransferDefinition.AtUseOrCancellation, PURPOSE_NDC);
        transferId = _itmosOut(to, toParty, authId);
        TransferDecisionRequest memory d = TransferDecisionRequest({
            signer: ar2, transferId: transferId, nonce: nextNonce(ar2), deadline: deadline()
        });
        bytes memory sig = sign(AR2_KEY, this.hashApproveOut(d));
        vm.prank(relayer);
        IInterop(address(registry)).approveTransferOut(d, sig, hints(1));
    }

    function _itmosOut(uint64 to, bytes8 toParty, uint64 authId) internal returns (uint64) {
        TransferItmosOutRequest memory r = TransferItmosOutRequest({
            signer: ar1,
            fromAccount: seller,
            toRegistry: NZ_CODE,
            toAccount: to,
            toParty: toParty,
            authorizationId: authId,
            ranges: range(1, 100),
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = sign(AR1_KEY, this.hashItmosOut(r));
        vm.prank(relayer);
        return IInterop(address(registry)).transferItmosOut(r, sig, hints(1));
    }

    function _proposal(uint64 transferId, uint64 to) internal view returns (Proposal memory p) {
        (UnitBlock memory b,) = registry.getBlock(1);
        Issuance memory iss = registry.getIssuance(b.issuance);
        InteropUnit[] memory units = new InteropUnit[](1);
        bytes32[] memory labels = new bytes32[](1);
        labels[0] = "A6_AUTHORIZED_NDC";
        units[0] = InteropUnit({
            start: 1,
            end: 100,
            projectId: iss.projectId,
            unitType: iss.unitType,
            vintage: iss.vintage,
            monitoringStart: iss.monitoringStart,
            monitoringEnd: iss.monitoringEnd,
            originRegistry: iss.originRegistry == bytes8(0) ? AU : iss.originRegistry,
            labels: labels
        });
        p = Proposal({
            signer: relayer,
            transferId: transferId,
            sourceRegistry: AU,
            destRegistry: NZ_CODE,
            fromAccount: seller,
            toAccount: to,
            units: units,
            itmos: IInterop(address(registry)).outboundItmos(transferId),
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

    // ---------------------------------------------------------------------------------------------
    // Tests
    // ---------------------------------------------------------------------------------------------

    function test_AcceptedItmosRecordTransferAtTheSourceAndAcquisitionAtTheDestination() public {
        (uint64 transferId, uint64 authId) = _outAndApproved(nzAccount, NZ);
        assertBlock(1, 100, seller, UnitState.InTransit, transferId);
        Proposal memory p = _proposal(transferId, nzAccount);
        assertEq(p.itmos.length, 1, "one set of terms");
        assertEq(p.itmos[0].authorizationId, authId, "source authorization");
        assertEq(bytes32(p.itmos[0].acquiringParty), bytes32(NZ), "acquiring Party");
        (Answer memory a, bytes memory answerSig) = _answer(p, _send(p), 0);
        _acceptAtNz(a, answerSig, authId);

        vm.recordLogs();
        vm.prank(relayer);
        IInterop(address(registry)).recordAnswer(a, answerSig, hints(1));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        assertBlock(1, 100, seller, UnitState.TransferredOut, transferId);
        ActionRecord[] memory first = actionsOf(logs, Article6Action.FirstTransfer);
        ActionRecord[] memory transfers = actionsOf(logs, Article6Action.Transfer);
        assertEq(first.length, 1, "one first transfer");
        assertAction(first[0], 1, 100, seller, AU, NZ);
        assertEq(transfers.length, 1, "one transfer");
        assertAction(transfers[0], 1, 100, seller, AU, NZ);
        assertEq(
            uint256(IInterop(address(registry)).getOutbound(transferId).status),
            uint256(OutboundStatus.Transferred),
            "status"
        );
    }

    /// @dev NZ records its acceptance: the units are held under NZ's record of AU's letter, labelled,
    /// and their acquisition is recorded (and no first transfer: that is the source's).
    function _acceptAtNz(Answer memory a, bytes memory answerSig, uint64 authId) internal {
        vm.recordLogs();
        vm.prank(relayer);
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        Authorization memory auth = a6.getAuthorization(authId);
        uint64 local = IArticle6(address(nz)).authorizationOf(AU, auth.letterId);
        assertTrue(local != 0, "NZ records AU's letter");
        Authorization memory copy = IArticle6(address(nz)).getAuthorization(local);
        assertEq(keccak256(abi.encode(copy)), keccak256(abi.encode(auth)), "same letter, same terms");
        (UnitBlock memory b, uint256 labels) = nz.getBlock(1);
        assertEq(b.account, nzAccount, "imported account");
        assertEq(uint256(b.state), uint256(UnitState.Held), "imported state");
        assertEq(uint256(b.lockId), uint256(local), "held under NZ's record of the letter");
        (uint8 ndc,, uint8 ft,) = IArticle6(address(nz)).article6Labels();
        assertEq(labels, (uint256(1) << ndc) | (uint256(1) << ft), "NDC and first transferred");
        ActionRecord[] memory acquired = actionsOf(logs, Article6Action.Acquisition);
        assertEq(acquired.length, 1, "one acquisition");
        assertAction(acquired[0], 1, 100, nzAccount, NZ, AU);
        assertEq(actionsOf(logs, Article6Action.FirstTransfer).length, 0, "no first transfer at NZ");
    }

    function test_RefusedItmosReturnUnderTheirAuthorization() public {
        (uint64 transferId, uint64 authId) = _outAndApproved(nzAccount, NZ);
        Proposal memory p = _proposal(transferId, nzAccount);
        (Answer memory a, bytes memory answerSig) = _answer(p, _send(p), 5);
        vm.prank(relayer);
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
        vm.recordLogs();
        vm.prank(relayer);
        IInterop(address(registry)).recordAnswer(a, answerSig, hints(1));
        assertEq(actionsOf(vm.getRecordedLogs(), Article6Action.Transfer).length, 0, "no transfer");
        assertBlock(1, 100, seller, UnitState.Held, authId);
    }

    function test_RevertWhen_ProposalLeavesOutOrChangesTheTerms() public {
        (uint64 transferId,) = _outAndApproved(nzAccount, NZ);
        Proposal memory p = _proposal(transferId, nzAccount);
        ItmoTerms[] memory terms = p.itmos;
        p.itmos = new ItmoTerms[](0);
        bytes memory sig = signDigest(RELAYER_KEY, digestFor(address(registry), this.hashProposal(p)));
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(IInteropEvents.ProposalMismatch.selector, transferId, type(uint256).max)
        );
        IInterop(address(registry)).sendProposal(p, sig);
        terms[0].purposes = 3;
        p.itmos = terms;
        sig = signDigest(RELAYER_KEY, digestFor(address(registry), this.hashProposal(p)));
        vm.prank(relayer);
        vm.expectRevert(
            abi.encodeWithSelector(IInteropEvents.ProposalMismatch.selector, transferId, type(uint256).max)
        );
        IInterop(address(registry)).sendProposal(p, sig);
    }

    function test_RevertWhen_DestinationAccountIsOutsideTheAcquiringPartysSection() public {
        (uint64 transferId,) = _outAndApproved(nzPlain, NZ);
        Proposal memory p = _proposal(transferId, nzPlain);
        (Answer memory a, bytes memory answerSig) = _answer(p, _send(p), 0);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IInteropEvents.InvalidAcquiringParty.selector, NZ, NZ_CODE));
        IInterop(address(nz)).recordAnswer(a, answerSig, new uint64[](0));
    }

    function test_RevertWhen_AcquiringPartyIsNotThePeers() public {
        uint64 authId = authorize(1, 100, 1, FirstTransferDefinition.AtUseOrCancellation, PURPOSE_NDC);
        bytes32 before = a6Digest();
        TransferItmosOutRequest memory r = TransferItmosOutRequest({
            signer: ar1,
            fromAccount: seller,
            toRegistry: NZ_CODE,
            toAccount: nzAccount,
            toParty: CH,
            authorizationId: authId,
            ranges: range(1, 100),
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = sign(AR1_KEY, this.hashItmosOut(r));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IInteropEvents.InvalidAcquiringParty.selector, CH, NZ_CODE));
        IInterop(address(registry)).transferItmosOut(r, sig, hints(1));
        assertA6Unchanged(before);
    }
}
