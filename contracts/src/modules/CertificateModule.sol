// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {RegistryBase} from "../base/RegistryBase.sol";
import {ICertificates} from "../interfaces/ICertificates.sol";
import {IRegistryModule} from "../interfaces/IRegistryModule.sol";
import {PlatformHashing} from "../libraries/PlatformHashing.sol";
import {PlatformStorage} from "../libraries/PlatformStorage.sol";
import {CancellationPurpose, UnitState} from "../libraries/RegistryTypes.sol";
import {
    AssociationStatus,
    Association,
    AssociateRequest,
    DissociateRequest,
    RetireAssociationRequest
} from "../libraries/PlatformTypes.sol";

/// @title CertificateModule
/// @notice Associations of units with third-party certificates (CER Class C.1).
/// @dev Runs only by delegatecall from UnitRegistry, on the registry's storage; its state lives in the
/// ERC-7201 namespace of PlatformStorage, shared with the PlatformModule. A module of its own because the
/// platform models and certificates together exceed the 24,576-byte code size limit.
contract CertificateModule is RegistryBase, ICertificates, IRegistryModule {
    using PlatformHashing for *;

    /// @inheritdoc ICertificates
    bytes32 public constant THIRD_PARTY_REGISTRY_ROLE = keccak256("THIRD_PARTY_REGISTRY_ROLE");

    /// @inheritdoc IRegistryModule
    function moduleSelectors() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](6);
        selectors[0] = ICertificates.associate.selector;
        selectors[1] = ICertificates.dissociate.selector;
        selectors[2] = ICertificates.retireAssociation.selector;
        selectors[3] = ICertificates.THIRD_PARTY_REGISTRY_ROLE.selector;
        selectors[4] = ICertificates.getAssociation.selector;
        selectors[5] = ICertificates.certificateAssociation.selector;
    }

    // ---------------------------------------------------------------------------------------------
    // Associations
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificates
    function associate(
        AssociateRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 associationId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 accountId = request.accountId;
        _requireOpen(accountId);
        _requireRight(accountId, request.signer, _RIGHT_INITIATE);
        address registry = request.thirdPartyRegistry;
        _requireRole(THIRD_PARTY_REGISTRY_ROLE, registry);
        bytes32 certificateId = request.certificateId;
        if (certificateId == bytes32(0)) revert InvalidCertificate(certificateId);
        PlatformStorage.Layout storage s = PlatformStorage.layout();
        uint64 used = s.certificates[registry][certificateId];
        if (used != 0) revert CertificateAlreadyUsed(registry, certificateId, used);

        associationId = _counters.nextOperationId++;
        uint64 quantity = _moveRanges(
            request.ranges, blockStarts, _lockMove(accountId, UnitState.Associated, associationId)
        );
        s.certificates[registry][certificateId] = associationId;
        s.associations[associationId] = Association({
            accountId: accountId,
            thirdPartyRegistry: registry,
            quantity: quantity,
            status: AssociationStatus.Active,
            cancellationId: 0,
            certificateId: certificateId
        });
        emit UnitsAssociated(associationId, accountId, registry, certificateId, quantity);
    }

    /// @inheritdoc ICertificates
    function dissociate(
        DissociateRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 associationId = request.associationId;
        Association storage a = _registryAssociation(associationId, request.signer);
        uint64 accountId = a.accountId;

        a.status = AssociationStatus.Dissociated;
        _moveLocked(
            associationId,
            blockStarts,
            _unlockMove(accountId, UnitState.Associated, associationId),
            a.quantity
        );
        emit UnitsDissociated(associationId, accountId, request.signer);
    }

    /// @inheritdoc ICertificates
    function retireAssociation(
        RetireAssociationRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external onlyRole(RELAYER_ROLE) returns (uint64 cancellationId) {
        _verify(request.hash(), request.signer, request.nonce, request.deadline, signature);
        uint64 associationId = request.associationId;
        Association storage a = _registryAssociation(associationId, request.signer);
        uint64 accountId = a.accountId;

        cancellationId = _counters.nextOperationId++;
        a.status = AssociationStatus.Retired;
        a.cancellationId = cancellationId;
        Move memory move = Move({
            fromAccount: accountId,
            fromState: UnitState.Associated,
            fromLock: associationId,
            toAccount: accountId,
            toState: UnitState.Cancelled,
            toLock: cancellationId
        });
        uint64 quantity = _moveLocked(associationId, blockStarts, move, a.quantity);
        _emitRetired(request, a, associationId, cancellationId, quantity);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificates
    function getAssociation(uint64 associationId) external view returns (Association memory) {
        return PlatformStorage.layout().associations[associationId];
    }

    /// @inheritdoc ICertificates
    function certificateAssociation(address thirdPartyRegistry, bytes32 certificateId)
        external
        view
        returns (uint64)
    {
        return PlatformStorage.layout().certificates[thirdPartyRegistry][certificateId];
    }

    // ---------------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------------

    /// @dev The active association, if `signer` is its third-party registry and still holds the role, and
    /// its account is open.
    function _registryAssociation(uint64 associationId, address signer)
        private
        view
        returns (Association storage a)
    {
        a = PlatformStorage.layout().associations[associationId];
        if (a.status == AssociationStatus.None) revert AssociationNotFound(associationId);
        if (a.status != AssociationStatus.Active) revert AssociationNotActive(associationId, a.status);
        if (signer != a.thirdPartyRegistry) revert NotAssociationRegistry(associationId, signer);
        _requireRole(THIRD_PARTY_REGISTRY_ROLE, signer);
        _requireOpen(a.accountId);
    }

    /// @dev The cancellation's reason names the certificate and its registry, so that the public unit
    /// register shows which third-party claim the units back. A function of its own for the stack.
    function _emitRetired(
        RetireAssociationRequest calldata request,
        Association storage a,
        uint64 associationId,
        uint64 cancellationId,
        uint64 quantity
    ) private {
        bytes32 certificateId = a.certificateId;
        address registry = a.thirdPartyRegistry;
        string memory reason = string.concat(
            request.reason,
            " (third-party certificate ",
            Strings.toHexString(uint256(certificateId), 32),
            " of registry ",
            Strings.toChecksumHexString(registry),
            ")"
        );
        emit UnitsCancelled(
            cancellationId, a.accountId, CancellationPurpose.Voluntary, quantity, request.beneficiary, reason
        );
        emit AssociationRetired(associationId, cancellationId, registry, certificateId);
    }
}
