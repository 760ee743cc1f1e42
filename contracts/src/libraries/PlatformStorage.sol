// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Platform, Consent, ConsentScope, Reservation, Escrow, Association} from "./PlatformTypes.sol";

/// @title PlatformStorage
/// @notice The platform module's state, in an ERC-7201 namespace of the registry's storage.
/// @dev A namespace instead of fields appended to RegistryBase's layout, so that modules written in
/// parallel never collide. It lives in a library rather than in the module because RegistryBase reads one
/// field: a suspended platform's custodial account behaves as a suspended account on every path.
library PlatformStorage {
    /// @custom:storage-location erc7201:registry.storage.Platforms
    struct Layout {
        mapping(address platform => Platform) platforms;
        mapping(address platformSigner => address platform) signerPlatform;
        mapping(uint64 custodialAccount => address platform) custodians;
        mapping(uint64 consentId => Consent) consents;
        mapping(
            uint64 accountId => mapping(address platform => mapping(ConsentScope => uint64 consentId))
        ) activeConsents;
        mapping(uint64 reservationId => Reservation) reservations;
        mapping(uint64 escrowId => Escrow) escrows;
        mapping(uint64 associationId => Association) associations;
        mapping(address thirdPartyRegistry => mapping(bytes32 certificateId => uint64 associationId))
            certificates;
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("registry.storage.Platforms")) - 1)) & ~bytes32(uint256(0xff)),
    /// checked by the unit suite.
    bytes32 internal constant SLOT = 0xc92539aa83c19b484a3f5af66ca1e112c869881948aebdbc791562a7e6aefa00;

    function layout() internal pure returns (Layout storage l) {
        assembly ("memory-safe") {
            l.slot := SLOT
        }
    }
}
