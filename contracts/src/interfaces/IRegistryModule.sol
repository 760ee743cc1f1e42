// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IRegistryModule
/// @notice A module of the registry: code that UnitRegistry runs by delegatecall on its own storage.
/// @dev The registry asks each module for its selectors once, in its constructor, and routes them to it
/// for the rest of its life. A module that keeps state of its own keeps it in an ERC-7201 namespace, so
/// that modules never collide with each other or with RegistryBase's layout.
interface IRegistryModule {
    /// @notice The selectors this module implements and the registry routes to it.
    function moduleSelectors() external pure returns (bytes4[] memory);
}
