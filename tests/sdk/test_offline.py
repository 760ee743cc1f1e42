"""SDK behaviour that needs no node: its operation table mirrors the API's catalogue, SIWE
names the API's scheme, and Retry-After is read in both its forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from api.operations.catalogue import OPERATION_TYPES
from sdk import RegistryClient
from sdk.client import _retry_after
from sdk.operations import OPERATIONS, resolve

KEY = "0x" + "22" * 32


def test_the_operation_table_mirrors_the_catalogue() -> None:
    mirrored = {spec.catalogue_path: spec.primary_type for spec in OPERATIONS.values()}
    assert mirrored == OPERATION_TYPES


@pytest.mark.parametrize(
    ("path", "name", "ids"),
    [
        ("transfers", "transfers.initiate", {}),
        ("transfers/12/approve", "transfers.approve", {"transfer_id": "12"}),
        ("/v1/article6/transfers/3/rescind", "article6.rescind_transfer", {"transfer_id": "3"}),
        ("labels/CORSIA_ELIGIBLE/apply", "labels.apply", {"label": "CORSIA_ELIGIBLE"}),
        (
            "admin/accounts/AU-1000001/status",
            "admin.set_account_status",
            {"account_id": "AU-1000001"},
        ),
    ],
)
def test_a_concrete_path_resolves_to_its_operation(
    path: str, name: str, ids: dict[str, str]
) -> None:
    assert resolve(path) == (OPERATIONS[name], ids)


def test_an_unknown_path_is_no_operation() -> None:
    with pytest.raises(ValueError, match="no signed write"):
        resolve("transfers/12/steal")


@pytest.mark.parametrize(
    ("base", "uri"),
    [
        ("https://registry.example", "https://registry.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_siwe_names_the_scheme_of_the_api(base: str, uri: str) -> None:
    message = RegistryClient(base, KEY).siwe_message("abcdef0123456789", 31337)
    assert f"\nURI: {uri}\n" in message
    assert message.startswith(f"{uri.split('://')[1]} wants you to sign in")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    delay = _retry_after(httpx.Response(503, headers={"Retry-After": later}))
    assert delay is not None and 15 <= delay <= 20
    assert _retry_after(httpx.Response(503)) is None


def test_every_operation_has_a_typed_method() -> None:
    client = RegistryClient("http://127.0.0.1:8000", KEY)
    missing = [
        name
        for name in OPERATIONS
        if not callable(
            getattr(getattr(client, name.split(".")[0], None), name.split(".")[1], None)
        )
    ]
    assert not missing
