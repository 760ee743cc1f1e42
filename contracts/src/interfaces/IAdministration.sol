// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRegistryBase} from "./IRegistryBase.sol";
import {
    OpenAccountRequest,
    SetRepresentativeRequest,
    SetAccountStatusRequest,
    RegisterProjectRequest,
    UpdateProjectRequest,
    DefineLabelRequest,
    IssueRequest
} from "../libraries/RegistryTypes.sol";

/// @title IAdministration
/// @notice Registry administration and issuance: accounts, representatives, projects, labels, units.
/// @dev Implemented by the AdministrationModule and reached through the UnitRegistry address, so it
/// shares the registry's storage, roles, nonces and EIP-712 domain. Every function takes a request
/// signed per EIP-712 and may only be submitted by an address holding the relayer role.
interface IAdministration is IRegistryBase {
    /// @notice A registered project's name or methodology was corrected.
    event ProjectUpdated(bytes32 indexed projectId, string name, string methodology);

    /// @notice A project's name must not be empty.
    error EmptyProjectName(bytes32 projectId);

    // ---------------------------------------------------------------------------------------------
    // Administration (signed by a registry administrator)
    // ---------------------------------------------------------------------------------------------

    /// @notice Opens an account with its representatives.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; kind is not None; at least one representative,
    /// exactly one primary, no zero or duplicate address.
    function openAccount(OpenAccountRequest calldata request, bytes calldata signature)
        external
        returns (uint64 accountId);

    /// @notice Appoints, changes or (all flags false) removes an authorised representative.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; the account exists and is not closed; the
    /// primary cannot be removed; appointing a primary demotes the previous one to a plain representative.
    function setRepresentative(SetRepresentativeRequest calldata request, bytes calldata signature) external;

    /// @notice Suspends, reopens or closes an account. Closing is final.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; the change is Open<->Suspended or to Closed.
    function setAccountStatus(SetAccountStatusRequest calldata request, bytes calldata signature) external;

    /// @notice Registers a project that units can be issued for.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE or ISSUER_ROLE; the id is new and non-zero.
    function registerProject(RegisterProjectRequest calldata request, bytes calldata signature) external;

    /// @notice Corrects a registered project's name and methodology (a typo in its registration).
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE or ISSUER_ROLE, as for registerProject; the
    /// project is registered; the name is not empty. Its id, country and issuances do not change.
    function updateProject(UpdateProjectRequest calldata request, bytes calldata signature) external;

    /// @notice Defines a new eligibility label owned by `authority` and assigns it the next label id.
    /// @dev Requirements: signer has REGISTRY_ADMIN_ROLE; authority has LABEL_AUTHORITY_ROLE.
    function defineLabel(DefineLabelRequest calldata request, bytes calldata signature)
        external
        returns (uint8 labelId);

    /// @notice Issues `quantity` units as one new block of consecutive serials into `toAccount`.
    /// @dev Requirements: signer has ISSUER_ROLE; project registered; the monitoring period does not
    /// overlap an earlier one of the same project and unit type; destination open; serials stay below
    /// 2^63; the signer owns every label in `labels`.
    function issue(IssueRequest calldata request, bytes calldata signature)
        external
        returns (uint64 issuanceId, uint64 start, uint64 end);
}
