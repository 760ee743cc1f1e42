// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {BaselineToken} from "./BaselineToken.sol";
import {RegistryFixture} from "../utils/RegistryFixture.sol";
import {GasCheats, GAS_CHEATS} from "../utils/GasCheats.sol";
import {IUnitRegistry} from "../../src/interfaces/IUnitRegistry.sol";
import {IPlatforms} from "../../src/interfaces/IPlatforms.sol";
import {ICertificates} from "../../src/interfaces/ICertificates.sol";
import {
    ConsentScope,
    RegisterPlatformRequest,
    GrantConsentRequest,
    ReserveRequest,
    EscrowRequest,
    AssociateRequest
} from "../../src/libraries/PlatformTypes.sol";
import {
    IArticle6,
    IArticle6Authorization,
    IArticle6Transfers,
    IArticle64
} from "../../src/interfaces/IArticle6.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    MechanismAccounts,
    Forward,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    SetMechanismAccountsRequest,
    AuthorizeRequest,
    IssueArticle64Request,
    TransferItmosRequest,
    CancelItmosRequest
} from "../../src/libraries/Article6Types.sol";
import {
    AccountKind,
    ApprovalPolicy,
    CancellationPurpose,
    UnitState,
    OpenAccountRequest,
    Representative,
    InitiateTransferRequest,
    TransferDecisionRequest,
    CancelRequest,
    SetLabelRequest
} from "../../src/libraries/RegistryTypes.sol";

