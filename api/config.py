"""API settings, read from `REGISTRY_*` environment variables beside the node's own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from node.settings import NodeSettings

__all__ = ["ApiSettings"]


class ApiSettings(NodeSettings):
    """Configure the HTTP API on top of the node settings it shares (data dir, chain, database)."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_")

    api_host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of the HTTP API.")
    api_domain: str | None = Field(
        default=None,
        description="Host (and port) SIWE messages must name; defaults to host:port of the API.",
    )
    token_ttl_seconds: int = Field(
        default=3600, ge=60, description="Lifetime of a SIWE bearer token."
    )
    siwe_nonce_ttl_seconds: int = Field(
        default=600, ge=10, description="How long a SIWE nonce may wait for its signature."
    )
    request_deadline_seconds: int = Field(
        default=3600, ge=60, description="Deadline `prepare` gives a request, from now."
    )
    interop_deadline_seconds: int = Field(
        default=3600,
        ge=1,
        description="How long a peer registry may take to accept a transfer (docs/interop.md).",
    )
    interop_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the interop worker retries its messages."
    )
    wait_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest a `wait=indexed` or `min_block` read blocks."
    )
    rate_limit_per_second: float = Field(
        default=50.0, gt=0, description="Sustained writes per second allowed to one signer."
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="Writes one signer may send at once before throttling."
    )
    api_relay: bool = Field(
        default=True,
        description="Relay journaled requests from this process; false for journal-only replicas.",
    )
    receipt_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long the relayer waits for a transaction's receipt."
    )
    webhook_delivery: bool = Field(
        default=True,
        description="Fill the webhook outbox and deliver it from this process; false for replicas.",
    )
    webhook_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the webhook worker looks for new events."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Timeout of each phase of one webhook POST."
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="Wait before the first webhook retry; doubles each time."
    )
    webhook_retry_max_seconds: float = Field(
        default=21600.0, gt=0, description="Longest wait between two webhook attempts."
    )
    webhook_max_attempts: int = Field(
        default=18, ge=1, description="Attempts of one webhook delivery before it is failed."
    )
    webhook_concurrency: int = Field(
        default=8, ge=1, le=256, description="Webhook POSTs in flight at once, per process."
    )
    webhook_allow_hosts: str = Field(
        default="",
        description="Comma-separated host names and CIDRs webhooks may reach besides public "
        "addresses (e.g. an internal receiver); loopback, private and link-local are refused "
        "otherwise.",
    )
    webhook_allow_http: bool = Field(
        default=False, description="Deliver webhooks over plain http too (https only otherwise)."
    )
    webhook_max_subscriptions: int = Field(
        default=20, ge=1, description="Live webhook subscriptions one platform may have."
    )
    relayer_key: str = Field(
        default="relayer",
        description="Role in dev-accounts.json (dev chain) or keystore name of the relayer key.",
    )

    response_key_path: Path | None = Field(
        default=None,
        description="Ed25519 PEM key signing pull-and-view responses; generated in the data dir "
        "when unset (keys/response-ed25519.pem).",
    )

    @property
    def response_key_file(self) -> Path:
        """Return where the response-signing key is read from (and created on first start)."""
        return self.response_key_path or self.data_dir / "keys" / "response-ed25519.pem"

    @property
    def siwe_domain(self) -> str:
        """Return the domain SIWE messages must carry."""
        return self.api_domain or f"{self.api_host}:{self.api_port}"

    @property
    def api_url(self) -> str:
        """Return the base URL the API serves."""
        return f"http://{self.api_host}:{self.api_port}"
