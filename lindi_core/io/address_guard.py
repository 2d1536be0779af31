"""Which network addresses a reference file may make the library connect to (an SSRF guard).

A reference file fetched from the internet names the URLs its chunks are read from. Were every
URL allowed, a hostile file could make the library send requests to services only this machine
or its network can reach (an admin page on 127.0.0.1, a router at 192.168.1.1, the cloud
metadata service at 169.254.169.254, which hands out credentials) and hand their answers back as
array values. As browsers' Private Network Access rules do, addresses fall into spaces ordered
from public to loopback, and a reference file may make the library connect only to addresses
no more private than the one it came from:

    public  <  private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 ...)
            <  link-local (169.254/16, fe80::/10, fd00:ec2::254: cloud metadata)
            <  loopback (127/8, ::1, and the unspecified 0.0.0.0 and ::, which reach this machine)

Link-local sits above private so that a file served from a private network still cannot reach
the metadata service. IPv4 addresses written inside IPv6 ones (``::ffff:127.0.0.1``, NAT64,
6to4, IPv4-compatible) count as the IPv4 address they carry.

The check is made on the address actually connected to, after name resolution, for every
connection (redirects included): neither a name that resolves to a private address, nor a DNS
answer that changes between a check and the connection, nor literal forms such as
``http://2130706433/`` or ``http://0x7f.1/`` (the system's parser reads them, then the address
is classified) get around it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import urllib.parse
from enum import IntEnum
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from lindi_core.errors import AccessDeniedError

ALLOW_HINT = "pass allow_private_network=True to allow it"


class AddressSpace(IntEnum):
    """How private an address is; a higher value is reachable from fewer places."""

    PUBLIC = 0
    PRIVATE = 1
    LINK_LOCAL = 2
    LOOPBACK = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # connecting to 0.x reaches this machine on Linux
_CLOUD_METADATA_V6 = ipaddress.ip_network("fd00:ec2::254/128")  # AWS's IPv6 metadata address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def address_space(address: str) -> AddressSpace:
    """The space of an IP address as the system writes it (an IPv6 zone suffix allowed)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _CLOUD_METADATA_V6:
            return AddressSpace.LINK_LOCAL
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and (ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1)):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    if ip.is_loopback or ip.is_unspecified or ip in _THIS_NETWORK:
        return AddressSpace.LOOPBACK
    if ip.is_link_local:
        return AddressSpace.LINK_LOCAL
    if ip.is_global and not ip.is_multicast:
        return AddressSpace.PUBLIC
    return AddressSpace.PRIVATE


