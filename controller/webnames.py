"""Names as browsers write them in HTTP: the host of a Host header, the origin of a page.

The web servers a browser reaches (the console, the displays) check both against what they
expect; this module has no dependencies, so a display does not import the console.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


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
