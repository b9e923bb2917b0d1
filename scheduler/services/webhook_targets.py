"""Which URLs a webhook may call: http(s) only, and no loopback, private or link-local host.

A subscription URL is chosen by a client but called by our server, from inside the clinic's
network: without a check it would let any manager make Regimen POST to the database host, a
cloud metadata address or an admin panel on localhost (server-side request forgery). So the host
is resolved and every address it resolves to must be public, at subscription time (a clear 422)
and again at each delivery, and the delivery connects to exactly the address that was checked
(a DNS answer that changes between the check and the connection cannot slip through).
``REGIMEN_WEBHOOK_ALLOW_PRIVATE=1`` lifts the address rule (tests, a closed clinic network).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

ALLOWED_SCHEMES = ("http", "https")


class UnsafeTarget(ValueError):
    """The URL may not be called; the message says why (shown to the subscriber)."""


@dataclass(frozen=True)
class Target:
    url: str
    """The URL with its host replaced by the checked address."""
    host_header: str
    sni_hostname: str | None


def parse(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an acceptable URL, or ``UnsafeTarget``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL: {exc}") from None
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UnsafeTarget("must be an http or https URL")
    if not parts.hostname:
        raise UnsafeTarget("must name a host")
    if parts.username or parts.password:
        raise UnsafeTarget("must not carry credentials; the signature authenticates us")
    if parts.fragment:
        raise UnsafeTarget("must not have a fragment")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for what, flag in (("loopback", address.is_loopback),
                       ("link-local", address.is_link_local),
                       ("unspecified", address.is_unspecified),
                       ("multicast", address.is_multicast), ("private", address.is_private),
                       ("reserved", address.is_reserved),
                       ("not globally routable", not address.is_global)):
        if flag:
            return what
    return None


def resolve(url: str, *, allow_private: bool) -> Target:
    """Check the URL and pick the address to connect to, or raise ``UnsafeTarget``."""
    scheme, host, port = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"host {host!r} does not resolve ({exc})") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = _refusal(address)
            if reason:
                raise UnsafeTarget(f"host {host!r} resolves to {address}, a {reason} address; "
                                   "set REGIMEN_WEBHOOK_ALLOW_PRIVATE=1 to allow it")
    chosen = addresses[0]
    netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    parts = urlsplit(url)
    default_port = 443 if scheme == "https" else 80
    pinned = urlunsplit((scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
    host_header = host if port == default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    return Target(url=pinned, host_header=host_header,
                  sni_hostname=host if scheme == "https" else None)
