"""Trading platforms (CER Class B): the administrator registers, suspends and staffs them.

`POST /v1/admin/platforms`, `/v1/admin/platforms/{platform}/signers` and
`/v1/admin/platforms/{platform}/status` (API.md). The list of platforms is public and read in
`api.routes.platforms`.

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import Path

from api.ids import account_number
from api.intents import PLATFORM_STATUSES, Resolver
from api.operations import results
from api.operations.prechecks import check_platform_path, check_register_platform
from api.operations.record import ADMIN_ERRORS, Operation, Prepare
from api.schemas import PlatformIntent, PlatformSignerIntent, PlatformStatusIntent

__all__ = ["OPERATIONS", "PlatformPath"]

PlatformPath = Annotated[
    str,
    Path(pattern=r"^0[xX][0-9a-fA-F]{40}$", description="A platform's address, 0x + 40 hex."),
]
_ADMIN = ("admin",)


def _register(r: Resolver, intent: PlatformIntent, _path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "platform": intent.address,
        "name": intent.name,
        "custodialAccount": account_number(r.registry_code, intent.custodial_account),
        "signers": list(intent.signers),
    }


def _signer(_r: Resolver, intent: PlatformSignerIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "platform": str(to_checksum_address(path["platform"])),
        "platformSigner": intent.address,
        "enabled": intent.enabled,
    }


def _status(_r: Resolver, intent: PlatformStatusIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "platform": str(to_checksum_address(path["platform"])),
        "status": PLATFORM_STATUSES[intent.status],
    }


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "admin/platforms",
        "RegisterPlatform",
        check_register_platform,
        "Register a platform",
        result=results.register_platform,
        errors=(
            "INVALID_ACCOUNT_ID",
            *ADMIN_ERRORS,
            "AccountNotFound",
            "PlatformAlreadyRegistered",
            "CustodialAccountRequired",
            "CustodialAccountTaken",
            "InvalidPlatformSigner",
            "PlatformSignerTaken",
        ),
        prepare=Prepare(
            "/admin/platforms",
            PlatformIntent,
            _register,
            "Prepare registering a platform with its custodial account and signers "
            "(administrator).",
            "platforms",
            more_tags=_ADMIN,
            name="prepare_platform",
        ),
    ),
    Operation(
        "admin/platforms/signers",
        "SetPlatformSigner",
        check_platform_path,
        "Enable or disable a platform's signer",
        result=results.set_platform_signer,
        errors=(
            *ADMIN_ERRORS,
            "PlatformNotFound",
            "InvalidPlatformSigner",
            "PlatformSignerTaken",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/admin/platforms/{platform}/signers",
            PlatformSignerIntent,
            _signer,
            "Prepare adding (`enabled`) or removing an address that signs for a platform.",
            "platforms",
            {"platform": PlatformPath},
            _ADMIN,
            name="prepare_platform_signer",
        ),
    ),
    Operation(
        "admin/platforms/status",
        "SetPlatformStatus",
        check_platform_path,
        "Suspend or reinstate a platform",
        result=results.set_platform_status,
        errors=(
            *ADMIN_ERRORS,
            "PlatformNotFound",
            "InvalidPlatformStatusChange",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/admin/platforms/{platform}/status",
            PlatformStatusIntent,
            _status,
            "Prepare suspending or reactivating a platform; it takes effect at once on-chain.",
            "platforms",
            {"platform": PlatformPath},
            _ADMIN,
            name="prepare_platform_status",
        ),
    ),
)
