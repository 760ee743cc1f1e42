// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Article6Base} from "../base/Article6Base.sol";
import {IArticle6Authorization} from "../interfaces/IArticle6.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {Article6Hashing} from "../libraries/Article6Hashing.sol";
import {UnitState, TransferStatus, UnitBlock, Issuance, Label, Range} from "../libraries/RegistryTypes.sol";
import {
    PURPOSE_NDC,
    PURPOSE_OIMP,
    FirstTransferDefinition,
    Article6Action,
    Party,
    Authorization,
    ItmoIdentifier,
    RegisterPartyRequest,
    RegisterCooperativeApproachRequest,
    AuthorizeRequest
} from "../libraries/Article6Types.sol";

/// @title Article6Module
/// @notice Parties, cooperative approaches and letters of authorization, and the views of Article 6
/// state.
/// @dev Runs only by delegatecall from UnitRegistry (see IArticle6 for the design). Called directly it
/// works on its own empty storage, where nobody holds a role, so it can do nothing.
contract Article6Module is Article6Base, IArticle6Authorization, IRegistryModule {
    using Article6Hashing for *;

    bytes32 private constant _NDC_LABEL = "A6_AUTHORIZED_NDC";
    bytes32 private constant _OIMP_LABEL = "A6_AUTHORIZED_OIMP";
    bytes32 private constant _FIRST_TRANSFERRED_LABEL = "A6_FIRST_TRANSFERRED";

    /// @dev What an authorization applies to each range: the operation, the authorization, the Party,
    /// the labels, and whether the first transfer is recorded with it.
    struct Grant {
        uint64 operationId;
        uint64 authorizationId;
        bytes8 party;
        bool firstTransfer;
        uint256 labels;
    }

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](11);
        selectors[0] = IArticle6Authorization.registerParty.selector;
        selectors[1] = IArticle6Authorization.registerCooperativeApproach.selector;
        selectors[2] = IArticle6Authorization.authorize.selector;
        selectors[3] = IArticle6Authorization.getParty.selector;
        selectors[4] = IArticle6Authorization.partyAdministrators.selector;
        selectors[5] = IArticle6Authorization.isPartyAdministrator.selector;
        selectors[6] = IArticle6Authorization.cooperativeApproachParties.selector;
        selectors[7] = IArticle6Authorization.getAuthorization.selector;
        selectors[8] = IArticle6Authorization.authorizationOf.selector;
        selectors[9] = IArticle6Authorization.article6Labels.selector;
        selectors[10] = IArticle6Authorization.itmoIdentifier.selector;
    }

    // ---------------------------------------------------------------------------------------------
    // Parties and cooperative approaches
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle6Authorization
    function registerParty(RegisterPartyRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        bytes8 code = request.party;
        if (code == bytes8(0) || request.registryId == bytes8(0) || request.labelAuthority == address(0)) {
            revert InvalidParty(code, request.registryId, request.labelAuthority);
        }
        _requireRole(LABEL_AUTHORITY_ROLE, request.labelAuthority);
        Article6Storage storage $ = _storage();
        Party storage party = $.parties[code];
        bytes8 registered = party.registryId;
        if (registered != bytes8(0) && registered != request.registryId) {
            revert PartyRegistryIdChanged(code, registered, request.registryId);
        }
        if (!$.labelsDefined) _defineLabels($);
        party.registryId = request.registryId;
        party.labelAuthority = request.labelAuthority;

        address[] storage admins = $.administrators[code];
        for (uint256 i; i < admins.length; ++i) {
            $.isAdministrator[code][admins[i]] = false;
        }
        delete $.administrators[code];
        address[] calldata next = request.administrators;
        for (uint256 i; i < next.length; ++i) {
            address a = next[i];
            if (a == address(0) || $.isAdministrator[code][a]) revert InvalidPartyAdministrator(code, a);
            $.isAdministrator[code][a] = true;
            admins.push(a);
        }
        emit PartyRegistered(code, request.registryId, request.labelAuthority, next);
    }

    /// @inheritdoc IArticle6Authorization
    function registerCooperativeApproach(
        RegisterCooperativeApproachRequest calldata request,
        bytes calldata signature
    ) external onlyRole(RELAYER_ROLE) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        bytes32 id = request.approachId;
        bytes8[] calldata parties = request.parties;
        if (id == bytes32(0) || parties.length == 0 || parties.length > MAX_RANGES) {
            revert InvalidCooperativeApproach(id, parties.length);
        }
        Article6Storage storage $ = _storage();
        bytes8[] storage current = $.approachParties[id];
        for (uint256 i; i < current.length; ++i) {
            $.participates[id][current[i]] = false;
        }
        delete $.approachParties[id];
        for (uint256 i; i < parties.length; ++i) {
            bytes8 code = parties[i];
            _requireParty($, code);
            if ($.participates[id][code]) revert DuplicateParticipant(id, code);
            $.participates[id][code] = true;
            current.push(code);
        }
        emit CooperativeApproachRegistered(id, request.name, parties);
    }

    // ---------------------------------------------------------------------------------------------
    // Authorization
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle6Authorization
    function authorize(
        AuthorizeRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 authorizationId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        Article6Storage storage $ = _storage();
        bytes8 code = request.party;
        Party storage party = _requireParty($, code);
        if (party.labelAuthority != request.signer || !hasRole(LABEL_AUTHORITY_ROLE, request.signer)) {
            revert NotPartyLabelAuthority(code, request.signer);
        }
        uint64 operationId = _counters.nextOperationId++;
        authorizationId = _recordLetter($, request, operationId);
        Grant memory grant = _grant($, request, operationId, authorizationId);
        Range[] calldata ranges = request.ranges;
        _checkRangeCount(ranges.length, blockStarts.length);
        for (uint256 i; i < ranges.length; ++i) {
            _authorizeRange(grant, blockStarts[i], ranges[i].start, ranges[i].end);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IArticle6Authorization
    function getParty(bytes8 party) external view returns (Party memory) {
        return _storage().parties[party];
    }

    /// @inheritdoc IArticle6Authorization
    function partyAdministrators(bytes8 party) external view returns (address[] memory) {
        return _storage().administrators[party];
    }

    /// @inheritdoc IArticle6Authorization
    function isPartyAdministrator(bytes8 party, address account) external view returns (bool) {
        return _storage().isAdministrator[party][account];
    }

    /// @inheritdoc IArticle6Authorization
    function cooperativeApproachParties(bytes32 approachId) external view returns (bytes8[] memory) {
        return _storage().approachParties[approachId];
    }

    /// @inheritdoc IArticle6Authorization
    function getAuthorization(uint64 authorizationId) external view returns (Authorization memory) {
        return _storage().authorizations[authorizationId];
    }

    /// @inheritdoc IArticle6Authorization
    function authorizationOf(bytes8 party, bytes32 letterId) external view returns (uint64) {
        return _storage().letters[party][letterId];
    }

    /// @inheritdoc IArticle6Authorization
    function article6Labels()
        external
        view
        returns (uint8 ndcLabel, uint8 oimpLabel, uint8 firstTransferredLabel, bool defined)
    {
        Article6Storage storage $ = _storage();
        return ($.ndcLabel, $.oimpLabel, $.firstTransferredLabel, $.labelsDefined);
    }

    /// @inheritdoc IArticle6Authorization
    function itmoIdentifier(uint64 blockStart) external view returns (ItmoIdentifier memory id) {
        Article6Storage storage $ = _storage();
        UnitBlock memory b = _blocks[blockStart];
        uint64 lock = b.lockId;
        uint64 authorizationId;
        if (b.state == UnitState.Held && lock != 0) {
            authorizationId = lock;
        } else if (b.state == UnitState.Pending && $.transfers[lock].status == TransferStatus.Pending) {
            authorizationId = $.transfers[lock].authorizationId;
        } else if (b.state == UnitState.Cancelled) {
            authorizationId = $.cancellations[lock];
        }
        Authorization storage authorization = $.authorizations[authorizationId];
        if (authorizationId == 0 || authorization.party == bytes8(0)) revert NotItmoBlock(blockStart);
        Issuance storage issuance = _issuances[b.issuance];
        id = ItmoIdentifier({
            approachId: authorization.approachId,
            originRegistry: issuance.originRegistry,
            firstTransferringParty: authorization.party,
            vintage: issuance.vintage,
            start: blockStart,
            end: b.end,
            authorizationId: authorizationId,
            firstTransferred: _blockLabels[blockStart] & (uint256(1) << $.firstTransferredLabel) != 0
        });
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    /// @dev The three labels only this module sets: their authority is the registry itself, which
    /// never signs, so the core's setLabel cannot apply or remove them.
    function _defineLabels(Article6Storage storage $) private {
        uint16 count = _labelCount;
        if (count + 3 > uint16(type(uint8).max) + 1) revert InvalidLabel(_FIRST_TRANSFERRED_LABEL);
        // Cannot truncate: count + 2 <= 255 by the check above.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint8 first = uint8(count);
        _labelCount = count + 3;
        $.ndcLabel = first;
        $.oimpLabel = first + 1;
        $.firstTransferredLabel = first + 2;
        $.labelsDefined = true;
        _defineLabel(first, _NDC_LABEL);
        _defineLabel(first + 1, _OIMP_LABEL);
        _defineLabel(first + 2, _FIRST_TRANSFERRED_LABEL);
        emit Article6LabelsDefined(first, first + 1, first + 2);
    }

    function _defineLabel(uint8 labelId, bytes32 name) private {
        _labels[labelId] = Label({name: name, authority: address(this)});
        emit LabelDefined(labelId, name, address(this));
    }

    /// @dev Returns the id of the Party's letter: the one recorded before, whose terms the request must
    /// repeat, or `operationId` for a new letter, which is checked and recorded.
    function _recordLetter(Article6Storage storage $, AuthorizeRequest calldata request, uint64 operationId)
        private
        returns (uint64)
    {
        bytes8 code = request.party;
        bytes32 letterId = request.letterId;
        uint64 existing = $.letters[code][letterId];
        if (existing != 0) {
            Authorization storage a = $.authorizations[existing];
            if (
                a.approachId != request.approachId || a.purposes != request.purposes
                    || a.firstTransferDefinition != request.firstTransferDefinition
                    || a.authorizedAt != request.authorizedAt
            ) revert AuthorizationMismatch(code, letterId, existing);
            return existing;
        }
        if (letterId == bytes32(0)) revert InvalidLetterId(letterId);
        if ($.approachParties[request.approachId].length == 0) {
            revert CooperativeApproachNotFound(request.approachId);
        }
        if (!$.participates[request.approachId][code]) revert PartyNotInApproach(request.approachId, code);
        uint8 purposes = request.purposes;
        if (purposes == 0 || purposes > (PURPOSE_NDC | PURPOSE_OIMP)) revert InvalidPurposes(purposes);
        if (request.firstTransferDefinition == FirstTransferDefinition.None) {
            revert InvalidFirstTransferDefinition(request.firstTransferDefinition);
        }
        // A validator's leeway over the timestamp is seconds; a letter's date is what the Party signed.
        // forge-lint: disable-next-line(block-timestamp)
        if (request.authorizedAt == 0 || request.authorizedAt > block.timestamp) {
            revert InvalidAuthorizationDate(request.authorizedAt, block.timestamp);
        }
        $.letters[code][letterId] = operationId;
        $.authorizations[operationId] = Authorization({
            party: code,
            firstTransferDefinition: request.firstTransferDefinition,
            purposes: purposes,
            authorizedAt: request.authorizedAt,
            approachId: request.approachId,
            letterId: letterId
        });
        emit AuthorizationRecorded(
            operationId,
            code,
            request.approachId,
            letterId,
            purposes,
            request.firstTransferDefinition,
            request.authorizedAt
        );
        return operationId;
    }

    function _grant(
        Article6Storage storage $,
        AuthorizeRequest calldata request,
        uint64 operationId,
        uint64 authorizationId
    ) private view returns (Grant memory grant) {
        FirstTransferDefinition definition = request.firstTransferDefinition;
        grant.operationId = operationId;
        grant.authorizationId = authorizationId;
        grant.party = request.party;
        grant.firstTransfer = definition == FirstTransferDefinition.AtAuthorization
            || definition == FirstTransferDefinition.AtIssuance;
        uint8 purposes = request.purposes;
        if (purposes & PURPOSE_NDC != 0) grant.labels |= uint256(1) << $.ndcLabel;
        if (purposes & PURPOSE_OIMP != 0) grant.labels |= uint256(1) << $.oimpLabel;
        if (grant.firstTransfer) grant.labels |= uint256(1) << $.firstTransferredLabel;
    }

    /// @dev Locks `[start, end]` under the authorization, in place, labels it and records the
    /// authorization (and the first transfer, per the definition). The units must be Held, unlocked, by
    /// an open account of the authorizing Party's section.
    function _authorizeRange(Grant memory grant, uint64 hint, uint64 start, uint64 end) private {
        uint64 accountId = _loadBlock(hint, start, end).account;
        bytes8 section = _requireOpen(accountId).party;
        if (section != grant.party) revert UnitsNotInPartySection(accountId, section, grant.party);
        _moveRange(
            hint,
            start,
            end,
            Move({
                fromAccount: accountId,
                fromState: UnitState.Held,
                fromLock: 0,
                toAccount: accountId,
                toState: UnitState.Held,
                toLock: grant.authorizationId
            })
        );
        _blockLabels[start] |= grant.labels;
        _emitLabels(start, end, grant.labels);
        emit Article6ActionRecorded(
            grant.operationId,
            grant.authorizationId,
            Article6Action.Authorization,
            start,
            end,
            accountId,
            grant.party,
            0
        );
        if (grant.firstTransfer) {
            emit Article6ActionRecorded(
                grant.operationId,
                grant.authorizationId,
                Article6Action.FirstTransfer,
                start,
                end,
                accountId,
                grant.party,
                0
            );
        }
    }
}
