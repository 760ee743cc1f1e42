// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RegistryBase} from "../base/RegistryBase.sol";
import {IAdministration} from "../interfaces/IAdministration.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {RequestHashing} from "../libraries/RequestHashing.sol";
import {
    AccountKind,
    AccountStatus,
    Account,
    Issuance,
    Label,
    Representative,
    OpenAccountRequest,
    SetRepresentativeRequest,
    SetAccountStatusRequest,
    RegisterProjectRequest,
    UpdateProjectRequest,
    DefineLabelRequest,
    IssueRequest
} from "../libraries/RegistryTypes.sol";

/// @title AdministrationModule
/// @notice Accounts, representatives, projects, label definitions and issuance.
/// @dev Runs only by delegatecall from UnitRegistry, on the registry's storage. Called directly it works
/// on its own empty storage, where nobody holds a role, so it can do nothing.
contract AdministrationModule is RegistryBase, IAdministration, IRegistryModule {
    using RequestHashing for *;

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](7);
        selectors[0] = IAdministration.openAccount.selector;
        selectors[1] = IAdministration.setRepresentative.selector;
        selectors[2] = IAdministration.setAccountStatus.selector;
        selectors[3] = IAdministration.registerProject.selector;
        selectors[4] = IAdministration.defineLabel.selector;
        selectors[5] = IAdministration.issue.selector;
        selectors[6] = IAdministration.updateProject.selector;
    }

    /// @inheritdoc IAdministration
    function openAccount(OpenAccountRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 accountId)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        if (request.kind == AccountKind.None) revert InvalidAccountKind(request.kind);

        accountId = _counters.nextAccountId++;
        address primary;
        uint256 primaries;
        Representative[] calldata reps = request.representatives;
        for (uint256 i; i < reps.length; ++i) {
            Representative calldata r = reps[i];
            _checkNewRepresentative(accountId, r);
            _rights[accountId][r.addr] = _encodeRights(r);
            if (r.primary) {
                primary = r.addr;
                ++primaries;
            }
        }
        if (primaries != 1) revert PrimaryRepresentativeRequired(primaries);
        _accounts[accountId] = Account({
            kind: request.kind,
            status: AccountStatus.Open,
            approvalPolicy: request.approvalPolicy,
            party: request.party,
            primaryRepresentative: primary
        });
        emit AccountOpened(accountId, request.kind, request.approvalPolicy, request.party, request.holderName);
        for (uint256 i; i < reps.length; ++i) {
            emit RepresentativeSet(
                accountId, reps[i].addr, reps[i].primary, reps[i].canInitiate, reps[i].canApprove
            );
        }
    }

    /// @inheritdoc IAdministration
    function setRepresentative(SetRepresentativeRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        Account storage account = _existingAccount(request.accountId);
        if (account.status == AccountStatus.Closed) revert AccountClosed(request.accountId);

        Representative calldata r = request.representative;
        if (r.addr == address(0)) revert InvalidRepresentative(r.addr);
        bool isPrimary = account.primaryRepresentative == r.addr;
        uint8 rights = _encodeRights(r);
        if (isPrimary && !r.primary) revert CannotRemovePrimary(request.accountId, r.addr);
        if (!r.canInitiate && !r.canApprove && !r.primary) rights = 0;
        _rights[request.accountId][r.addr] = rights;
        if (r.primary && !isPrimary) {
            address previous = account.primaryRepresentative;
            account.primaryRepresentative = r.addr;
            uint8 previousRights = _rights[request.accountId][previous];
            // A demoted primary with no right left is removed, as the event's all-false flags say.
            if (previousRights == _RIGHT_APPOINTED) _rights[request.accountId][previous] = 0;
            emit RepresentativeSet(
                request.accountId,
                previous,
                false,
                previousRights & _RIGHT_INITIATE != 0,
                previousRights & _RIGHT_APPROVE != 0
            );
        }
        emit RepresentativeSet(request.accountId, r.addr, r.primary, r.canInitiate, r.canApprove);
    }

    /// @inheritdoc IAdministration
    function setAccountStatus(SetAccountStatusRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        Account storage account = _existingAccount(request.accountId);
        AccountStatus from = account.status;
        AccountStatus to = request.status;
        if (from == AccountStatus.Closed || to == AccountStatus.None || from == to) {
            revert InvalidStatusChange(request.accountId, from, to);
        }
        account.status = to;
        emit AccountStatusChanged(request.accountId, to);
    }

    /// @inheritdoc IAdministration
    function registerProject(RegisterProjectRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        if (!hasRole(ISSUER_ROLE, request.signer)) _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        if (request.projectId == bytes32(0) || _projects[request.projectId]) {
            revert ProjectAlreadyRegistered(request.projectId);
        }
        _projects[request.projectId] = true;
        emit ProjectRegistered(request.projectId, request.name, request.methodology, request.country);
    }

    /// @inheritdoc IAdministration
    function updateProject(UpdateProjectRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        if (!hasRole(ISSUER_ROLE, request.signer)) _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        if (!_projects[request.projectId]) revert ProjectNotFound(request.projectId);
        if (bytes(request.name).length == 0) revert EmptyProjectName(request.projectId);
        emit ProjectUpdated(request.projectId, request.name, request.methodology);
    }

    /// @inheritdoc IAdministration
    function defineLabel(DefineLabelRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint8 labelId)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(REGISTRY_ADMIN_ROLE, request.signer);
        _requireRole(LABEL_AUTHORITY_ROLE, request.authority);
        uint16 count = _labelCount;
        if (count > type(uint8).max || request.name == bytes32(0)) revert InvalidLabel(request.name);
        labelId = uint8(count);
        _labelCount = count + 1;
        _labels[labelId] = Label({name: request.name, authority: request.authority});
        emit LabelDefined(labelId, request.name, request.authority);
    }

    /// @inheritdoc IAdministration
    function issue(IssueRequest calldata request, bytes calldata signature)
        external
        onlyRole(RELAYER_ROLE)
        returns (uint64 issuanceId, uint64 start, uint64 end)
    {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        _requireRole(ISSUER_ROLE, request.signer);
        if (!_projects[request.projectId]) revert ProjectNotFound(request.projectId);
        _requireCanReceive(request.toAccount);
        _guardDoubleIssuance(
            request.projectId, request.unitType, request.monitoringStart, request.monitoringEnd
        );
        _requireLabelAuthority(request.labels, request.signer);

        Issuance memory issuance = Issuance({
            projectId: request.projectId,
            unitType: request.unitType,
            start: 0,
            end: 0,
            monitoringStart: request.monitoringStart,
            monitoringEnd: request.monitoringEnd,
            vintage: request.vintage,
            originRegistry: request.originRegistry == bytes8(0) ? _registryCode : request.originRegistry
        });
        (issuanceId, start, end) = _issue(issuance, request.quantity, request.toAccount);
        if (request.labels != 0) {
            _blockLabels[start] = request.labels;
            _emitLabels(start, end, request.labels);
        }
    }

    /// @dev A representative with no right and no primary role would mean a removal in
    /// setRepresentative; refusing it here keeps "all flags false" meaning one thing.
    function _checkNewRepresentative(uint64 accountId, Representative calldata r) private view {
        bool noRole = !r.primary && !r.canInitiate && !r.canApprove;
        if (r.addr == address(0) || noRole || _rights[accountId][r.addr] != 0) {
            revert InvalidRepresentative(r.addr);
        }
    }

    function _encodeRights(Representative calldata r) private pure returns (uint8) {
        return _RIGHT_APPOINTED | (r.canInitiate ? _RIGHT_INITIATE : 0) | (r.canApprove ? _RIGHT_APPROVE : 0);
    }
}
