// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {AccountKind} from "../../../src/libraries/RegistryTypes.sol";
import {MechanismAccounts, SetMechanismAccountsRequest} from "../../../src/libraries/Article6Types.sol";

/// @notice setMechanismAccounts: by the registry administrator, each account of its mechanism kind.
contract SetMechanismAccountsTest is Article6Test {
    MechanismAccounts internal m;

    function setUp() public override {
        super.setUp();
        m = MechanismAccounts({
            pending: openKind(AccountKind.Pending),
            holding: openKind(AccountKind.Holding),
            cancellation: openKind(AccountKind.Cancellation),
            omgeCancellation: openKind(AccountKind.OmgeCancellation),
            shareOfProceeds: openKind(AccountKind.ShareOfProceeds)
        });
    }

    function _expectRefused(MechanismAccounts memory accounts, bytes memory err) internal {
        SetMechanismAccountsRequest memory r = mechanismRequest(accounts);
        bytes memory s = signSetMechanism(ADMIN_KEY, r);
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitSetMechanism(r, s);
        assertA6Unchanged(before);
    }

    function _mismatch(uint64 account, AccountKind expected, AccountKind actual)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(
            IArticle6Events.MechanismAccountKindMismatch.selector, account, expected, actual
        );
    }

    function test_RevertWhen_CallerNotRelayer() public {
        SetMechanismAccountsRequest memory r = mechanismRequest(m);
        bytes memory s = signSetMechanism(ADMIN_KEY, r);
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        a6.setMechanismAccounts(r, s);
    }

    function test_RevertWhen_SignerNotRegistryAdministrator() public {
        SetMechanismAccountsRequest memory r = mechanismRequest(m);
        r.signer = issuer;
        r.nonce = nextNonce(issuer);
        bytes memory s = signSetMechanism(ISSUER_KEY, r);
        bytes32 role = registry.REGISTRY_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.MissingRole.selector, issuer, role));
        submitSetMechanism(r, s);
    }

    function test_RevertWhen_PendingNotAPendingAccount() public {
        MechanismAccounts memory bad = m;
        bad.pending = auSingle;
        _expectRefused(bad, _mismatch(auSingle, AccountKind.Pending, AccountKind.Holding));
    }

    function test_RevertWhen_HoldingNotAHoldingAccount() public {
        MechanismAccounts memory bad = m;
        bad.holding = m.pending;
        _expectRefused(bad, _mismatch(m.pending, AccountKind.Holding, AccountKind.Pending));
    }

    function test_RevertWhen_CancellationNotACancellationAccount() public {
        MechanismAccounts memory bad = m;
        bad.cancellation = m.omgeCancellation;
        _expectRefused(
            bad, _mismatch(m.omgeCancellation, AccountKind.Cancellation, AccountKind.OmgeCancellation)
        );
    }

    function test_RevertWhen_OmgeNotAnOmgeAccount() public {
        MechanismAccounts memory bad = m;
        bad.omgeCancellation = m.cancellation;
        _expectRefused(bad, _mismatch(m.cancellation, AccountKind.OmgeCancellation, AccountKind.Cancellation));
    }

    function test_RevertWhen_ShareOfProceedsNotAShareOfProceedsAccount() public {
        MechanismAccounts memory bad = m;
        bad.shareOfProceeds = m.holding;
        _expectRefused(bad, _mismatch(m.holding, AccountKind.ShareOfProceeds, AccountKind.Holding));
    }

    function test_RevertWhen_AccountNotFound() public {
        MechanismAccounts memory bad = m;
        bad.shareOfProceeds = 9_999_999;
        _expectRefused(bad, _mismatch(9_999_999, AccountKind.ShareOfProceeds, AccountKind.None));
    }

    function test_WhenSet_AccountsAreVisible() public {
        assertEq(a6.mechanismAccounts().pending, 0, "not configured yet");
        SetMechanismAccountsRequest memory r = mechanismRequest(m);
        submitSetMechanism(r, signSetMechanism(ADMIN_KEY, r));
        MechanismAccounts memory got = a6.mechanismAccounts();
        assertEq(got.pending, m.pending, "pending");
        assertEq(got.holding, m.holding, "holding");
        assertEq(got.cancellation, m.cancellation, "cancellation");
        assertEq(got.omgeCancellation, m.omgeCancellation, "OMGE");
        assertEq(got.shareOfProceeds, m.shareOfProceeds, "share of proceeds");
    }
}
