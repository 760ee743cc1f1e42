// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {UnitTest} from "../UnitTest.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {Label, DefineLabelRequest} from "../../../src/libraries/RegistryTypes.sol";

/// @notice defineLabel: admin signs; the authority holds LABEL_AUTHORITY_ROLE; ids 0..255 in order.
contract DefineLabelTest is UnitTest {
    bytes32 internal constant TOO_MANY = "One too many";
    bytes32 internal constant ISSUER_OWNED = "Issuer-owned";

    function _prepare(bytes32 name, address authority)
        internal
        view
        returns (DefineLabelRequest memory r, bytes memory s)
    {
        r = defineLabelRequest(name, authority);
        s = signDefineLabel(ADMIN_KEY, r);
    }

    function _expectRefused(DefineLabelRequest memory r, bytes memory s, bytes memory err) internal {
        bytes32 before = stateDigest();
        vm.expectRevert(err);
        submitDefineLabel(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", labeller);
        bytes32 before = stateDigest();
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        admin.defineLabel(r, s);
        assertStateUnchanged(before);
    }

    function test_RevertWhen_DeadlineExpired() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", labeller);
        vm.warp(r.deadline + 1);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.DeadlineExpired.selector, r.deadline, r.deadline + 1)
        );
    }

    function test_RevertWhen_SignatureReplayed() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", labeller);
        submitDefineLabel(r, s);
        _expectRefused(
            r, s, abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, adminAddr, r.nonce + 1)
        );
    }

    function test_RevertWhen_AuthorityAlteredAfterSigning() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", labeller);
        r.authority = issuer;
        address recovered = recoverSigner(digestOf(this.hashDefineLabel(r)), s);
        _expectRefused(
            r, s, abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered)
        );
    }

    function test_RevertWhen_SignerNotAdmin() public {
        // The label authority itself cannot define labels.
        DefineLabelRequest memory r = defineLabelRequest("NDC-eligible", labeller);
        r.signer = labeller;
        r.nonce = nextNonce(labeller);
        bytes memory s = signDefineLabel(LABELLER_KEY, r);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.MissingRole.selector, labeller, registry.REGISTRY_ADMIN_ROLE()
            )
        );
    }

    function test_RevertWhen_AuthorityLacksRole() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", issuer);
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.MissingRole.selector, issuer, registry.LABEL_AUTHORITY_ROLE()
            )
        );
    }

    function test_RevertWhen_AuthorityZero() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", address(0));
        _expectRefused(
            r,
            s,
            abi.encodeWithSelector(
                IRegistryBase.MissingRole.selector, address(0), registry.LABEL_AUTHORITY_ROLE()
            )
        );
    }

    function test_RevertWhen_NameEmpty() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare(bytes32(0), labeller);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidLabel.selector, bytes32(0)));
    }

    function test_RevertWhen_All256IdsUsed() public {
        for (uint256 i; i < 256; ++i) {
            assertEq(defineLabel(bytes32(i + 1)), i, "sequential id");
        }
        assertEq(counter(4), 256, "label count");
        (DefineLabelRequest memory r, bytes memory s) = _prepare(TOO_MANY, labeller);
        _expectRefused(r, s, abi.encodeWithSelector(IRegistryBase.InvalidLabel.selector, TOO_MANY));
    }

    function test_WhenValid_AssignsSequentialIds() public {
        (DefineLabelRequest memory r, bytes memory s) = _prepare("NDC-eligible", labeller);
        vm.expectEmit();
        emit IRegistryBase.RequestExecuted(adminAddr, r.nonce, digestOf(this.hashDefineLabel(r)));
        vm.expectEmit();
        emit IRegistryBase.LabelDefined(0, "NDC-eligible", labeller);
        uint8 first = submitDefineLabel(r, s);
        uint8 second = defineLabel("CORSIA-eligible");
        uint8 third = defineIssuerLabel(ISSUER_OWNED);

        assertEq(first, 0, "first id");
        assertEq(second, 1, "second id");
        assertEq(third, 2, "third id");
        assertEq(counter(4), 3, "label count");
        Label memory l = registry.getLabel(third);
        assertEq(l.name, ISSUER_OWNED, "name");
        assertEq(l.authority, issuer, "authority");
    }

    function test_WhenSameNameTwice_DefinesTwoLabels() public {
        // Names are descriptive only; ids identify labels.
        uint8 a = defineLabel("NDC-eligible");
        uint8 b = defineLabel("NDC-eligible");
        assertTrue(a != b, "distinct ids");
    }
}
