"""Discovery: health and the chain facts a client needs to sign (API.md, stable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ServicesDep

router = APIRouter(tags=["discovery"])

# The mirror may trail the head by the finality depth plus this many blocks and still be healthy.
_HEALTHY_LAG = 10


class Health(BaseModel):
    """Whether the node serves fresh data."""

    status: str
    chain_block: int
    indexed_block: int


class ChainInfo(BaseModel):
    """Chain id, contracts and the EIP-712 domain requests are signed for."""

    chain_id: int
    registry_code: str
    contracts: dict[str, str]
    eip712_domain: dict[str, Any]


@router.get("/health", response_model=Health)
def health(services: ServicesDep) -> Health:
    """Report the chain head, the mirror's last block, and `degraded` when they drift apart."""
    indexed = services.indexed_block()
    try:
        head = services.client.block_number()
    except Exception:  # an unreachable chain is a degraded node, not a failed request
        return Health(status="degraded", chain_block=-1, indexed_block=indexed)
    healthy = head - indexed <= services.settings.finality_depth + _HEALTHY_LAG
    return Health(status="ok" if healthy else "degraded", chain_block=head, indexed_block=indexed)


@router.get("/chain", response_model=ChainInfo)
def chain(services: ServicesDep) -> ChainInfo:
    """Return the chain id, the registry code, contract addresses and the EIP-712 domain."""
    deployment = services.deployment
    return ChainInfo(
        chain_id=deployment.chain_id,
        registry_code=deployment.registry_code,
        contracts=dict(deployment.contracts),
        eip712_domain={
            "name": "UnitRegistry",
            "version": "1",
            "chainId": deployment.chain_id,
            "verifyingContract": deployment.registry,
        },
    )
