"""Who may open the browser console: sign-in, sign-out, the Origin check, the cap and TLS.

The server is the real `ConsoleServer` on a loopback port, reached with aiohttp's client.
Behind each websocket runs a stand-in for the console process (it waits for its first input
and exits), because what is tested here is the server's door, not the console; the real
console in a browser is tested in test_console_web.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from rich.logging import RichHandler
from textual_serve.app_service import AppService

from controller.console import web as web_console
from controller.console.web import MAX_COLUMNS, MAX_ROWS, SESSION_COOKIE, ConsoleServer
from controller.console.web_options import WebOptions
from controller.facility.certificates import certificate_authority, server_certificate
from controller.webrequests import BAD_REQUEST_LOG_GAP_S, BadRequestsInOneLine
from tests.support.mosquitto import free_port
from tests.support.room import sessionroom

PASSWORD = "correct horse battery staple"
STAND_IN = shlex.join([sys.executable, "-c", "import sys; sys.stdin.buffer.read(1)"])


class HeldBackServer(ConsoleServer):
    """A console server whose pause after a wrong password lasts until the test ends it."""

    def __init__(self, command: str, options: WebOptions) -> None:
        super().__init__(command, options)
        self.pause_over = asyncio.Event()

    async def after_wrong_password(self) -> None:
        await self.pause_over.wait()


@asynccontextmanager
async def serving(options: WebOptions, server: ConsoleServer | None = None) -> AsyncIterator[str]:
    """The console server on `options`' loopback port; yields its http(s) base URL."""
    server = server or ConsoleServer(STAND_IN, options)
    runner = await server.runner()
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, ssl_context=options.tls)
    await site.start()
    try:
        yield f"{'https' if options.tls else 'http'}://{options.host}:{options.port}"
    finally:
        await runner.cleanup()


def browser(
    trust: ssl.SSLContext | None = None, source: str | None = None
) -> aiohttp.ClientSession:
    """A client that keeps cookies for IP addresses too (as a browser does), connecting from
    the loopback address `source` when given."""
    local = None if source is None else (source, 0)
    connector = aiohttp.TCPConnector(ssl=trust if trust is not None else True, local_addr=local)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector)


def behind_a_proxy(base: str) -> aiohttp.ClientSession:
    """A browser whose https page reaches the console at `base` through a proxy that
    terminates TLS: it sends the console's Secure cookie there."""
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
    return aiohttp.ClientSession(cookie_jar=jar)


def options(**changes: object) -> WebOptions:
    return WebOptions(**{"host": "127.0.0.1", "port": free_port(), "password": PASSWORD,
                         **changes})  # type: ignore[arg-type]  # fmt: skip


async def sign_in(
    client: aiohttp.ClientSession, base: str, password: str, origin: str | None = None
) -> aiohttp.ClientResponse:
    """Sign in from the page at `origin` (by default the console's own)."""
    return await client.post(
        f"{base}/signin",
        data={"password": password},
        headers={"Origin": origin or base},
        allow_redirects=False,
    )


