// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {RequestHashing} from "../../../src/libraries/RequestHashing.sol";
import {UpdateProjectRequest} from "../../../src/libraries/RegistryTypes.sol";

/// @notice updateProject: an issuer or an administrator corrects a registered project's name and
/// methodology. PROJECT is registered by the base setUp (through its first issuance); PROJECT_2 is not.
contract UpdateProjectTest is UnitTest {
    function hashUpdateProject(UpdateProjectRequest calldata r) external pure returns (bytes32) {
        return RequestHashing.hash(r);
    }

    function _prepare(uint256 key, bytes32 projectId, string memory name)
        internal
        view
        returns (UpdateProjectRequest memory r, bytes memory s)
    {
        address signer = vm.addr(key);
        r = UpdateProjectRequest({
            signer: signer,
            projectId: projectId,
            name: name,
            methodology: "Savanna Fire Management 2018 v1.1",
            nonce: nextNonce(signer),
            deadline: deadline()
        });
        s = sign(key, this.hashUpdateProject(r));
    }

    function _submit(UpdateProjectRequest memory r, bytes memory s) internal {
        vm.prank(relayer);
        admin.updateProject(r, s);
    }

    function _expectRefused(UpdateProjectRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        _submit(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT, "Savanna");
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, role)
        );
        vm.prank(issuer);
        admin.updateProject(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_SignatureReplayed() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT, "Savanna");
        _submit(r, s);
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, issuer, r.nonce + 1));
    }

    function test_RevertWhen_NameAlteredAfterSigning() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT, "Savanna");
        r.name = "Another name";
        address recovered = recoverSigner(digestOf(this.hashUpdateProject(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, issuer, recovered));
    }

    function test_RevertWhen_SignerNeitherIssuerNorAdmin() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(AR1_KEY, PROJECT, "Savanna");
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, ar1, registry.REGISTRY_ADMIN_ROLE())
        );
    }

    function test_RevertWhen_ProjectNotFound() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, PROJECT_2, "Savanna");
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.ProjectNotFound.selector, PROJECT_2));
    }

    function test_RevertWhen_NameEmpty() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT, "");
        _expectRefused(r, s, abi.encodeWithSelector(IAdministration.EmptyProjectName.selector, PROJECT));
    }

    function test_WhenIssuerSigns_EmitsProjectUpdated() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT, "Savanna burning");
        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(issuer, r.nonce, digestOf(this.hashUpdateProject(r)));
        vm.expectEmit();
        emit IAdministration.ProjectUpdated(PROJECT, "Savanna burning", "Savanna Fire Management 2018 v1.1");
        _submit(r, s);
        assertTrue(registry.isProjectRegistered(PROJECT), "still registered");
    }

    function test_WhenAdminSigns_EmitsProjectUpdated() public {
        (UpdateProjectRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, PROJECT, "Savanna burning");
        vm.expectEmit();
        emit IAdministration.ProjectUpdated(PROJECT, "Savanna burning", "Savanna Fire Management 2018 v1.1");
        _submit(r, s);
    }
}
