// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {UnitTest} from "../UnitTest.sol";
import {UnitRegistry} from "../../../src/UnitRegistry.sol";
import {
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    UnitState,
    Account,
    UnitBlock,
    Issuance,
    PendingTransfer,
    Label
} from "../../../src/libraries/RegistryTypes.sol";

/// @notice Views and constants: what they return for known and unknown ids.
contract ViewsTest is UnitTest {
    bytes32 internal constant NDC = "NDC-eligible";
    bytes8 internal constant NZ = "NZ";

    function test_registryCode() public view {
        assertEq(registry.registryCode(), AU, "registry code");
    }

    function test_constants() public view {
        assertEq(registry.MAX_SERIAL(), uint256(2 ** 63 - 1), "MAX_SERIAL");
        assertEq(registry.MAX_RANGES(), 256, "MAX_RANGES");
        assertEq(registry.REGISTRY_ADMIN_ROLE(), keccak256("REGISTRY_ADMIN_ROLE"), "admin role");
        assertEq(registry.ISSUER_ROLE(), keccak256("ISSUER_ROLE"), "issuer role");
        assertEq(registry.LABEL_AUTHORITY_ROLE(), keccak256("LABEL_AUTHORITY_ROLE"), "label authority role");
        assertEq(registry.RELAYER_ROLE(), keccak256("RELAYER_ROLE"), "relayer role");
    }

    function test_counters_FreshRegistry() public {
        UnitRegistry fresh = new UnitRegistry(NZ, adminAddr, deployModules());
        (uint64 accountId, uint64 serial, uint64 issuanceId, uint64 operationId, uint16 labels) =
            fresh.counters();
        assertEq(accountId, FIRST_ACCOUNT_ID, "first account id");
        assertEq(serial, 1, "first serial");
        assertEq(issuanceId, 1, "first issuance id");
        assertEq(operationId, 1, "first operation id");
        assertEq(labels, 0, "no labels");
        assertEq(fresh.registryCode(), NZ, "code");
    }

    function test_counters_AfterOperations() public {
        initiatePending(1, 10, 1);
        cancelUnits(AR1_KEY, seller, range(11, 20), hints(11));
        defineLabel("NDC-eligible");
        (uint64 accountId, uint64 serial, uint64 issuanceId, uint64 operationId, uint16 labels) =
            registry.counters();
        assertEq(accountId, FIRST_ACCOUNT_ID + 2, "two accounts");
        assertEq(serial, ISSUED + 1, "1000 serials");
        assertEq(issuanceId, 2, "one issuance");
        assertEq(operationId, 3, "a transfer and a cancellation");
        assertEq(labels, 1, "one label");
    }

    function test_roles_OfTheConstructorAdmin() public view {
        assertTrue(registry.hasRole(bytes32(0), adminAddr), "DEFAULT_ADMIN_ROLE");
        assertTrue(registry.hasRole(registry.REGISTRY_ADMIN_ROLE(), adminAddr), "REGISTRY_ADMIN_ROLE");
        assertFalse(registry.hasRole(registry.RELAYER_ROLE(), adminAddr), "not a relayer");
    }

    function test_supportsInterface() public view {
        assertTrue(registry.supportsInterface(type(IAccessControl).interfaceId), "IAccessControl");
        assertTrue(registry.supportsInterface(type(IERC165).interfaceId), "IERC165");
        assertFalse(registry.supportsInterface(0xffffffff), "not 0xffffffff");
    }

    function test_eip712Domain() public view {
        (bytes1 fields, string memory name, string memory version, uint256 chainId, address verifying,,) =
            registry.eip712Domain();
        assertEq(uint8(fields), 0x0f, "name, version, chainId, verifyingContract");
        assertEq(name, "UnitRegistry", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid, "chain id");
        assertEq(verifying, address(registry), "verifying contract");
    }

    function test_nonces() public {
        assertEq(registry.nonces(ar1), 0, "unused");
        initiatePending(1, 10, 1);
        assertEq(registry.nonces(ar1), 1, "one request");
        assertEq(registry.nonces(ar1, 0), 1, "key 0 is the default lane");
        assertEq(registry.nonces(ar1, 5), uint256(5) << 64, "other lanes start at their key");
    }

    function test_getAccount() public view {
        Account memory a = registry.getAccount(seller);
        assertEq(uint256(a.kind), uint256(AccountKind.Holding), "kind");
        assertEq(uint256(a.status), uint256(AccountStatus.Open), "status");
        assertEq(uint256(a.approvalPolicy), uint256(ApprovalPolicy.TwoPerson), "policy");
        assertEq(a.primaryRepresentative, ar1, "primary");

        Account memory none = registry.getAccount(12345);
        assertEq(uint256(none.status), uint256(AccountStatus.None), "unknown account");
        assertEq(none.primaryRepresentative, address(0), "no primary");
    }

    function test_representativeRights() public view {
        assertEq(registry.representativeRights(seller, ar1), 7, "all rights");
        assertEq(registry.representativeRights(buyer, ar1), 0, "not a representative there");
        assertEq(registry.representativeRights(12345, ar1), 0, "unknown account");
    }

    function test_getBlock() public {
        uint8 labelId = defineLabel("NDC-eligible");
        setLabel(labelId, true, range(1, 1000), hints(1));
        (UnitBlock memory b, uint256 labels) = registry.getBlock(1);
        assertEq(b.end, 1000, "end");
        assertEq(b.account, seller, "account");
        assertEq(b.issuance, 1, "issuance");
        assertEq(uint256(b.state), uint256(UnitState.Held), "state");
        assertEq(b.lockId, 0, "lock");
        assertEq(labels, 1, "label bitmap");

        (UnitBlock memory inside, uint256 insideLabels) = registry.getBlock(2);
        assertEq(uint256(inside.state), uint256(UnitState.None), "not a block start");
        assertEq(insideLabels, 0, "no labels");
        (UnitBlock memory zero,) = registry.getBlock(0);
        assertEq(uint256(zero.state), uint256(UnitState.None), "serial 0 is never a block");
    }

    function test_getIssuance() public view {
        Issuance memory i = registry.getIssuance(1);
        assertEq(i.projectId, PROJECT, "project");
        assertEq(i.start, 1, "start");
        assertEq(i.end, ISSUED, "end");
        Issuance memory none = registry.getIssuance(2);
        assertEq(none.projectId, bytes32(0), "unknown issuance");
    }

    function test_pendingTransferViews() public {
        uint64 id = initiatePending(1, 10, 1);
        PendingTransfer memory t =
            PendingTransfer({fromAccount: seller, toAccount: buyer, quantity: 10, initiator: ar1});
        // The initiator's first pending transfer from the account is kept in its rights slot (D50).
        (uint64 kept, bytes24 keptHash) = registry.pendingTransferOf(seller, ar1);
        assertEq(kept, id, "kept in the initiator's slot");
        assertEq(keptHash, bytes24(keccak256(abi.encode(t))), "top 192 bits of the record hash");
        assertEq(registry.representativeRights(seller, ar1), 7, "rights unchanged");
        assertEq(registry.pendingTransferHash(id), bytes32(0), "not in the id-keyed slot");
        assertTrue(registry.isTransferPending(id, t), "pending");
        assertFalse(registry.isTransferPending(id + 1, t), "unknown id");
        t.quantity = 9;
        assertFalse(registry.isTransferPending(id, t), "another record");
        t.quantity = 10;

        // A second one from the same initiator and account goes to the id-keyed slot.
        uint64 second = initiatePending(11, 15, 11);
        PendingTransfer memory t2 =
            PendingTransfer({fromAccount: seller, toAccount: buyer, quantity: 5, initiator: ar1});
        assertEq(registry.pendingTransferHash(second), keccak256(abi.encode(t2)), "hash of the record");
        assertTrue(registry.isTransferPending(second, t2), "second pending");

        approve(AR2_KEY, id, hints(1));
        (kept, keptHash) = registry.pendingTransferOf(seller, ar1);
        assertEq(kept, 0, "slot freed once decided");
        assertEq(keptHash, bytes24(0), "hash cleared once decided");
        assertEq(registry.representativeRights(seller, ar1), 7, "rights kept");
        assertFalse(registry.isTransferPending(id, t), "decided");
        approve(AR2_KEY, second, hints(11));
        assertEq(registry.pendingTransferHash(second), bytes32(0), "cleared once decided");
        assertFalse(registry.isTransferPending(second, t2), "second decided");
    }

    function test_isProjectRegistered() public view {
        assertTrue(registry.isProjectRegistered(PROJECT), "registered");
        assertFalse(registry.isProjectRegistered(PROJECT_2), "not registered");
        assertFalse(registry.isProjectRegistered(bytes32(0)), "zero id");
    }

    function test_getLabel() public {
        uint8 labelId = defineLabel(NDC);
        Label memory l = registry.getLabel(labelId);
        assertEq(l.name, NDC, "name");
        assertEq(l.authority, labeller, "authority");
        Label memory none = registry.getLabel(labelId + 1);
        assertEq(none.authority, address(0), "undefined");
    }
}
