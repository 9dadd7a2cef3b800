"""The session cookie of a console reached over HTTPS only: behind a proxy that terminates
TLS (`--public-url https://…`), the browser's page is an https one, and its cookie must not
go out over plain HTTP to the same name (any port, e.g. a page an attacker on the network
makes the tablet open) where anyone on the way could read it and sign in as the tablet.

The server is the real `ConsoleServer` on a loopback port, reached with aiohttp's client
(which, like a browser, keeps a Secure cookie from plain-HTTP requests: the cookie is
handed over by the test, as the browser does to the proxy).
"""

from __future__ import annotations

import aiohttp

from controller.console.web import SESSION_COOKIE
from tests.console.test_console_web_access import PASSWORD, options, serving, sign_in, sign_out

PUBLIC = "https://room-a.clinic.example:9443"


async def test_behind_a_tls_proxy_the_session_cookie_is_secure() -> None:
    async with serving(options(public_url=PUBLIC)) as base, aiohttp.ClientSession() as client:
        answer = await sign_in(client, base, PASSWORD, origin=PUBLIC)
        assert answer.status == 303
        cookie = answer.cookies[SESSION_COOKIE]
        assert cookie["secure"], f"the session cookie goes out over plain HTTP too: {cookie}"
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie.value}) as page:
            left = await sign_out(page, base, origin=PUBLIC)
        assert left.cookies[SESSION_COOKIE]["secure"]
