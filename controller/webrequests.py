"""What the web servers a browser reaches (the console, the displays) do with requests no
browser sends: a websocket handshake aiohttp cannot read is answered 400, not 500.
"""

from __future__ import annotations

from aiohttp import web


async def open_websocket(socket: web.WebSocketResponse, request: web.Request) -> None:
    """Prepare `socket` for `request`; a handshake aiohttp cannot read (a key that is not
    ASCII, which it raises ValueError for rather than its 400) is answered 400."""
    try:
        await socket.prepare(request)
    except ValueError:
        raise web.HTTPBadRequest(text="not a websocket handshake") from None