/// @notice Transaction-level gas of the registry's unit operations next to an OpenZeppelin ERC-20
/// transfer, measured in one run and written to contracts/snapshots/registry.json.
/// @dev What a chain charges for a transaction is intrinsic gas (21,000 plus 4 per zero and 16 per
/// non-zero calldata byte, Cancun rules, no access list) plus the execution gas of the call, less any
/// refund (capped at a fifth). Each figure is measured like that:
/// - every operation starts from the same committed set-up state (`revertToState` before each), with
///   the target's account and storage cold (`vm.cool`), as in a fresh transaction: SLOADs pay 2,100
///   and SSTOREs are priced against the slot's value before the call (EIP-2929, EIP-2200);
/// - the execution gas is `lastCallGas().gasTotalUsed`: the gas the callee's frame used. It leaves out
///   what the test contract's CALL costs (the cold-account surcharge, argument copying), which a real
///   transaction does not pay either: its intrinsic 21,000 covers the call to `to`. forge's
///   start/stopSnapshotGas, by contrast, meters the caller's frame and so includes those costs;
/// - signers are in steady state: each has used a nonce before, as a working representative has.
/// Checked against real transactions: replaying the set-up and each request on anvil (cancun), receipt
/// gasUsed - 21,000 - calldata gas equalled the execution gas here for every row, exactly.
contract GasBenchmarkTest is RegistryFixture {
    struct Row {
        string name;
        uint256 executionGas;
        uint256 calldataGas;
        uint256 refund;
        uint256 transactionGas;
    }

    uint256 internal constant INTRINSIC_GAS = 21_000;
    uint64 internal constant BLOCK_SIZE = 1000;
    uint64 internal constant BILLION = 1_000_000_000;
    /// @dev Transfers per relayer batch in the batch benchmark.
    uint256 internal constant BATCH = 10;
    string internal constant GROUP = "registry";
    /// @dev A deadline the size of the API's (a Unix time in 2027): four non-zero calldata bytes.
    uint256 internal constant API_DEADLINE = 1_800_000_000;
    /// @dev The flag of an unordered nonce (decision D33).
    uint256 internal constant UNORDERED = 1 << 255;
    /// @dev A keyed nonce lane ar1 used once in the set-up (decision D33 measures it against bitmaps).
    uint256 internal constant REUSED_LANE = 1 << 64;

    BaselineToken internal token;
    address internal tokenHolder = address(0x70C3);
    address internal tokenRecipient = address(0x5EC0);
    address internal freshRecipient = address(0xF5E5);

    /// @dev Single policy, ar1 and ar2; two-person policy, ar1 and ar2; single policy, ar3.
    uint64 internal seller;
    uint64 internal pairSeller;
    uint64 internal buyer;
    uint8 internal label;

    uint64 internal wholeStart;
    uint64 internal splitStart;
    uint64 internal oneUnitStart;
    uint64 internal billionStart;
    uint64 internal cancelStart;
    uint64 internal labelStart;
    uint64 internal initiateStart;
    uint64 internal pendingStart;
    uint64 internal pendingId;
    uint64 internal reserveStart;
    uint64 internal escrowStart;
    uint64 internal associateStart;
    uint64[BATCH] internal batchStarts;

    address internal platform = address(0x9A7F);
    address internal thirdParty = address(0x3D9);

    // Article 6: Parties AU and CH, a Swiss account, the 6.4 mechanism accounts, and blocks of the
    // seller's: one to authorize, one authorized under a recorded letter for the second authorization,
    // and two authorized blocks to transfer to Switzerland and to use.
    IArticle6 internal a6;
    bytes32 internal constant APPROACH = "AU-CH-2030";
    bytes32 internal constant LETTER = "AU-LOA-1";
    uint64 internal swiss;
    uint64 internal authorizeStart;
    uint64 internal letterStart;
    uint64 internal itmoStart;
    uint64 internal useStart;
    uint64 internal authorizationId;

    function setUp() public {
        setUpRegistry();
        token = new BaselineToken(tokenHolder, 1_000_000 ether);
        vm.prank(tokenHolder);
        assertTrue(token.transfer(tokenRecipient, 1 ether), "baseline transfer");

        seller = openStandardAccount(ApprovalPolicy.Single);
        pairSeller = openStandardAccount(ApprovalPolicy.TwoPerson);
        buyer = openBuyerAccount();
        label = defineLabel("eligible:corsia");

        (wholeStart,) = issueTo(seller, BLOCK_SIZE);
        (splitStart,) = issueTo(seller, BLOCK_SIZE);
        (oneUnitStart,) = issueTo(seller, 1);
        (billionStart,) = issueTo(seller, BILLION);
        (cancelStart,) = issueTo(seller, BLOCK_SIZE);
        (labelStart,) = issueTo(seller, BLOCK_SIZE);
        (initiateStart,) = issueTo(pairSeller, BLOCK_SIZE);
        (pendingStart,) = issueTo(pairSeller, BLOCK_SIZE);
        (reserveStart,) = issueTo(seller, BLOCK_SIZE);
        (escrowStart,) = issueTo(seller, BLOCK_SIZE);
        (associateStart,) = issueTo(seller, BLOCK_SIZE);
        for (uint256 i; i < BATCH; ++i) {
            (batchStarts[i],) = issueTo(seller, BLOCK_SIZE);
        }
        _setUpPlatform();

        // Steady state: every signer below has used a nonce before the measured request.
        (uint64 warmUp,) = issueTo(seller, 10);
        initiate(AR1_KEY, seller, buyer, range(warmUp, warmUp), hints(warmUp));
        // ... and ar1 has used an unordered nonce of its current word, as any request of the API's does.
        InitiateTransferRequest memory w = transferRequest(ar1, seller, buyer, range(warmUp + 9, warmUp + 9));
        w.nonce = UNORDERED;
        bytes memory wSig = signDigest(AR1_KEY, digestOf(this.hashInitiateTransfer(w)));
        vm.prank(relayer);
        registry.initiateTransfer(w, wSig, hints(warmUp + 1));
        w = transferRequest(ar1, seller, buyer, range(warmUp + 8, warmUp + 8));
        w.nonce = REUSED_LANE;
        wSig = signDigest(AR1_KEY, digestOf(this.hashInitiateTransfer(w)));
        vm.prank(relayer);
        registry.initiateTransfer(w, wSig, hints(warmUp + 1));
        setLabel(label, true, range(warmUp + 1, warmUp + 1), hints(warmUp + 1));
        pendingId = initiate(
            AR2_KEY,
            pairSeller,
            buyer,
            range(pendingStart, pendingStart + BLOCK_SIZE - 1),
            hints(pendingStart)
        );
        _setUpArticle6();
    }

    /// @dev Parties, approach, mechanism accounts; one letter recorded over the ITMO blocks, so that the
    /// measured requests find their signers, letter and project in steady state.
    function _setUpArticle6() internal {
        a6 = IArticle6(address(registry));
        _registerParty("AU", "AU-NR");
        _registerParty("CH", "CH-NR");
        bytes8[] memory parties = new bytes8[](2);
        (parties[0], parties[1]) = (bytes8("AU"), bytes8("CH"));
        RegisterCooperativeApproachRequest memory ra = RegisterCooperativeApproachRequest({
            signer: adminAddr,
            approachId: APPROACH,
            name: "Australia-Switzerland",
            parties: parties,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashRegisterApproach(ra)));
        vm.prank(relayer);
        a6.registerCooperativeApproach(ra, sig);

        swiss = _open(AccountKind.Holding, "CH");
        MechanismAccounts memory m = MechanismAccounts({
            pending: _open(AccountKind.Pending, ""),
            holding: _open(AccountKind.Holding, ""),
            cancellation: _open(AccountKind.Cancellation, ""),
            omgeCancellation: _open(AccountKind.OmgeCancellation, ""),
            shareOfProceeds: _open(AccountKind.ShareOfProceeds, "")
        });
        SetMechanismAccountsRequest memory rm = SetMechanismAccountsRequest({
            signer: adminAddr,
            pending: m.pending,
            holding: m.holding,
            cancellation: m.cancellation,
            omgeCancellation: m.omgeCancellation,
            shareOfProceeds: m.shareOfProceeds,
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        sig = signDigest(ADMIN_KEY, digestOf(this.hashSetMechanism(rm)));
        vm.prank(relayer);
        a6.setMechanismAccounts(rm, sig);

        (authorizeStart,) = issueTo(seller, BLOCK_SIZE);
        (letterStart,) = issueTo(seller, BLOCK_SIZE);
        (itmoStart,) = issueTo(seller, BLOCK_SIZE);
        (useStart,) = issueTo(seller, BLOCK_SIZE);
        AuthorizeRequest memory r = _authorizeRequest(LETTER, itmoStart, itmoStart + BLOCK_SIZE - 1);
        sig = signDigest(LABELLER_KEY, digestOf(this.hashAuthorize(r)));
        vm.prank(relayer);
        authorizationId = a6.authorize(r, sig, hints(itmoStart));
        r = _authorizeRequest(LETTER, useStart, useStart + BLOCK_SIZE - 1);
        sig = signDigest(LABELLER_KEY, digestOf(this.hashAuthorize(r)));
        vm.prank(relayer);
        a6.authorize(r, sig, hints(useStart));
    }

    /// @notice Measures the Article 6 operations like the table above and prints them.
    function test_article6GasTable() public {
        string[7] memory names = [
            "authorize_subrange_new_letter",
            "authorize_subrange_recorded_letter",
            "transfer_itmos_whole_block_to_another_party",
            "transfer_itmos_subrange_within_party",
            "cancel_itmos_subrange_ndc_use",
            "issue_article64_1000_one_forward",
            "issue_article64_1000_two_forwards"
        ];
        bytes[] memory calls = new bytes[](names.length);
        calls[0] = _authorizeCall("AU-LOA-2", authorizeStart + 100, authorizeStart + 199, authorizeStart);
        calls[1] = _authorizeCall(LETTER, letterStart + 100, letterStart + 199, letterStart);
        calls[2] = _transferItmosCall(swiss, itmoStart, itmoStart + BLOCK_SIZE - 1);
        calls[3] = _transferItmosCall(buyer, itmoStart + 100, itmoStart + 199);
        calls[4] = _cancelItmosCall(useStart + 100, useStart + 199);
        calls[5] = _issue64Call(1);
        calls[6] = _issue64Call(2);

        uint256 base = GAS_CHEATS.snapshotState();
        Row[] memory rows = new Row[](names.length);
        for (uint256 i; i < names.length; ++i) {
            rows[i] = _measure(base, names[i], address(registry), relayer, calls[i]);
            vm.snapshotValue(GROUP, rows[i].name, rows[i].transactionGas);
        }
        console.log("");
        for (uint256 i; i < rows.length; ++i) {
            console.log(
                string.concat(
                    _pad(rows[i].name, 46),
                    _padLeft(vm.toString(rows[i].executionGas), 11),
                    _padLeft(vm.toString(rows[i].calldataGas), 10),
                    _padLeft(vm.toString(rows[i].refund), 8),
                    _padLeft(vm.toString(rows[i].transactionGas), 9)
                )
            );
        }
    }

    /// @notice Measures every operation, records it with snapshotValue and prints the table.
    function test_gasTable() public {
        // Every request is signed against the set-up state (the signers' current nonces) before any
        // measurement, and every measurement starts from that state again.
        string[14] memory names = [
            "erc20_transfer_to_holder",
            "erc20_transfer_to_fresh",
            "transfer_whole_block_single",
            "transfer_subrange_split_single",
            "initiate_whole_block_two_person",
            "approve_two_person",
            "cancel_subrange",
            "label_subrange",
            "transfer_1_unit_block",
            "transfer_1e9_unit_block",
            "batch_10_whole_block_single",
            "reserve_subrange",
            "escrow_subrange",
            "associate_subrange"
        ];
        bytes[] memory calls = new bytes[](names.length);
        calls[0] = abi.encodeCall(IERC20.transfer, (tokenRecipient, 1 ether));
        calls[1] = abi.encodeCall(IERC20.transfer, (freshRecipient, 1 ether));
        calls[2] = _transferCall(AR1_KEY, seller, wholeStart, wholeStart + BLOCK_SIZE - 1);
        calls[3] = _transferCall(AR1_KEY, seller, splitStart + 100, splitStart + 199);
        calls[4] = _transferCall(AR1_KEY, pairSeller, initiateStart, initiateStart + BLOCK_SIZE - 1);
        calls[5] = _approveCall(AR1_KEY, pendingId, pendingStart);
        calls[6] = _cancelCall(AR2_KEY, cancelStart + 100, cancelStart + 199);
        calls[7] = _labelCall(labelStart + 100, labelStart + 199);
        calls[8] = _transferCall(AR1_KEY, seller, oneUnitStart, oneUnitStart);
        calls[9] = _transferCall(AR1_KEY, seller, billionStart, billionStart + BILLION - 1);
        calls[10] = _batchCall();
        calls[11] = _reserveCall(reserveStart + 100, reserveStart + 199);
        calls[12] = _escrowCall(escrowStart + 100, escrowStart + 199);
        calls[13] = _associateCall(associateStart + 100, associateStart + 199);

        uint256 base = GAS_CHEATS.snapshotState();
        Row[] memory measured = new Row[](names.length);
        for (uint256 i; i < names.length; ++i) {
            measured[i] = i < 2
                ? _measure(base, names[i], address(token), tokenHolder, calls[i])
                : _measure(base, names[i], address(registry), relayer, calls[i]);
            // A failing batch item does not revert the batch: check that every transfer in it happened.
            if (i == 10) {
                for (uint256 j; j < BATCH; ++j) {
                    assertEq(blockAt(batchStarts[j]).account, buyer, "batch item not applied");
                }
            }
        }
        // The table: the measured rows, with initiate + approve (two-person) after approve and the
        // batch's cost per transfer after the batch, then the platform-model rows.
        Row[] memory rows = new Row[](names.length + 2);
        for (uint256 i; i < names.length; ++i) {
            rows[i < 6 ? i : (i < 11 ? i + 1 : i + 2)] = measured[i];
        }
        Row memory batchTotal = measured[10];
        rows[12] = Row({
            name: "batch_10_whole_block_single_per_transfer",
            executionGas: batchTotal.executionGas / BATCH,
            calldataGas: batchTotal.calldataGas / BATCH,
            refund: batchTotal.refund / BATCH,
            transactionGas: batchTotal.transactionGas / BATCH
        });
        rows[6] = Row({
            name: "initiate_plus_approve_two_person",
            executionGas: measured[4].executionGas + measured[5].executionGas,
            calldataGas: measured[4].calldataGas + measured[5].calldataGas,
            refund: measured[4].refund + measured[5].refund,
            transactionGas: measured[4].transactionGas + measured[5].transactionGas
        });

        for (uint256 i; i < rows.length; ++i) {
            vm.snapshotValue(GROUP, rows[i].name, rows[i].transactionGas);
        }
        // Ratio of the single-policy whole-block transfer to the ERC-20 transfer, in thousandths.
        uint256 ratioPermille = rows[2].transactionGas * 1000 / rows[0].transactionGas;
        vm.snapshotValue(GROUP, "ratio_whole_block_single_over_erc20_permille", ratioPermille);

        uint256 batchRatioPermille = rows[12].transactionGas * 1000 / rows[0].transactionGas;
        vm.snapshotValue(GROUP, "ratio_batched_transfer_over_erc20_permille", batchRatioPermille);

        _print(rows, ratioPermille, batchRatioPermille);

        // Gas must not depend on the number of units in a block: 1 unit and 10^9 units within 1%.
        uint256 small = rows[9].transactionGas;
        uint256 large = rows[10].transactionGas;
        uint256 diff = small > large ? small - large : large - small;
        assertLe(diff * 100, small < large ? small : large, "1-unit and 1e9-unit transfers differ by over 1%");
    }

    /// @notice The headline rows: requests exactly as the API has them signed and the relayer sends them.
    /// Each request carries the nonce the API's prepare picks and goes out alone (or ten together) in
    /// the relayer's `batch` wrapper, ABI-encoded as node.relayer encodes it, with a deadline of the
    /// API's size (a Unix time, four non-zero bytes).
    function test_apiGasTable() public {
        string[10] memory names = [
            "erc20_transfer_to_holder",
            "api_transfer_whole_block_single",
            "api_transfer_1_unit_block",
            "api_transfer_1e9_unit_block",
            "api_initiate_whole_block_two_person",
            "api_approve_two_person",
            "api_batch_10_whole_block_single",
            "api_transfer_first_of_word",
            "api_transfer_reused_lane",
            "api_transfer_fresh_lane"
        ];
        bytes[] memory calls = new bytes[](names.length);
        calls[0] = abi.encodeCall(IERC20.transfer, (tokenRecipient, 1 ether));
        calls[1] = _apiBatch(_apiTransfer(AR1_KEY, seller, wholeStart, wholeStart + BLOCK_SIZE - 1, 0));
        calls[2] = _apiBatch(_apiTransfer(AR1_KEY, seller, oneUnitStart, oneUnitStart, 0));
        calls[3] = _apiBatch(_apiTransfer(AR1_KEY, seller, billionStart, billionStart + BILLION - 1, 0));
        calls[4] =
            _apiBatch(_apiTransfer(AR1_KEY, pairSeller, initiateStart, initiateStart + BLOCK_SIZE - 1, 0));
        calls[5] = _apiBatch(_apiApprove(AR1_KEY, pendingId, pendingStart, 0));
        bytes[] memory items = new bytes[](BATCH);
        for (uint256 i; i < BATCH; ++i) {
            items[i] = _apiTransfer(AR1_KEY, seller, batchStarts[i], batchStarts[i] + BLOCK_SIZE - 1, i);
        }
        calls[6] = abi.encodeCall(IUnitRegistry.batch, (items));
        // The signer's first request in a word (once per 256 requests): nonce 256 opens word 1.
        calls[7] = _apiBatch(_apiTransfer(AR1_KEY, seller, wholeStart, wholeStart + BLOCK_SIZE - 1, 255));
        // The option decision D33 compares: a keyed lane of the signer's, used before (warm slot).
        calls[8] = _apiBatch(_apiTransferNonce(AR1_KEY, wholeStart, REUSED_LANE | 1));
        // What prepare gave before D33 (decision D12): a fresh random 192-bit lane, sequence 0.
        calls[9] = _apiBatch(_apiTransferNonce(AR1_KEY, wholeStart, uint256(keccak256("lane")) >> 64 << 64));

        uint256 base = GAS_CHEATS.snapshotState();
        Row[] memory rows = new Row[](names.length + 2);
        for (uint256 i; i < names.length; ++i) {
            rows[i] = i == 0
                ? _measure(base, names[i], address(token), tokenHolder, calls[i])
                : _measure(base, names[i], address(registry), relayer, calls[i]);
            _assertApplied(i);
        }
        rows[10] = Row({
            name: "api_initiate_plus_approve_two_person",
            executionGas: rows[4].executionGas + rows[5].executionGas,
            calldataGas: rows[4].calldataGas + rows[5].calldataGas,
            refund: rows[4].refund + rows[5].refund,
            transactionGas: rows[4].transactionGas + rows[5].transactionGas
        });
        rows[11] = Row({
            name: "api_batch_10_whole_block_single_per_transfer",
            executionGas: rows[6].executionGas / BATCH,
            calldataGas: rows[6].calldataGas / BATCH,
            refund: rows[6].refund / BATCH,
            transactionGas: rows[6].transactionGas / BATCH
        });
        for (uint256 i = 1; i < rows.length; ++i) {
            vm.snapshotValue(GROUP, rows[i].name, rows[i].transactionGas);
        }
        uint256 erc20 = rows[0].transactionGas;
        uint256 lone = rows[1].transactionGas * 1000 / erc20;
        uint256 batched = rows[11].transactionGas * 1000 / erc20;
        uint256 twoPerson = rows[10].transactionGas * 1000 / erc20;
        vm.snapshotValue(GROUP, "ratio_api_transfer_over_erc20_permille", lone);
        vm.snapshotValue(GROUP, "ratio_api_batched_transfer_over_erc20_permille", batched);
        vm.snapshotValue(GROUP, "ratio_api_initiate_plus_approve_over_erc20_permille", twoPerson);
        _print(rows, lone, batched, "api_");
        console.log(
            string.concat(
                "ratio api_initiate_plus_approve_two_person / erc20_transfer_to_holder = ",
                _ratio(twoPerson),
                twoPerson <= 4000 ? " (target <= 4x: met)" : " (target <= 4x: missed)"
            )
        );
        // Gas must not depend on the number of units in a block: 1 unit and 10^9 units cost the same
        // execution gas (calldata differs by the bytes of the larger serial).
        assertEq(rows[2].executionGas, rows[3].executionGas, "1-unit and 1e9-unit transfers differ");
    }

    /// @dev A failing batch item does not revert the batch: check that each measured request happened.
    function _assertApplied(uint256 row) internal view {
        uint64[10] memory starts = [
            0,
            wholeStart,
            oneUnitStart,
            billionStart,
            initiateStart,
            pendingStart,
            0,
            wholeStart,
            wholeStart,
            wholeStart
        ];
        if (row == 4) {
            assertEq(uint8(blockAt(initiateStart).state), uint8(UnitState.Pending), "initiate not applied");
        } else if (row == 6) {
            for (uint256 j; j < BATCH; ++j) {
                assertEq(blockAt(batchStarts[j]).account, buyer, "batch item not applied");
            }
        } else if (row > 0) {
            assertEq(blockAt(starts[row]).account, buyer, "request not applied");
        }
    }

    /// @dev The nonce the API's prepare gives a signer's `i`-th request in flight (decision D33): the
    /// lowest free bit of the signer's current word. Bit 0 went to the set-up's warm-up request.
    function _apiNonce(uint256 i) internal pure returns (uint256) {
        return UNORDERED | (i + 1);
    }

    function _apiTransfer(uint256 key, uint64 from, uint64 start, uint64 end, uint256 i)
        internal
        view
        returns (bytes memory)
    {
        InitiateTransferRequest memory r = transferRequest(vm.addr(key), from, buyer, range(start, end));
        r.nonce = _apiNonce(i);
        r.deadline = API_DEADLINE;
        bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(r)));
        return abi.encodeCall(IUnitRegistry.initiateTransfer, (r, sig, hints(start)));
    }

    function _apiTransferNonce(uint256 key, uint64 start, uint256 nonce)
        internal
        view
        returns (bytes memory)
    {
        InitiateTransferRequest memory r = transferRequest(
            vm.addr(key), seller, buyer, range(start, start + BLOCK_SIZE - 1)
        );
        r.nonce = nonce;
        r.deadline = API_DEADLINE;
        bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(r)));
        return abi.encodeCall(IUnitRegistry.initiateTransfer, (r, sig, hints(start)));
    }

    function _apiApprove(uint256 key, uint64 transferId, uint64 blockStart, uint256 i)
        internal
        view
        returns (bytes memory)
    {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        r.nonce = _apiNonce(i);
        r.deadline = API_DEADLINE;
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, true)));
        return abi.encodeCall(
            IUnitRegistry.approveTransfer, (r, sig, pendingRecords[transferId], hints(blockStart))
        );
    }

    /// @dev One request alone in the relayer's wrapper (decision D6).
    function _apiBatch(bytes memory call) internal pure returns (bytes memory) {
        bytes[] memory items = new bytes[](1);
        items[0] = call;
        return abi.encodeCall(IUnitRegistry.batch, (items));
    }

    // ---------------------------------------------------------------------------------------------
    // Measuring
    // ---------------------------------------------------------------------------------------------

    /// @dev Runs `data` from `sender` against `target` in the set-up state with cold storage and
    /// returns its transaction-level gas.
    function _measure(uint256 base, string memory name, address target, address sender, bytes memory data)
        internal
        returns (Row memory row)
    {
        GAS_CHEATS.revertToState(base);
        vm.cool(address(registry));
        vm.cool(address(token));
        vm.prank(sender);
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        GasCheats.Gas memory gas = GAS_CHEATS.lastCallGas();
        row.name = name;
        row.executionGas = gas.gasTotalUsed;
        row.calldataGas = calldataGas(data);
        row.refund = gas.gasRefunded > 0 ? uint256(int256(gas.gasRefunded)) : 0;
        uint256 used = INTRINSIC_GAS + row.calldataGas + row.executionGas;
        // EIP-3529: the refund is capped at a fifth of the gas used.
        uint256 refund = row.refund < used / 5 ? row.refund : used / 5;
        row.transactionGas = used - refund;
    }

    /// @notice Calldata gas under EIP-2028: 4 per zero byte, 16 per non-zero byte.
    function calldataGas(bytes memory data) public pure returns (uint256 gas) {
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Calldata of signed requests, exactly as the relayer sends it
    // ---------------------------------------------------------------------------------------------

    function _transferCall(uint256 key, uint64 from, uint64 start, uint64 end)
        internal
        view
        returns (bytes memory)
    {
        uint64 hint = _blockStartOf(start);
        InitiateTransferRequest memory r = transferRequest(vm.addr(key), from, buyer, range(start, end));
        bytes memory sig = signDigest(key, digestOf(this.hashInitiateTransfer(r)));
        return abi.encodeCall(IUnitRegistry.initiateTransfer, (r, sig, hints(hint)));
    }

    /// @dev A relayer batch of BATCH whole-block transfers by ar1, with consecutive nonces.
    function _batchCall() internal view returns (bytes memory) {
        bytes[] memory items = new bytes[](BATCH);
        uint256 nonce = nextNonce(ar1);
        for (uint256 i; i < BATCH; ++i) {
            uint64 start = batchStarts[i];
            InitiateTransferRequest memory r =
                transferRequest(ar1, seller, buyer, range(start, start + BLOCK_SIZE - 1));
            r.nonce = nonce + i;
            bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashInitiateTransfer(r)));
            items[i] = abi.encodeCall(IUnitRegistry.initiateTransfer, (r, sig, hints(start)));
        }
        return abi.encodeCall(IUnitRegistry.batch, (items));
    }

    function _approveCall(uint256 key, uint64 transferId, uint64 blockStart)
        internal
        view
        returns (bytes memory)
    {
        TransferDecisionRequest memory r = decisionRequest(vm.addr(key), transferId);
        bytes memory sig = signDigest(key, digestOf(this.hashTransferDecision(r, true)));
        return abi.encodeCall(
            IUnitRegistry.approveTransfer, (r, sig, pendingRecords[transferId], hints(blockStart))
        );
    }

    function _cancelCall(uint256 key, uint64 start, uint64 end) internal view returns (bytes memory) {
        CancelRequest memory r = cancelRequest(vm.addr(key), seller, range(start, end));
        bytes memory sig = signDigest(key, digestOf(this.hashCancel(r)));
        return abi.encodeCall(IUnitRegistry.cancel, (r, sig, hints(_blockStartOf(start))));
    }

    function _labelCall(uint64 start, uint64 end) internal view returns (bytes memory) {
        SetLabelRequest memory r = labelRequest(label, true, range(start, end));
        bytes memory sig = signDigest(LABELLER_KEY, digestOf(this.hashSetLabel(r)));
        return abi.encodeCall(IUnitRegistry.setLabel, (r, sig, hints(_blockStartOf(start))));
    }

    /// @dev A registered platform whose custodial account is `buyer`'s twin, the seller's Reserved and
    /// Escrowed consents for it, and a third-party registry.
    function _setUpPlatform() internal {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory o = openAccountRequest(ApprovalPolicy.Single, reps);
        o.kind = AccountKind.Custodial;
        uint64 custodial = admin.openAccount(o, _signed(ADMIN_KEY, this.hashOpenAccount(o)));
        RegisterPlatformRequest memory p = RegisterPlatformRequest({
            signer: adminAddr,
            platform: platform,
            name: "Carbon Exchange Pty Ltd",
            custodialAccount: custodial,
            signers: new address[](0),
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        IPlatforms(address(registry)).registerPlatform(p, _signed(ADMIN_KEY, this.hashRegisterPlatform(p)));
        _grantConsent(ConsentScope.Reserved);
        _grantConsent(ConsentScope.Escrowed);
        bytes32 role = ICertificates(address(registry)).THIRD_PARTY_REGISTRY_ROLE();
        vm.prank(adminAddr);
        registry.grantRole(role, thirdParty);
    }

    function _grantConsent(ConsentScope scope) internal {
        GrantConsentRequest memory g = GrantConsentRequest({
            signer: ar1,
            accountId: seller,
            platform: platform,
            scope: scope,
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        IPlatforms(address(registry)).grantConsent(g, _signed(AR1_KEY, this.hashGrantConsent(g)));
    }

    /// @dev Signs for the relayer's next call (the fixture's helpers prank the relayer themselves).
    function _signed(uint256 key, bytes32 structHash) internal returns (bytes memory sig) {
        sig = signDigest(key, digestOf(structHash));
        vm.prank(relayer);
    }

    function _reserveCall(uint64 start, uint64 end) internal view returns (bytes memory) {
        ReserveRequest memory r = ReserveRequest({
            signer: ar1,
            accountId: seller,
            platform: platform,
            ranges: range(start, end),
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashReserve(r)));
        return abi.encodeCall(IPlatforms.reserve, (r, sig, hints(_blockStartOf(start))));
    }

    function _escrowCall(uint64 start, uint64 end) internal view returns (bytes memory) {
        EscrowRequest memory r = EscrowRequest({
            signer: ar1,
            accountId: seller,
            platform: platform,
            ranges: range(start, end),
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashEscrow(r)));
        return abi.encodeCall(IPlatforms.escrow, (r, sig, hints(_blockStartOf(start))));
    }

    function _associateCall(uint64 start, uint64 end) internal view returns (bytes memory) {
        AssociateRequest memory r = AssociateRequest({
            signer: ar1,
            accountId: seller,
            thirdPartyRegistry: thirdParty,
            certificateId: "GS-VER-2025-000001",
            ranges: range(start, end),
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashAssociate(r)));
        return abi.encodeCall(ICertificates.associate, (r, sig, hints(_blockStartOf(start))));
    }

    /// @dev The block under test that contains `serial` (each was issued as one block).
    function _blockStartOf(uint64 serial) internal view returns (uint64) {
        uint64[11] memory starts = [
            wholeStart,
            splitStart,
            oneUnitStart,
            billionStart,
            cancelStart,
            labelStart,
            initiateStart,
            pendingStart,
            reserveStart,
            escrowStart,
            associateStart
        ];
        for (uint256 i; i < starts.length; ++i) {
            if (starts[i] <= serial && serial <= blockAt(starts[i]).end) return starts[i];
        }
        revert("serial outside the benchmark blocks");
    }

    // ---------------------------------------------------------------------------------------------
    // Article 6 requests
    // ---------------------------------------------------------------------------------------------

    function _registerParty(bytes8 party, bytes8 registryId) internal {
        RegisterPartyRequest memory r = RegisterPartyRequest({
            signer: adminAddr,
            party: party,
            registryId: registryId,
            labelAuthority: labeller,
            administrators: new address[](0),
            nonce: nextNonce(adminAddr),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashRegisterParty(r)));
        vm.prank(relayer);
        a6.registerParty(r, sig);
    }

    function _open(AccountKind kind, bytes8 party) internal returns (uint64) {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar3, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        r.kind = kind;
        r.party = party;
        bytes memory sig = signDigest(ADMIN_KEY, digestOf(this.hashOpenAccount(r)));
        vm.prank(relayer);
        return admin.openAccount(r, sig);
    }

    function _authorizeRequest(bytes32 letterId, uint64 start, uint64 end)
        internal
        view
        returns (AuthorizeRequest memory)
    {
        return AuthorizeRequest({
            signer: labeller,
            party: "AU",
            letterId: letterId,
            approachId: APPROACH,
            purposes: PURPOSE_NDC | PURPOSE_OIMP,
            firstTransferDefinition: FirstTransferDefinition.AtUseOrCancellation,
            authorizedAt: uint64(block.timestamp),
            ranges: range(start, end),
            nonce: nextNonce(labeller),
            deadline: deadline()
        });
    }

    function _authorizeCall(bytes32 letterId, uint64 start, uint64 end, uint64 hint)
        internal
        view
        returns (bytes memory)
    {
        AuthorizeRequest memory r = _authorizeRequest(letterId, start, end);
        bytes memory sig = signDigest(LABELLER_KEY, digestOf(this.hashAuthorize(r)));
        return abi.encodeCall(IArticle6Authorization.authorize, (r, sig, hints(hint)));
    }

    function _transferItmosCall(uint64 to, uint64 start, uint64 end) internal view returns (bytes memory) {
        TransferItmosRequest memory r = TransferItmosRequest({
            signer: ar1,
            fromAccount: seller,
            toAccount: to,
            authorizationId: authorizationId,
            ranges: range(start, end),
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashTransferItmos(r)));
        return abi.encodeCall(IArticle6Transfers.transferItmos, (r, sig, hints(itmoStart)));
    }

    function _cancelItmosCall(uint64 start, uint64 end) internal view returns (bytes memory) {
        CancelItmosRequest memory r = CancelItmosRequest({
            signer: ar1,
            accountId: seller,
            authorizationId: authorizationId,
            ranges: range(start, end),
            purpose: CancellationPurpose.NdcUse,
            beneficiary: "Commonwealth of Australia",
            reason: "NDC 2031-2035",
            nonce: nextNonce(ar1),
            deadline: deadline()
        });
        bytes memory sig = signDigest(AR1_KEY, digestOf(this.hashCancelItmos(r)));
        return abi.encodeCall(IArticle6Transfers.cancelItmos, (r, sig, hints(useStart)));
    }

    /// @dev 1000 A6.4ERs: 50 to the share of proceeds, 20 cancelled for OMGE, 930 forwarded to the buyer
    /// (or 465 each to the buyer and the seller).
    function _issue64Call(uint256 forwardCount) internal view returns (bytes memory) {
        Forward[] memory forwards = new Forward[](forwardCount);
        if (forwardCount == 1) {
            forwards[0] = Forward(buyer, 930);
        } else {
            forwards[0] = Forward(buyer, 465);
            forwards[1] = Forward(seller, 465);
        }
        IssueArticle64Request memory r = IssueArticle64Request({
            signer: issuer,
            projectId: PROJECT,
            unitType: "A6.4ER",
            vintage: 2026,
            monitoringStart: 1_700_000_000,
            monitoringEnd: 1_710_000_000,
            quantity: 1000,
            forwards: forwards,
            nonce: nextNonce(issuer),
            deadline: deadline()
        });
        bytes memory sig = signDigest(ISSUER_KEY, digestOf(this.hashIssueArticle64(r)));
        return abi.encodeCall(IArticle64.issueArticle64, (r, sig));
    }

    // ---------------------------------------------------------------------------------------------
    // Reporting
    // ---------------------------------------------------------------------------------------------

    function _print(Row[] memory rows, uint256 ratioPermille, uint256 batchRatioPermille) internal view {
        _print(rows, ratioPermille, batchRatioPermille, "");
    }

    /// @dev `prefix` names the rows the ratios are of: "" (steady state) or "api_".
    function _print(
        Row[] memory rows,
        uint256 ratioPermille,
        uint256 batchRatioPermille,
        string memory prefix
    ) internal view {
        console.log("");
        console.log(
            string.concat(
                _pad("operation", 42),
                _padLeft("execution", 11),
                _padLeft("calldata", 10),
                _padLeft("refund", 8),
                _padLeft("tx gas", 9)
            )
        );
        for (uint256 i; i < rows.length; ++i) {
            console.log(
                string.concat(
                    _pad(rows[i].name, 42),
                    _padLeft(vm.toString(rows[i].executionGas), 11),
                    _padLeft(vm.toString(rows[i].calldataGas), 10),
                    _padLeft(vm.toString(rows[i].refund), 8),
                    _padLeft(vm.toString(rows[i].transactionGas), 9)
                )
            );
        }
        console.log(
            string.concat(
                "ratio ",
                prefix,
                "transfer_whole_block_single / erc20_transfer_to_holder = ",
                _ratio(ratioPermille),
                ratioPermille <= 2000 ? " (target <= 2x: met)" : " (target <= 2x: missed)"
            )
        );
        console.log(
            string.concat(
                "ratio ",
                prefix,
                "batch_10_whole_block_single_per_transfer / erc20_transfer_to_holder = ",
                _ratio(batchRatioPermille)
            )
        );
    }

    function _ratio(uint256 permille) internal pure returns (string memory) {
        return
            string.concat(vm.toString(permille / 1000), ".", _padZeros(vm.toString(permille % 1000), 3), "x");
    }

    function _pad(string memory s, uint256 width) internal pure returns (string memory) {
        while (bytes(s).length < width) s = string.concat(s, " ");
        return s;
    }

    function _padLeft(string memory s, uint256 width) internal pure returns (string memory) {
        while (bytes(s).length < width) s = string.concat(" ", s);
        return s;
    }

    function _padZeros(string memory s, uint256 width) internal pure returns (string memory) {
        while (bytes(s).length < width) s = string.concat("0", s);
        return s;
    }
}
