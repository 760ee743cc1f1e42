// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {PlatformTest} from "../PlatformTest.sol";
import {IPlatforms} from "../../../src/interfaces/IPlatforms.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {
    AccountStatus,
    UnitState,
    InitiateTransferRequest,
    CancelRequest,
    IssueRequest
} from "../../../src/libraries/RegistryTypes.sol";
import {
    PlatformStatus,
    ConsentScope,
    SetPlatformStatusRequest,
    GrantConsentRequest,
    ReserveRequest,
    EscrowRequest
} from "../../../src/libraries/PlatformTypes.sol";

/// @notice setPlatformStatus: suspension takes effect at once for every platform action, and
/// reactivation restores them. Each platform action's own folder tests its refusal too.
contract SetPlatformStatusTest is PlatformTest {
    function _prepare(address p, PlatformStatus status)
        internal
        view
        returns (SetPlatformStatusRequest memory r, bytes memory s)
    {
        r = setPlatformStatusRequest(p, status);
        s = signSetPlatformStatus(ADMIN_KEY, r);
    }

    function _expectRefused(SetPlatformStatusRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = fullDigest();
        vm.expectRevert(err);
        submitSetPlatformStatus(r, s);
        assertFullStateUnchanged(before);
    }

    function _suspended() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IPlatforms.PlatformSuspended.selector, vm.addr(PLATFORM_KEY));
    }

    function test_SuspendsPlatform() public {
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(platform, PlatformStatus.Suspended);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformStatusChanged(platform, PlatformStatus.Suspended);
        submitSetPlatformStatus(r, s);
        assertEq(uint256(platforms.getPlatform(platform).status), uint256(PlatformStatus.Suspended), "status");
        assertEq(
            uint256(platforms.getPlatform(otherPlatform).status),
            uint256(PlatformStatus.Active),
            "other untouched"
        );
    }

    function test_ReactivatesPlatform() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(platform, PlatformStatus.Active);
        cheats.expectEmit(true, true, true, true, address(registry));
        emit IPlatforms.PlatformStatusChanged(platform, PlatformStatus.Active);
        submitSetPlatformStatus(r, s);
        assertEq(uint256(platforms.getPlatform(platform).status), uint256(PlatformStatus.Active), "status");
    }

    function test_WhenSuspended_NewConsentsRefused() public {
        setPlatformStatus(platform, PlatformStatus.Suspended);
        GrantConsentRequest memory r = grantConsentRequest(AR1_KEY, seller, platform, ConsentScope.Holdings);
        bytes memory s = signGrantConsent(AR1_KEY, r);
        vm.expectRevert(_suspended());
        submitGrantConsent(r, s);
    }

    function test_WhenSuspended_NewReservationsAndEscrowsRefused() public {
        grantConsent(seller, platform, ConsentScope.Reserved);
        grantConsent(seller, platform, ConsentScope.Escrowed);
        setPlatformStatus(platform, PlatformStatus.Suspended);
        ReserveRequest memory rr = reserveRequest(AR1_KEY, seller, platform, range(1, 10));
        bytes memory rs = signReserve(AR1_KEY, rr);
        vm.expectRevert(_suspended());
        submitReserve(rr, rs, hints(1));
        EscrowRequest memory er = escrowRequest(AR1_KEY, seller, platform, range(1, 10));
        bytes memory es = signEscrow(AR1_KEY, er);
        vm.expectRevert(_suspended());
        submitEscrow(er, es, hints(1));
    }

    function test_WhenSuspended_CustodialAccountFrozen() public {
        (uint64 start,) = issueTo(custodial, 50);
        setPlatformStatus(platform, PlatformStatus.Suspended);
        // Out of custody.
        InitiateTransferRequest memory out =
            transferRequest(custodian, custodial, buyer, range(start, start + 9));
        bytes memory outSig = signInitiate(CUSTODIAN_KEY, out);
        vm.expectRevert(_suspended());
        submitInitiate(out, outSig, hints(start));
        // Into custody (B.3 full custody: sellers transfer units in).
        InitiateTransferRequest memory into = transferRequest(ar3, buyer, custodial, range(start, start));
        bytes memory intoSig = signInitiate(AR3_KEY, into);
        vm.expectRevert(_suspended());
        submitInitiate(into, intoSig, hints(start));
        // Cancellation from custody.
        CancelRequest memory c = cancelRequest(custodian, custodial, range(start, start + 9));
        bytes memory cSig = signCancel(CUSTODIAN_KEY, c);
        vm.expectRevert(_suspended());
        submitCancel(c, cSig, hints(start));
        // Issuance into custody.
        IssueRequest memory i = issueRequest(5, custodial, 1_000_000_000, 1_000_000_000 + 364 days);
        bytes memory iSig = signIssue(ISSUER_KEY, i);
        vm.expectRevert(_suspended());
        submitIssue(i, iSig);
    }

    function test_WhenReactivated_CustodialAccountMovesAgain() public {
        (uint64 start,) = issueTo(custodial, 50);
        setPlatformStatus(platform, PlatformStatus.Suspended);
        setPlatformStatus(platform, PlatformStatus.Active);
        initiate(CUSTODIAN_KEY, custodial, buyer, range(start, start + 9), hints(start));
        assertBlock(start, start + 9, buyer, UnitState.Held, 0);
    }

    function test_WhenSuspended_OtherPlatformUnaffected() public {
        (uint64 start,) = issueTo(otherCustodial, 50);
        setPlatformStatus(platform, PlatformStatus.Suspended);
        initiate(CUSTODIAN_KEY, otherCustodial, buyer, range(start, start + 9), hints(start));
        assertBlock(start, start + 9, buyer, UnitState.Held, 0);
    }

    function test_WhenAccountAlsoSuspended_AccountErrorFirst() public {
        setStatus(custodial, AccountStatus.Suspended);
        setPlatformStatus(platform, PlatformStatus.Suspended);
        InitiateTransferRequest memory r = transferRequest(ar3, buyer, custodial, range(1, 1));
        bytes memory s = signInitiate(AR3_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.AccountSuspended.selector, custodial));
        submitInitiate(r, s, hints(1));
    }

    function test_RevertWhen_SignerNotAdministrator() public {
        SetPlatformStatusRequest memory r = setPlatformStatusRequest(platform, PlatformStatus.Suspended);
        r.signer = platformSigner;
        r.nonce = nextNonce(platformSigner);
        bytes memory s = signSetPlatformStatus(PLATFORM_SIGNER_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.MissingRole.selector, platformSigner, registry.REGISTRY_ADMIN_ROLE()
            )
        );
    }

    function test_RevertWhen_StatusAlteredAfterSigning() public {
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(platform, PlatformStatus.Suspended);
        r.platform = otherPlatform;
        address recovered = recoverSigner(digestOf(this.hashSetPlatformStatus(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(platform, PlatformStatus.Suspended);
        submitSetPlatformStatus(r, s);
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, r.nonce + 1)
        );
    }

    function test_RevertWhen_PlatformUnknown() public {
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(outsider, PlatformStatus.Suspended);
        _expectRefused(r, s, abi.encodeWithSelector(IPlatforms.PlatformNotFound.selector, outsider));
    }

    function test_RevertWhen_StatusUnchanged() public {
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(platform, PlatformStatus.Active);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.InvalidPlatformStatusChange.selector,
                platform,
                PlatformStatus.Active,
                PlatformStatus.Active
            )
        );
    }

    function test_RevertWhen_StatusNone() public {
        (SetPlatformStatusRequest memory r, bytes memory s) = _prepare(platform, PlatformStatus.None);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IPlatforms.InvalidPlatformStatusChange.selector,
                platform,
                PlatformStatus.Active,
                PlatformStatus.None
            )
        );
    }
}
