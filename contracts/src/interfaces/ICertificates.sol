// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRegistryBase} from "./IRegistryBase.sol";
import {
    AssociationStatus,
    Association,
    AssociateRequest,
    DissociateRequest,
    RetireAssociationRequest
} from "../libraries/PlatformTypes.sol";

/// @title ICertificates
/// @notice Third-party certificates (CER Class C.1): units associated 1:1 with a certificate of a
/// third-party registry are locked; the registry may dissociate them, or retire its certificate, which
/// cancels the units so that the claim cannot be made twice.
/// @dev Implemented by the CertificateModule and reached through the UnitRegistry address, like IPlatforms
/// (one EIP-712 domain, one nonce space, ids from the shared operation counter, block hints as in the
/// core). A third-party registry is an address holding THIRD_PARTY_REGISTRY_ROLE.
interface ICertificates is IRegistryBase {
    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice The association id is unknown.
    error AssociationNotFound(uint64 associationId);
    /// @notice The association was already dissociated or retired.
    error AssociationNotActive(uint64 associationId, AssociationStatus status);
    /// @notice The signer is not the association's third-party registry.
    error NotAssociationRegistry(uint64 associationId, address signer);
    /// @notice The certificate id is zero.
    error InvalidCertificate(bytes32 certificateId);
    /// @notice The third-party registry already used this certificate id (for `associationId`); a
    /// certificate backs units once, so that the same claim cannot be made twice.
    error CertificateAlreadyUsed(address thirdPartyRegistry, bytes32 certificateId, uint64 associationId);

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    event UnitsAssociated(
        uint64 indexed associationId,
        uint64 indexed accountId,
        address indexed thirdPartyRegistry,
        bytes32 certificateId,
        uint64 quantity
    );
    /// @notice The third-party registry dissociated the units; they are Held again in `accountId`.
    event UnitsDissociated(
        uint64 indexed associationId, uint64 indexed accountId, address indexed thirdPartyRegistry
    );
    /// @notice The third-party registry retired its certificate; the units were cancelled as
    /// `cancellationId` (the core's UnitsCancelled is emitted just before, its reason naming the
    /// certificate).
    event AssociationRetired(
        uint64 indexed associationId,
        uint64 cancellationId,
        address indexed thirdPartyRegistry,
        bytes32 certificateId
    );

    // ---------------------------------------------------------------------------------------------
    // C.1 third-party certificates
    // ---------------------------------------------------------------------------------------------

    /// @notice Associates ranges 1:1 with a third-party certificate: Held -> Associated, locked by the
    /// association id, in the same account.
    /// @dev Requirements: signer is a representative of the account who may initiate; account open;
    /// `thirdPartyRegistry` has THIRD_PARTY_REGISTRY_ROLE; certificate id non-zero and never used before by
    /// that registry; every range Held by the account.
    function associate(
        AssociateRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 associationId);

    /// @notice Dissociates the units of an association: they are Held again. The certificate id stays
    /// used.
    /// @dev Requirements: signer is the association's third-party registry and still has
    /// THIRD_PARTY_REGISTRY_ROLE; association active; `blockStarts` lists exactly its blocks.
    function dissociate(
        DissociateRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external;

    /// @notice Retires the certificate: the associated units are cancelled (state Cancelled, purpose
    /// Voluntary) with the given beneficiary and a reason that names the certificate and its registry.
    /// @dev Requirements: as dissociate. Emits BlockChanged per block, UnitsCancelled, AssociationRetired.
    function retireAssociation(
        RetireAssociationRequest calldata request,
        bytes calldata signature,
        uint64[] calldata blockStarts
    ) external returns (uint64 cancellationId);

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The role a third-party registry needs to be named in associations.
    function THIRD_PARTY_REGISTRY_ROLE() external view returns (bytes32);

    /// @notice The association (status None if unknown).
    function getAssociation(uint64 associationId) external view returns (Association memory);

    /// @notice The association that used this certificate id of this third-party registry, or 0.
    function certificateAssociation(address thirdPartyRegistry, bytes32 certificateId)
        external
        view
        returns (uint64);
}