def literal_address(host: str) -> str | None:
    """The address a host written as a number stands for (``127.1``, ``2130706433``, ``[::1]``),
    read by the system's own parser without any DNS query; None for a name."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return str(infos[0][4][0]) if infos else None


class AddressGuard:
    """Admits or refuses each connection by the space of the address it goes to.

    ``reach`` is the most private space allowed. ``reason`` says why, for the error message.
    With ``narrow_to_first`` (fetching one URL the user named), the first connection may go
    anywhere and sets the reach for the others: a redirect may not lead somewhere more private
    than the host the user named. ``origin`` is the space of the first address connected to.
    """

    def __init__(self, reach: AddressSpace = AddressSpace.LOOPBACK, *, reason: str = "",
                 narrow_to_first: bool = False):
        self.reach = reach
        self.reason = reason
        self.narrow_to_first = narrow_to_first
        self.origin: AddressSpace | None = None
        self._names: dict[str, tuple[bool, str, int]] = {}  # host -> (permitted, an address, port)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """What another process needs (the reach and its reason): not the lock, nor the verdicts
        on names, which that process makes again from its own DNS answers."""
        state = dict(self.__dict__)
        del state["_lock"], state["_names"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._names = {}
        self._lock = threading.Lock()

    @classmethod
    def for_reference_file(cls, origin: AddressSpace) -> AddressGuard:
        """The guard of the chunk reads of a reference file that came from ``origin``."""
        return cls(origin, reason=f"the reference file naming it came from a {origin.label} address")

    @classmethod
    def for_named_url(cls, reach: AddressSpace = AddressSpace.LOOPBACK) -> AddressGuard:
        """The guard of fetching one URL the user named (``reach``: a lower cap, for a URL
        named by a reference file of that reach)."""
        reason = "" if reach == AddressSpace.LOOPBACK else \
            f"the reference file naming it came from a {reach.label} address"
        return cls(reach, reason=reason, narrow_to_first=True)

    def space_of(self, address: str, port: int) -> AddressSpace:
        """The space of a peer. (The port does not matter; tests replace this method to stand
        two loopback servers for two spaces.)"""
        return address_space(address)

    def permits(self, address: str, port: int) -> bool:
        return self.space_of(address, port) <= self.reach

    def admit(self, host: str, address: str, port: int) -> None:
        """Called just before connecting to ``address`` (for ``host``): refuses it, or records it."""
        space = self.space_of(address, port)
        with self._lock:
            if space > self.reach:
                raise self.refusal(host, address, space)
            if self.origin is None:
                self.origin = space
                if self.narrow_to_first:
                    self.reach = space
                    self.reason = f"the URL named was at a {space.label} address, and a redirect may not lead " \
                                  "somewhere more private"

    def refusal(self, host: str, address: str, space: AddressSpace | None = None) -> AccessDeniedError:
        space = self.space_of(address, 0) if space is None else space
        shown = host if host == address else f"{host} ({address})"
        return AccessDeniedError(f"{shown} is a {space.label} address, and {self.reason or 'it is not allowed'}; "
                                 f"{ALLOW_HINT}")

    def check_url(self, url: str) -> None:
        """Refuse at once a URL whose host is written as an address beyond reach (before any
        cache is asked: a chunk kept from a trusted read is not handed to an untrusted file
        either). Names are checked when connecting, after resolution."""
        parts = urllib.parse.urlsplit(url)
        address = literal_address(parts.hostname) if parts.hostname else None
        if address is not None:
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                port = 0  # not a port: the connection fails later, with its own error
            if not self.permits(address, port):
                raise AccessDeniedError(f"not reading {url}: {self.refusal(parts.hostname, address)}")

    async def check_name(self, url: str) -> None:
        """Refuse a URL whose host resolves only to addresses beyond reach, before a cache is
        asked for its bytes (a chunk kept on disk or in memory by an earlier, trusted read of
        ``http://localhost/...`` is not handed to an untrusted file). One lookup per host; a
        host that does not resolve (offline) is let through to the caches, which then hold the
        only copy there is. The connection check stays the one that decides."""
        self.check_url(url)
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        if not host or literal_address(host) is not None:
            return
        verdict = self._names.get(host)
        if verdict is None:
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, ValueError):
                return
            if not infos:
                return
            addresses = [str(info[4][0]) for info in infos]
            verdict = self._names[host] = (any(self.permits(a, port) for a in addresses), addresses[0], port)
        permitted, address, _port = verdict
        if not permitted:
            raise AccessDeniedError(f"not reading {url}: {self.refusal(host, address)}")

    # -- hooks ----------------------------------------------------------------------------
    def aiohttp_connector(self) -> aiohttp.TCPConnector:
        """A connector whose resolver drops the addresses beyond reach and whose sockets are
        opened only to admitted addresses (literal IPs skip the resolver)."""
        def socket_factory(addr_info: Any) -> socket.socket:
            family, kind, proto, _, sockaddr = addr_info
            self.admit(sockaddr[0], sockaddr[0], sockaddr[1])
            return socket.socket(family=family, type=kind, proto=proto)

        return aiohttp.TCPConnector(resolver=_GuardedResolver(self), socket_factory=socket_factory)

    def create_connection(self, address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,
                          source_address: Any = None) -> socket.socket:
        """:func:`socket.create_connection`, connecting only to admitted addresses (for
        ``http.client`` connections)."""
        host, port = address
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        allowed = [info for info in infos if self.permits(info[4][0], port)]
        if not allowed:
            raise self.refusal(host, infos[0][4][0], self.space_of(infos[0][4][0], port))
        last_error: OSError | None = None
        for family, kind, proto, _, sockaddr in allowed:
            self.admit(host, sockaddr[0], port)
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                last_error = exc
        assert last_error is not None
        raise last_error


class _GuardedResolver(AbstractResolver):
    """The default resolver, with the answers beyond the guard's reach left out (a name with
    a public and a private address connects to the public one)."""

    def __init__(self, guard: AddressGuard):
        self.guard = guard
        self._inner = aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [answer for answer in answers if self.guard.permits(answer["host"], port)]
        if answers and not allowed:
            raise self.guard.refusal(host, answers[0]["host"])
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def url_space(url: str) -> AddressSpace:
    """The least private space the host of ``url`` resolves to."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM)
    except OSError:
        return AddressSpace.PUBLIC  # unknown: the most restrictive answer
    return min((address_space(info[4][0]) for info in infos), default=AddressSpace.PUBLIC)


def refused(error: BaseException, url: str) -> AccessDeniedError | None:
    """The refusal behind a failed connection to ``url`` (raised directly, or wrapped by
    aiohttp), restated with the URL; None for any other failure."""
    cause = getattr(error, "os_error", None) if isinstance(error, aiohttp.ClientConnectorError) else error
    if isinstance(cause, AccessDeniedError):
        return AccessDeniedError(f"not reading {url}: {cause}")
    return None
