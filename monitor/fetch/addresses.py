"""Address safety: is a host we are about to contact on the public internet?

A configured source URL may point anywhere the operator chose. A URL we did not
choose (a redirect hop, a link found in content) must not make us reach into the
machine's own networks: loopback, private, link-local, multicast, reserved and
unspecified addresses, IPv4 or IPv6, are refused. The check is made on the
*resolved* addresses of the host, every one of them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from monitor.errors import FetchError
from monitor.urls import DEFAULT_PORTS, without_credentials

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the IP addresses (as strings) a connection may use."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver: every address ``getaddrinfo`` returns for host:port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: str | IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address.

    PURE. False for loopback, private (RFC 1918, ULA), shared (100.64/10),
    link-local, multicast, reserved, unspecified and documentation ranges, and
    for IPv6 addresses that embed such an IPv4 address (mapped, 6to4, NAT64).
    Anything that is not an IP address is not public.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0] if isinstance(ip, str) else ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_link_local
        or address.is_loopback or address.is_unspecified or address.is_private
    )


def url_host_port(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; the port defaults by scheme."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise FetchError(f"invalid URL {without_credentials(url)!r}: no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"invalid URL {without_credentials(url)!r}: bad port") from exc
    return host, port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)


def check_url_allowed(url: str, resolve: Resolver = resolve_host, *,
                      purpose: str = "link to") -> list[str]:
    """Raise FetchError unless every address ``url``'s host resolves to is public; return
    those addresses, for the connection to go to (and to no other).

    The message reads ``"<purpose> private address 10.0.0.1 refused"``. An IP
    literal host is checked as is, without resolving.
    """
    host, port = url_host_port(url)
    try:
        addresses: Sequence[str] = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolve(host, port)
    if not addresses:
        raise FetchError(f"cannot resolve host {host}")
    for address in addresses:
        if not is_public_address(address):
            raise FetchError(f"{purpose} private address {address} refused")
    return list(addresses)


def is_url_allowed(url: str, resolve: Resolver = resolve_host) -> bool:
    """Like check_url_allowed, as a yes/no; an unresolvable host is not allowed."""
    try:
        check_url_allowed(url, resolve)
    except FetchError:
        return False
    return True