async def test_the_console_page_asks_to_sign_in_first() -> None:
    async with serving(options()) as base, browser() as client:
        page = await client.get(f"{base}/", allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (303, "/signin")
        socket = await client.get(f"{base}/ws", headers={"Origin": base})
        assert socket.status == 401


async def test_a_wrong_password_is_refused_without_a_session() -> None:
    async with serving(options()) as base, browser() as client:
        answer = await sign_in(client, base, "guess")
        assert answer.status == 401
        assert "Wrong password." in await answer.text()
        assert SESSION_COOKIE not in answer.cookies
        assert (await client.get(f"{base}/", allow_redirects=False)).status == 303


async def test_guesses_sent_side_by_side_are_checked_one_at_a_time() -> None:
    """A guess sent while a wrong one still pauses is not even checked before the pause ends:
    a brute force cannot go faster by sending its guesses side by side."""
    settings = options()
    server = HeldBackServer(STAND_IN, settings)
    async with serving(settings, server) as base, browser() as client:
        wrong = asyncio.create_task(sign_in(client, base, "guess"))
        deadline = asyncio.get_running_loop().time() + 5
        while server._waiting_sign_ins == 0:
            assert asyncio.get_running_loop().time() < deadline, "the wrong guess never came"
            await asyncio.sleep(0.01)
        right = asyncio.create_task(sign_in(client, base, PASSWORD))
        await asyncio.sleep(0.3)  # long enough for an unchecked answer to come back
        assert not right.done(), "a sign-in was checked during another's pause"
        server.pause_over.set()
        assert (await wrong).status == 401
        assert (await right).status == 303


async def raw_status(port: int, path: str) -> bytes:
    """The status line of a websocket upgrade to `path`, sent as written (no client tidies
    it first), from the console's own origin but without a session."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return status


@pytest.mark.parametrize(
    "path",
    [
        "/static/../ws",
        "/static/%2e%2e/ws",
        "/static/..%2fws",
        "/signin/../ws",
        "/sign-out/../ws",
        "//ws",
    ],
)
async def test_no_path_through_the_open_pages_reaches_the_console(path: str) -> None:
    settings = options()
    async with serving(settings):
        status = await raw_status(settings.port, path)
        assert status.split()[1] in (b"401", b"404"), status


async def test_the_consoles_process_gets_no_password(tmp_path: Path) -> None:
    """What a browser's console process runs with (its command line and environment, which
    /proc/<pid>/cmdline and environ show) carries no sign-in password."""
    seen = tmp_path / "seen"
    dump = (
        "import os, sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes("
        "open('/proc/self/cmdline','rb').read() + b'\\n' + open('/proc/self/environ','rb').read()"
        "); sys.stdin.buffer.read(1)"
    )
    settings = options()
    server = ConsoleServer(shlex.join([sys.executable, "-c", dump, str(seen)]), settings)
    async with serving(settings, server) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        async with client.ws_connect(f"{base}/ws", origin=base):
            deadline = asyncio.get_running_loop().time() + 5
            while not seen.exists() or b"\n" not in seen.read_bytes():
                assert asyncio.get_running_loop().time() < deadline, "the console never ran"
                await asyncio.sleep(0.02)
    ran = seen.read_bytes()
    assert str(seen).encode() in ran  # it is the process's own command line
    assert PASSWORD.encode() not in ran


async def waiting_sign_ins(server: ConsoleServer, count: int) -> None:
    """Until `count` sign-ins wait for their turn."""
    deadline = asyncio.get_running_loop().time() + 5
    while server._waiting_sign_ins < count:
        assert asyncio.get_running_loop().time() < deadline, "the guesses never came"
        await asyncio.sleep(0.01)


async def test_too_many_waiting_sign_ins_are_turned_away() -> None:
    settings = options()
    server = HeldBackServer(STAND_IN, settings)
    per_address = web_console.MAX_WAITING_SIGN_INS_PER_ADDRESS
    sources = [f"127.0.1.{n}" for n in range(web_console.MAX_WAITING_SIGN_INS // per_address)]
    async with serving(settings, server) as base, contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(browser(source=s)) for s in sources]
        waiting = [
            asyncio.create_task(sign_in(client, base, "guess"))
            for client in clients
            for _ in range(per_address)
        ]
        await waiting_sign_ins(server, web_console.MAX_WAITING_SIGN_INS)
        async with browser(source="127.0.0.2") as other:
            assert (await asyncio.wait_for(sign_in(other, base, PASSWORD), 5)).status == 429
        server.pause_over.set()
        assert {answer.status for answer in await asyncio.gather(*waiting)} == {401}


async def test_one_address_guessing_side_by_side_does_not_turn_another_away() -> None:
    """Wrong sign-ins kept waiting from one address kept every other one at 429."""
    settings = options()
    server = HeldBackServer(STAND_IN, settings)
    per_address = web_console.MAX_WAITING_SIGN_INS_PER_ADDRESS
    async with (
        serving(settings, server) as base,
        browser(source="127.0.0.1") as guesser,
        browser(source="127.0.0.2") as tablet,
    ):
        waiting = [asyncio.create_task(sign_in(guesser, base, "guess")) for _ in range(per_address)]
        await waiting_sign_ins(server, per_address)
        assert (await asyncio.wait_for(sign_in(guesser, base, "guess"), 5)).status == 429
        right = asyncio.create_task(sign_in(tablet, base, PASSWORD))
        await waiting_sign_ins(server, per_address + 1)
        server.pause_over.set()
        assert (await right).status == 303
        assert {answer.status for answer in await asyncio.gather(*waiting)} == {401}


async def test_signing_in_opens_the_page_that_connects_back_to_the_address_used() -> None:
    async with serving(options()) as base, browser() as client:
        answer = await sign_in(client, base, PASSWORD)
        assert answer.status == 303
        cookie = answer.cookies[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        page = await client.get(f"{base}/")
        assert page.status == 200
        text = await page.text()
        websocket = base.replace("http:", "ws:") + "/ws"
        assert f'data-session-websocket-url="{websocket}"' in text
        assert PASSWORD not in text


async def test_the_websocket_opens_only_from_the_consoles_own_page() -> None:
    async with serving(options()) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        for origin in ("http://evil.example", "null", base.replace("127.0.0.1", "localhost")):
            refused = await client.get(f"{base}/ws", headers={"Origin": origin})
            assert refused.status == 403, origin
        assert (await client.get(f"{base}/ws")).status == 403  # no Origin at all
        async with client.ws_connect(f"{base}/ws", origin=base) as socket:
            assert not socket.closed


async def test_a_sign_in_from_another_sites_page_is_refused() -> None:
    async with serving(options()) as base, browser() as client:
        answer = await client.post(
            f"{base}/signin",
            data={"password": PASSWORD},
            headers={"Origin": "http://evil.example"},
            allow_redirects=False,
        )
        assert answer.status == 403
        assert SESSION_COOKIE not in answer.cookies


async def test_no_more_consoles_than_the_cap_are_open_at_once() -> None:
    async with serving(options(max_consoles=1)) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        async with client.ws_connect(f"{base}/ws", origin=base):
            second = await client.get(f"{base}/ws", headers={"Origin": base})
            assert second.status == 503
            assert "1 consoles are open already" in await second.text()
        # The first console's process is stopped after its page went; then a place is free.
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            try:
                again = await client.ws_connect(f"{base}/ws", origin=base)
                break
            except aiohttp.WSServerHandshakeError as refused:
                assert refused.status == 503
                assert asyncio.get_running_loop().time() < deadline, "no place came free"
                await asyncio.sleep(0.05)
        assert not again.closed
        await again.close()


async def test_a_public_url_is_where_the_page_connects_and_the_only_origin() -> None:
    public = "https://room-a.clinic.example:9443"
    async with serving(options(public_url=public)) as base, behind_a_proxy(base) as client:
        assert (await sign_in(client, base, PASSWORD, origin=public)).status == 303
        text = await (await client.get(f"{base}/")).text()
        assert 'data-session-websocket-url="wss://room-a.clinic.example:9443/ws"' in text
        assert (await client.get(f"{base}/ws", headers={"Origin": base})).status == 403


async def test_without_a_password_a_loopback_console_opens_at_once() -> None:
    async with serving(options(password=None)) as base, browser() as client:
        assert (await client.get(f"{base}/", allow_redirects=False)).status == 200


REBOUND = ["rebind.example", "127.0.0.1.rebind.example", "localhost.example"]


@pytest.mark.parametrize("host", REBOUND)
async def test_without_a_password_a_page_of_another_name_is_refused(host: str) -> None:
    """DNS rebinding: another site's name resolved to 127.0.0.1 reaches the port, but its
    requests name that site as their Host (and as the websocket's Origin)."""
    async with serving(options(password=None)) as base, browser() as client:
        port = base.rsplit(":", 1)[1]
        named = {"Host": f"{host}:{port}"}
        assert (await client.get(f"{base}/", headers=named)).status == 403
        origin = {**named, "Origin": f"http://{host}:{port}"}
        assert (await client.get(f"{base}/ws", headers=origin)).status == 403
        for loopback in ("localhost", "127.0.0.2", "[::1]"):
            page = await client.get(f"{base}/", headers={"Host": f"{loopback}:{port}"})
            assert page.status == 200, loopback


async def test_the_console_is_served_over_tls_with_the_facilitys_certificate(
    tmp_path: Path,
) -> None:
    ca, key = certificate_authority(tmp_path / "ca.pem", tmp_path / "ca.key", "Test")
    server_certificate(ca, key, ["127.0.0.1"], tmp_path / "web.pem", tmp_path / "web.key")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "web.pem", tmp_path / "web.key")
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    async with (
        serving(options(tls=tls)) as base,
        browser(trust) as client,
    ):
        answer = await sign_in(client, base, PASSWORD)
        assert answer.status == 303
        assert answer.cookies[SESSION_COOKIE]["secure"]
        text = await (await client.get(f"{base}/")).text()
        assert re.search(r'data-session-websocket-url="wss://127\.0\.0\.1:\d+/ws"', text)
        assert (await sign_out(client, base)).cookies[SESSION_COOKIE]["secure"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7"])
def test_a_console_beyond_loopback_needs_a_password_file(host: str) -> None:
    result = sessionroom("console", "--web", "--host", host, "--broker", "mqtt://127.0.0.1:1")
    assert result.returncode == 2
    assert "give --password-file" in result.stderr


@pytest.mark.parametrize(
    ("public", "origin"),
    [
        ("https://room-a.clinic.example:443", "https://room-a.clinic.example"),
        ("http://room-a.clinic.example:80/", "http://room-a.clinic.example"),
        ("HTTPS://Room-A.Clinic.Example:9443", "https://room-a.clinic.example:9443"),
    ],
)
async def test_a_public_url_is_matched_as_browsers_write_their_origin(
    public: str, origin: str
) -> None:
    """A browser leaves out the scheme's own port and writes the name in lower case."""
    async with serving(options(public_url=public)) as base, behind_a_proxy(base) as client:
        assert (await sign_in(client, base, PASSWORD, origin=origin)).status == 303
        assert (await client.get(f"{base}/ws", headers={"Origin": public})).status == 403


@pytest.mark.parametrize("url", ["http://room-a.clinic.example:port", "https://:8765", "ftp://a"])
def test_a_public_url_that_is_not_one_is_named(url: str) -> None:
    result = sessionroom("console", "--web", "--public-url", url, "--broker", "mqtt://127.0.0.1:1")
    assert result.returncode == 2
    assert "is not http(s)://HOST[:PORT]" in result.stderr


RECORDER = """
import json, os, pathlib, sys
seen = pathlib.Path(sys.argv[1])
seen.write_text(json.dumps([os.environ["COLUMNS"], os.environ["ROWS"]]) + "\\n")
sys.stdout.write("__GANGLION__\\n"); sys.stdout.flush()
while (head := sys.stdin.buffer.read(5)) and len(head) == 5:
    packet = sys.stdin.buffer.read(int.from_bytes(head[1:], "big"))
    message = json.loads(packet) if head[:1] == b"M" else {"type": "keys", "text": packet.decode()}
    with seen.open("a") as out:
        out.write(json.dumps(message) + "\\n")
    if message["type"] == "quit":
        break
"""
"""A console process's stand-in that writes down the screen size it starts with and every
message the server sends it (keys, resize, quit)."""


async def recorded(seen: Path, done: str) -> list[Any]:
    """What the stand-in wrote down, once it has a line holding `done`."""
    deadline = asyncio.get_running_loop().time() + 5
    while not seen.exists() or done not in seen.read_text():
        assert asyncio.get_running_loop().time() < deadline, f"{done} never reached it"
        await asyncio.sleep(0.02)
    return [json.loads(line) for line in seen.read_text().splitlines()]


async def test_a_page_cannot_give_its_console_a_screen_of_any_size(tmp_path: Path) -> None:
    """The size the page asks for (on connecting and on each resize) is what the console
    process lays its screen out in: a billion columns would take the room PC's memory."""
    seen = tmp_path / "seen"
    settings = options()
    server = ConsoleServer(shlex.join([sys.executable, "-c", RECORDER, str(seen)]), settings)
    async with serving(settings, server) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        socket = f"{base}/ws?width=1000000000&height=-3"
        async with client.ws_connect(socket, origin=base) as page:
            for width, height in ((10**9, 10**9), ("wide", 40), (0, 0), (120, 40)):
                await page.send_json(["resize", {"width": width, "height": height}])
            started, *packets = await recorded(seen, '"width": 120')
    assert started == [str(MAX_COLUMNS), "1"]
    sizes = [(p["width"], p["height"]) for p in packets if p["type"] == "resize"]
    assert sizes == [(MAX_COLUMNS, MAX_ROWS), (1, 1), (120, 40)]


async def test_what_a_page_sends_that_is_no_console_message_is_passed_over(
    tmp_path: Path,
) -> None:
    """A message that is not the page's (not JSON, nested past Python's limit, keys that are
    not text or hold a lone surrogate, which cannot reach the console as UTF-8) is passed
    over, and the console goes on."""
    seen = tmp_path / "seen"
    settings = options()
    server = ConsoleServer(shlex.join([sys.executable, "-c", RECORDER, str(seen)]), settings)
    async with serving(settings, server) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        async with client.ws_connect(f"{base}/ws", origin=base) as page:
            for hostile in ("not json", "[" * 100_000, "[]", '{"stdin": 1}', '["stdin", 5]',
                            '["resize"]', '["stdin", "a\\ud800b"]', '["stdin", "q"]'):  # fmt: skip
                await page.send_str(hostile)
            await page.send_json(["ping", "still there"])
            assert await asyncio.wait_for(page.receive_json(), 5) == ["pong", "still there"]
            _, *packets = await recorded(seen, '"q"')
    keys = [packet["text"] for packet in packets if packet["type"] == "keys"]
    assert keys == ["q"]


@pytest.mark.parametrize("host", ["127.0.0.1:http", "[::1", "[zz]:80"])
@pytest.mark.parametrize("password", [PASSWORD, None])
async def test_a_host_that_names_no_host_is_refused_not_a_fault(
    host: str, password: str | None
) -> None:
    async with serving(options(password=password)) as base, browser() as client:
        named = {"Host": host, "Origin": f"http://{host}"}
        answer = await client.post(f"{base}/signin", data={"password": PASSWORD}, headers=named)
        assert answer.status == 403
        assert (await client.get(f"{base}/ws", headers=named)).status in (401, 403)
        assert (await client.get(f"{base}/", allow_redirects=False)).status in (200, 303)


async def sign_out(
    client: aiohttp.ClientSession, base: str, origin: str | None = None
) -> aiohttp.ClientResponse:
    """Press the page's Sign out (a form posted from `origin`, by default the console's own)."""
    headers = {"Origin": origin or base}
    return await client.post(f"{base}/sign-out", headers=headers, allow_redirects=False)


async def test_signing_out_ends_the_session_and_clears_its_cookie() -> None:
    """After a sign-out a kept copy of the cookie opens neither the page nor a console."""
    async with serving(options()) as base, browser() as client:
        token = (await sign_in(client, base, PASSWORD)).cookies[SESSION_COOKIE].value
        answer = await sign_out(client, base)
        assert (answer.status, answer.headers["Location"]) == (303, "/signin")
        cleared = answer.cookies[SESSION_COOKIE]
        assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/")
        assert cleared["httponly"] and cleared["samesite"] == "Strict"
        assert not cleared["secure"]  # over plain HTTP; over TLS it is (the TLS test)
        assert (await client.get(f"{base}/", allow_redirects=False)).status == 303
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as replay:
            page = await replay.get(f"{base}/", allow_redirects=False)
            assert (page.status, page.headers["Location"]) == (303, "/signin")
            assert (await replay.get(f"{base}/ws", headers={"Origin": base})).status == 401
            assert (await sign_in(replay, base, PASSWORD)).status == 303  # a new sign-in opens


async def closed_for(socket: aiohttp.ClientWebSocketResponse) -> str:
    """Why the server closed the page's websocket (its close message), within 5 s."""
    message = await asyncio.wait_for(socket.receive(), 5)
    assert message.type == aiohttp.WSMsgType.CLOSE, message
    return str(message.extra)


async def test_signing_out_closes_the_sessions_consoles_and_no_others() -> None:
    async with (
        serving(options()) as base,
        browser() as tablet,
        browser() as other,
    ):
        await sign_in(tablet, base, PASSWORD)
        await sign_in(other, base, PASSWORD)
        async with (
            tablet.ws_connect(f"{base}/ws", origin=base) as first,
            tablet.ws_connect(f"{base}/ws", origin=base) as second,
            other.ws_connect(f"{base}/ws", origin=base) as others,
        ):
            assert (await sign_out(tablet, base)).status == 303
            assert await closed_for(first) == await closed_for(second) == "signed out"
            await others.send_json(["ping", "still there"])
            assert await asyncio.wait_for(others.receive_json(), 5) == ["pong", "still there"]


class HeldConsoleServer(ConsoleServer):
    """A console server whose consoles, once started, wait for the test before reading their
    page (the moment between a console's start and its first message)."""

    def __init__(self, command: str, options: WebOptions) -> None:
        super().__init__(command, options)
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()

    async def _process_messages(
        self, websocket: web.WebSocketResponse, app_service: AppService
    ) -> None:
        self.started.set()
        await self.go_on.wait()
        await super()._process_messages(websocket, app_service)


async def test_a_console_starting_as_its_session_signs_out_is_closed() -> None:
    settings = options()
    server = HeldConsoleServer(STAND_IN, settings)
    async with serving(settings, server) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        async with client.ws_connect(f"{base}/ws", origin=base) as socket:
            await asyncio.wait_for(server.started.wait(), 5)
            assert (await sign_out(client, base)).status == 303
            server.go_on.set()
            assert await closed_for(socket) == "signed out"


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:1", "http://localhost:{port}"]
)
async def test_a_sign_out_from_another_sites_page_is_refused(origin: str) -> None:
    """Another site's form (or another port of this host's, which gets the SameSite cookie)
    cannot sign a tablet out: the session and its console go on."""
    async with serving(options()) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        async with client.ws_connect(f"{base}/ws", origin=base) as socket:
            port = base.rsplit(":", 1)[1]
            answer = await sign_out(client, base, origin=origin.format(port=port))
            assert answer.status == 403
            assert SESSION_COOKIE not in answer.cookies
            no_origin = await client.post(f"{base}/sign-out", allow_redirects=False)
            assert no_origin.status == 403
            assert (await client.get(f"{base}/", allow_redirects=False)).status == 200
            await socket.send_json(["ping", "still there"])
            assert await asyncio.wait_for(socket.receive_json(), 5) == ["pong", "still there"]


