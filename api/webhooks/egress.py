"""Where webhook deliveries may go: public addresses only, unless the operator allows more.

A platform names the URL, and the node POSTs to it from inside the operator's network. Without
this check a subscription to `http://169.254.169.254/...` or `http://10.0.0.5/admin` would make
the node a proxy into that network (server-side request forgery). The check runs when a platform
subscribes and again before every delivery, on the addresses the host resolves to at that moment;
the delivery then connects to the address it checked, so a DNS answer that changes in between
(DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from api.config import ApiSettings

__all__ = ["EgressPolicy", "EgressRefused", "Target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(Exception):
    """Raised when a webhook URL may not be delivered to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked delivery target: the URL to connect to (its host pinned to a checked address)."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class EgressPolicy:
    """The operator's rule for webhook destinations (REGISTRY_WEBHOOK_ALLOW_*)."""

    def __init__(self, allow: Iterable[str] = (), *, allow_http: bool = False) -> None:
        self.allow_http = allow_http
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in (e.strip() for e in allow):
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.lower().rstrip("."))

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> EgressPolicy:
        """Build the operator's policy: REGISTRY_WEBHOOK_ALLOW_HOSTS and _ALLOW_HTTP."""
        return cls(settings.webhook_allow_hosts.split(","), allow_http=settings.webhook_allow_http)

    def _allowed(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self._hosts:
            return True
        if any(address in network for network in self._networks):
            return True
        return _public(address)

    def _scheme(self, url: str) -> str:
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            raise EgressRefused(
                "must use https (this node does not deliver webhooks over plain http)"
            )
        return scheme

    def check(self, url: str) -> None:
        """Refuse a URL a subscription may not name: its scheme, or where its host resolves.

        A host the operator allows by name is taken without a lookup (it may not resolve yet);
        deliveries still resolve it each time.
        """
        self._scheme(url)
        if (urlsplit(url).hostname or "").lower().rstrip(".") not in self._hosts:
            self.resolve(url)

    def resolve(self, url: str) -> Target:
        """Return where to deliver a URL's POST; raise EgressRefused if it may not go there."""
        scheme = self._scheme(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise EgressRefused(f"names host {host!r}, which does not resolve ({exc})") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        refused = [a for a in addresses if not self._allowed(host, a)]
        if refused or not addresses:
            raise EgressRefused(
                f"resolves to {refused[0] if refused else 'no address'}, which is not a public "
                "address (loopback, private, link-local, multicast and reserved ranges are "
                "refused unless the operator allows them)"
            )
        pinned = addresses[0]
        target = httpx.URL(url).copy_with(host=str(pinned))
        # The Host header and the TLS server name stay those of the URL, so virtual hosts and
        # certificate checks work as if the name had been resolved by the client itself.
        headers = {"host": parts.netloc.rpartition("@")[2]}
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        return Target(target, headers, extensions)
