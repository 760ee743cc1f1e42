// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats, CHEATS_ADDRESS} from "./Cheats.sol";
import {UnitRegistry} from "../../src/UnitRegistry.sol";
import {AdministrationModule} from "../../src/modules/AdministrationModule.sol";
import {PlatformModule} from "../../src/modules/PlatformModule.sol";
import {CertificateModule} from "../../src/modules/CertificateModule.sol";
import {Article6Module} from "../../src/modules/Article6Module.sol";
import {Article6TransferModule} from "../../src/modules/Article6TransferModule.sol";
import {Article64Module} from "../../src/modules/Article64Module.sol";
import {InteropModule} from "../../src/modules/InteropModule.sol";
import {InteropAnswerModule} from "../../src/modules/InteropAnswerModule.sol";
import {IAdministration} from "../../src/interfaces/IAdministration.sol";
import {RequestHashing} from "../../src/libraries/RequestHashing.sol";
import {PlatformHashing} from "../../src/libraries/PlatformHashing.sol";
import {Article6Hashing} from "../../src/libraries/Article6Hashing.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    CancellationPurpose,
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
import {
    RegisterPlatformRequest,
    SetPlatformSignerRequest,
    SetPlatformStatusRequest,
    GrantConsentRequest,
    RevokeConsentRequest,
    ReserveRequest,
    ReservationDecisionRequest,
    EscrowRequest,
    SettleEscrowRequest,
    ReleaseEscrowRequest,
    AssociateRequest,
    DissociateRequest,
    RetireAssociationRequest
} from "../../src/libraries/PlatformTypes.sol";
import {
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    SetMechanismAccountsRequest,
    AuthorizeRequest,
    IssueArticle64Request,
    TransferItmosRequest,
    CancelItmosRequest
} from "../../src/libraries/Article6Types.sol";

/// @dev Minimal assertions: forge-std's Test.sol needs ds-test, which npm does not carry.
abstract contract Assertions {
    Cheats internal constant vm = Cheats(CHEATS_ADDRESS);

    error AssertionFailed(string message, uint256 left, uint256 right);

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) revert AssertionFailed(message, left, right);
    }

    function assertEq(uint256 left, uint256 right) internal pure {
        assertEq(left, right, "values differ");
    }

    function assertEq(address left, address right, string memory message) internal pure {
        assertEq(uint256(uint160(left)), uint256(uint160(right)), message);
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        assertEq(uint256(left), uint256(right), message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert AssertionFailed(message, 0, 1);
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) revert AssertionFailed(message, left, right);
    }

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (max <= min) return min;
        return min + (x % (max - min + 1));
    }
}

