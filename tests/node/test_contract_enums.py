"""node.contracts' enums mirror the Solidity enums of `contracts/src/libraries/*Types.sol`.

The Python enums are written by hand; a member added, removed or reordered on one side only
would shift every value after it. This reads the Solidity declarations and compares.
"""

from __future__ import annotations

import enum
import re

import node.contracts
from node.compile import REPO_ROOT

_LIBRARIES = REPO_ROOT / "contracts" / "src" / "libraries"
_ENUM = re.compile(r"^enum\s+(\w+)\s*\{([^}]*)\}", re.MULTILINE)
_CONSTANT = re.compile(r"^uint8\s+constant\s+PURPOSE_(\w+)\s*=\s*(\d+);", re.MULTILINE)


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _solidity_enums() -> dict[str, list[str]]:
    enums: dict[str, list[str]] = {}
    for path in sorted(_LIBRARIES.glob("*Types.sol")):
        for name, body in _ENUM.findall(path.read_text()):
            assert name not in enums, f"enum {name} declared twice"
            enums[name] = [m.strip() for m in body.split(",") if m.strip()]
    return enums


def _python_enums() -> dict[str, type[enum.IntEnum]]:
    return {
        name: value
        for name in node.contracts.__all__
        if isinstance(value := getattr(node.contracts, name), type)
        and issubclass(value, enum.IntEnum)
    }


def test_every_solidity_enum_has_its_python_mirror_member_for_member() -> None:
    solidity = _solidity_enums()
    python = _python_enums()
    assert len(solidity) >= 10  # the parser found the declarations
    assert set(python) == set(solidity)
    for name, members in solidity.items():
        mirrored = [(m.name, m.value) for m in python[name]]
        assert mirrored == [(_upper_snake(m), i) for i, m in enumerate(members)], name


def test_authorization_purposes_mirror_the_solidity_bits() -> None:
    text = (_LIBRARIES / "Article6Types.sol").read_text()
    bits = {name: int(value) for name, value in _CONSTANT.findall(text)}
    assert bits == {m.name: m.value for m in node.contracts.AuthorizationPurpose}
