"""The web servers' connection caps: what a connection's peer counts as, and the cap in all."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import web

from controller import webnames
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


async def _served(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from `source` that got an answer and is held open (keep-alive)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
    return reader, writer


async def test_the_server_holds_a_bounded_number_of_connections_from_all_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four here (two per address): a fifth is closed as it opens, from any address; once
    one is closed, a new one is served."""
    monkeypatch.setattr(webnames, "CONNECTIONS_PER_ADDRESS", 2)
    monkeypatch.setattr(webnames, "CONNECTIONS_IN_ALL", 4)
    app = web.Application()
    app.router.add_get("/", _ok)
    runner = web.AppRunner(app)
    await runner.setup()
    webnames.hold_per_address(runner)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        held = [await _served(port, source) for source in ("127.0.0.2", "127.0.0.3") * 2]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.4", 0)
        )
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at once
        writer.close()
        held.pop()[1].close()
        await asyncio.wait_for(_until_served(port, "127.0.0.4"), 5)
        for _, connection in held:
            connection.close()
    finally:
        await runner.cleanup()


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _until_served(port: int, source: str) -> None:
    """The server learns of a closed connection a moment after the client closed it."""
    while True:
        try:
            _, writer = await _served(port, source)
        except (AssertionError, ConnectionResetError):
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
