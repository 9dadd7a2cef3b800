"""Names as browsers write them in HTTP: the host of a Host header, the origin of a page;
how long a browser has to send its request, and how many connections one address may hold.

The web servers a browser reaches (the console, the displays) check both names against what
they expect, and bound what clients can hold open (`REQUEST_TIMEOUT_S`,
`hold_per_address`). This module imports no web server, not even aiohttp: a display does
not import the console, nor the terminal console aiohttp.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the terminal console reads names here without loading aiohttp
    from aiohttp import web

DEFAULT_PORTS = {"http": 80, "https": 443}
REQUEST_TIMEOUT_S = 10.0
"""A connection that has not sent a whole request this long after it opened (or after its
last answer) is closed: a client trickling its headers, or saying nothing, holds a
connection of the console or a display no longer. An open websocket is not affected."""
CONNECTIONS_PER_ADDRESS = 32
"""Connections one address may hold open on the console's or a display's server at once (an
IPv6 address counts with its /64, which one machine can spread over); one more is closed as
it opens. A browser opens at most six to one server; a client opening hundreds (each held up
to `REQUEST_TIMEOUT_S` without a request) would use up the server's file descriptors."""
CONNECTIONS_IN_ALL = 256
"""Connections the server holds open at once, from all addresses together: many addresses
(a LAN's worth, or one machine's /64s) at their cap would still use up the process's file
descriptors (1,024 by default), and with them its broker connection and its files. One
more is closed as it opens; connections already open (a display's page) stay."""


def host_name(host: str) -> str | None:
    """The name or address in an HTTP Host header (`name[:port]`, `[v6][:port]`), in lower
    case; None when it names none (`[::1`, `[zz]`)."""
    try:
        return urlsplit(f"//{host}").hostname
    except ValueError:
        return None


def browser_origin(url: str) -> str:
    """The origin of `url` as a browser writes it (its Origin header): scheme and name in
    lower case, no port when it is the scheme's own. ValueError when the port is no number
    or the brackets hold no IPv6 address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is None or port == DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def hold_per_address(runner: web.AppRunner) -> None:
    """Make the server of `runner` (set up, its sites not started yet) close a connection as
    it opens when its address already holds `CONNECTIONS_PER_ADDRESS` open, or the server
    `CONNECTIONS_IN_ALL`.

    Wraps the server's own `connection_made` and `connection_lost` (aiohttp calls them for
    every connection its request handler takes, before reading a byte of it).
    """
    server = runner.server
    if server is None:
        raise RuntimeError("the runner is not set up")
    open_from: Counter[str] = Counter()
    address_of: dict[object, str] = {}
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: Any, transport: Any) -> None:
        address = address_key(transport.get_extra_info("peername"))
        if open_from[address] >= CONNECTIONS_PER_ADDRESS or len(address_of) >= CONNECTIONS_IN_ALL:
            transport.abort()
            return
        open_from[address] += 1
        address_of[handler] = address
        made(handler, transport)

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        address = address_of.pop(handler, None)
        if address is not None:
            open_from[address] -= 1
            if open_from[address] <= 0:
                del open_from[address]
        lost(handler, exc)

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


def address_key(peer: object) -> str:
    """What a connection's peer (`getpeername`) counts as: its IPv4 address (an IPv4-mapped
    IPv6 one as IPv4), its IPv6 /64, or "" for a peer with no IP address."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return ""
    try:
        address = ipaddress.ip_address(peer[0].partition("%")[0])
    except ValueError:
        return peer[0]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
