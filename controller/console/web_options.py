"""How the browser console is served: its options and defaults, without the web server itself.

Kept apart from `controller.console.web` so that the terminal console starts without
importing aiohttp and textual-serve.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_CONSOLES = 4


@dataclass(frozen=True)
class WebOptions:
    """How the console is served."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    title: str = "Sessionroom console"
    public_url: str | None = None
    """Where browsers reach the console (e.g. https://room-a.clinic.lan:8765); by default the
    address each browser used."""
    password: str | None = None
    """The sign-in password; None serves without one (loopback only)."""
    max_consoles: int = DEFAULT_MAX_CONSOLES
    tls: ssl.SSLContext | None = None


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