/// @notice Deploys the registry with its modules and signs requests the way node/ does.
/// @dev Actors are plain private keys; the relayer submits every request, as in production.
abstract contract RegistryFixture is Assertions {
    UnitRegistry internal registry;
    IAdministration internal admin;

    uint256 internal constant ADMIN_KEY = 0xA11CE;
    uint256 internal constant ISSUER_KEY = 0x155E7;
    uint256 internal constant LABELLER_KEY = 0x1ABE1;
    uint256 internal constant RELAYER_KEY = 0x4E1A7;
    uint256 internal constant AR1_KEY = 0xA401;
    uint256 internal constant AR2_KEY = 0xA402;
    uint256 internal constant AR3_KEY = 0xA403;
    uint256 internal constant OUTSIDER_KEY = 0x0BAD;

    address internal adminAddr;
    address internal issuer;
    address internal labeller;
    address internal relayer;
    address internal ar1;
    address internal ar2;
    address internal ar3;
    address internal outsider;

    /// @dev Records of pending two-person transfers, as TransferInitiated logs them: the registry keeps
    /// only their hash (decision D46), and approve and rescind are relayed with the record.
    mapping(uint64 transferId => PendingTransfer) internal pendingRecords;

    bytes32 internal constant PROJECT = "ERF101234";
    bytes32 internal constant ACCU = "ACCU";
    uint256 internal constant DEADLINE_WINDOW = 1 hours;

    function setUpRegistry() internal {
        vm.warp(1_750_000_000);
        adminAddr = vm.addr(ADMIN_KEY);
        issuer = vm.addr(ISSUER_KEY);
        labeller = vm.addr(LABELLER_KEY);
        relayer = vm.addr(RELAYER_KEY);
        ar1 = vm.addr(AR1_KEY);
        ar2 = vm.addr(AR2_KEY);
        ar3 = vm.addr(AR3_KEY);
        outsider = vm.addr(OUTSIDER_KEY);

        registry = new UnitRegistry("AU", adminAddr, deployModules());
        admin = IAdministration(address(registry));
        vm.startPrank(adminAddr);
        registry.grantRole(registry.ISSUER_ROLE(), issuer);
        registry.grantRole(registry.LABEL_AUTHORITY_ROLE(), labeller);
        registry.grantRole(registry.RELAYER_ROLE(), relayer);
        vm.stopPrank();
    }

    /// @notice A fresh deployment of every module the registry routes to, in node/'s deploy order.
    function deployModules() internal returns (address[] memory modules) {
        modules = new address[](8);
        modules[0] = address(new AdministrationModule());
        modules[1] = address(new PlatformModule());
        modules[2] = address(new CertificateModule());
        modules[3] = address(new Article6Module());
        modules[4] = address(new Article6TransferModule());
        modules[5] = address(new Article64Module());
        modules[6] = address(new InteropModule());
        modules[7] = address(new InteropAnswerModule());
    }

    // ---------------------------------------------------------------------------------------------
    // Signing
    // ---------------------------------------------------------------------------------------------

    function digestOf(bytes32 structHash) internal view returns (bytes32) {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) =
            registry.eip712Domain();
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

    function signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function nextNonce(address signer) internal view returns (uint256) {
        return registry.nonces(signer);
    }

    function deadline() internal view returns (uint256) {
        return block.timestamp + DEADLINE_WINDOW;
    }

    /// @dev External so that tests can sign calldata structs through RequestHashing, PlatformHashing and
    /// Article6Hashing, exactly as the core and the modules hash them.
    function hashOpenAccount(OpenAccountRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashSetRepresentative(SetRepresentativeRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashSetAccountStatus(SetAccountStatusRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashRegisterProject(RegisterProjectRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashDefineLabel(DefineLabelRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashIssue(IssueRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashInitiateTransfer(InitiateTransferRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashTransferDecision(TransferDecisionRequest calldata r, bool isApproval)
        external
        pure
        returns (bytes32)
    {
        return RequestHashing.hash(
            r,
            isApproval ? RequestHashing.APPROVE_TRANSFER_TYPEHASH : RequestHashing.RESCIND_TRANSFER_TYPEHASH
        );
    }

    function hashCancel(CancelRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function hashSetLabel(SetLabelRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    // Platform models and third-party certificates (PlatformHashing)

    function hashRegisterPlatform(RegisterPlatformRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashSetPlatformSigner(SetPlatformSignerRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashSetPlatformStatus(SetPlatformStatusRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashGrantConsent(GrantConsentRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashRevokeConsent(RevokeConsentRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashReserve(ReserveRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashReservationDecision(ReservationDecisionRequest calldata r, bool isRelease)
        external
        pure
        returns (bytes32)
    {
        return PlatformHashing.hash(
            r,
            isRelease
                ? PlatformHashing.RELEASE_RESERVATION_TYPEHASH
                : PlatformHashing.TRANSFER_RESERVATION_TYPEHASH
        );
    }

    function hashEscrow(EscrowRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashSettleEscrow(SettleEscrowRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashReleaseEscrow(ReleaseEscrowRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashAssociate(AssociateRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashDissociate(DissociateRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    function hashRetireAssociation(RetireAssociationRequest calldata r) external pure returns (bytes32) {
        return PlatformHashing.hash(r);
    }

    // Article 6 (Article6Hashing)

    function hashRegisterParty(RegisterPartyRequest calldata r) external pure returns (bytes32) {
        return Article6Hashing.hash(r);
    }

    function hashRegisterApproach(RegisterCooperativeApproachRequest calldata r)
        external
        pure
        returns (bytes32)
    {
        return Article6Hashing.hash(r);
    }

    function hashSetMechanism(SetMechanismAccountsRequest calldata r) external pure returns (bytes32) {
        return Article6Hashing.hash(r);
    }

    function hashAuthorize(AuthorizeRequest calldata r) external pure returns (bytes32) {
        return Article6Hashing.hash(r);
    }

    function hashIssueArticle64(IssueArticle64Request calldata r) external pure returns (bytes32) {
        return Article6Hashing.hash(r);
    }

    function hashTransferItmos(TransferItmosRequest calldata r) external pure returns (bytes32) {
        return Article6Hashing.hash(r);
    }

    function hashItmoDecision(TransferDecisionRequest calldata r, bool isApproval)
        external
        pure
        returns (bytes32)
    {
        return Article6Hashing.hash(
            r,
            isApproval
                ? Article6Hashing.APPROVE_ITMO_TRANSFER_TYPEHASH
                : Article6Hashing.RESCIND_ITMO_TRANSFER_TYPEHASH
        );
    }

    function hashCancelItmos(CancelItmosRequest calldata r) external pure returns (bytes32) {
        return Article6Hashing.hash(r);
    }

    // ---------------------------------------------------------------------------------------------
    // Request builders (signed, not submitted)
    // ---------------------------------------------------------------------------------------------

    function rep(address a, bool primary, bool canInitiate, bool canApprove)
        internal
        pure
        returns (Representative memory)
    {
        return Representative({addr: a, primary: primary, canInitiate: canInitiate, canApprove: canApprove});
    }

    function range(uint64 start, uint64 end) internal pure returns (Range[] memory ranges) {
        ranges = new Range[](1);
        ranges[0] = Range(start, end);
    }

    function hints(uint64 start) internal pure returns (uint64[] memory starts) {
        starts = new uint64[](1);
        starts[0] = start;
    }

    function openAccountRequest(ApprovalPolicy policy, Representative[] memory reps)
        internal
        view
        returns (OpenAccountRequest memory r)
    {
        r = OpenAccountRequest({
            signer: adminAddr,
            kind: AccountKind.Holding,
            holderName: "Acme Carbon Pty Ltd",
            party: "AU",
            approvalPolicy: policy,
            representatives: reps,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function issueRequest(uint64 quantity, uint64 toAccount, uint64 periodStart, uint64 periodEnd)
        internal
        view
        returns (IssueRequest memory r)
    {
        r = IssueRequest({
            signer: issuer,
            projectId: PROJECT,
            unitType: ACCU,
            vintage: 2024,
            monitoringStart: periodStart,
            monitoringEnd: periodEnd,
            originRegistry: bytes8(0),
            quantity: quantity,
            toAccount: toAccount,
            labels: 0,
            nonce: nextNonce(issuer),
            deadline: deadline()
        });
    }

    function transferRequest(address signer, uint64 from, uint64 to, Range[] memory ranges)
        internal
        view
        returns (InitiateTransferRequest memory r)
    {
        r = InitiateTransferRequest({
            signer: signer,
            fromAccount: from,
            toAccount: to,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function decisionRequest(address signer, uint64 transferId)
        internal
        view
        returns (TransferDecisionRequest memory)
    {
        return TransferDecisionRequest({
            signer: signer, transferId: transferId, nonce: nextNonce(signer), deadline: deadline()
        });
    }

    function cancelRequest(address signer, uint64 accountId, Range[] memory ranges)
        internal
        view
        returns (CancelRequest memory)
    {
        return CancelRequest({
            signer: signer,
            accountId: accountId,
            ranges: ranges,
            purpose: CancellationPurpose.Voluntary,
            beneficiary: "Acme Carbon Pty Ltd",
            reason: "FY2025 voluntary offset",
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function labelRequest(uint8 labelId, bool applied, Range[] memory ranges)
        internal
        view
        returns (SetLabelRequest memory)
    {
        return SetLabelRequest({
            signer: labeller,
            labelId: labelId,
            applied: applied,
            ranges: ranges,
            nonce: nextNonce(labeller),
            deadline: deadline()
        });
    }

    // ---------------------------------------------------------------------------------------------
    // Signed operations (submitted by the relayer)
    // ---------------------------------------------------------------------------------------------

    function openAccount(ApprovalPolicy policy, Representative[] memory reps) internal returns (uint64) {
        OpenAccountRequest memory r = openAccountRequest(policy, reps);
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashOpenAccount(r)));
        vm.prank(relayer);
        return admin.openAccount(r, sig);
    }

    /// @dev An account with ar1 (primary, initiate + approve) and ar2 (initiate + approve).
    function openStandardAccount(ApprovalPolicy policy) internal returns (uint64) {
        Representative[] memory reps = new Representative[](2);
        reps[0] = rep(ar1, true, true, true);
        reps[1] = rep(ar2, false, true, true);
        return openAccount(policy, reps);
    }

    /// @dev An account whose only representative is ar3.
    function openBuyerAccount() internal returns (uint64) {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        return openAccount(ApprovalPolicy.Single, reps);
    }

    function registerProject(bytes32 projectId) internal {
        RegisterProjectRequest memory r = RegisterProjectRequest({
            signer: issuer,
            projectId: projectId,
            name: "Savanna burning, Arnhem Land",
            methodology: "Savanna Fire Management 2018",
            country: "AU",
            nonce: nextNonce(issuer),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ISSUER_KEY, digestOf(this.hashRegisterProject(r)));
        vm.prank(relayer);
        admin.registerProject(r, sig);
    }

    function issue(IssueRequest memory r) internal returns (uint64 issuanceId, uint64 start, uint64 end) {
        bytes memory sig = signDigest(ISSUER_KEY, digestOf(this.hashIssue(r)));
        vm.prank(relayer);
        return admin.issue(r, sig);
    }

    /// @dev Issues `quantity` units for the next free monitoring year of PROJECT.
    uint64 private _periodCursor = 1_600_000_000;

    function issueTo(uint64 accountId, uint64 quantity) internal returns (uint64 start, uint64 end) {
        if (!registry.isProjectRegistered(PROJECT)) registerProject(PROJECT);
        uint64 periodStart = _periodCursor;
        _periodCursor += 365 days;
        (, start, end) = issue(issueRequest(quantity, accountId, periodStart, periodStart + 364 days));
    }

    function initiate(uint256 key, uint64 from, uint64 to, Range[] memory ranges, uint64[] memory starts)
        internal
        returns (uint64)
    {
        InitiateTransferRequest memory r = transferRequest(vm.addr(key), from, to, ranges);
        bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(r)));
        vm.prank(relayer);
        uint64 id = registry.initiateTransfer(r, sig, starts);
        notePending(id, from, to, ranges, r.signer);
        return id;
    }

    /// @dev Keeps the record of `transferId` if it is a pending two-person transfer.
    function notePending(uint64 transferId, uint64 from, uint64 to, Range[] memory ranges, address initiator)
        internal
    {
        // A refused initiate (under expectRevert) returns id 0; a single-policy transfer keeps nothing.
        if (transferId == 0 || !_isTwoPerson(from)) return;
        uint64 quantity;
        for (uint256 i; i < ranges.length; ++i) {
            quantity += ranges[i].end - ranges[i].start + 1;
        }
        PendingTransfer memory record =
            PendingTransfer({fromAccount: from, toAccount: to, quantity: quantity, initiator: initiator});
        notePending(transferId, record);
    }

    /// @dev Whether transfers from `accountId` wait for a second representative.
    function _isTwoPerson(uint64 accountId) internal view returns (bool) {
        return registry.getAccount(accountId).approvalPolicy == ApprovalPolicy.TwoPerson;
    }

    function notePending(uint64 transferId, PendingTransfer memory record) internal {
        assertTrue(registry.isTransferPending(transferId, record), "pending record");
        pendingRecords[transferId] = record;
    }

    function approve(uint256 key, uint64 transferId, uint64[] memory starts) internal {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, true)));
        vm.prank(relayer);
        registry.approveTransfer(r, sig, pendingRecords[transferId], starts);
    }

    function rescind(uint256 key, uint64 transferId, uint64[] memory starts) internal {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, false)));
        vm.prank(relayer);
        registry.rescindTransfer(r, sig, pendingRecords[transferId], starts);
    }

    function cancelUnits(uint256 key, uint64 accountId, Range[] memory ranges, uint64[] memory starts)
        internal
        returns (uint64)
    {
        CancelRequest memory r = cancelRequest(vm.addr(key), accountId, ranges);
        bytes memory sig = signDigest(key, digestOf(this.hashCancel(r)));
        vm.prank(relayer);
        return registry.cancel(r, sig, starts);
    }

    function defineLabel(bytes32 name) internal returns (uint8) {
        DefineLabelRequest memory r = DefineLabelRequest({
            signer: adminAddr,
            name: name,
            authority: labeller,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashDefineLabel(r)));
        vm.prank(relayer);
        return admin.defineLabel(r, sig);
    }

    function setLabel(uint8 labelId, bool applied, Range[] memory ranges, uint64[] memory starts) internal {
        SetLabelRequest memory r = labelRequest(labelId, applied, ranges);
        bytes memory sig = signDigest(LABELLER_KEY, digestOf(this.hashSetLabel(r)));
        vm.prank(relayer);
        registry.setLabel(r, sig, starts);
    }

    function setStatus(uint64 accountId, AccountStatus status) internal {
        SetAccountStatusRequest memory r = SetAccountStatusRequest({
            signer: adminAddr,
            accountId: accountId,
            status: status,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashSetAccountStatus(r)));
        vm.prank(relayer);
        admin.setAccountStatus(r, sig);
    }

    // ---------------------------------------------------------------------------------------------
    // Reading
    // ---------------------------------------------------------------------------------------------

    function blockAt(uint64 start) internal view returns (UnitBlock memory b) {
        (b,) = registry.getBlock(start);
    }

    function labelsAt(uint64 start) internal view returns (uint256 labels) {
        (, labels) = registry.getBlock(start);
    }
}