async def test_opening_the_sign_out_address_does_not_sign_out() -> None:
    """A link or a typed address (a GET) is answered 405, and the session goes on."""
    async with serving(options()) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        answer = await client.get(f"{base}/sign-out", allow_redirects=False)
        assert answer.status == 405
        assert SESSION_COOKIE not in answer.cookies
        assert (await client.get(f"{base}/", allow_redirects=False)).status == 200


async def test_signing_out_of_a_session_that_ran_out_goes_back_to_the_sign_in() -> None:
    """A page left open past its session's end still signs out: its cookie is cleared."""
    async with serving(options()) as base, browser() as client:
        client.cookie_jar.update_cookies({SESSION_COOKIE: "not-a-session"})
        answer = await sign_out(client, base)
        assert (answer.status, answer.headers["Location"]) == (303, "/signin")
        assert answer.cookies[SESSION_COOKIE].value == ""


class Clock:
    """The console server's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_session_opens_the_console_until_its_time_runs_out() -> None:
    settings = options()
    server = ConsoleServer(STAND_IN, settings)
    server.clock = clock = Clock()
    async with serving(settings, server) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        clock.now += web_console.SESSION_TTL_S
        assert (await client.get(f"{base}/", allow_redirects=False)).status == 200
        clock.now += 1
        page = await client.get(f"{base}/", allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (303, "/signin")


async def test_sessions_whose_cookie_never_came_back_are_forgotten_at_the_next_sign_in() -> None:
    """A session was forgotten only when its cookie came back after its end: a tablet signed in
    every morning and never signed out left one a day in the server for as long as it ran."""
    settings = options()
    server = ConsoleServer(STAND_IN, settings)
    server.clock = clock = Clock()
    async with serving(settings, server) as base:
        for _ in range(3):
            async with browser() as tablet:
                await sign_in(tablet, base, PASSWORD)
            clock.now += 3_600
        assert len(server._sessions) == 3
        clock.now += web_console.SESSION_TTL_S - 2 * 3_600 + 1  # the first two ran out
        async with browser() as tablet:
            await sign_in(tablet, base, PASSWORD)
            assert (await tablet.get(f"{base}/", allow_redirects=False)).status == 200
        assert len(server._sessions) == 2


SIGN_OUT_BUTTON = '<form class="sign-out" method="post" action="/sign-out">'


async def test_the_page_has_a_sign_out_button_behind_a_password() -> None:
    async with serving(options()) as base, browser() as client:
        await sign_in(client, base, PASSWORD)
        page = await (await client.get(f"{base}/")).text()
        assert SIGN_OUT_BUTTON in page
        assert page.index(SIGN_OUT_BUTTON) < page.index("</body>")


async def test_without_a_password_there_is_no_sign_out() -> None:
    """A loopback console has no session to end: no button, and /sign-out is not found."""
    async with serving(options(password=None)) as base, browser() as client:
        page = await (await client.get(f"{base}/")).text()
        assert "data-session-websocket-url" in page
        assert "sign-out" not in page
        assert (await sign_out(client, base)).status == 404
        assert (await client.get(f"{base}/sign-out")).status == 404
        async with client.ws_connect(f"{base}/ws", origin=base) as socket:
            assert (await sign_out(client, base)).status == 404
            await socket.send_json(["ping", "still there"])
            assert await asyncio.wait_for(socket.receive_json(), 5) == ["pong", "still there"]


async def stalled_console(
    base: str, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A console's websocket opened with the session's cookie by a page that then reads
    nothing (another copy of the cookie, a stalled connection): it sends a ping whose pong,
    larger than what its small receive buffer takes, it never reads; nor a close."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {base}\r\nCookie: {SESSION_COOKIE}={token}\r\n"
        "\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    payload = json.dumps(["ping", "x" * 500_000]).encode()
    writer.write(b"\x81\xff" + len(payload).to_bytes(8, "big") + b"\0\0\0\0" + payload)
    await writer.drain()  # masked with 0000: the payload as it is
    return reader, writer


async def test_a_sign_out_is_answered_and_ends_a_console_whose_page_reads_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A console of the session whose page does not answer the close (it reads nothing) is
    cut off once the sign-out has waited `SIGN_OUT_CLOSE_S` for it. The sign-out waited 10 s
    for a page that did not answer, and for good for one the console's output waited on;
    that console went on."""
    monkeypatch.setattr(web_console, "SIGN_OUT_CLOSE_S", 0.2)
    async with serving(options()) as base, browser() as tablet:
        token = (await sign_in(tablet, base, PASSWORD)).cookies[SESSION_COOKIE].value
        reader, writer = await stalled_console(base, token)
        try:
            answer = await asyncio.wait_for(sign_out(tablet, base), 5)
            assert answer.status == 303
            async with asyncio.timeout(5):
                while await reader.read(1 << 20):
                    pass  # what the server sent before, then the end of the connection
        finally:
            writer.transport.abort()


