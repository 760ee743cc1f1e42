"""Compare prepared typed data with what was asked for, before anything is signed.

The API resolves an intent (an account number, a quantity) into an EIP-712 request. A buggy or
compromised API could return a request for another domain, another signer, another operation,
another recipient or more units; `check_typed_data` refuses all of these.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sdk.models import TypedDataMismatch
from sdk.operations import Field, OperationSpec

__all__ = ["check_domain_and_signer", "check_typed_data"]


def _account_number(value: Any) -> int:
    """Return the number of an account as the API writes it ("AU-1000001") or as a number."""
    if isinstance(value, int):
        return value
    return int(str(value).rsplit("-", 1)[-1])


def _text_of(padded: Any) -> str:
    """Return the text a right-padded bytes8/bytes32 field carries ("0x4a50…" -> "JP")."""
    raw = bytes.fromhex(str(padded).removeprefix("0x"))
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


def _day_start(value: Any) -> int:
    """Return the first second (UTC) of an ISO date, as the registry records dates."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# The bits of an authorization's `purposes`, as in the contracts' Article6Types.
_PURPOSE_BITS = {"ndc_use": 1, "oimp": 2}


def _refuse(what: str, got: Any, wanted: Any) -> TypedDataMismatch:
    return TypedDataMismatch(f"typed data has {what} {got!r}, but the intent asks for {wanted!r}")


def _check_units(message: dict[str, Any], intent: dict[str, Any]) -> None:
    ranges = message.get("ranges")
    if not isinstance(ranges, list):
        raise TypedDataMismatch("typed data has no serial ranges")
    got = [(int(r["start"]), int(r["end"])) for r in ranges]
    if intent.get("ranges") is not None:
        wanted = [(int(r["start"]), int(r["end"])) for r in intent["ranges"]]
        if got != wanted:
            raise _refuse("ranges", got, wanted)
        return
    if intent.get("quantity") is None:
        return
    if any(end < start for start, end in got):
        raise TypedDataMismatch(f"typed data has a reversed serial range in {got}")
    total = sum(end - start + 1 for start, end in got)
    if total != int(intent["quantity"]):
        raise _refuse("a quantity of", total, int(intent["quantity"]))


def _check_forwards(message: dict[str, Any], intent: dict[str, Any]) -> None:
    """An Article 6.4 issuance's forwards: the same accounts in order, each explicit quantity as
    asked, and the one left without a quantity given a positive rest (the share of proceeds and
    OMGE that decide the rest are the contract's to check)."""
    got = message.get("forwards")
    if not isinstance(got, list):
        raise TypedDataMismatch("typed data has no forwards")
    wanted = intent.get("forwards") or []
    got_accounts = [int(f["accountId"]) for f in got]
    wanted_accounts = [_account_number(f["account_id"]) for f in wanted]
    if got_accounts != wanted_accounts:
        raise _refuse("forwards to accounts", got_accounts, wanted_accounts)
    for signed, asked in zip(got, wanted, strict=True):
        quantity = int(signed["quantity"])
        if asked.get("quantity") is not None and quantity != int(asked["quantity"]):
            raise _refuse(f"a forward to {asked['account_id']} of", quantity, asked["quantity"])
        if quantity <= 0:
            raise _refuse(f"a forward to {asked['account_id']} of", quantity, "a positive rest")
    if sum(int(f["quantity"]) for f in got) > int(intent.get("quantity") or 0):
        raise TypedDataMismatch("typed data forwards more units than the issuance creates")


def _rights(representative: dict[str, Any], *, appointing: bool) -> tuple[str, bool, bool, bool]:
    """An intent's representative as (address, primary, can initiate, can approve): rights
    default to granted when an account is opened, to withheld when one is set afterwards."""
    return (
        str(representative["address"]).lower(),
        bool(representative.get("primary", False)),
        bool(representative.get("can_initiate", appointing)),
        bool(representative.get("can_approve", appointing)),
    )


def _signed_rights(representative: dict[str, Any]) -> tuple[str, bool, bool, bool]:
    return (
        str(representative["addr"]).lower(),
        bool(representative["primary"]),
        bool(representative["canInitiate"]),
        bool(representative["canApprove"]),
    )


