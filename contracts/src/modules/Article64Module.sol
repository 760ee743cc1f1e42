// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Article6Base} from "../base/Article6Base.sol";
import {IArticle64} from "../interfaces/IArticle6.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {Article6Hashing} from "../libraries/Article6Hashing.sol";
import {AccountKind, UnitState, CancellationPurpose, Issuance} from "../libraries/RegistryTypes.sol";
import {
    Article64Share,
    MechanismAccounts,
    Forward,
    SetMechanismAccountsRequest,
    IssueArticle64Request
} from "../libraries/Article6Types.sol";

/// @title Article64Module
/// @notice The Article 6.4 mechanism registry: its accounts, and issuance with the share of proceeds,
/// the OMGE cancellation and the forwarding of the remainder in one request.
/// @dev Runs only by delegatecall from UnitRegistry (see IArticle6 for the design).
contract Article64Module is Article6Base, IArticle64, IRegistryModule {
    using Article6Hashing for *;

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](4);
        selectors[0] = IArticle64.setMechanismAccounts.selector;
        selectors[1] = IArticle64.issueArticle64.selector;
        selectors[2] = IArticle64.mechanismAccounts.selector;
        selectors[3] = IArticle64.article64Shares.selector;
    }

    // ---------------------------------------------------------------------------------------------
    // Mechanism accounts
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle64
    function setMechanismAccounts(SetMechanismAccountsRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        _requireKind(request.pending, AccountKind.Pending);
        _requireKind(request.holding, AccountKind.Holding);
        _requireKind(request.cancellation, AccountKind.Cancellation);
        _requireKind(request.omgeCancellation, AccountKind.OmgeCancellation);
        _requireKind(request.shareOfProceeds, AccountKind.ShareOfProceeds);
        _storage().mechanism = MechanismAccounts({
            pending: request.pending,
            holding: request.holding,
            cancellation: request.cancellation,
            omgeCancellation: request.omgeCancellation,
            shareOfProceeds: request.shareOfProceeds
        });
        emit MechanismAccountsSet(
            request.pending,
            request.holding,
            request.cancellation,
            request.omgeCancellation,
            request.shareOfProceeds
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Article 6.4 issuance
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle64
    function issueArticle64(IssueArticle64Request calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 issuanceId, uint64 start, uint64 end)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(ISSUER_ROLE, request.signer);
        MechanismAccounts memory m = _storage().mechanism;
        if (m.pending == 0) revert MechanismNotConfigured();
        if (!_projects[request.projectId]) revert ProjectNotFound(request.projectId);
        if (request.quantity == 0) revert InvalidQuantity(0);
        (,, uint64 forwarded) = _shares(request.quantity);
        _checkForwards(request.forwards, forwarded, m.pending);
        _requireCanReceive(m.pending);
        _requireCanReceive(m.shareOfProceeds);
        _requireOpen(m.omgeCancellation);
        _guardDoubleIssuance(
            request.projectId, request.unitType, request.monitoringStart, request.monitoringEnd
        );

        Issuance memory issuance = Issuance({
            projectId: request.projectId,
            unitType: request.unitType,
            start: 0,
            end: 0,
            monitoringStart: request.monitoringStart,
            monitoringEnd: request.monitoringEnd,
            vintage: request.vintage,
            originRegistry: _registryCode
        });
        (issuanceId, start, end) = _issue(issuance, request.quantity, m.pending);
        _distributeIssuance(request.forwards, m, issuanceId, start, request.quantity);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle64
    function mechanismAccounts() external view returns (MechanismAccounts memory) {
        return _storage().mechanism;
    }

    /// @inheritdoc IArticle64
    function article64Shares(uint64 quantity)
        external
        pure
        returns (uint64 shareOfProceeds, uint64 omge, uint64 forwarded)
    {
        return _shares(quantity);
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    function _requireKind(uint64 accountId, AccountKind expected) private view {
        AccountKind actual = _accounts[accountId].kind;
        if (actual != expected) revert MechanismAccountKindMismatch(accountId, expected, actual);
    }

    /// @dev 5% and 2% of `quantity`, each rounded up, and what remains. Computed in 256 bits: 5 * quantity
    /// may exceed 64 bits, the results never do.
    function _shares(uint64 quantity)
        private
        pure
        returns (uint64 shareOfProceeds, uint64 omge, uint64 forwarded)
    {
        uint256 q = quantity;
        uint256 sop = (q * 5 + 99) / 100;
        uint256 cancelled = (q * 2 + 99) / 100;
        // Cannot truncate: both are at most quantity / 20 + 1 and quantity / 50 + 1.
        // forge-lint: disable-next-line(unsafe-typecast)
        (shareOfProceeds, omge) = (uint64(sop), uint64(cancelled));
        if (sop + cancelled > q) revert IssuanceTooSmall(quantity, shareOfProceeds, omge);
        // Cannot underflow: checked just above.
        unchecked {
            forwarded = quantity - shareOfProceeds - omge;
        }
    }

    /// @dev The forwards must be non-zero, to accounts other than the pending account that can receive,
    /// and add up to `forwarded`.
    function _checkForwards(Forward[] calldata forwards, uint64 forwarded, uint64 pending) private view {
        if (forwards.length > MAX_RANGES || (forwarded != 0 && forwards.length == 0)) {
            revert InvalidForwardCount(forwards.length, MAX_RANGES);
        }
        uint256 total;
        for (uint256 i; i < forwards.length; ++i) {
            if (forwards[i].quantity == 0) revert InvalidQuantity(0);
            if (forwards[i].accountId == pending) revert SameAccount(pending);
            _requireCanReceive(forwards[i].accountId);
            total += forwards[i].quantity;
        }
        if (total != forwarded) {
            // At most MAX_RANGES quantities of 64 bits can exceed 64 bits: report such a total saturated.
            // forge-lint: disable-next-line(unsafe-typecast)
            uint64 actual = total > type(uint64).max ? type(uint64).max : uint64(total);
            revert ForwardedQuantityMismatch(forwarded, actual);
        }
    }

    /// @dev Splits the issued block `[start, ...]` of `quantity` units in the pending account into its
    /// share of proceeds, its OMGE cancellation and the forwards, in that serial order.
    function _distributeIssuance(
        Forward[] calldata forwards,
        MechanismAccounts memory m,
        uint64 issuanceId,
        uint64 start,
        uint64 quantity
    ) private {
        (uint64 shareOfProceeds, uint64 omge,) = _shares(quantity);
        uint64 cancellationId = _counters.nextOperationId++;
        uint64 cursor = _distribute(
            issuanceId,
            Article64Share.ShareOfProceeds,
            start,
            shareOfProceeds,
            m.pending,
            m.shareOfProceeds,
            0
        );
        cursor = _distribute(
            issuanceId, Article64Share.Omge, cursor, omge, m.pending, m.omgeCancellation, cancellationId
        );
        emit UnitsCancelled(cancellationId, m.omgeCancellation, CancellationPurpose.Omge, omge, "", "");
        for (uint256 i; i < forwards.length; ++i) {
            Forward calldata forward = forwards[i];
            cursor = _distribute(
                issuanceId,
                Article64Share.Forwarded,
                cursor,
                forward.quantity,
                m.pending,
                forward.accountId,
                0
            );
        }
        emit Article64Issued(
            issuanceId,
            cancellationId,
            m.pending,
            quantity,
            shareOfProceeds,
            omge,
            quantity - shareOfProceeds - omge
        );
    }

    /// @dev Moves the `quantity` units from `start` out of the pending account `from` into `to`: Held, or
    /// Cancelled under `cancellationId` for the OMGE share. Returns the next serial.
    function _distribute(
        uint64 issuanceId,
        Article64Share share,
        uint64 start,
        uint64 quantity,
        uint64 from,
        uint64 to,
        uint64 cancellationId
    ) private returns (uint64 next) {
        // Cannot overflow: the parts lie inside the issued block, below MAX_SERIAL.
        unchecked {
            next = start + quantity;
        }
        // `start` begins the pending remainder of the issued block: every earlier part split it off.
        _moveRange(
            start,
            start,
            next - 1,
            Move({
                fromAccount: from,
                fromState: UnitState.Held,
                fromLock: 0,
                toAccount: to,
                toState: share == Article64Share.Omge ? UnitState.Cancelled : UnitState.Held,
                toLock: cancellationId
            })
        );
        emit Article64Distributed(issuanceId, share, to, start, next - 1);
    }
}
