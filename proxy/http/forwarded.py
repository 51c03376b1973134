"""The client's address: the peer's, or the one a trusted reverse proxy reports (pure).

A peer outside ``server.trusted_proxies`` is the client, whatever it sends.
Behind a trusted peer, only the configured header is read: ``X-Forwarded-For``
(a comma-separated list of addresses) or ``Forwarded`` (RFC 7239: the ``for=``
parameter of each element; quotes, IPv6 brackets and ports are dropped). All
lines of that header count, in order, as one list; empty list elements are
skipped (RFC 9110 §5.6.1). Each proxy appends the address it saw, so the list
is read right to left:

- a trusted address is a proxy of ours: keep walking;
- the first untrusted address is the client (whatever lies left of it was
  written by the client and proves nothing);
- when every hop is trusted, the left-most one is the client;
- a hop that is not an address (garbage, ``for=unknown``, an obfuscated
  ``_id``, an element without ``for=``) stops the walk. Only a trusted proxy
  can have written it, so the client is that proxy: the last address read
  before it (the hop right of it, or the peer). Clients whose proxy does not
  name them therefore share that proxy's address, and rotating garbage cannot
  mint new addresses.

IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``) are reported as IPv4, so one
client has one spelling. A peer that is no IP address at all (a Unix socket) is
returned as it is; no peer is ``"unknown"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from multidict import MultiMapping

from proxy.http.names import FORWARDED

IPNetwork = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address

_PORT = re.compile(r"[0-9]{1,5}|_[A-Za-z0-9._-]+")  # RFC 7239 node-port, obfuscated included


def client_address(
    peer: str | None,
    headers: MultiMapping[str],
    trusted: Sequence[IPNetwork],
    header_name: str,
) -> str:
    """The client's address as text; see the module docstring for the rule."""
    if peer is None:
        return "unknown"
    current = parse_address(peer)
    if current is None:
        return peer
    if not _is_trusted(current, trusted):
        return str(current)
    lines = headers.getall(header_name, [])
    if not lines:
        return str(current)
    hops = _forwarded_for(lines) if header_name.lower() == FORWARDED.lower() else _xff(lines)
    for hop in reversed(hops):
        address = parse_node(hop)
        if address is None:
            break  # garbage: the proxy that wrote it (``current``) is all we know
        current = address
        if not _is_trusted(address, trusted):
            break
    return str(current)


def parse_address(text: str) -> IPAddress | None:
    """A bare IPv4 or IPv6 address (IPv4-mapped ones as IPv4), or None."""
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_node(text: str) -> IPAddress | None:
    """One hop: ``192.0.2.1``, ``192.0.2.1:8080``, ``2001:db8::1``, ``[2001:db8::1]:443``."""
    text = text.strip()
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest[0] == ":" and _PORT.fullmatch(rest[1:]))):
            return None
        address = parse_address(inside)
        return address if isinstance(address, IPv6Address) or ":" in inside else None
    if text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has at least two
        host, _, port = text.partition(":")
        address = parse_address(host)
        return address if isinstance(address, IPv4Address) and _PORT.fullmatch(port) else None
    return parse_address(text)


def _is_trusted(address: IPAddress, trusted: Iterable[IPNetwork]) -> bool:
    return any(address in network for network in trusted)


def _xff(lines: Iterable[str]) -> list[str]:
    return [hop for line in lines for hop in (h.strip() for h in line.split(",")) if hop]


def _forwarded_for(lines: Iterable[str]) -> list[str]:
    """The ``for=`` value of each element ("" when it has none, or more than one)."""
    hops = []
    for line in lines:
        for element in _split_quoted(line, ","):
            pairs = [p for p in _split_quoted(element, ";") if p.strip()]
            if not pairs:
                continue  # an empty list element
            values = []
            for pair in pairs:
                name, eq, value = pair.strip().partition("=")
                if name.strip().lower() == "for" and eq:
                    values.append(_unquote(value.strip()))
            hops.append(values[0] if len(values) == 1 else "")
    return hops


def _split_quoted(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside double quotes (backslash escapes inside)."""
    parts, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
