"""Names as browsers write them in HTTP: the host of a Host header, the origin of a page;
and how long a browser has to send its request.

The web servers a browser reaches (the console, the displays) check both against what they
expect; this module has no dependencies, so a display does not import the console.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
REQUEST_TIMEOUT_S = 10.0
"""A connection that has not sent a whole request this long after it opened (or after its
last answer) is closed: a client trickling its headers, or saying nothing, holds a
connection of the console or a display no longer. An open websocket is not affected."""


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