def _check_representatives(field: Field, message: dict[str, Any], values: dict[str, Any]) -> None:
    if field.message not in message:
        raise TypedDataMismatch(f"typed data has no `{field.message}`")
    if field.kind == "representative":
        got = [_signed_rights(message[field.message])]
        wanted = [_rights(values, appointing=False)]
    else:
        got = [_signed_rights(item) for item in message[field.message]]
        wanted = [_rights(item, appointing=True) for item in values.get(field.name) or []]
    if got != wanted:
        raise _refuse("representatives", got, wanted)


def _check_field(field: Field, message: dict[str, Any], value: Any) -> None:
    if field.message not in message:
        raise TypedDataMismatch(f"typed data has no `{field.message}` for `{field.name}`")
    got = message[field.message]
    kind = field.kind
    if isinstance(kind, dict):
        same = int(got) == kind[str(value)]
    elif kind == "account":
        same = int(got) == _account_number(value)
    elif kind == "address":
        same = str(got).lower() == str(value).lower()
    elif kind == "addresses":
        same = [str(item).lower() for item in got] == [str(item).lower() for item in value]
    elif kind == "int":
        same = int(got) == int(value)
    elif kind == "code":
        same = _text_of(got) == str(value)
    elif kind == "registry_of":
        same = _text_of(got) == str(value).rsplit("-", 1)[0]
    elif kind == "codes":
        same = [_text_of(item) for item in got] == [str(item) for item in value]
    elif kind == "purposes":
        bits = 0
        for word in value:
            bits |= _PURPOSE_BITS[str(word)]
        same = int(got) == bits
    elif kind == "day_start":
        same = int(got) == _day_start(value)
    elif kind == "day_end":
        same = int(got) == _day_start(value) + 86_399
    elif kind == "bool":
        same = bool(got) is bool(value)
    else:
        same = str(got) == str(value)
    if not same:
        raise _refuse(f"`{field.message}`", got, value)


def check_domain_and_signer(typed: dict[str, Any], *, domain: dict[str, Any], signer: str) -> None:
    """Raise `TypedDataMismatch` unless `typed` is for the registry's `domain` and names
    `signer`: the least any typed data must pass before this key signs it."""
    got_domain = typed.get("domain") or {}
    same_domain = (
        got_domain.get("name") == domain["name"]
        and str(got_domain.get("version")) == str(domain["version"])
        and int(got_domain.get("chainId", -1)) == int(domain["chainId"])
        and str(got_domain.get("verifyingContract", "")).lower()
        == str(domain["verifyingContract"]).lower()
    )
    if not same_domain:
        raise TypedDataMismatch(
            f"typed data is for domain {got_domain}, not the registry's {domain}"
        )
    message = typed.get("message")
    if not isinstance(message, dict):
        raise TypedDataMismatch("typed data has no message")
    if str(message.get("signer", "")).lower() != signer.lower():
        raise _refuse("signer", message.get("signer"), signer)


def check_typed_data(
    typed: dict[str, Any],
    spec: OperationSpec,
    values: dict[str, Any],
    *,
    domain: dict[str, Any],
    signer: str,
) -> None:
    """Raise `TypedDataMismatch` unless `typed` is the request `values` (intent and path ids)
    ask `spec` for, in the registry's `domain`, signed by `signer`."""
    check_domain_and_signer(typed, domain=domain, signer=signer)
    if typed.get("primaryType") != spec.primary_type:
        raise _refuse("primary type", typed.get("primaryType"), spec.primary_type)
    types = typed.get("types") or {}
    if spec.primary_type not in types:
        raise TypedDataMismatch(f"typed data does not define {spec.primary_type}")
    message: dict[str, Any] = typed["message"]
    declared = {f.get("name") for f in types[spec.primary_type]}
    if set(message) != declared:
        raise TypedDataMismatch(
            f"typed data's message fields {sorted(message)} are not those of "
            f"{spec.primary_type}: {sorted(str(name) for name in declared)}"
        )
    for field in spec.fields:
        if field.kind == "units":
            _check_units(message, values)
        elif field.kind == "forwards":
            _check_forwards(message, values)
        elif field.kind in ("representatives", "representative"):
            _check_representatives(field, message, values)
        else:
            value = values.get(field.name)
            if value is None:
                value = field.default  # left out: the API must have used its default
            if value is None and field.kind == "addresses":
                value = []
            if value is not None:
                _check_field(field, message, value)
