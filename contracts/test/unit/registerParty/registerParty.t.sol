// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {Cheats} from "../../utils/Cheats.sol";
import {Article6Test} from "../Article6Test.sol";
import {IArticle6, IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {Label, DefineLabelRequest} from "../../../src/libraries/RegistryTypes.sol";
import {Party, RegisterPartyRequest} from "../../../src/libraries/Article6Types.sol";

/// @notice registerParty: by the registry administrator; a Party's registry id is fixed, its label
/// authority and administrators can be replaced; the first registration defines the Article 6 labels.
contract RegisterPartyTest is Article6Test {
    function _expectRefused(RegisterPartyRequest memory r, bytes memory err) internal {
        bytes memory s = signRegisterParty(ADMIN_KEY, r);
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitRegisterParty(r, s);
        assertA6Unchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        RegisterPartyRequest memory r = partyRequest(NZ, "NZ-NR", labeller, address(0));
        bytes memory s = signRegisterParty(ADMIN_KEY, r);
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        a6.registerParty(r, s);
    }

    function test_RevertWhen_AdministratorsAlteredAfterSigning() public {
        RegisterPartyRequest memory r = partyRequest(NZ, "NZ-NR", labeller, PARTY_ADMIN);
        bytes memory s = signRegisterParty(ADMIN_KEY, r);
        r.administrators[0] = outsider;
        address recovered = recoverSigner(digestOf(this.hashRegisterParty(r)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered));
        submitRegisterParty(r, s);
    }

    function test_RevertWhen_SignerNotRegistryAdministrator() public {
        RegisterPartyRequest memory r = partyRequest(NZ, "NZ-NR", labeller, address(0));
        r.signer = labeller;
        r.nonce = nextNonce(labeller);
        bytes memory s = signRegisterParty(LABELLER_KEY, r);
        bytes32 role = registry.REGISTRY_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.MissingRole.selector, labeller, role));
        submitRegisterParty(r, s);
    }

    function test_RevertWhen_PartyCodeZero() public {
        _expectRefused(
            partyRequest(bytes8(0), "NZ-NR", labeller, address(0)),
            abi.encodeWithSelector(
                IArticle6Events.InvalidParty.selector, bytes8(0), bytes8("NZ-NR"), labeller
            )
        );
    }

    function test_RevertWhen_RegistryIdZero() public {
        _expectRefused(
            partyRequest(NZ, bytes8(0), labeller, address(0)),
            abi.encodeWithSelector(IArticle6Events.InvalidParty.selector, NZ, bytes8(0), labeller)
        );
    }

    function test_RevertWhen_LabelAuthorityZero() public {
        _expectRefused(
            partyRequest(NZ, "NZ-NR", address(0), address(0)),
            abi.encodeWithSelector(IArticle6Events.InvalidParty.selector, NZ, bytes8("NZ-NR"), address(0))
        );
    }

    function test_RevertWhen_LabelAuthorityLacksTheRole() public {
        bytes32 role = registry.LABEL_AUTHORITY_ROLE();
        _expectRefused(
            partyRequest(NZ, "NZ-NR", outsider, address(0)),
            abi.encodeWithSelector(IRegistryBase.MissingRole.selector, outsider, role)
        );
    }

    function test_RevertWhen_RegistryIdChanged() public {
        _expectRefused(
            partyRequest(CH, "CH-NEW", chLabeller, address(0)),
            abi.encodeWithSelector(
                IArticle6Events.PartyRegistryIdChanged.selector, CH, CH_REGISTRY, bytes8("CH-NEW")
            )
        );
    }

    function test_RevertWhen_AdministratorZero() public {
        RegisterPartyRequest memory r = partyRequest(NZ, "NZ-NR", labeller, PARTY_ADMIN);
        r.administrators[0] = address(0);
        _expectRefused(
            r, abi.encodeWithSelector(IArticle6Events.InvalidPartyAdministrator.selector, NZ, address(0))
        );
    }

    function test_RevertWhen_AdministratorListedTwice() public {
        RegisterPartyRequest memory r = partyRequest(NZ, "NZ-NR", labeller, address(0));
        r.administrators = new address[](2);
        r.administrators[0] = PARTY_ADMIN;
        r.administrators[1] = PARTY_ADMIN;
        _expectRefused(
            r, abi.encodeWithSelector(IArticle6Events.InvalidPartyAdministrator.selector, NZ, PARTY_ADMIN)
        );
    }

    function test_WhenRegistered_PartyAndAdministratorsAreVisible() public {
        RegisterPartyRequest memory r = partyRequest(NZ, "NZ-NR", labeller, PARTY_ADMIN);
        bytes memory s = signRegisterParty(ADMIN_KEY, r);
        vm.recordLogs();
        submitRegisterParty(r, s);
        Cheats.Log[] memory logs = vm.getRecordedLogs();
        Party memory p = a6.getParty(NZ);
        assertEq(bytes32(p.registryId), bytes32(bytes8("NZ-NR")), "registry id");
        assertEq(p.labelAuthority, labeller, "label authority");
        assertTrue(a6.isPartyAdministrator(NZ, PARTY_ADMIN), "administrator");
        assertFalse(a6.isPartyAdministrator(AU, outsider), "not an administrator");
        assertEq(a6.partyAdministrators(NZ).length, 1, "one administrator");
        bool emitted;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IArticle6Events.PartyRegistered.selector) {
                assertEq(logs[i].topics[1], bytes32(NZ), "party topic");
                emitted = true;
            }
        }
        assertTrue(emitted, "PartyRegistered");
    }

    function test_WhenRegisteredAgain_LabelAuthorityAndAdministratorsAreReplaced() public {
        assertTrue(a6.isPartyAdministrator(AU, PARTY_ADMIN), "before");
        RegisterPartyRequest memory r = partyRequest(AU, AU_REGISTRY, chLabeller, outsider);
        submitRegisterParty(r, signRegisterParty(ADMIN_KEY, r));
        assertFalse(a6.isPartyAdministrator(AU, PARTY_ADMIN), "old administrator removed");
        assertTrue(a6.isPartyAdministrator(AU, outsider), "new administrator");
        assertEq(a6.partyAdministrators(AU).length, 1, "one administrator");
        assertEq(a6.getParty(AU).labelAuthority, chLabeller, "new label authority");
    }

    function test_FirstRegistration_DefinesTheThreeLabelsOwnedByTheRegistry() public view {
        (uint8 ndc, uint8 oimp, uint8 ft, bool defined) = a6.article6Labels();
        assertTrue(defined, "defined");
        assertEq(counter(4), 3, "three labels, no more, however many Parties");
        Label memory l = registry.getLabel(ndc);
        assertEq(l.name, bytes32("A6_AUTHORIZED_NDC"), "NDC label");
        assertEq(l.authority, address(registry), "owned by the registry");
        assertEq(registry.getLabel(oimp).name, bytes32("A6_AUTHORIZED_OIMP"), "OIMP label");
        assertEq(registry.getLabel(ft).name, bytes32("A6_FIRST_TRANSFERRED"), "first-transferred label");
    }

    /// @dev With only two label ids left, the first Party cannot be registered.
    function test_RevertWhen_LabelIdsExhausted() public {
        setUpRegistry();
        a6 = IArticle6(address(registry));
        for (uint256 i; i < 254; ++i) {
            defineLabel(bytes32(i + 1));
        }
        RegisterPartyRequest memory r = partyRequest(AU, AU_REGISTRY, labeller, address(0));
        bytes memory s = signRegisterParty(ADMIN_KEY, r);
        vm.expectRevert(
            abi.encodeWithSelector(IRegistryBase.InvalidLabel.selector, bytes32("A6_FIRST_TRANSFERRED"))
        );
        submitRegisterParty(r, s);
    }

    function test_WhenThreeLabelIdsRemain_TheyAreTheArticle6Labels() public {
        setUpRegistry();
        a6 = IArticle6(address(registry));
        for (uint256 i; i < 253; ++i) {
            defineLabel(bytes32(i + 1));
        }
        registerParty(AU, AU_REGISTRY, labeller, address(0));
        (uint8 ndc, uint8 oimp, uint8 ft,) = a6.article6Labels();
        assertEq(ndc, 253, "NDC");
        assertEq(oimp, 254, "OIMP");
        assertEq(ft, 255, "first transferred");
        DefineLabelRequest memory more = defineLabelRequest("MORE", labeller);
        bytes memory s = signDefineLabel(ADMIN_KEY, more);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidLabel.selector, bytes32("MORE")));
        submitDefineLabel(more, s);
    }
}
