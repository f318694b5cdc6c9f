"""Which source addresses may talk SIP to the hotline (the trunk, the PBX)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class Allowlist:
    def __init__(self, entries: Iterable[str]):
        self.networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def allows(self, address: str) -> bool:
        """``address`` is an IP, optionally with ``:port`` or ``[v6]:port``; junk is refused."""
        try:
            ip = ipaddress.ip_address(host_of(address))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks if net.version == ip.version)


def host_of(address: str) -> str:
    """The host part of ``1.2.3.4:5060``, ``[::1]:5060``, ``::1`` or ``1.2.3.4``."""
    address = address.strip()
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address
