"""The one public shape of a registry event's data, for `/v1/events` and webhook payloads alike.

The mirror keeps each event's arguments as the contract names them (`accountId`, `state: 1`);
integrators get API.md's conventions instead: snake_case keys, `AU-…` account ids, enum values as
words, identifiers as text. The shape is derived from the ABI (each argument's `internalType`
names its enum), so an event added to the contracts is shaped without an edit here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from api.ids import format_account
from node import contracts

__all__ = ["EventShape", "snake_case"]

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")

# uint64 arguments that hold account numbers: every `...Account` and `accountId`, and the
# mechanism accounts, whose names say only their role.
_ACCOUNT_SUFFIXES = ("Account", "accountId")
_ACCOUNT_EVENTS = frozenset({"MechanismAccountsSet"})
# bytes32 arguments that hash something rather than name it.
_HASHES = frozenset({"digest", "role", "previousAdminRole", "newAdminRole"})

Convert = Callable[[Any], Any]


def snake_case(name: str) -> str:
    """Return a contract argument's name in snake_case (`fromAccount` -> `from_account`)."""
    return _CAMEL.sub(r"_\1", name).lower()


def _identifier(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith("0x"):
        return value
    return contracts.bytes32_text(value)


def _enum_word(kind: type[enum.IntEnum]) -> Convert:
    def word(value: Any) -> Any:
        try:
            return kind(int(value)).name.lower()
        except (TypeError, ValueError):
            return value  # a value the contracts added later: passed through, never dropped

    return word


def _purposes(value: Any) -> list[str]:
    return [(p.name or "").lower() for p in contracts.AuthorizationPurpose if int(value) & p.value]


class EventShape:
    """Shape the stored arguments of this registry's events into their public form."""

    def __init__(self, abi: list[dict[str, Any]], registry_code: str) -> None:
        self.registry_code = registry_code
        self._fields: dict[str, list[tuple[str, str, Convert | None]]] = {}
        for entry in abi:
            if entry.get("type") != "event":
                continue
            event = str(entry["name"])
            self._fields[event] = [
                (str(arg["name"]), snake_case(str(arg["name"])), self._converter(event, arg))
                for arg in entry.get("inputs", ())
            ]

    def _account(self, value: Any) -> Any:
        return format_account(self.registry_code, int(value)) if int(value) else None

    def _converter(self, event: str, arg: Mapping[str, Any]) -> Convert | None:
        name, typ = str(arg["name"]), str(arg["type"])
        internal = str(arg.get("internalType", typ))
        if internal.startswith("enum "):
            kind = getattr(contracts, internal.removeprefix("enum ").split(".")[-1], None)
            return _enum_word(kind) if kind is not None else None
        if typ == "uint64" and (name.endswith(_ACCOUNT_SUFFIXES) or event in _ACCOUNT_EVENTS):
            return self._account
        if name == "purposes":
            return _purposes
        if typ in ("bytes8", "bytes32") and name not in _HASHES:
            return _identifier
        if typ == "bytes8[]":
            return lambda values: [_identifier(v) for v in values]
        return None

    def data(self, event: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Return an event's arguments in the public shape (unknown events: keys only)."""
        fields = self._fields.get(event)
        if fields is None:
            return {snake_case(k): v for k, v in args.items()}
        shaped: dict[str, Any] = {}
        for name, public, convert in fields:
            if name in args:
                value = args[name]
                shaped[public] = value if convert is None or value is None else convert(value)
        return shaped
