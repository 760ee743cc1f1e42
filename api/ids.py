"""Account ids as the API writes them: the registry code, a hyphen, the on-chain number."""

from __future__ import annotations

from api.problems import refuse

__all__ = ["account_number", "format_account"]


def format_account(registry_code: str, number: int) -> str:
    """Return an account id as the API writes it, e.g. AU-1000001."""
    return f"{registry_code}-{number}"


def account_number(registry_code: str, account_id: str) -> int:
    """Parse an account id such as AU-1000001; raise a 422 problem if it is malformed."""
    prefix, _, number = account_id.partition("-")
    # One written form per account: no leading zeros (AU-01000004 is not AU-1000004).
    canonical = number.isascii() and number.isdecimal() and not number.startswith("0")
    if prefix != registry_code or not canonical:
        raise refuse(
            "INVALID_ACCOUNT_ID",
            f"{account_id!r} is not an account id of this registry; expected e.g. "
            f"{registry_code}-1000001.",
        )
    value = int(number)
    if not 0 < value < 2**64:
        raise refuse("INVALID_ACCOUNT_ID", f"{account_id!r} is out of range.")
    return value
