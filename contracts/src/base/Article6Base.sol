// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryBase} from "./RegistryBase.sol";
import {IArticle6Events} from "../interfaces/IArticle6.sol";
import {
    Article6Action,
    Party,
    Authorization,
    MechanismAccounts,
    ItmoTransfer
} from "../libraries/Article6Types.sol";

/// @title Article6Base
/// @notice The storage and the recording logic the Article 6 modules share.
/// @dev Article6Module (Parties, approaches, authorizations, views), Article6TransferModule (movements of
/// authorized units) and Article64Module (mechanism accounts, 6.4 issuance) are three modules because
/// together they exceed the code size limit. They keep their state in one ERC-7201 namespace, so that a
/// module never collides with RegistryBase's layout or with another module's.
abstract contract Article6Base is RegistryBase, IArticle6Events {
    /// @custom:storage-location erc7201:registry.storage.Article6
    struct Article6Storage {
        mapping(bytes8 party => Party) parties;
        mapping(bytes8 party => address[]) administrators;
        mapping(bytes8 party => mapping(address account => bool)) isAdministrator;
        mapping(bytes32 approachId => bytes8[]) approachParties;
        mapping(bytes32 approachId => mapping(bytes8 party => bool)) participates;
        mapping(uint64 authorizationId => Authorization) authorizations;
        mapping(bytes8 party => mapping(bytes32 letterId => uint64 authorizationId)) letters;
        mapping(uint64 transferId => ItmoTransfer) transfers;
        mapping(uint64 cancellationId => uint64 authorizationId) cancellations;
        MechanismAccounts mechanism;
        uint8 ndcLabel;
        uint8 oimpLabel;
        uint8 firstTransferredLabel;
        bool labelsDefined;
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("registry.storage.Article6")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _STORAGE_SLOT =
        0x9795a9512f9ad1e33085ac0815a3a264d46311c4aaadc7bb43df8535e4a83f00;

    /// @dev What a completed transfer records: its id and authorization, both accounts and their Parties.
    struct Leg {
        uint64 operationId;
        uint64 authorizationId;
        uint64 fromAccount;
        uint64 toAccount;
        bytes8 fromParty;
        bytes8 toParty;
    }

    function _storage() internal pure returns (Article6Storage storage $) {
        assembly ("memory-safe") {
            $.slot := _STORAGE_SLOT
        }
    }

    function _requireParty(Article6Storage storage $, bytes8 code)
        internal
        view
        returns (Party storage party)
    {
        party = $.parties[code];
        if (party.registryId == bytes8(0)) revert PartyNotFound(code);
    }

    function _authorization(Article6Storage storage $, uint64 authorizationId)
        internal
        view
        returns (Authorization storage authorization)
    {
        authorization = $.authorizations[authorizationId];
        if (authorization.party == bytes8(0)) revert AuthorizationNotFound(authorizationId);
    }

    /// @dev Between Parties, the acquiring Party must be registered and take part in the approach.
    function _checkAcquiringParty(Article6Storage storage $, bytes32 approachId, Leg memory leg)
        internal
        view
    {
        if (leg.fromParty == leg.toParty) return;
        _requireParty($, leg.toParty);
        if (!$.participates[approachId][leg.toParty]) revert PartyNotInApproach(approachId, leg.toParty);
    }

    /// @dev Records a completed transfer of the block `[start, end]`: nothing within one Party's
    /// section; between Parties, its first transfer if none was recorded, then Transfer and Acquisition.
    function _recordLeg(Article6Storage storage $, Leg memory leg, uint64 start, uint64 end) internal {
        if (leg.fromParty == leg.toParty) return;
        if (_blockLabels[start] & (uint256(1) << $.firstTransferredLabel) == 0) {
            _markFirstTransfer($, leg, start, end);
        }
        emit Article6ActionRecorded(
            leg.operationId,
            leg.authorizationId,
            Article6Action.Transfer,
            start,
            end,
            leg.fromAccount,
            leg.fromParty,
            leg.toParty
        );
        emit Article6ActionRecorded(
            leg.operationId,
            leg.authorizationId,
            Article6Action.Acquisition,
            start,
            end,
            leg.toAccount,
            leg.toParty,
            leg.fromParty
        );
    }

    /// @dev Labels the block `[start, end]` (already a block of its own) first transferred and records
    /// the first transfer, by the authorizing Party, from `leg.fromAccount`.
    function _markFirstTransfer(Article6Storage storage $, Leg memory leg, uint64 start, uint64 end)
        internal
    {
        uint8 label = $.firstTransferredLabel;
        _blockLabels[start] |= uint256(1) << label;
        emit LabelChanged(start, end, label, true);
        bytes8 firstTransferring = $.authorizations[leg.authorizationId].party;
        emit Article6ActionRecorded(
            leg.operationId,
            leg.authorizationId,
            Article6Action.FirstTransfer,
            start,
            end,
            leg.fromAccount,
            firstTransferring,
            leg.toParty == firstTransferring ? bytes8(0) : leg.toParty
        );
    }
}
