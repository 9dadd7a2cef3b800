"""What a connection's peer counts as for the web servers' per-address connection cap."""

from __future__ import annotations

import pytest

from controller.webnames import address_key


@pytest.mark.parametrize(
    ("peer", "counted_as"),
    [
        (("127.0.0.2", 50000), "127.0.0.2"),
        (("::ffff:192.0.2.7", 50000, 0, 0), "192.0.2.7"),  # IPv4 through an IPv6 socket
        # one machine may take any address of its /64: all count as one
        (("2001:db8:1:2:aaaa::1", 50000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff:ffff:ffff:fffe", 50000, 0, 0), "2001:db8:1:2::/64"),
        (("fe80::1%eth0", 50000, 0, 2), "fe80::/64"),  # a link-local one with its zone
        ("/run/console.sock", ""),  # a Unix socket's peer: no address
        (None, ""),
        (("not an address", 1), "not an address"),
    ],
)
def test_a_peer_counts_as_its_ipv4_address_or_its_ipv6_slash_64(
    peer: object, counted_as: str
) -> None:
    assert address_key(peer) == counted_as
