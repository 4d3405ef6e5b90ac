"""Who the console's client is behind a reverse proxy (``console.trusted_proxies``).

A proxy in front of the console (the README's nginx) makes every request arrive from the proxy's own
address, so the login limiter would count every client as one, and the console could not tell that the
browser spoke TLS. ``X-Forwarded-For`` and ``X-Forwarded-Proto`` say it, but anyone can send them: they
are believed only when the direct peer is one of the configured proxies, and then ``X-Forwarded-For`` is
read from its right end (what the trusted proxies appended), skipping trusted hops, so a client cannot
choose its own address by sending the header itself.
"""

from __future__ import annotations

import ipaddress


class Proxies:
    def __init__(self, networks: list[str]):
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def trusted(self, host: str | None) -> bool:
        if not self.networks or not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def apply(self, scope: dict, headers: dict[str, str]) -> None:
        """Set ``scope["client"]`` and ``scope["scheme"]`` from the forwarded headers when the peer is trusted."""
        peer = (scope.get("client") or (None, 0))[0]
        if not self.trusted(peer):
            return
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        client = None
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # a mangled entry: nothing to its left can be believed
            client = hop
            if not self.trusted(hop):
                break
        if client is not None:
            scope["client"] = (client, 0)
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
