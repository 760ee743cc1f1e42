// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountKind, AccountStatus, ApprovalPolicy} from "../../../src/libraries/RegistryTypes.sol";
import {PlatformStatus, Platform, RegisterPlatformRequest} from "../../../src/libraries/PlatformTypes.sol";

/// @notice registerPlatform: the administrator registers a platform with its custodial account and signers.
contract RegisterPlatformTest is PlatformTest {
    uint256 internal constant NEW_PLATFORM_KEY = 0x9A99;
    uint256 internal constant NEW_SIGNER_KEY = 0x9A98;

    address internal newPlatform;
    uint64 internal newCustodial;

    function setUp() public override {
        super.setUp();
        newPlatform = vm.addr(NEW_PLATFORM_KEY);
        newCustodial = openCustodialAccount();
    }

    function _prepare(address p, uint64 account, address[] memory signers)
        internal
        view
        returns (RegisterPlatformRequest memory r, bytes memory s)
    {
        r = registerPlatformRequest(p, account, signers);
        s = signRegisterPlatform(ADMIN_KEY, r);
    }

    function _expectRefused(RegisterPlatformRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitRegisterPlatform(r, s);
        assertFullStateUnchanged(before);
    }

    function test_RegistersActivePlatformWithSigners() public {
        address[] memory signers = new address[](2);
        signers[0] = vm.addr(NEW_SIGNER_KEY);
        signers[1] = newPlatform;
        (RegisterPlatformRequest memory r, bytes memory s) = _prepare(newPlatform, newCustodial, signers);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformRegistered(newPlatform, "Carbon Exchange Pty Ltd", newCustodial);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformSignerSet(newPlatform, signers[0], true);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformSignerSet(newPlatform, newPlatform, true);
        submitRegisterPlatform(r, s);

        Platform memory p = platforms.getPlatform(newPlatform);
        assertEq(uint256(p.status), uint256(PlatformStatus.Active), "status");
        assertEq(p.custodialAccount, newCustodial, "custodial account");
        assertEq(platforms.platformOfSigner(signers[0]), newPlatform, "signer 0");
        assertEq(platforms.platformOfSigner(newPlatform), newPlatform, "signer 1");
        assertEq(platforms.platformOfCustodialAccount(newCustodial), newPlatform, "custodian");
    }

    function test_WhenNoSigners_RegistersPlatform() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, new address[](0));
        submitRegisterPlatform(r, s);
        assertEq(uint256(platforms.getPlatform(newPlatform).status), uint256(PlatformStatus.Active), "status");
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, new address[](0));
        bytes32 role = registry.RELAYER_ROLE();
        bytes32 before = fullDigest();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        platforms.registerPlatform(r, s);
        assertFullStateUnchanged(before);
    }

    function test_RevertWhen_SignerNotAdministrator() public {
        RegisterPlatformRequest memory r =
            registerPlatformRequest(newPlatform, newCustodial, new address[](0));
        r.signer = ar1;
        r.nonce = nextNonce(ar1);
        bytes memory s = signRegisterPlatform(AR1_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, ar1, registry.REGISTRY_ADMIN_ROLE())
        );
    }

    function test_RevertWhen_SignersAlteredAfterSigning() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, new address[](0));
        r.signers = one(outsider);
        address recovered = recoverSigner(digestOf(this.hashRegisterPlatform(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, new address[](0));
        submitRegisterPlatform(r, s);
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, r.nonce + 1)
        );
    }

    function test_RevertWhen_PlatformAlreadyRegistered() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(platform, newCustodial, new address[](0));
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.PlatformAlreadyRegistered.selector, platform));
    }

    function test_RevertWhen_PlatformZero() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(address(0), newCustodial, new address[](0));
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformAlreadyRegistered.selector, address(0))
        );
    }

    function test_RevertWhen_CustodialAccountUnknown() public {
        (RegisterPlatformRequest memory r, bytes memory s) = _prepare(newPlatform, 42, new address[](0));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, uint64(42)));
    }

    function test_RevertWhen_CustodialAccountIsHolding() public {
        (RegisterPlatformRequest memory r, bytes memory s) = _prepare(newPlatform, seller, new address[](0));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IPlatforms.CustodialAccountRequired.selector, seller, AccountKind.Holding)
        );
    }

    function test_RevertWhen_CustodialAccountClosed() public {
        setStatus(newCustodial, AccountStatus.Closed);
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, new address[](0));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, newCustodial));
    }

    function test_RevertWhen_CustodialAccountServesAnotherPlatform() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, custodial, new address[](0));
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.CustodialAccountTaken.selector, custodial, platform)
        );
    }

    function test_RevertWhen_SignerZero() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, one(address(0)));
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.InvalidPlatformSigner.selector, address(0)));
    }

    function test_RevertWhen_SignerSignsForAnotherPlatform() public {
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, one(platformSigner));
        _expectRefused(
            r, s, abi.encodeWithSelector(IPlatforms.PlatformSignerTaken.selector, platformSigner, platform)
        );
    }

    function test_WhenCustodySuspended_RegistersPlatform() public {
        setStatus(newCustodial, AccountStatus.Suspended);
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, newCustodial, new address[](0));
        submitRegisterPlatform(r, s);
        assertEq(platforms.getPlatform(newPlatform).custodialAccount, newCustodial, "custodial account");
    }

    function test_WhenCustodyUnderTwoPersonPolicy_RegistersPlatform() public {
        // A custodial account under the two-person policy is accepted as well.
        uint64 twoPerson = openAccountOfKindWith(
            AccountKind.Custodial,
            ApprovalPolicy.TwoPerson,
            reps2(rep(ar1, true, true, true), rep(ar2, false, true, true))
        );
        (RegisterPlatformRequest memory r, bytes memory s) =
            _prepare(newPlatform, twoPerson, new address[](0));
        submitRegisterPlatform(r, s);
        assertEq(platforms.platformOfCustodialAccount(twoPerson), newPlatform, "custodian");
    }
}