FLOODER = """
import os, pathlib, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
out = sys.stdout.buffer
out.write(b"y" * int(sys.argv[2]) + b"__GANGLION__\\n")
packet = b"x" * 65536
while True:
    out.write(b"D" + len(packet).to_bytes(4, "big") + packet)
    out.flush()
"""
"""A stand-in for a console that draws without end and ignores both a quit and SIGTERM; it
writes down its process id, and starts with as many bytes before its first line's end as
its second argument says."""


def running(pid: int) -> bool:
    """Whether process `pid` is there (one that ended but was not reaped still is)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def started_pid(pid_file: Path) -> int:
    deadline = asyncio.get_running_loop().time() + 5
    while not pid_file.exists() or not pid_file.read_text():
        assert asyncio.get_running_loop().time() < deadline, "the console never ran"
        await asyncio.sleep(0.02)
    return int(pid_file.read_text())


@pytest.mark.parametrize("first_line", [0, 70_000], ids=["drawing", "a-first-line-too-long"])
async def test_the_console_of_a_page_that_vanished_unread_ends_and_holds_its_place_until_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_line: int
) -> None:
    """A page that read nothing and vanished left its console blocked writing to its output
    for good, outside the cap on consoles. Now it is asked to quit, then terminated, then
    killed (this one ignores the first two) and reaped; until then it counts in the cap.
    A first line too long for textual-serve's reader made its quit raise, and the console
    went on running."""
    monkeypatch.setattr(web_console, "CONSOLE_QUIT_S", 0.3)
    pid_file = tmp_path / "pid"
    settings = options(max_consoles=1)
    command = [sys.executable, "-c", FLOODER, str(pid_file), str(first_line)]
    server = ConsoleServer(shlex.join(command), settings)
    pids: list[int] = []
    try:
        async with serving(settings, server) as base, browser() as client:
            token = (await sign_in(client, base, PASSWORD)).cookies[SESSION_COOKIE].value
            _, writer = await stalled_console(base, token)
            pids.append(await started_pid(pid_file))
            pid_file.unlink()
            await asyncio.sleep(0.3)  # its output fills what the connection and pipe take
            writer.transport.abort()
            deadline = asyncio.get_running_loop().time() + 5
            while running(pids[0]):
                assert asyncio.get_running_loop().time() < deadline, "the console went on"
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await (await client.ws_connect(f"{base}/ws", origin=base)).close()
                assert refused.value.status == 503
                await asyncio.sleep(0.05)
            async with client.ws_connect(f"{base}/ws", origin=base) as again:
                pids.append(await started_pid(pid_file))
                assert not again.closed
            deadline = asyncio.get_running_loop().time() + 5
            while running(pids[1]):
                assert asyncio.get_running_loop().time() < deadline, "a closed console went on"
                await asyncio.sleep(0.05)
    finally:
        for pid in filter(running, pids):
            os.kill(pid, signal.SIGKILL)


async def status_line(port: int, request: bytes) -> bytes:
    """The status line of the answer to `request`, sent as written."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return status


