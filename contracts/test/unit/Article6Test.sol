// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Cheats} from "../utils/Cheats.sol";
import {UnitTest} from "./UnitTest.sol";
import {IArticle6, IArticle6Events} from "../../src/interfaces/IArticle6.sol";
import {
    AccountKind,
    ApprovalPolicy,
    CancellationPurpose,
    Range,
    Representative,
    OpenAccountRequest,
    TransferDecisionRequest
} from "../../src/libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    Article6Action,
    Party,
    Authorization,
    MechanismAccounts,
    ItmoTransfer,
    Forward,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    SetMechanismAccountsRequest,
    AuthorizeRequest,
    IssueArticle64Request,
    TransferItmosRequest,
    CancelItmosRequest
} from "../../src/libraries/Article6Types.sol";

/// @notice Base of the Article 6 unit tests: the UnitTest registry (seller and buyer in Australia's
/// section, [1, 1000] held by the seller) plus Parties AU and CH in one cooperative approach, an
/// account in Switzerland's section, and helpers that build, sign and submit each Article 6 request.
/// @dev Australia's label authority is the fixture's `labeller`; Switzerland's is `chLabeller`.
abstract contract Article6Test is UnitTest {
    uint256 internal constant CH_LABELLER_KEY = 0xC41AB;
    bytes8 internal constant CH = "CH";
    bytes8 internal constant NZ = "NZ";
    bytes8 internal constant AU_REGISTRY = "AU-NR";
    bytes8 internal constant CH_REGISTRY = "CH-NR";
    bytes32 internal constant APPROACH = "AU-CH-2030";
    uint64 internal constant AUTHORIZED_AT = 1_740_000_000;
    uint8 internal constant BOTH = PURPOSE_NDC | PURPOSE_OIMP;
    address internal constant PARTY_ADMIN = address(0xAD01);

    IArticle6 internal a6;
    address internal chLabeller;
    /// @dev Switzerland's section, single policy, ar3 alone.
    uint64 internal chAccount;
    /// @dev Australia's section, single policy, ar1 (primary) and ar2.
    uint64 internal auSingle;
    uint256 private _letters;

    function setUp() public virtual override {
        super.setUp();
        a6 = IArticle6(address(registry));
        chLabeller = vm.addr(CH_LABELLER_KEY);
        bytes32 role = registry.LABEL_AUTHORITY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, chLabeller);
        registerParty(AU, AU_REGISTRY, labeller, PARTY_ADMIN);
        registerParty(CH, CH_REGISTRY, chLabeller, address(0));
        registerApproach(APPROACH, parties2(AU, CH));
        chAccount = openInSection(CH, ApprovalPolicy.Single, reps1(rep(ar3, true, true, true)));
        auSingle = openInSection(
            AU, ApprovalPolicy.Single, reps2(rep(ar1, true, true, true), rep(ar2, false, true, true))
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Request builders (signed separately, not submitted)
    // ---------------------------------------------------------------------------------------------

    function parties1(bytes8 a) internal pure returns (bytes8[] memory p) {
        p = new bytes8[](1);
        p[0] = a;
    }

    function parties2(bytes8 a, bytes8 b) internal pure returns (bytes8[] memory p) {
        p = new bytes8[](2);
        p[0] = a;
        p[1] = b;
    }

    function reps1(Representative memory a) internal pure returns (Representative[] memory reps) {
        reps = new Representative[](1);
        reps[0] = a;
    }

    function partyRequest(bytes8 party, bytes8 registryId, address authority, address partyAdmin)
        internal
        view
        returns (RegisterPartyRequest memory r)
    {
        address[] memory admins = new address[](partyAdmin == address(0) ? 0 : 1);
        if (partyAdmin != address(0)) admins[0] = partyAdmin;
        r = RegisterPartyRequest({
            signer: adminAddr,
            party: party,
            registryId: registryId,
            labelAuthority: authority,
            administrators: admins,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function approachRequest(bytes32 id, bytes8[] memory parties)
        internal
        view
        returns (RegisterCooperativeApproachRequest memory)
    {
        return RegisterCooperativeApproachRequest({
            signer: adminAddr,
            approachId: id,
            name: "Australia-Switzerland implementing agreement",
            parties: parties,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    function mechanismRequest(MechanismAccounts memory m)
        internal
        view
        returns (SetMechanismAccountsRequest memory)
    {
        return SetMechanismAccountsRequest({
            signer: adminAddr,
            pending: m.pending,
            holding: m.holding,
            cancellation: m.cancellation,
            omgeCancellation: m.omgeCancellation,
            shareOfProceeds: m.shareOfProceeds,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
    }

    /// @dev A new letter of Australia's label authority over `ranges`.
    function authorizeRequest(Range[] memory ranges, FirstTransferDefinition definition, uint8 purposes)
        internal
        returns (AuthorizeRequest memory r)
    {
        r = AuthorizeRequest({
            signer: labeller,
            party: AU,
            letterId: bytes32(abi.encodePacked("AU-LOA-", uint64(++_letters))),
            approachId: APPROACH,
            purposes: purposes,
            firstTransferDefinition: definition,
            authorizedAt: AUTHORIZED_AT,
            ranges: ranges,
            nonce: nextNonce(labeller),
            deadline: deadline()
        });
    }

    function itmoTransferRequest(
        address signer,
        uint64 from,
        uint64 to,
        uint64 authorizationId,
        Range[] memory ranges
    ) internal view returns (TransferItmosRequest memory) {
        return TransferItmosRequest({
            signer: signer,
            fromAccount: from,
            toAccount: to,
            authorizationId: authorizationId,
            ranges: ranges,
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function cancelItmosRequest(
        address signer,
        uint64 accountId,
        uint64 authorizationId,
        Range[] memory ranges,
        CancellationPurpose purpose
    ) internal view returns (CancelItmosRequest memory) {
        return CancelItmosRequest({
            signer: signer,
            accountId: accountId,
            authorizationId: authorizationId,
            ranges: ranges,
            purpose: purpose,
            beneficiary: "Commonwealth of Australia",
            reason: "NDC 2031-2035",
            nonce: nextNonce(signer),
            deadline: deadline()
        });
    }

    function issue64Request(uint64 quantity, Forward[] memory forwards)
        internal
        view
        returns (IssueArticle64Request memory)
    {
        return IssueArticle64Request({
            signer: issuer,
            projectId: PROJECT_2,
            unitType: "A6.4ER",
            vintage: 2026,
            monitoringStart: 1_700_000_000,
            monitoringEnd: 1_710_000_000,
            quantity: quantity,
            forwards: forwards,
            nonce: nextNonce(issuer),
            deadline: deadline()
        });
    }

    // ---------------------------------------------------------------------------------------------
    // Signing and submission: each submit makes exactly one external call after the prank
    // ---------------------------------------------------------------------------------------------

    function signRegisterParty(uint256 key, RegisterPartyRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashRegisterParty(r));
    }

    function signRegisterApproach(uint256 key, RegisterCooperativeApproachRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashRegisterApproach(r));
    }

    function signSetMechanism(uint256 key, SetMechanismAccountsRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashSetMechanism(r));
    }

    function signAuthorize(uint256 key, AuthorizeRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashAuthorize(r));
    }

    function signIssue64(uint256 key, IssueArticle64Request memory r) internal view returns (bytes memory) {
        return sign(key, this.hashIssueArticle64(r));
    }

    function signTransferItmos(uint256 key, TransferItmosRequest memory r)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashTransferItmos(r));
    }

    function signItmoDecision(uint256 key, TransferDecisionRequest memory r, bool isApproval)
        internal
        view
        returns (bytes memory)
    {
        return sign(key, this.hashItmoDecision(r, isApproval));
    }

    function signCancelItmos(uint256 key, CancelItmosRequest memory r) internal view returns (bytes memory) {
        return sign(key, this.hashCancelItmos(r));
    }

    function submitRegisterParty(RegisterPartyRequest memory r, bytes memory s) internal {
        vm.prank(relayer);
        a6.registerParty(r, s);
    }

    function submitRegisterApproach(RegisterCooperativeApproachRequest memory r, bytes memory s) internal {
        vm.prank(relayer);
        a6.registerCooperativeApproach(r, s);
    }

    function submitSetMechanism(SetMechanismAccountsRequest memory r, bytes memory s) internal {
        vm.prank(relayer);
        a6.setMechanismAccounts(r, s);
    }

    function submitAuthorize(AuthorizeRequest memory r, bytes memory s, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return a6.authorize(r, s, starts);
    }

    function submitIssue64(IssueArticle64Request memory r, bytes memory s)
        internal
        returns (uint64, uint64, uint64)
    {
        vm.prank(relayer);
        return a6.issueArticle64(r, s);
    }

    function submitTransferItmos(TransferItmosRequest memory r, bytes memory s, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return a6.transferItmos(r, s, starts);
    }

    function submitApproveItmo(TransferDecisionRequest memory r, bytes memory s, uint64[] memory starts)
        internal
    {
        vm.prank(relayer);
        a6.approveItmoTransfer(r, s, starts);
    }

    function submitRescindItmo(TransferDecisionRequest memory r, bytes memory s, uint64[] memory starts)
        internal
    {
        vm.prank(relayer);
        a6.rescindItmoTransfer(r, s, starts);
    }

    function submitCancelItmos(CancelItmosRequest memory r, bytes memory s, uint64[] memory starts)
        internal
        returns (uint64)
    {
        vm.prank(relayer);
        return a6.cancelItmos(r, s, starts);
    }

    // ---------------------------------------------------------------------------------------------
    // Scenario helpers (build, sign and submit in one go)
    // ---------------------------------------------------------------------------------------------

    function registerParty(bytes8 party, bytes8 registryId, address authority, address partyAdmin) internal {
        RegisterPartyRequest memory r = partyRequest(party, registryId, authority, partyAdmin);
        submitRegisterParty(r, signRegisterParty(ADMIN_KEY, r));
    }

    function registerApproach(bytes32 id, bytes8[] memory parties) internal {
        RegisterCooperativeApproachRequest memory r = approachRequest(id, parties);
        submitRegisterApproach(r, signRegisterApproach(ADMIN_KEY, r));
    }

    function openInSection(bytes8 party, ApprovalPolicy policy, Representative[] memory reps)
        internal
        returns (uint64)
    {
        OpenAccountRequest memory r = openAccountRequest(policy, reps);
        r.party = party;
        return submitOpenAccount(r, signOpenAccount(ADMIN_KEY, r));
    }

    function openKind(AccountKind kind) internal returns (uint64) {
        OpenAccountRequest memory r =
            openAccountRequest(ApprovalPolicy.Single, reps1(rep(ar3, true, true, true)));
        r.kind = kind;
        r.party = bytes8(0);
        return submitOpenAccount(r, signOpenAccount(ADMIN_KEY, r));
    }

    /// @dev Authorizes `[start, end]` (inside the block at `hint`) under a new letter of Australia.
    function authorize(
        uint64 start,
        uint64 end,
        uint64 hint,
        FirstTransferDefinition definition,
        uint8 purposes
    ) internal returns (uint64) {
        AuthorizeRequest memory r = authorizeRequest(range(start, end), definition, purposes);
        return submitAuthorize(r, signAuthorize(LABELLER_KEY, r), hints(hint));
    }

    function transferItmos(
        uint256 key,
        uint64 from,
        uint64 to,
        uint64 authorizationId,
        uint64 start,
        uint64 end,
        uint64 hint
    ) internal returns (uint64) {
        TransferItmosRequest memory r =
            itmoTransferRequest(vm.addr(key), from, to, authorizationId, range(start, end));
        return submitTransferItmos(r, signTransferItmos(key, r), hints(hint));
    }

    function cancelItmos(
        uint256 key,
        uint64 accountId,
        uint64 authorizationId,
        uint64 start,
        uint64 end,
        uint64 hint,
        CancellationPurpose purpose
    ) internal returns (uint64) {
        CancelItmosRequest memory r = cancelItmosRequest(
            vm.addr(key), accountId, authorizationId, range(start, end), purpose
        );
        return submitCancelItmos(r, signCancelItmos(key, r), hints(hint));
    }

    function decideItmo(uint256 key, uint64 transferId, bool isApproval, uint64[] memory starts) internal {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory s = signItmoDecision(key, r, isApproval);
        if (isApproval) submitApproveItmo(r, s, starts);
        else submitRescindItmo(r, s, starts);
    }

    /// @dev Opens the five mechanism accounts and configures them.
    function configureMechanism() internal returns (MechanismAccounts memory m) {
        m = MechanismAccounts({
            pending: openKind(AccountKind.Pending),
            holding: openKind(AccountKind.Holding),
            cancellation: openKind(AccountKind.Cancellation),
            omgeCancellation: openKind(AccountKind.OmgeCancellation),
            shareOfProceeds: openKind(AccountKind.ShareOfProceeds)
        });
        SetMechanismAccountsRequest memory r = mechanismRequest(m);
        submitSetMechanism(r, signSetMechanism(ADMIN_KEY, r));
    }

    function forwards1(uint64 accountId, uint64 quantity) internal pure returns (Forward[] memory f) {
        f = new Forward[](1);
        f[0] = Forward(accountId, quantity);
    }

    function forwards2(uint64 a, uint64 qa, uint64 b, uint64 qb) internal pure returns (Forward[] memory f) {
        f = new Forward[](2);
        f[0] = Forward(a, qa);
        f[1] = Forward(b, qb);
    }

    // ---------------------------------------------------------------------------------------------
    // Reading and assertions
    // ---------------------------------------------------------------------------------------------

    function labelBit(uint256 which) internal view returns (uint256) {
        (uint8 ndc, uint8 oimp, uint8 ft,) = a6.article6Labels();
        return uint256(1) << (which == 0 ? ndc : which == 1 ? oimp : ft);
    }

    function ndcBit() internal view returns (uint256) {
        return labelBit(0);
    }

    function oimpBit() internal view returns (uint256) {
        return labelBit(1);
    }

    function firstTransferredBit() internal view returns (uint256) {
        return labelBit(2);
    }

    /// @dev The Article6ActionRecorded events of `action` among `logs`, as (start, end, account, party,
    /// counterparty) tuples packed into one word each for easy comparison.
    function actionsOf(Cheats.Log[] memory logs, Article6Action action)
        internal
        pure
        returns (ActionRecord[] memory out)
    {
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            if (_isAction(logs[i], action)) ++n;
        }
        out = new ActionRecord[](n);
        n = 0;
        for (uint256 i; i < logs.length; ++i) {
            if (!_isAction(logs[i], action)) continue;
            (uint64 start, uint64 end, uint64 accountId, bytes8 party, bytes8 counterparty) =
                abi.decode(logs[i].data, (uint64, uint64, uint64, bytes8, bytes8));
            out[n++] = ActionRecord({
                operationId: uint64(uint256(logs[i].topics[1])),
                authorizationId: uint64(uint256(logs[i].topics[2])),
                start: start,
                end: end,
                accountId: accountId,
                party: party,
                counterparty: counterparty
            });
        }
    }

    struct ActionRecord {
        uint64 operationId;
        uint64 authorizationId;
        uint64 start;
        uint64 end;
        uint64 accountId;
        bytes8 party;
        bytes8 counterparty;
    }

    function _isAction(Cheats.Log memory log, Article6Action action) private pure returns (bool) {
        return log.topics.length == 4 && log.topics[0] == IArticle6Events.Article6ActionRecorded.selector
            && uint256(log.topics[3]) == uint256(action);
    }

    function assertAction(
        ActionRecord memory a,
        uint64 start,
        uint64 end,
        uint64 accountId,
        bytes8 party,
        bytes8 counterparty
    ) internal pure {
        assertEq(a.start, start, "action start");
        assertEq(a.end, end, "action end");
        assertEq(a.accountId, accountId, "action account");
        assertEq(bytes32(a.party), bytes32(party), "action party");
        assertEq(bytes32(a.counterparty), bytes32(counterparty), "action counterparty");
    }

    /// @dev Everything an Article 6 request can change: the core's state digest, the Parties and
    /// approaches the tests use, every authorization and ITMO transfer up to the operation counter, the
    /// mechanism accounts, the Article 6 labels and the Swiss label authority's nonce.
    function a6Digest() internal view returns (bytes32 digest) {
        digest = keccak256(abi.encode(stateDigest(), registry.nonces(chLabeller)));
        bytes8[3] memory codes = [AU, CH, NZ];
        for (uint256 i; i < codes.length; ++i) {
            Party memory p = a6.getParty(codes[i]);
            digest = keccak256(abi.encode(digest, p, a6.partyAdministrators(codes[i])));
        }
        digest =
            keccak256(abi.encode(digest, a6.cooperativeApproachParties(APPROACH), a6.mechanismAccounts()));
        (uint8 ndc, uint8 oimp, uint8 ft, bool defined) = a6.article6Labels();
        digest = keccak256(abi.encode(digest, ndc, oimp, ft, defined));
        uint64 operationEnd = nextOperationId();
        for (uint64 id = 1; id < operationEnd; ++id) {
            Authorization memory a = a6.getAuthorization(id);
            ItmoTransfer memory t = a6.getItmoTransfer(id);
            digest = keccak256(abi.encode(digest, a, t));
        }
    }

    function assertA6Unchanged(bytes32 before) internal view {
        assertEq(a6Digest(), before, "a refused Article 6 request changed registry state");
    }
}
