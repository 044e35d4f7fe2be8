"""SSRF guard: an http(s) URL whose host resolves only to public addresses, checked on every hop.

After DNS resolution, private, loopback, link-local, multicast, reserved and
unspecified addresses are refused, as are cloud-metadata endpoints.
``FetchSettings.allow_networks`` (CIDRs; ``CHANCERY_ALLOW_NETWORKS``) opens ranges
for tests and intranet sources; the metadata addresses stay blocked even then,
because nothing a news crawler wants lives there and everything an attacker wants does.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipeline.outcomes import Outcome

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# AWS/GCP/Azure/OpenStack (169.254.169.254), AWS IPv6 (fd00:ec2::254), ECS task
# metadata (169.254.170.2), Alibaba (100.100.100.200), Oracle (192.0.0.192).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
ALLOWED_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Refusal:
    """Why a URL may not be fetched: SSRF_BLOCKED, or CONNECTION_ERROR when its host does not resolve."""

    outcome: Outcome
    reason: str


class SsrfGuard:
    def __init__(self, allow_networks: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(cidr.strip(), strict=False) for cidr in allow_networks if cidr.strip()
        )

    def check(self, url: str) -> Refusal | None:
        """None when every address the host resolves to may be fetched."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            return Refusal(Outcome.SSRF_BLOCKED, f"scheme {parts.scheme or '(none)'!r} refused: http(s) only")
        host = parts.hostname
        if not host:
            return Refusal(Outcome.SSRF_BLOCKED, "no host in URL")
        try:
            addresses = resolve(host, parts.port or (443 if parts.scheme.lower() == "https" else 80))
        except (OSError, UnicodeError) as exc:
            return Refusal(Outcome.CONNECTION_ERROR, f"DNS lookup of {host} failed: {exc}")
        for address in addresses:
            reason = self.refuse_address(address)
            if reason:
                return Refusal(Outcome.SSRF_BLOCKED, f"{host} resolves to {address}: {reason}")
        return None

    def refuse_address(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if address in METADATA_ADDRESSES:
            return "cloud metadata address (never allowed)"
        if any(address in network for network in self.allowed):
            return None
        if address.is_loopback:
            return "loopback address"
        if address.is_private:
            return "private address"
        if address.is_link_local:
            return "link-local address"
        if address.is_multicast:
            return "multicast address"
        if address.is_unspecified or address.is_reserved or not address.is_global:
            return "non-public address"
        return None


class BlockedAddress(Exception):
    """Raised inside urllib3 when the socket actually connected to a refused address."""


def guarded_pool_classes(guard: SsrfGuard) -> dict[str, type]:
    """urllib3 pool classes whose connections check the peer address after connecting.

    The name was already checked before the request; this second check closes the
    DNS-rebinding gap (a zero-TTL name that resolves somewhere else the second time):
    whatever address the socket really reached must pass the same guard.
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def checked(base: type) -> type:
        def _new_conn(self: Any) -> socket.socket:
            sock: socket.socket = base._new_conn(self)  # type: ignore[attr-defined]
            peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
            reason = guard.refuse_address(peer)
            if reason:
                sock.close()
                raise BlockedAddress(f"{self.host} connected to {peer}: {reason}")
            return sock

        return type(f"Guarded{base.__name__}", (base,), {"_new_conn": _new_conn})

    http_conn, https_conn = checked(HTTPConnection), checked(HTTPSConnection)
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (a name may point some records at private ranges)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}, key=str)
