// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    UnitState,
    Representative,
    SetRepresentativeRequest,
    InitiateTransferRequest
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice setRepresentative: appoint, change, remove, promote; the primary cannot be removed.
/// @dev The seller starts with ar1 (primary, rights 7) and ar2 (rights 7).
contract SetRepresentativeTest is UnitTest {
    function _prepare(uint64 accountId, Representative memory r)
        internal
        view
        returns (SetRepresentativeRequest memory req, bytes memory s)
    {
        req = setRepresentativeRequest(accountId, r);
        s = signSetRepresentative(ADMIN_KEY, req);
    }

    function _expectRefused(SetRepresentativeRequest memory req, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitSetRepresentative(req, s);
        assertStateUnchanged(before);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller, signature, role
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar3, false, true, true));
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, outsider, role)
        );
        vm.prank(outsider);
        admin.setRepresentative(req, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar3, false, true, true));
        vm.warp(req.deadline + 1);
        _expectRefused(
            req,
            s,
            abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, req.deadline, req.deadline + 1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar3, false, true, true));
        submitSetRepresentative(req, s);
        _expectRefused(
            req, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, req.nonce + 1)
        );
    }

    function test_RevertWhen_RightsAlteredAfterSigning() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar3, false, false, true));
        req.representative.canInitiate = true;
        address recovered = recoverSigner(digestOf(this.hashSetRepresentative(req)), s);
        _expectRefused(
            req, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignerNotAdmin() public {
        SetRepresentativeRequest memory req = setRepresentativeRequest(seller, rep(ar3, false, true, true));
        req.signer = ar1;
        req.nonce = nextNonce(ar1);
        // The primary representative cannot appoint representatives: only the registry administrator.
        bytes memory s = signSetRepresentative(AR1_KEY, req);
        _expectRefused(
            req,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, ar1, registry.REGISTRY_ADMIN_ROLE())
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Account and representative
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_AccountNotFound() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(99, rep(ar3, false, true, true));
        _expectRefused(req, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 99));
    }

    function test_RevertWhen_AccountClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar3, false, true, true));
        _expectRefused(req, s, abi.encodeWithSelector(IRegistryBase.AccountClosed.selector, seller));
    }

    function test_RevertWhen_RepresentativeZero() public {
        (SetRepresentativeRequest memory req, bytes memory s) =
            _prepare(seller, rep(address(0), false, true, true));
        _expectRefused(
            req, s, abi.encodeWithSelector(IRegistryBase.InvalidRepresentative.selector, address(0))
        );
    }

    function test_RevertWhen_RemovingPrimary() public {
        (SetRepresentativeRequest memory req, bytes memory s) =
            _prepare(seller, rep(ar1, false, false, false));
        _expectRefused(
            req, s, abi.encodeWithSelector(IRegistryBase.CannotRemovePrimary.selector, seller, ar1)
        );
    }

    function test_RevertWhen_DemotingPrimaryWithoutSuccessor() public {
        // primary = false with rights kept would leave the account without a primary.
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar1, false, true, true));
        _expectRefused(
            req, s, abi.encodeWithSelector(IRegistryBase.CannotRemovePrimary.selector, seller, ar1)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Success
    // ---------------------------------------------------------------------------------------------

    function test_WhenNewRepresentative_Appoints() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar3, false, true, false));
        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(adminAddr, req.nonce, digestOf(this.hashSetRepresentative(req)));
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(seller, ar3, false, true, false);
        submitSetRepresentative(req, s);
        assertEq(registry.representativeRights(seller, ar3), 1 | 2, "appointed + initiate");
        assertEq(registry.getAccount(seller).primaryRepresentative, ar1, "primary unchanged");

        // The new representative can initiate from the seller account.
        uint64 id = initiate(AR3_KEY, seller, buyer, range(1, 10), hints(1));
        assertBlock(1, 10, seller, UnitState.Pending, id);
    }

    function test_WhenExistingRepresentative_ChangesRights() public {
        setRepresentative(seller, rep(ar2, false, false, true));
        assertEq(registry.representativeRights(seller, ar2), 1 | 4, "approve only");

        InitiateTransferRequest memory t = transferRequest(ar2, seller, buyer, range(1, 10));
        bytes memory ts = signInitiate(AR2_KEY, t);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.CannotInitiate.selector, seller, ar2));
        submitInitiate(t, ts, hints(1));
    }

    function test_WhenPrimaryRightsChanged_StaysPrimary() public {
        setRepresentative(seller, rep(ar1, true, false, true));
        assertEq(registry.representativeRights(seller, ar1), 1 | 4, "rights changed");
        assertEq(registry.getAccount(seller).primaryRepresentative, ar1, "still primary");
    }

    function test_WhenAllFlagsFalse_Removes() public {
        (SetRepresentativeRequest memory req, bytes memory s) =
            _prepare(seller, rep(ar2, false, false, false));
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(seller, ar2, false, false, false);
        submitSetRepresentative(req, s);
        assertEq(registry.representativeRights(seller, ar2), 0, "removed");

        InitiateTransferRequest memory t = transferRequest(ar2, seller, buyer, range(1, 10));
        bytes memory ts = signInitiate(AR2_KEY, t);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.NotRepresentative.selector, seller, ar2));
        submitInitiate(t, ts, hints(1));
    }

    function test_WhenRemovingNonRepresentative_NoOp() public {
        setRepresentative(seller, rep(outsider, false, false, false));
        assertEq(registry.representativeRights(seller, outsider), 0, "still nobody");
    }

    function test_WhenNewPrimary_DemotesOldOne() public {
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar2, true, false, true));
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(seller, ar1, false, true, true);
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(seller, ar2, true, false, true);
        submitSetRepresentative(req, s);

        assertEq(registry.getAccount(seller).primaryRepresentative, ar2, "new primary");
        assertEq(registry.representativeRights(seller, ar2), 1 | 4, "new primary's rights");
        assertEq(registry.representativeRights(seller, ar1), 7, "old primary keeps its rights");

        // The old primary can now be removed; the new one cannot.
        setRepresentative(seller, rep(ar1, false, false, false));
        assertEq(registry.representativeRights(seller, ar1), 0, "old primary removed");
        (req, s) = _prepare(seller, rep(ar2, false, false, false));
        _expectRefused(
            req, s, abi.encodeWithSelector(IRegistryBase.CannotRemovePrimary.selector, seller, ar2)
        );
    }

    function test_WhenRightlessPrimaryDemoted_IsRemoved() public {
        setRepresentative(seller, rep(ar1, true, false, false));
        (SetRepresentativeRequest memory req, bytes memory s) = _prepare(seller, rep(ar2, true, true, true));
        vm.expectEmit();
        emit IRegistryBase.RepresentativeSet(seller, ar1, false, false, false);
        submitSetRepresentative(req, s);
        assertEq(registry.representativeRights(seller, ar1), 0, "removed, as the event says");
    }

    function test_WhenOutsiderPromotedToPrimary_Appoints() public {
        setRepresentative(seller, rep(ar3, true, false, false));
        assertEq(registry.getAccount(seller).primaryRepresentative, ar3, "primary");
        assertEq(registry.representativeRights(seller, ar3), 1, "appointed without other rights");
        assertEq(registry.representativeRights(seller, ar1), 7, "old primary demoted, rights kept");
    }

    function test_WhenAccountSuspended_Accepts() public {
        setStatus(seller, AccountStatus.Suspended);
        setRepresentative(seller, rep(ar3, false, true, true));
        assertEq(registry.representativeRights(seller, ar3), 7, "appointed while suspended");
    }
}
