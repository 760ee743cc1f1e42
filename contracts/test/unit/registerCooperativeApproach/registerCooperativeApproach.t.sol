// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {Article6Test} from "../Article6Test.sol";
import {IArticle6Events} from "../../../src/interfaces/IArticle6.sol";
import {IRegistryBase} from "../../../src/interfaces/IRegistryBase.sol";
import {RegisterCooperativeApproachRequest} from "../../../src/libraries/Article6Types.sol";

/// @notice registerCooperativeApproach: by the registry administrator, among registered Parties, each
/// listed once; registering again replaces the participants.
contract RegisterCooperativeApproachTest is Article6Test {
    function _expectRefused(RegisterCooperativeApproachRequest memory r, bytes memory err) internal {
        bytes memory s = signRegisterApproach(ADMIN_KEY, r);
        bytes32 before = a6Digest();
        vm.expectRevert(err);
        submitRegisterApproach(r, s);
        assertA6Unchanged(before);
    }

    function test_RevertWhen_CallerNotRelayer() public {
        RegisterCooperativeApproachRequest memory r = approachRequest(APPROACH, parties1(AU));
        bytes memory s = signRegisterApproach(ADMIN_KEY, r);
        bytes32 role = registry.RELAYER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, adminAddr, role)
        );
        vm.prank(adminAddr);
        a6.registerCooperativeApproach(r, s);
    }

    function test_RevertWhen_PartiesAlteredAfterSigning() public {
        RegisterCooperativeApproachRequest memory r = approachRequest(APPROACH, parties1(AU));
        bytes memory s = signRegisterApproach(ADMIN_KEY, r);
        r.parties[0] = CH;
        address recovered = recoverSigner(digestOf(this.hashRegisterApproach(r)), s);
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.InvalidSigner.selector, adminAddr, recovered));
        submitRegisterApproach(r, s);
    }

    function test_RevertWhen_SignerNotRegistryAdministrator() public {
        RegisterCooperativeApproachRequest memory r = approachRequest("X", parties1(AU));
        r.signer = labeller;
        r.nonce = nextNonce(labeller);
        bytes memory s = signRegisterApproach(LABELLER_KEY, r);
        bytes32 role = registry.REGISTRY_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IRegistryBase.MissingRole.selector, labeller, role));
        submitRegisterApproach(r, s);
    }

    function test_RevertWhen_IdZero() public {
        _expectRefused(
            approachRequest(bytes32(0), parties1(AU)),
            abi.encodeWithSelector(IArticle6Events.InvalidCooperativeApproach.selector, bytes32(0), 1)
        );
    }

    function test_RevertWhen_NoParties() public {
        _expectRefused(
            approachRequest("X", new bytes8[](0)),
            abi.encodeWithSelector(IArticle6Events.InvalidCooperativeApproach.selector, bytes32("X"), 0)
        );
    }

    function test_RevertWhen_TooManyParties() public {
        _expectRefused(
            approachRequest("X", new bytes8[](257)),
            abi.encodeWithSelector(IArticle6Events.InvalidCooperativeApproach.selector, bytes32("X"), 257)
        );
    }

    function test_RevertWhen_PartyNotRegistered() public {
        _expectRefused(
            approachRequest("X", parties2(AU, NZ)),
            abi.encodeWithSelector(IArticle6Events.PartyNotFound.selector, NZ)
        );
    }

    function test_RevertWhen_PartyListedTwice() public {
        _expectRefused(
            approachRequest("X", parties2(CH, CH)),
            abi.encodeWithSelector(IArticle6Events.DuplicateParticipant.selector, bytes32("X"), CH)
        );
    }

    function test_WhenRegistered_ParticipantsAreVisible() public view {
        bytes8[] memory p = a6.cooperativeApproachParties(APPROACH);
        assertEq(p.length, 2, "two Parties");
        assertEq(bytes32(p[0]), bytes32(AU), "Australia");
        assertEq(bytes32(p[1]), bytes32(CH), "Switzerland");
        assertEq(a6.cooperativeApproachParties("UNKNOWN").length, 0, "unknown approach");
    }

    function test_WhenRegisteredAgain_ParticipantsAreReplaced() public {
        registerApproach(APPROACH, parties1(CH));
        bytes8[] memory p = a6.cooperativeApproachParties(APPROACH);
        assertEq(p.length, 1, "one Party");
        assertEq(bytes32(p[0]), bytes32(CH), "Switzerland");
        // Australia no longer participates: its label authority cannot authorize under the approach.
        registerApproach(APPROACH, parties2(CH, AU));
        assertEq(a6.cooperativeApproachParties(APPROACH).length, 2, "Australia back");
    }
}
