// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {IAdministration} from "../../../src/interfaces/IAdministration.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    Account,
    Representative,
    OpenAccountRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice openAccount: admin role, kinds, representatives, ids, events; also the module's signature
/// path (the domain is rebuilt under delegatecall).
contract OpenAccountTest is UnitTest {
    function _prepare(Representative[] memory reps)
        internal
        view
        returns (OpenAccountRequest memory r, bytes memory s)
    {
        r = openAccountRequest(ApprovalPolicy.TwoPerson, reps);
        s = signOpenAccount(ADMIN_KEY, r);
    }

    function _oneRep() internal view returns (Representative[] memory reps) {
        reps = new Representative[](1);
        reps[0] = rep(ar1, true, true, true);
    }

    function _expectRefused(OpenAccountRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitOpenAccount(r, s);
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller and signature
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        admin.openAccount(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        vm.warp(r.deadline + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        submitOpenAccount(r, s);
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, r.nonce + 1)
        );
    }

    function test_RevertWhen_SignedByAnotherKey() public {
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.TwoPerson, _oneRep());
        bytes memory s = signOpenAccount(ISSUER_KEY, r);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, issuer));
    }

    function test_RevertWhen_RepresentativeAlteredAfterSigning() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        r.representatives[0].addr = outsider;
        address recovered = recoverSigner(digestOf(this.hashOpenAccount(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignedForAnotherChain() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        bytes32 structHash = this.hashOpenAccount(r);
        vm.chainId(block.chainid + 7);
        address recovered = recoverSigner(digestOf(structHash), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_WhenSignedForTheNewChain_Accepts() public {
        // The module rebuilds the domain from block.chainid on every call, as the core does.
        vm.chainId(block.chainid + 7);
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        uint64 id = submitOpenAccount(r, s);
        assertEq(uint256(registry.getAccount(id).status), uint256(AccountStatus.Open), "opened");
    }

    function test_RevertWhen_SignedForAnotherContract() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        UnitRegistry other = deployOtherRegistry();
        address recovered = recoverSigner(digestFor(address(other), this.hashOpenAccount(r)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered));
        vm.prank(relayer);
        IAdministration(address(other)).openAccount(r, s);
    }

    function test_WhenSignedForTheOtherContract_ItAccepts() public {
        // The same request signed for the second registry's domain opens an account there, not here.
        UnitRegistry other = deployOtherRegistry();
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.TwoPerson, _oneRep());
        r.nonce = other.nonces(adminAddr);
        bytes memory s = signDigest(ADMIN_KEY, digestFor(address(other), this.hashOpenAccount(r)));
        bytes32 before = stateDigest();
        vm.prank(relayer);
        uint64 id = IAdministration(address(other)).openAccount(r, s);
        assertEq(id, FIRST_ACCOUNT_ID, "first account of the other registry");
        assertStateUnchanged(before);
    }

    function test_RevertWhen_SignatureMalleable() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        (bytes memory twin, bytes32 sHigh) = highS(s);
        _expectRefused(r, twin, abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, sHigh));
    }

    // ---------------------------------------------------------------------------------------------
    // Role, kind, representatives
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_SignerNotAdmin() public {
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.TwoPerson, _oneRep());
        r.signer = issuer;
        r.nonce = nextNonce(issuer);
        bytes memory s = signOpenAccount(ISSUER_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, issuer, registry.REGISTRY_ADMIN_ROLE())
        );
    }

    function test_RevertWhen_SignerIsOnlyDefaultAdmin() public {
        // DEFAULT_ADMIN_ROLE manages roles; only REGISTRY_ADMIN_ROLE administers accounts.
        bytes32 registryAdmin = registry.REGISTRY_ADMIN_ROLE();
        vm.prank(adminAddr);
        registry.renounceRole(registryAdmin, adminAddr);
        (OpenAccountRequest memory r, bytes memory s) = _prepare(_oneRep());
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.MissingRole.selector, adminAddr, registryAdmin)
        );
    }

    function test_RevertWhen_KindNone() public {
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.TwoPerson, _oneRep());
        r.kind = AccountKind.None;
        bytes memory s = signOpenAccount(ADMIN_KEY, r);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidAccountKind.selector, AccountKind.None)
        );
    }

    function test_RevertWhen_NoRepresentatives() public {
        (OpenAccountRequest memory r, bytes memory s) = _prepare(new Representative[](0));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.PrimaryRepresentativeRequired.selector, 0));
    }

    function test_RevertWhen_NoPrimary() public {
        (OpenAccountRequest memory r, bytes memory s) =
            _prepare(reps2(rep(ar1, false, true, true), rep(ar2, false, true, true)));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.PrimaryRepresentativeRequired.selector, 0));
    }

    function test_RevertWhen_TwoPrimaries() public {
        (OpenAccountRequest memory r, bytes memory s) =
            _prepare(reps2(rep(ar1, true, true, true), rep(ar2, true, true, true)));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.PrimaryRepresentativeRequired.selector, 2));
    }

    function test_RevertWhen_RepresentativeZero() public {
        (OpenAccountRequest memory r, bytes memory s) =
            _prepare(reps2(rep(ar1, true, true, true), rep(address(0), false, true, true)));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidRepresentative.selector, address(0)));
    }

    function test_RevertWhen_RepresentativeListedTwice() public {
        (OpenAccountRequest memory r, bytes memory s) =
            _prepare(reps2(rep(ar1, true, true, true), rep(ar1, false, false, true)));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidRepresentative.selector, ar1));
    }

    function test_RevertWhen_RepresentativeHasNoRight() public {
        (OpenAccountRequest memory r, bytes memory s) =
            _prepare(reps2(rep(ar1, true, true, true), rep(ar2, false, false, false)));
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidRepresentative.selector, ar2));
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenValid_OpensAccount() public {
        (OpenAccountRequest memory r, bytes memory s) =
            _prepare(reps2(rep(ar1, false, true, false), rep(ar2, true, false, true)));
        uint64 expectedId = FIRST_ACCOUNT_ID + 2;

        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(adminAddr, r.nonce, digestOf(this.hashOpenAccount(r)));
        vm.expectEmit();
        emit IRegistryBase.AccountOpened(
            expectedId, AccountKind.Holding, ApprovalPolicy.TwoPerson, "AU", "Acme Carbon Pty Ltd"
        );
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(expectedId, ar1, false, true, false);
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(expectedId, ar2, true, false, true);
        uint64 id = submitOpenAccount(r, s);

        assertEq(id, expectedId, "account id");
        assertEq(counter(0), expectedId + 1, "next account id");
        Account memory a = registry.getAccount(id);
        assertEq(uint256(a.kind), uint256(AccountKind.Holding), "kind");
        assertEq(uint256(a.status), uint256(AccountStatus.Open), "status");
        assertEq(uint256(a.approvalPolicy), uint256(ApprovalPolicy.TwoPerson), "policy");
        assertEq(a.party, AU, "party");
        assertEq(a.primaryRepresentative, ar2, "primary");
        assertEq(registry.representativeRights(id, ar1), 1 | 2, "ar1 appointed + initiate");
        assertEq(registry.representativeRights(id, ar2), 1 | 4, "ar2 appointed + approve");
        assertEq(registry.representativeRights(id, ar3), 0, "ar3 not appointed");
    }

    function test_WhenSinglePolicy_RecordsIt() public {
        OpenAccountRequest memory r = openAccountRequest(ApprovalPolicy.Single, _oneRep());
        uint64 id = submitOpenAccount(r, signOpenAccount(ADMIN_KEY, r));
        assertEq(uint256(registry.getAccount(id).approvalPolicy), uint256(ApprovalPolicy.Single), "policy");
    }

    function test_WhenSpecialKinds_OpensEach() public {
        for (uint8 k = uint8(AccountKind.Holding); k <= uint8(AccountKind.ShareOfProceeds); ++k) {
            uint64 id = openAccountOfKind(AccountKind(k));
            assertEq(uint256(registry.getAccount(id).kind), k, "kind");
        }
    }

    function test_WhenRepresentativeSharedAcrossAccounts_RightsAreSeparate() public {
        // ar1 represents the seller already; it may represent another account with other rights.
        Representative[] memory reps = new Representative[](1);
        reps[0] = rep(ar1, true, false, false);
        uint64 id = openAccountWith(ApprovalPolicy.Single, reps);
        assertEq(registry.representativeRights(id, ar1), 1, "appointed only here");
        assertEq(registry.representativeRights(seller, ar1), 7, "full rights in the seller account");
    }

    function test_AccountIdsAreSequential() public {
        uint64 a = openBuyerAccount();
        uint64 b = openBuyerAccount();
        assertEq(seller, FIRST_ACCOUNT_ID, "first");
        assertEq(buyer, FIRST_ACCOUNT_ID + 1, "second");
        assertEq(a, FIRST_ACCOUNT_ID + 2, "third");
        assertEq(b, FIRST_ACCOUNT_ID + 3, "fourth");
    }

    function testFuzz_openAccount_onePrimaryAmongMany(uint8 count, uint8 primaryIndex) public {
        count = uint8(bound(count, 1, 20));
        primaryIndex = uint8(bound(primaryIndex, 0, count - 1));
        Representative[] memory reps = new Representative[](count);
        for (uint256 i; i < count; ++i) {
            // Every representative gets at least one right: one with none is refused.
            reps[i] = rep(vm.addr(0x1000 + i), i == primaryIndex, i % 2 == 0, i % 2 == 1 || i % 3 == 0);
        }
        uint64 id = openAccountWith(ApprovalPolicy.TwoPerson, reps);
        assertEq(registry.getAccount(id).primaryRepresentative, vm.addr(0x1000 + primaryIndex), "primary");
        for (uint256 i; i < count; ++i) {
            uint8 expected = 1 | (i % 2 == 0 ? 2 : 0) | (i % 2 == 1 || i % 3 == 0 ? 4 : 0);
            assertEq(registry.representativeRights(id, vm.addr(0x1000 + i)), expected, "rights");
        }
    }
}
