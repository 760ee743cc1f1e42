// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {LedgerAssertions} from "../utils/LedgerAssertions.sol";
import {RegistryHandler} from "./handlers/RegistryHandler.sol";
import {PlatformHandler} from "./handlers/PlatformHandler.sol";
import {IPlatforms} from "../../src/interfaces/IPlatforms.sol";
import {ICertificates} from "../../src/interfaces/ICertificates.sol";
import {
    ReservationStatus,
    EscrowStatus,
    AssociationStatus,
    Reservation,
    Escrow,
    Association
} from "../../src/libraries/PlatformTypes.sol";
import {IArticle6} from "../../src/interfaces/IArticle6.sol";
import {
    UnitState,
    UnitBlock,
    Issuance,
    PendingTransfer,
    TransferStatus
} from "../../src/libraries/RegistryTypes.sol";
import {PURPOSE_NDC, PURPOSE_OIMP, Authorization, ItmoTransfer} from "../../src/libraries/Article6Types.sol";

/// @notice The ledger invariants of ARCHITECTURE.md, checked after every call of random sequences of
/// signed requests (see README.md in this folder for each invariant in plain words).
/// @dev forge-std's StdInvariant is not available (npm carries forge-std 1.1.2), so the target
/// functions forge looks for are declared here as plain public functions.
contract RegistryInvariantTest is LedgerAssertions {
    /// @dev The shape forge expects from targetSelectors().
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    PlatformHandler internal handler;
    IArticle6 internal a6;

    function setUp() public {
        handler = new PlatformHandler();
        handler.initialize();
        registry = handler.getRegistry();
        a6 = handler.getArticle6();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector({addr: address(handler), selectors: handler.selectors()});
    }

    // ---------------------------------------------------------------------------------------------
    // Invariants
    // ---------------------------------------------------------------------------------------------

    /// @dev Every issuance is partitioned by its blocks, the blocks are exactly those the handler
    /// predicted, and issuances follow each other in the serial space from serial 1.
    function invariant_partition() public view {
        (, uint64 nextSerial, uint64 nextIssuanceId,,) = registry.counters();
        assertEq(handler.issuanceIds().length, nextIssuanceId - 1, "ghost knows every issuance");
        uint64 expectedStart = 1;
        for (uint64 id = 1; id < nextIssuanceId; ++id) {
            Issuance memory issuance = registry.getIssuance(id);
            assertEq(issuance.start, expectedStart, "issuances are consecutive");
            expectedStart = issuance.end + 1;

            uint64[] memory starts = walkIssuance(id);
            assertEq(starts.length, handler.issuanceBlockStarts(id).length, "block count = ghost block count");
            for (uint256 i; i < starts.length; ++i) {
                assertTrue(
                    handler.isGhostBlockStart(starts[i], id), "block start the handler did not predict"
                );
            }
        }
        assertEq(expectedStart, nextSerial, "issuances end at the last serial issued");
    }

    /// @dev held + pending + reserved + escrowed + associated + cancelled = issued, in total and per
    /// account and state against the handler's books.
    function invariant_conservation() public view {
        uint64[] memory accounts = handler.accountIds();
        uint256[STATE_COUNT][] memory perAccount = new uint256[STATE_COUNT][](accounts.length);
        uint256[STATE_COUNT] memory total;
        (,, uint64 nextIssuanceId,,) = registry.counters();
        for (uint64 id = 1; id < nextIssuanceId; ++id) {
            uint64[] memory starts = walkIssuance(id);
            for (uint256 i; i < starts.length; ++i) {
                UnitBlock memory b = blockAt(starts[i]);
                uint256 quantity = uint256(b.end) - starts[i] + 1;
                total[uint8(b.state)] += quantity;
                perAccount[_accountIndex(accounts, b.account)][uint8(b.state)] += quantity;
            }
        }
        uint256 sum = total[uint8(UnitState.Held)] + total[uint8(UnitState.Pending)]
            + total[uint8(UnitState.Reserved)] + total[uint8(UnitState.Escrowed)]
            + total[uint8(UnitState.Associated)] + total[uint8(UnitState.Cancelled)];
        assertEq(total[uint8(UnitState.None)], 0, "no units in state None");
        assertEq(sum, handler.ghost_totalIssued(), "held + pending + ... + cancelled = issued");
        (, uint64 nextSerial,,,) = registry.counters();
        assertEq(sum, nextSerial - 1, "units = serials issued");
        for (uint256 a; a < accounts.length; ++a) {
            for (uint256 st = 1; st < STATE_COUNT; ++st) {
                assertEq(
                    perAccount[a][st],
                    handler.units(accounts[a], UnitState(st)),
                    "units per account and state"
                );
            }
        }
    }

    /// @dev Every range cancelled so far is still one Cancelled block with the account, lock and labels
    /// it had when it was cancelled.
    function invariant_cancelledUnitsNeverMove() public view {
        RegistryHandler.CancelledRange[] memory cancelled = handler.cancelledRanges();
        for (uint256 i; i < cancelled.length; ++i) {
            (UnitBlock memory b, uint256 labels) = registry.getBlock(cancelled[i].start);
            assertEq(b.end, cancelled[i].end, "cancelled: end");
            assertEq(b.account, cancelled[i].account, "cancelled: account");
            assertEq(uint256(b.state), uint256(UnitState.Cancelled), "cancelled: state");
            assertEq(
                uint256(cancelled[i].state), uint256(UnitState.Cancelled), "cancelled: fingerprint state"
            );
            assertEq(b.lockId, cancelled[i].lockId, "cancelled: lockId");
            assertEq(labels, cancelled[i].labels, "cancelled: labels");
        }
    }

    /// @dev Each pending transfer's blocks are Pending in the source account, locked by the transfer,
    /// and add up to its quantity; no other unit is Pending.
    function invariant_pendingTransfersLocked() public view {
        uint64[] memory ids = handler.pendingTransferIds();
        uint256 pendingTotal;
        for (uint256 t; t < ids.length; ++t) {
            RegistryHandler.GhostTransfer memory pending = handler.pendingTransfer(ids[t]);
            PendingTransfer memory transfer = PendingTransfer({
                fromAccount: pending.fromAccount,
                toAccount: pending.toAccount,
                quantity: pending.quantity,
                initiator: pending.initiator
            });
            assertTrue(registry.isTransferPending(ids[t], transfer), "pending: record");
            uint256 sum;
            for (uint256 i; i < pending.blockStarts.length; ++i) {
                UnitBlock memory b = blockAt(pending.blockStarts[i]);
                assertEq(uint256(b.state), uint256(UnitState.Pending), "pending: block state");
                assertEq(b.lockId, ids[t], "pending: block lockId");
                assertEq(b.account, transfer.fromAccount, "pending: block account");
                sum += uint256(b.end) - pending.blockStarts[i] + 1;
            }
            assertEq(sum, transfer.quantity, "pending: blocks add up to the quantity");
            pendingTotal += sum;
        }
        pendingTotal += _itmoPendingTotal();
        uint256 onChain;
        (,, uint64 nextIssuanceId,,) = registry.counters();
        for (uint64 id = 1; id < nextIssuanceId; ++id) {
            uint64[] memory starts = walkIssuance(id);
            for (uint256 i; i < starts.length; ++i) {
                UnitBlock memory b = blockAt(starts[i]);
                if (b.state == UnitState.Pending) onChain += uint256(b.end) - starts[i] + 1;
            }
        }
        assertEq(onChain, pendingTotal, "no pending units outside a pending transfer");
    }

    /// @dev The blocks rebuilt from BlockChanged and LabelChanged events alone equal the chain's blocks:
    /// same starts, ends, holders, states, locks and labels.
    function invariant_mirrorFromEventsMatchesChain() public view {
        assertEq(handler.ghost_mirrorErrors(), 0, "mirror: event for a range in no block");
        uint256 blocks;
        (,, uint64 nextIssuanceId,,) = registry.counters();
        for (uint64 id = 1; id < nextIssuanceId; ++id) {
            uint64[] memory starts = walkIssuance(id);
            blocks += starts.length;
            for (uint256 i; i < starts.length; ++i) {
                (UnitBlock memory b, uint256 labels) = registry.getBlock(starts[i]);
                RegistryHandler.MirrorBlock memory m = handler.mirrorBlock(starts[i]);
                assertEq(m.end, b.end, "mirror: end");
                assertEq(m.account, b.account, "mirror: account");
                assertEq(uint256(m.state), uint256(b.state), "mirror: state");
                assertEq(m.lockId, b.lockId, "mirror: lockId");
                assertEq(m.labels, labels, "mirror: labels");
            }
        }
        assertEq(handler.mirrorBlockCount(), blocks, "mirror: block count");
    }

    /// @dev Every request had the outcome the handler predicted (success or the exact custom error),
    /// and the handler's bookkeeping never contradicted itself.
    function invariant_requestsBehaveAsPredicted() public view {
        if (handler.ghost_unexpectedOutcomes() != 0) {
            (bytes32 operation, bool ok, bytes memory ret, bytes memory expected) =
                abi.decode(handler.ghost_lastUnexpected(), (bytes32, bool, bytes, bytes));
            revert UnexpectedOutcome(operation, ok, ret, expected);
        }
        assertEq(handler.ghost_bookkeepingErrors(), 0, "handler bookkeeping");
    }

    /// @dev Every active reservation, escrow and association is Active on-chain with the account,
    /// party and quantity the handler expects; its blocks are in its state in that account, locked by its
    /// id, and add up to its quantity; and no unit is reserved, escrowed or associated outside them.
    function invariant_locksHoldTheirUnits() public view {
        uint256[3] memory lockedByLocks;
        for (uint256 k; k < 3; ++k) {
            UnitState state = UnitState(uint8(UnitState.Reserved) + k);
            uint64[] memory ids = handler.lockIds(state);
            for (uint256 i; i < ids.length; ++i) {
                PlatformHandler.Lock memory lock = handler.lockOf(ids[i]);
                _assertLockRecord(state, ids[i], lock);
                uint256 sum;
                for (uint256 j; j < lock.blockStarts.length; ++j) {
                    UnitBlock memory b = blockAt(lock.blockStarts[j]);
                    assertEq(uint256(b.state), uint256(state), "lock: block state");
                    assertEq(b.lockId, ids[i], "lock: block lockId");
                    assertEq(b.account, lock.account, "lock: block account");
                    sum += uint256(b.end) - lock.blockStarts[j] + 1;
                }
                assertEq(sum, lock.quantity, "lock: blocks add up to the quantity");
                lockedByLocks[k] += sum;
            }
        }
        uint256[3] memory onChain;
        (,, uint64 nextIssuanceId,,) = registry.counters();
        for (uint64 id = 1; id < nextIssuanceId; ++id) {
            uint64[] memory starts = walkIssuance(id);
            for (uint256 i; i < starts.length; ++i) {
                UnitBlock memory b = blockAt(starts[i]);
                if (
                    b.state == UnitState.Reserved || b.state == UnitState.Escrowed
                        || b.state == UnitState.Associated
                ) {
                    onChain[uint8(b.state) - uint8(UnitState.Reserved)] += uint256(b.end) - starts[i] + 1;
                }
            }
        }
        for (uint256 k; k < 3; ++k) {
            assertEq(onChain[k], lockedByLocks[k], "no locked units outside an active lock");
        }
    }

    function _assertLockRecord(UnitState state, uint64 id, PlatformHandler.Lock memory lock) internal view {
        if (state == UnitState.Reserved) {
            Reservation memory r = IPlatforms(address(registry)).getReservation(id);
            assertEq(uint256(r.status), uint256(ReservationStatus.Active), "reservation: status");
            assertEq(r.accountId, lock.account, "reservation: account");
            assertEq(r.platform, lock.party, "reservation: platform");
            assertEq(r.quantity, lock.quantity, "reservation: quantity");
        } else if (state == UnitState.Escrowed) {
            Escrow memory e = IPlatforms(address(registry)).getEscrow(id);
            assertEq(uint256(e.status), uint256(EscrowStatus.Active), "escrow: status");
            assertEq(e.accountId, lock.account, "escrow: account");
            assertEq(e.platform, lock.party, "escrow: platform");
            assertEq(e.quantity, lock.quantity, "escrow: quantity");
        } else {
            Association memory a = ICertificates(address(registry)).getAssociation(id);
            assertEq(uint256(a.status), uint256(AssociationStatus.Active), "association: status");
            assertEq(a.accountId, lock.account, "association: account");
            assertEq(a.thirdPartyRegistry, lock.party, "association: registry");
            assertEq(a.quantity, lock.quantity, "association: quantity");
        }
    }

    /// @dev Authorized units: every Held block with a lock is locked by an authorization of Australia
    /// (the only Party whose label authority the handler signs for) and carries its purpose labels; and
    /// the units labelled first transferred are exactly as many as the FirstTransfer records covered, so
    /// no unit's first transfer was recorded twice or left unlabelled.
    function invariant_article6() public view {
        (uint8 ndc, uint8 oimp, uint8 ft,) = a6.article6Labels();
        uint256 firstTransferred;
        (,, uint64 nextIssuanceId,,) = registry.counters();
        for (uint64 id = 1; id < nextIssuanceId; ++id) {
            uint64[] memory starts = walkIssuance(id);
            for (uint256 i; i < starts.length; ++i) {
                (UnitBlock memory b, uint256 labels) = registry.getBlock(starts[i]);
                if (labels & (uint256(1) << ft) != 0) firstTransferred += uint256(b.end) - starts[i] + 1;
                if (b.state != UnitState.Held || b.lockId == 0) continue;
                Authorization memory a = a6.getAuthorization(b.lockId);
                assertEq(
                    uint256(bytes32(a.party)), uint256(bytes32(bytes8("AU"))), "held lock is an authorization"
                );
                assertEq(labels >> ndc & 1, a.purposes & PURPOSE_NDC, "NDC label as authorized");
                assertEq(labels >> oimp & 1, (a.purposes & PURPOSE_OIMP) >> 1, "OIMP label as authorized");
            }
        }
        assertEq(firstTransferred, handler.ghost_firstTransferred(), "first transfer recorded once per unit");
    }

    /// @dev Checks each pending ITMO transfer like a core one and returns the units they hold.
    function _itmoPendingTotal() internal view returns (uint256 total) {
        uint64[] memory ids = handler.itmoPendingTransferIds();
        for (uint256 t; t < ids.length; ++t) {
            RegistryHandler.GhostTransfer memory pending = handler.pendingTransfer(ids[t]);
            ItmoTransfer memory transfer = a6.getItmoTransfer(ids[t]);
            assertEq(uint256(transfer.status), uint256(TransferStatus.Pending), "ITMO pending: status");
            assertEq(transfer.quantity, pending.quantity, "ITMO pending: quantity");
            uint256 sum;
            for (uint256 i; i < pending.blockStarts.length; ++i) {
                UnitBlock memory b = blockAt(pending.blockStarts[i]);
                assertEq(uint256(b.state), uint256(UnitState.Pending), "ITMO pending: block state");
                assertEq(b.lockId, ids[t], "ITMO pending: block lockId");
                assertEq(b.account, transfer.fromAccount, "ITMO pending: block account");
                sum += uint256(b.end) - pending.blockStarts[i] + 1;
            }
            assertEq(sum, transfer.quantity, "ITMO pending: blocks add up to the quantity");
            total += sum;
        }
    }

    error UnexpectedOutcome(bytes32 operation, bool succeeded, bytes returned, bytes expectedError);

    function _accountIndex(uint64[] memory accounts, uint64 accountId) internal pure returns (uint256) {
        for (uint256 i; i < accounts.length; ++i) {
            if (accounts[i] == accountId) return i;
        }
        revert("block held by an account the handler does not know");
    }
}
