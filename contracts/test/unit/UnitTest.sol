// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats, CHEATS_ADDRESS} from "../utils/Cheats.sol";
import {RegistryFixture} from "../utils/RegistryFixture.sol";
import {UnitRegistry} from "../../src/UnitRegistry.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    TransferStatus,
    UnitBlock,
    PendingTransfer,
    Range,
    Representative,
    OpenAccountRequest,
    SetRepresentativeRequest,
    SetAccountStatusRequest,
    RegisterProjectRequest,
    DefineLabelRequest,
    IssueRequest,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest
} from "../../src/libraries/RegistryTypes.sol";

/// @dev Cheatcodes the unit suite needs beyond the shared Cheats interface.
interface UnitCheats is Cheats {
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
    function deal(address account, uint256 newBalance) external;
}

/// @notice Base of the unit suite: a registry with a two-person seller account holding serials
/// [1, 1000], a single-policy buyer account, and helpers that build, sign and submit each request type
/// separately, so that a test can place `expectRevert` or `expectEmit` right before the relayer's call.
/// @dev `vm.expectRevert` applies to the next external call, so every request is built and signed (which
/// calls the fixture's external hash functions and the registry's views) before the expectation is set.
abstract contract UnitTest is RegistryFixture {
    UnitCheats internal constant cheats = UnitCheats(CHEATS_ADDRESS);

    /// @dev Order of the secp256k1 group, for flipping a signature to its high-s twin.
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint64 internal constant FIRST_ACCOUNT_ID = 1_000_001;
    uint64 internal constant ISSUED = 1000;
    uint64 internal constant MAX_SERIAL = uint64(type(int64).max);
    bytes32 internal constant PROJECT_2 = "ERF205678";
    bytes32 internal constant KACCU = "KACCU";
    bytes8 internal constant AU = "AU";

    /// @dev TwoPerson policy: ar1 (primary, initiate + approve) and ar2 (initiate + approve).
    uint64 internal seller;
    /// @dev Single policy: ar3 (primary, initiate + approve).
    uint64 internal buyer;

    function setUp() public virtual {
        setUpRegistry();
        seller = openStandardAccount(ApprovalPolicy.TwoPerson);
        buyer = openBuyerAccount();
        issueTo(seller, ISSUED);
    }

    // ---------------------------------------------------------------------------------------------
    // Assertions the shared fixture lacks
    // ---------------------------------------------------------------------------------------------

    function assertEq(bool left, bool right, string memory message) internal pure {
        assertEq(left ? 1 : 0, right ? 1 : 0, message);
    }

    function assertEq(string memory left, string memory right, string memory message) internal pure {
        assertEq(keccak256(bytes(left)), keccak256(bytes(right)), message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        assertTrue(!condition, message);
    }

    /// @dev Asserts the block at `start` is `[start, end]`, held by `account` in `state` under `lockId`.
    function assertBlock(uint64 start, uint64 end, uint64 account, UnitState state, uint64 lockId)
        internal
        view
    {
        UnitBlock memory b = blockAt(start);
        assertEq(b.end, end, "block end");
        assertEq(b.account, account, "block account");
        assertEq(uint256(b.state), uint256(state), "block state");
        assertEq(b.lockId, lockId, "block lockId");
    }

    /// @dev A pending transfer's stored hash is its record's (D46); a decided one's slot is cleared.
    function assertTransfer(uint64 transferId, uint64 from, uint64 to, uint64 quantity, TransferStatus status)
        internal
        view
    {
        PendingTransfer memory t = pendingRecords[transferId];
        if (status != TransferStatus.Pending) {
            assertFalse(registry.isTransferPending(transferId, t), "decided transfer still stored");
            assertEq(registry.pendingTransferHash(transferId), bytes32(0), "decided transfer still stored");
            return;
        }
        assertEq(t.fromAccount, from, "transfer from");
        assertEq(t.toAccount, to, "transfer to");
        assertEq(t.quantity, quantity, "transfer quantity");
        assertTrue(registry.isTransferPending(transferId, t), "transfer record hash");
    }

    // ---------------------------------------------------------------------------------------------
    // State digest: everything a request can change, to prove that a refused request changed nothing
    // ---------------------------------------------------------------------------------------------

    /// @dev Hashes the counters, every block (walked from serial 1 through `end + 1`, which reaches all
    /// of them because the blocks partition the issued serials), every block's labels, every account with
    /// the rights of every known actor, every issuance, transfer and label, the known projects, and the
    /// nonce of every known actor.
    function stateDigest() internal view returns (bytes32 digest) {
        (uint64 accountEnd, uint64 serialEnd, uint64 issuanceEnd, uint64 operationEnd, uint16 labelCount) =
            registry.counters();
        digest = keccak256(abi.encode(accountEnd, serialEnd, issuanceEnd, operationEnd, labelCount));
        address[8] memory actors = [adminAddr, issuer, labeller, relayer, ar1, ar2, ar3, outsider];
        for (uint256 i; i < actors.length; ++i) {
            digest = keccak256(abi.encode(digest, registry.nonces(actors[i])));
        }
        for (uint64 s = 1; s < serialEnd;) {
            (UnitBlock memory b, uint256 labels) = registry.getBlock(s);
            assertTrue(b.state != UnitState.None && b.end >= s, "blocks do not partition the issued serials");
            digest = keccak256(abi.encode(digest, s, b, labels));
            s = b.end + 1;
            if (s == 0) break;
        }
        for (uint64 id = FIRST_ACCOUNT_ID; id < accountEnd; ++id) {
            digest = keccak256(abi.encode(digest, registry.getAccount(id)));
            for (uint256 i; i < actors.length; ++i) {
                digest = keccak256(abi.encode(digest, registry.representativeRights(id, actors[i])));
                (uint64 pendingId, bytes24 pendingHash) = registry.pendingTransferOf(id, actors[i]);
                digest = keccak256(abi.encode(digest, pendingId, pendingHash));
            }
        }
        for (uint64 id = 1; id < issuanceEnd; ++id) {
            digest = keccak256(abi.encode(digest, registry.getIssuance(id)));
        }
        for (uint64 id = 1; id < operationEnd; ++id) {
            digest = keccak256(abi.encode(digest, registry.pendingTransferHash(id)));
        }
        for (uint16 id; id < labelCount; ++id) {
            // forge-lint: disable-next-line(unsafe-typecast)
            digest = keccak256(abi.encode(digest, registry.getLabel(uint8(id))));
        }
        digest = keccak256(
            abi.encode(digest, registry.isProjectRegistered(PROJECT), registry.isProjectRegistered(PROJECT_2))
        );
    }

    function assertStateUnchanged(bytes32 before) internal view {
        assertEq(stateDigest(), before, "a refused request changed registry state");
    }

    // ---------------------------------------------------------------------------------------------
    // Signatures
    // ---------------------------------------------------------------------------------------------

    function sign(uint256 key, bytes32 structHash) internal view returns (bytes memory) {
        return signDigest(key, digestOf(structHash));
    }

    /// @dev The EIP-712 digest of `structHash` under the domain of the registry at `target`.
    function digestFor(address target, bytes32 structHash) internal view returns (bytes32) {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) =
            UnitRegistry(payable(target)).eip712Domain();
        bytes32 domain = keccak256(
            abi.encode(
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak256(bytes(name)),
                keccak256(bytes(version)),
                chainId,
                verifying
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @dev What ecrecover makes of a 65-byte `signature` over `digest`.
    function recoverSigner(bytes32 digest, bytes memory signature) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        return ecrecover(digest, v, r, s);
    }

    /// @dev The malleable twin of a valid signature: s' = n - s with the other parity. ecrecover accepts
    /// it for the same signer; OpenZeppelin's ECDSA must not.
    function highS(bytes memory signature) internal pure returns (bytes memory twin, bytes32 sHigh) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        sHigh = bytes32(SECP256K1_N - uint256(s));
        twin = abi.encodePacked(r, sHigh, v == 27 ? uint8(28) : uint8(27));
    }

    /// @dev A second registry with its own module, where only the relayer role is granted: enough to reach
    /// the signature check.
    function deployOtherRegistry() internal returns (UnitRegistry other) {
        other = new UnitRegistry("AU", adminAddr, deployModules());
        bytes32 relayerRole = other.RELAYER_ROLE();
        vm.prank(adminAddr);
        other.grantRole(relayerRole, relayer);
    }

    // ---------------------------------------------------------------------------------------------
    // Request builders the fixture lacks
    // ---------------------------------------------------------------------------------------------

    function setRepresentativeRequest(uint64 accountId, Representative memory r)
        internal
        view
        returns (SetRepresentativeRequest memory)
    {
        return SetRepresentativeRequest({
            signer: adminAddr,
            accountId: accountId,
            representative: r,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function setStatusRequest(uint64 accountId, AccountStatus status)
        internal
        view
        returns (SetAccountStatusRequest memory)
    {
        return SetAccountStatusRequest({
            signer: adminAddr,
            accountId: accountId,
            status: status,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function registerProjectRequest(address signer, bytes32 projectId)
        internal
        view
        returns (RegisterProjectRequest memory)
    {
        return RegisterProjectRequest({
            signer: signer,
            projectId: projectId,
            name: "Savanna burning, Arnhem Land",
            methodology: "Savanna Fire Management 2018",
            country: "AU",
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function defineLabelRequest(bytes32 name, address authority)
        internal
        view
        returns (DefineLabelRequest memory)
    {
        return DefineLabelRequest({
            signer: adminAddr,
            name: name,
            authority: authority,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function ranges2(uint64 s1, uint64 e1, uint64 s2, uint64 e2) internal pure returns (Range[] memory r) {
        r = new Range[](2);
        r[0] = Range(s1, e1);
        r[1] = Range(s2, e2);
    }

    function hints2(uint64 a, uint64 b) internal pure returns (uint64[] memory starts) {
        starts = new uint64[](2);
        starts[0] = a;
        starts[1] = b;
    }

    // ---------------------------------------------------------------------------------------------
    // Signing per request type
    // ---------------------------------------------------------------------------------------------

    function signOpenAccount(uint256 key, OpenAccountRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashOpenAccount(r));
    }

    function signSetRepresentative(uint256 key, SetRepresentativeRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashSetRepresentative(r));
    }

    function signSetStatus(uint256 key, SetAccountStatusRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashSetAccountStatus(r));
    }

    function signRegisterProject(uint256 key, RegisterProjectRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashRegisterProject(r));
    }

    function signDefineLabel(uint256 key, DefineLabelRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashDefineLabel(r));
    }

    function signIssue(uint256 key, IssueRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashIssue(r));
    }

    function signInitiate(uint256 key, InitiateTransferRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashInitiateTransfer(r));
    }

    function signApprove(uint256 key, TransferDecisionRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashTransferDecision(r, true));
    }

    function signRescind(uint256 key, TransferDecisionRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashTransferDecision(r, false));
    }

    function signCancel(uint256 key, CancelRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashCancel(r));
    }

    function signSetLabel(uint256 key, SetLabelRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashSetLabel(r));
    }

    // ---------------------------------------------------------------------------------------------
    // Submission by the relayer. Each makes exactly one external call after the prank, so a preceding
    // expectRevert / expectEmit applies to it.
    // ---------------------------------------------------------------------------------------------

    function submitOpenAccount(OpenAccountRequest memory r, bytes memory sig) internal returns (uint64) {
        vm.prank(relayer);
        return admin.openAccount(r, sig);
    }

    function submitSetRepresentative(SetRepresentativeRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        admin.setRepresentative(r, sig);
    }

    function submitSetStatus(SetAccountStatusRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        admin.setAccountStatus(r, sig);
    }

    function submitRegisterProject(RegisterProjectRequest memory r, bytes memory sig) internal {
        vm.prank(relayer);
        admin.registerProject(r, sig);
    }

    function submitDefineLabel(DefineLabelRequest memory r, bytes memory sig) internal returns (uint8) {
        vm.prank(relayer);
        return admin.defineLabel(r, sig);
    }

    function submitIssue(IssueRequest memory r, bytes memory sig) internal returns (uint64, uint64, uint64) {
        vm.prank(relayer);
        return admin.issue(r, sig);
    }

    function submitInitiate(InitiateTransferRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        uint64 id = registry.initiateTransfer(r, sig, starts);
        notePending(id, r.fromAccount, r.toAccount, r.ranges, r.signer);
        return id;
    }

    function submitApprove(TransferDecisionRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
    {
        vm.prank(relayer);
        registry.approveTransfer(r, sig, pendingRecords[r.transferId], starts);
    }

    function submitRescind(TransferDecisionRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
    {
        vm.prank(relayer);
        registry.rescindTransfer(r, sig, pendingRecords[r.transferId], starts);
    }

    function submitCancel(CancelRequest memory r, bytes memory sig, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return registry.cancel(r, sig, starts);
    }

    function submitSetLabel(SetLabelRequest memory r, bytes memory sig, uint64[] memory starts) internal {
        vm.prank(relayer);
        registry.setLabel(r, sig, starts);
    }

    // ---------------------------------------------------------------------------------------------
    // Scenario helpers
    // ---------------------------------------------------------------------------------------------

    /// @dev Opens an account of `kind` whose only representative is ar3.
    function openAccountOfKind(AccountKind kind) internal returns (uint64) {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        r.kind = kind;
        return submitOpenAccount(r, signOpenAccount(ADMIN_KEY, r));
    }

    /// @dev Opens an account with the given representatives under the given policy.
    function openAccountWith(ApprovalPolicy policy, Representative[] memory reps) internal returns (uint64) {
        return openAccount(policy, reps);
    }

    function reps2(Representative memory a, Representative memory b)
        internal
        pure
        returns (Representative[] memory reps)
    {
        reps = new Representative[](2);
        reps[0] = a;
        reps[1] = b;
    }

    function setRepresentative(uint64 accountId, Representative memory r) internal {
        SetRepresentativeRequest memory req = setRepresentativeRequest(accountId, r);
        submitSetRepresentative(req, signSetRepresentative(ADMIN_KEY, req));
    }

    /// @dev Registers `projectId` if needed and issues `quantity` units of `unitType` for the given period.
    function issueFor(
        bytes32 projectId,
        bytes32 unitType,
        uint64 periodStart,
        uint64 periodEnd,
        uint64 quantity
    ) internal returns (uint64 issuanceId, uint64 start, uint64 end) {
        if (!registry.isProjectRegistered(projectId)) registerProject(projectId);
        IssueRequest memory r = issueRequest(quantity, seller, periodStart, periodEnd);
        r.projectId = projectId;
        r.unitType = unitType;
        return issue(r);
    }

    /// @dev A pending transfer of `[start, end]` from the seller to the buyer, initiated by ar1.
    function initiatePending(uint64 start, uint64 end, uint64 hint) internal returns (uint64) {
        return initiate(AR1_KEY, seller, buyer, range(start, end), hints(hint));
    }

    /// @dev Defines a label whose authority is the issuer (granted LABEL_AUTHORITY_ROLE for it).
    function defineIssuerLabel(bytes32 name) internal returns (uint8) {
        bytes32 role = registry.LABEL_AUTHORITY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, issuer);
        DefineLabelRequest memory r = defineLabelRequest(name, issuer);
        return submitDefineLabel(r, signDefineLabel(ADMIN_KEY, r));
    }

    function counter(uint256 which) internal view returns (uint256) {
        (uint64 a, uint64 s, uint64 i, uint64 o, uint16 l) = registry.counters();
        if (which == 0) return a;
        if (which == 1) return s;
        if (which == 2) return i;
        if (which == 3) return o;
        return l;
    }

    function nextOperationId() internal view returns (uint64) {
        return uint64(counter(3));
    }
}
