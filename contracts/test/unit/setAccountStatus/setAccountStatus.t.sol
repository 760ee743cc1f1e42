// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountStatus, UnitState, SetAccountStatusRequest} from "../../../src/libraries/RegistryTypes.sol";

/// @notice setAccountStatus: Open <-> Suspended, either -> Closed, Closed is final.
contract SetAccountStatusTest is UnitTest {
    function _prepare(uint64 accountId, AccountStatus status)
        internal
        view
        returns (SetAccountStatusRequest memory r, bytes memory s)
    {
        r = setStatusRequest(accountId, status);
        s = signSetStatus(ADMIN_KEY, r);
    }

    function _expectRefused(SetAccountStatusRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitSetStatus(r, s);
        assertStateUnchanged(before);
    }

    function _status(uint64 accountId) internal view returns (uint256) {
        return uint256(registry.getAccount(accountId).status);
    }

    function _invalid(uint64 accountId, AccountStatus from, AccountStatus to)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(IRegistryBase.InvalidStatusChange.selector, accountId, from, to);
    }

    // ---------------------------------------------------------------------------------------------
    // Caller, signature, role, account
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_CallerNotRelayer() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role
            )
        );
        admin.setAccountStatus(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        // Suspend, reopen, then replay the suspension: the nonce refuses it although the change is valid.
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        submitSetStatus(r, s);
        setStatus(seller, AccountStatus.Open);
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, r.nonce + 2)
        );
    }

    function test_RevertWhen_StatusAlteredAfterSigning() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        r.status = AccountStatus.Closed;
        address recovered = recoverSigner(digestOf(this.hashSetAccountStatus(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignerNotAdmin() public {
        SetAccountStatusRequest memory r = setStatusRequest(seller, AccountStatus.Suspended);
        r.signer = issuer;
        r.nonce = nextNonce(issuer);
        bytes memory s = signSetStatus(ISSUER_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, issuer, registry.REGISTRY_ADMIN_ROLE())
        );
    }

    function test_RevertWhen_AccountNotFound() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(5, AccountStatus.Suspended);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.AccountNotFound.selector, 5));
    }

    // ---------------------------------------------------------------------------------------------
    // Transitions
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_SameStatus() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Open);
        _expectRefused(r, s, _invalid(seller, AccountStatus.Open, AccountStatus.Open));
    }

    function test_RevertWhen_SuspendedTwice() public {
        setStatus(seller, AccountStatus.Suspended);
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        _expectRefused(r, s, _invalid(seller, AccountStatus.Suspended, AccountStatus.Suspended));
    }

    function test_RevertWhen_ToNone() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.None);
        _expectRefused(r, s, _invalid(seller, AccountStatus.Open, AccountStatus.None));
    }

    function test_RevertWhen_ReopeningClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Open);
        _expectRefused(r, s, _invalid(seller, AccountStatus.Closed, AccountStatus.Open));
    }

    function test_RevertWhen_SuspendingClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        _expectRefused(r, s, _invalid(seller, AccountStatus.Closed, AccountStatus.Suspended));
    }

    function test_RevertWhen_ClosingClosed() public {
        setStatus(seller, AccountStatus.Closed);
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Closed);
        _expectRefused(r, s, _invalid(seller, AccountStatus.Closed, AccountStatus.Closed));
    }

    function test_WhenSuspendedThenReopened_UnitsMoveAgain() public {
        (SetAccountStatusRequest memory r, bytes memory s) = _prepare(seller, AccountStatus.Suspended);
        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(adminAddr, r.nonce, digestOf(this.hashSetAccountStatus(r)));
        vm.expectEmit();
        emit IRegistryBase.AccountStatusChanged(seller, AccountStatus.Suspended);
        submitSetStatus(r, s);
        assertEq(_status(seller), uint256(AccountStatus.Suspended), "suspended");

        (r, s) = _prepare(seller, AccountStatus.Open);
        vm.expectEmit();
        emit IRegistryBase.AccountStatusChanged(seller, AccountStatus.Open);
        submitSetStatus(r, s);
        assertEq(_status(seller), uint256(AccountStatus.Open), "reopened");

        uint64 id = initiatePending(1, 10, 1);
        assertBlock(1, 10, seller, UnitState.Pending, id);
    }

    function test_WhenOpenClosed_IsFinal() public {
        setStatus(seller, AccountStatus.Closed);
        assertEq(_status(seller), uint256(AccountStatus.Closed), "closed");
        // The account's data stays readable.
        assertEq(registry.getAccount(seller).primaryRepresentative, ar1, "primary kept");
        assertBlock(1, 1000, seller, UnitState.Held, 0);
    }

    function test_WhenSuspendedClosed_IsFinal() public {
        setStatus(seller, AccountStatus.Suspended);
        setStatus(seller, AccountStatus.Closed);
        assertEq(_status(seller), uint256(AccountStatus.Closed), "closed");
    }

    function test_WhenSuspended_PendingTransferWaits() public {
        uint64 id = initiatePending(1, 10, 1);
        setStatus(seller, AccountStatus.Suspended);
        setStatus(seller, AccountStatus.Open);
        approve(AR2_KEY, id, hints(1));
        assertBlock(1, 10, buyer, UnitState.Held, 0);
    }
}
