"""The client address behind reverse proxies: one table, the ugly cases included."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from multidict import CIMultiDict

from proxy.http.forwarded import client_address, parse_node

TRUSTED = (ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48"))
XFF = "X-Forwarded-For"


def xff(peer: str | None, *lines: str, trusted=TRUSTED) -> str:
    return client_address(peer, CIMultiDict((XFF, line) for line in lines), trusted, XFF)


def fwd(peer: str | None, *lines: str) -> str:
    headers = CIMultiDict(("Forwarded", line) for line in lines)
    return client_address(peer, headers, TRUSTED, "Forwarded")


@pytest.mark.parametrize(
    ("peer", "lines", "client"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("203.0.113.9", [], "203.0.113.9"),
        ("::ffff:203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        # A trusted peer without the header is the client.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", [""], "10.0.0.2"),
        ("10.0.0.2", [" , ,"], "10.0.0.2"),
        # The right-most untrusted hop; whatever the client wrote left of it is ignored.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["1.1.1.1, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),
        ("10.0.0.2", ["garbage, 198.51.100.1"], "198.51.100.1"),
        # Several lines are one list, in order.
        ("10.0.0.2", ["1.1.1.1", "198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        ("10.0.0.2", ["198.51.100.1", "10.9.9.9"], "198.51.100.1"),
        # Every hop trusted: the left-most one.
        ("10.0.0.2", ["10.3.3.3, 10.4.4.4"], "10.3.3.3"),
        # Garbage right of the client stops the walk: the proxy that wrote it is the client.
        ("10.0.0.2", ["198.51.100.1, unknown"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, 999.1.1.1"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, junk, 10.5.5.5"], "10.5.5.5"),
        ("10.0.0.2", ["198.51.100.1\udcff"], "10.0.0.2"),
        # Spellings: ports, brackets, IPv6, IPv4-mapped.
        ("10.0.0.2", ["198.51.100.1:5555"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("10.0.0.2", ["[2001:db8::7]"], "2001:db8::7"),
        ("10.0.0.2", ["2001:DB8::7"], "2001:db8::7"),
        ("10.0.0.2", ["::ffff:198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["[::ffff:10.1.1.1], 10.2.2.2"], "10.1.1.1"),
        ("10.0.0.2", ["198.51.100.1:99999999"], "10.0.0.2"),
        ("10.0.0.2", ["[2001:db8::7]x"], "10.0.0.2"),
        ("10.0.0.2", ["[198.51.100.1]"], "10.0.0.2"),
        # A trusted IPv6 peer, IPv4-mapped peers trusted as IPv4.
        ("2001:db8:ffff::1", ["2001:db8::9"], "2001:db8::9"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # No peer, or a peer that is no IP address.
        (None, ["198.51.100.1"], "unknown"),
        ("/run/proxy.sock", ["198.51.100.1"], "/run/proxy.sock"),
    ],
)
def test_x_forwarded_for(peer: str | None, lines: list[str], client: str) -> None:
    assert xff(peer, *lines) == client


def test_nothing_is_trusted_by_default() -> None:
    assert xff("10.0.0.2", "198.51.100.1", trusted=()) == "10.0.0.2"
    assert xff("127.0.0.1", "198.51.100.1", trusted=()) == "127.0.0.1"


def test_only_the_configured_header_is_read() -> None:
    headers = CIMultiDict({"Forwarded": "for=198.51.100.7", XFF: "198.51.100.1"})
    assert client_address("10.0.0.2", headers, TRUSTED, XFF) == "198.51.100.1"
    assert client_address("10.0.0.2", headers, TRUSTED, "Forwarded") == "198.51.100.7"
    assert client_address("10.0.0.2", CIMultiDict({XFF: "1.2.3.4"}), TRUSTED, "Forwarded") == (
        "10.0.0.2"
    )


@pytest.mark.parametrize(
    ("lines", "client"),
    [
        (["for=198.51.100.1"], "198.51.100.1"),
        (["For=198.51.100.1;proto=https;by=10.0.0.2"], "198.51.100.1"),
        (['for="198.51.100.1:8080"'], "198.51.100.1"),
        (['for="[2001:db8:cafe::17]:4711"'], "2001:db8:cafe::17"),
        (['for="[2001:db8:cafe::17]"'], "2001:db8:cafe::17"),
        (['for="[2001:db8:cafe::17]:_port"'], "2001:db8:cafe::17"),
        (["for=1.1.1.1, for=198.51.100.1"], "198.51.100.1"),
        (["for=1.1.1.1", "for=198.51.100.1;proto=http"], "198.51.100.1"),
        (["for=198.51.100.1, for=10.7.7.7"], "198.51.100.1"),
        (["for=10.6.6.6, for=10.7.7.7"], "10.6.6.6"),
        # A comma inside quotes does not split elements.
        (['for=1.1.1.1;x="a,b", for=198.51.100.1'], "198.51.100.1"),
        (['for=198.51.100.1;x="a,b"'], "198.51.100.1"),
        # unknown, obfuscated ids, a missing or repeated for=: garbage, so the peer.
        (["for=198.51.100.1, for=unknown"], "10.0.0.2"),
        (["for=198.51.100.1, for=_hidden"], "10.0.0.2"),
        (["for=198.51.100.1, proto=https"], "10.0.0.2"),
        (["for=198.51.100.1, for=1.1.1.1;for=2.2.2.2"], "10.0.0.2"),
        (['for="[2001:db8::1'], "10.0.0.2"),
        (["for=198.51.100.1, for="], "10.0.0.2"),
        # Empty elements are skipped.
        (["for=198.51.100.1, , "], "198.51.100.1"),
        ([""], "10.0.0.2"),
    ],
)
def test_forwarded(lines: list[str], client: str) -> None:
    assert fwd("10.0.0.2", *lines) == client


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("[::1]:80", "::1"),
        ("::1", "::1"),
        ("192.0.2.1:", None),
        ("192.0.2.1:abc", None),
        ("[::1", None),
        ("[::1]:", None),
        ("", None),
        ("unknown", None),
        ("_obfuscated", None),
        ("1.2.3", None),
    ],
)
def test_parse_node(text: str, address: str | None) -> None:
    parsed = parse_node(text)
    assert (str(parsed) if parsed else None) == address