def signin_post(port: int, content_type: str, body: bytes, headers: str = "") -> bytes:
    return (
        f"POST /signin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


WEIRD_ENCODING = (
    b'--x\r\nContent-Disposition: form-data; name="password"\r\n'
    b"Content-Transfer-Encoding: x-weird\r\n\r\npw\r\n--x--\r\n"
)


@pytest.mark.parametrize(
    ("content_type", "body", "headers"),
    [
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n", ""),
        ("application/x-www-form-urlencoded; charset=bogus", b"password=x", ""),
        ("multipart/form-data; boundary=x", WEIRD_ENCODING, ""),
        ("application/x-www-form-urlencoded", b"password=x", "Content-Encoding: gzip\r\n"),
    ],
    ids=["part-with-no-name", "unknown-charset", "unknown-transfer-encoding", "not-gzip"],
)
async def test_a_sign_in_form_that_cannot_be_read_is_answered_400_without_a_traceback(
    content_type: str, body: bytes, headers: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = options()
    async with serving(settings):
        request = signin_post(settings.port, content_type, body, headers)
        status = await status_line(settings.port, request)
    assert status.split()[1] == b"400", status
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


async def test_a_websocket_key_that_is_not_ascii_is_answered_400() -> None:
    settings = options(password=None)
    async with serving(settings):
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{settings.port}\r\n"
            f"Origin: http://127.0.0.1:{settings.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        ).encode() + b"Sec-WebSocket-Key: \xff\xff\r\n\r\n"
        status = await status_line(settings.port, request)
    assert status.split()[1] == b"400", status


async def test_malformed_requests_are_logged_in_one_line_at_most_once_a_second(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each was logged with a traceback and its locals (5 KB), which slowed the console's
    every answer while a few clients sent them; and each had a line of the access log."""
    caplog.set_level(logging.INFO)
    assert any(isinstance(f, BadRequestsInOneLine) for f in web_console.http_log.filters)
    clock = Clock()
    monkeypatch.setattr(web_console.http_log, "filters", [BadRequestsInOneLine(clock)])
    malformed = b"GET /\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    settings = options()
    async with serving(settings):
        for _ in range(5):
            assert (await status_line(settings.port, malformed)).split()[1] == b"400"
        clock.now += BAD_REQUEST_LOG_GAP_S
        assert (await status_line(settings.port, malformed)).split()[1] == b"400"
    logged = [r for r in caplog.records if r.name == web_console.http_log.name]
    assert [(r.levelname, r.exc_info, "\n" in r.getMessage()) for r in logged] == [
        ("WARNING", None, False)
    ] * 2
    assert logged[1].getMessage().endswith("; 4 more not logged")
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]


def test_a_fault_s_traceback_in_the_log_shows_no_locals(monkeypatch: pytest.MonkeyPatch) -> None:
    """textual-serve logs a fault with its locals: a fault while signing in would write the
    password given into the log."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    ConsoleServer(STAND_IN, options()).initialize_logging()
    handlers = [h for h in root.handlers if isinstance(h, RichHandler)]
    assert handlers and not any(h.tracebacks_show_locals for h in handlers)
