// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {AdministrationModule} from "../../../src/modules/AdministrationModule.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {OpenAccountRequest, ApprovalPolicy, Representative} from "../../../src/libraries/RegistryTypes.sol";

/// @dev A module function this registry does not route (yet).
interface IPlatformModule {
    function reserve(uint64 start, uint64 end) external;
}

/// @notice The router: unknown selectors are refused by name; module functions only run through it.
contract FallbackTest is UnitTest {
    function test_RevertWhen_UnknownSelector() public {
        bytes4 selector = IPlatformModule.reserve.selector;
        bytes32 before = stateDigest();
        vm.prank(relayer);
        (bool ok, bytes memory ret) = address(registry).call(abi.encodeWithSelector(selector, 1, 2));
        assertFalse(ok, "refused");
        assertEq(
            keccak256(ret),
            keccak256(abi.encodeWithSelector(IRegistryBase.UnknownFunction.selector, selector)),
            "UnknownFunction(selector)"
        );
        assertStateUnchanged(before);
    }

    function test_RevertWhen_UnknownSelectorFromAnyone() public {
        // The router answers before any role check: the selector is unknown whoever calls.
        vm.expectRevert(
            abi.encodeWithSelector(IRegistryBase.UnknownFunction.selector, IPlatformModule.reserve.selector)
        );
        vm.prank(outsider);
        IPlatformModule(address(registry)).reserve(1, 2);
    }

    function test_RevertWhen_EmptyCalldata() public {
        (bool ok, bytes memory ret) = address(registry).call("");
        assertFalse(ok, "refused");
        assertEq(
            keccak256(ret),
            keccak256(abi.encodeWithSelector(IRegistryBase.UnknownFunction.selector, bytes4(0))),
            "UnknownFunction(0)"
        );
    }

    function test_RevertWhen_ValueSent() public {
        cheats.deal(address(this), 1 ether);
        (bool ok,) = address(registry).call{value: 1}("");
        assertFalse(ok, "the registry holds no ether");
    }

    function test_RevertWhen_ModuleCalledDirectly() public {
        // On its own storage nobody holds a role, so the module does nothing when called directly.
        AdministrationModule module = new AdministrationModule();
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar1, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        bytes memory s = signOpenAccount(ADMIN_KEY, r);
        bytes32 role = module.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, relayer, role)
        );
        vm.prank(relayer);
        module.openAccount(r, s);
    }

    function test_WhenModuleSelector_RoutesToModule() public {
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar1, true, true, true);
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, reps);
        bytes memory s = signOpenAccount(ADMIN_KEY, r);
        vm.prank(relayer);
        uint64 id = IAdministration(address(registry)).openAccount(r, s);
        assertEq(registry.getAccount(id).primaryRepresentative, ar1, "opened in the registry's storage");
    }

    function test_RevertWhen_TwoModulesClaimOneSelector() public {
        address[] memory modules = new address[](2);
        modules[0] = address(new AdministrationModule());
        modules[1] = address(new AdministrationModule());
        vm.expectRevert(
            abi.encodeWithSelector(
                IRegistryBase.DuplicateSelector.selector, IAdministration.openAccount.selector
            )
        );
        new UnitRegistry("AU", adminAddr, modules);
    }
}
