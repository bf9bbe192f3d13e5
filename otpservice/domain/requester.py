"""Who is asking, as far as the limits care: the end user's address, its networks, a device.

The per-number limits (send shares, the reserved share, the check delay) are kept per
*requester network*: the IPv4 /24 or IPv6 /48 of ``client_ip``, or one common bucket for
requests that name no address. The shared per-IP budgets also count the /24 (IPv6: /64 and
/48). A device key the integrator passes (``device_id``) only ever earns the reserved share
of a number it approved on; it never mints a budget of its own, so made-up ids buy nothing.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress

import msgspec

from otpservice.errors import InvalidRequest

NO_NETWORK = "-"  # the bucket of requests without an address

_V4_NET_MASK = (1 << 32) - (1 << 8)  # /24
_V6_NET_MASK = (1 << 128) - (1 << 64)  # /64
_V6_SITE_MASK = (1 << 128) - (1 << 80)  # /48


class Requester(msgspec.Struct, frozen=True):
    """The end user behind a request, normalised."""

    ip: str | None = None  # the address
    net: str | None = None  # its /24 (IPv4) or /64 (IPv6): the shared ip_net_hour budget
    site: str | None = None  # IPv6 only: its /48, the shared ip_net48_hour budget
    network: str = NO_NETWORK  # /24 or /48: what per-number shares and delays are keyed by
    device: str = ""  # keyed hash of the integrator's device id ("" = none)

    @property
    def bucket(self) -> str:
        """The network's short name inside a phone's send log (8 hex digits)."""
        if self.network == NO_NETWORK:
            return NO_NETWORK
        return hashlib.sha256(self.network.encode()).hexdigest()[:8]


def _address(client_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError as exc:
        raise InvalidRequest("client_ip is not an IP address.") from exc
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.scope_id is not None:
            # A zone ("fe80::1%eth0") names a local interface, not a host: drop it, or every
            # made-up zone would be a fresh address with fresh per-IP budgets.
            return ipaddress.IPv6Address(address.packed)
    return address


def network_of(client_ip: str | None) -> tuple[str | None, str | None]:
    """The end-user address and its /24 (IPv4) or /64 (IPv6), normalised."""
    found = requester_of(client_ip, None, b"")
    return found.ip, found.net


def device_key(secret: bytes, device_id: str) -> str:
    """Keyed, so Redis never holds the integrator's device ids."""
    return hmac.new(secret, b"device\x1f" + device_id.encode(), hashlib.sha256).hexdigest()[:16]


# Parsing an address is most of a refused request's own work; a flood repeats its addresses
# (bounded; a failure raises, so it is never kept).
@functools.lru_cache(maxsize=4096)
def requester_of(client_ip: str | None, device_id: str | None, secret: bytes) -> Requester:
    device = device_key(secret, device_id) if device_id else ""
    if client_ip is None:
        return Requester(device=device)
    address = _address(client_ip)
    # The network address by masking the integer: no network object to build on a hot path.
    if address.version == 4:
        net = f"{ipaddress.IPv4Address(int(address) & _V4_NET_MASK)}/24"
        return Requester(str(address), net, None, net, device)
    site = f"{ipaddress.IPv6Address(int(address) & _V6_SITE_MASK)}/48"
    net = f"{ipaddress.IPv6Address(int(address) & _V6_NET_MASK)}/64"
    return Requester(str(address), net, site, site, device)
