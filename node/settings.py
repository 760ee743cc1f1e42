"""Node settings, read from `REGISTRY_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from node.errors import ConfigError

__all__ = ["DEFAULT_DATA_DIR", "NodeSettings", "load_settings"]

DEFAULT_DATA_DIR = Path(".registry-data")


class NodeSettings(BaseSettings):
    """Configure where the node keeps its data and which chain it talks to."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Directory for keys, chain state, deployments and the embedded database.",
    )
    chain_port: int = Field(
        default=8545, ge=1, le=65535, description="Port of the embedded dev chain."
    )
    rpc_url: str | None = Field(
        default=None,
        description="JSON-RPC URL of an external chain; when set, no dev chain is started.",
    )
    dev_chain_id: int = Field(
        default=31337,
        ge=1,
        description="Chain id of the embedded dev chain; two dev nodes that exchange units "
        "(docs/interop.md) need different ones.",
    )
    registry_code: str = Field(
        default="AU", description="Code of the registry this node runs (ISO 3166 alpha-2 style)."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the mirror database; SQLite in the data dir when unset.",
    )
    finality_depth: int = Field(
        default=0,
        ge=0,
        description="Blocks behind the head treated as final: 0 for QBFT, more on a dev chain.",
    )

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("rpc_url", "database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # NOTE: `REGISTRY_RPC_URL=` in a shell or compose file means "not set", not "empty URL".
        if value is None or not value.strip():
            return None
        return value.strip()

    @field_validator("registry_code")
    @classmethod
    def _check_registry_code(cls, value: str) -> str:
        code = value.strip().upper()
        if not (2 <= len(code) <= 3 and code.isascii() and code.isalpha()):
            raise ValueError(
                f"registry_code must be 2 or 3 letters such as 'AU' or 'EU', got {value!r}; "
                "set REGISTRY_REGISTRY_CODE accordingly"
            )
        return code

    @property
    def uses_dev_chain(self) -> bool:
        """Return True when the node starts and manages its own anvil chain."""
        return self.rpc_url is None

    @property
    def chain_rpc_url(self) -> str:
        """Return the JSON-RPC URL to use: the external one, or the embedded dev chain's."""
        return self.rpc_url if self.rpc_url is not None else f"http://127.0.0.1:{self.chain_port}"

    @property
    def keystore_dir(self) -> Path:
        """Return the directory holding encrypted operator keystores."""
        return self.data_dir / "keystore"

    @property
    def dev_accounts_path(self) -> Path:
        """Return the file where dev mode writes its well-known role keys."""
        return self.data_dir / "dev-accounts.json"

    @property
    def chain_dir(self) -> Path:
        """Return the directory of the embedded dev chain (state, pid and log files)."""
        return self.data_dir / "chain"

    @property
    def chain_state_path(self) -> Path:
        """Return the file where anvil persists the dev chain's state."""
        return self.chain_dir / "state.json"

    @property
    def deployments_dir(self) -> Path:
        """Return the directory holding deployment manifests."""
        return self.data_dir / "deployments"


def load_settings(**overrides: Any) -> NodeSettings:
    """Read settings from the environment plus `overrides`; raise ConfigError if invalid."""
    try:
        return NodeSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(
            f"invalid node settings ({problems}). Fix the REGISTRY_* environment variables or "
            "command-line flags."
        ) from exc
