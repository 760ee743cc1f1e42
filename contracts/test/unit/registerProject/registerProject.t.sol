// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {RegisterProjectRequest} from "../../../src/libraries/RegistryTypes.sol";

/// @notice registerProject: an issuer or an administrator registers a new, non-zero project id.
/// @dev PROJECT is registered by the base setUp (through its first issuance); PROJECT_2 is not.
contract RegisterProjectTest is UnitTest {
    function _prepare(uint256 key, bytes32 projectId)
        internal
        view
        returns (RegisterProjectRequest memory r, bytes memory s)
    {
        r = registerProjectRequest(vm.addr(key), projectId);
        s = signRegisterProject(key, r);
    }

    function _expectRefused(RegisterProjectRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitRegisterProject(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT_2);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, role)
        );
        vm.prank(issuer);
        admin.registerProject(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT_2);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT_2);
        submitRegisterProject(r, s);
        _expectRefused(r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, issuer, r.nonce + 1));
    }

    function test_RevertWhen_NameAlteredAfterSigning() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT_2);
        r.name = "Another name";
        address recovered = recoverSigner(digestOf(this.hashRegisterProject(r)), s);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, issuer, recovered));
    }

    function test_RevertWhen_SignerNeitherIssuerNorAdmin() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(LABELLER_KEY, PROJECT_2);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.MissingRole.selector, labeller, registry.REGISTRY_ADMIN_ROLE()
            )
        );
    }

    function test_RevertWhen_SignerIsRepresentative() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(AR1_KEY, PROJECT_2);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, ar1, registry.REGISTRY_ADMIN_ROLE())
        );
    }

    function test_RevertWhen_ProjectAlreadyRegistered() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.ProjectAlreadyRegistered.selector, PROJECT));
    }

    function test_RevertWhen_AdminRegistersExistingProject() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, PROJECT);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.ProjectAlreadyRegistered.selector, PROJECT));
    }

    function test_RevertWhen_ProjectIdZero() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, bytes32(0));
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.ProjectAlreadyRegistered.selector, bytes32(0))
        );
    }

    function test_WhenIssuerSigns_Registers() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ISSUER_KEY, PROJECT_2);
        assertFalse(registry.isProjectRegistered(PROJECT_2), "not yet");
        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(issuer, r.nonce, digestOf(this.hashRegisterProject(r)));
        vm.expectEmit();
        emit IRegistryBase.ProjectRegistered(
            PROJECT_2, "Savanna burning, Arnhem Land", "Savanna Fire Management 2018", "AU"
        );
        submitRegisterProject(r, s);
        assertTrue(registry.isProjectRegistered(PROJECT_2), "registered");
    }

    function test_WhenAdminSigns_Registers() public {
        (RegisterProjectRequest memory r, bytes memory s) = _prepare(ADMIN_KEY, PROJECT_2);
        submitRegisterProject(r, s);
        assertTrue(registry.isProjectRegistered(PROJECT_2), "registered");
    }
}
