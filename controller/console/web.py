"""The console in a browser (a tablet in the room): textual-serve runs one console per page.

`ConsoleServer` adds what a console reachable from a network needs to textual-serve's server:

* the page connects back to the address the browser used (its Host), or to `public_url`,
  so a console bound to 0.0.0.0 works from a tablet;
* a sign-in with a password read from a file (never in a URL): a session cookie (HttpOnly,
  SameSite=Strict, Secure over TLS or behind an https `public_url`) opens the console;
  sign-ins are checked one at a time and a wrong password holds the next check back a
  second (so guesses sent side by side are answered no faster than one by one), with at
  most `MAX_WAITING_SIGN_INS_PER_ADDRESS`
  waiting from one address and `MAX_WAITING_SIGN_INS` in all;
* a sign-out (the page's "Sign out" button, a POST to /sign-out from the console's own page:
  the Origin is checked as for a sign-in, so another site's page cannot sign a tablet out)
  ends the session in the server, so a kept copy of its cookie opens nothing, closes the
  consoles open under it (cutting off one whose page does not answer), clears the cookie
  and goes back to the sign-in page; a shared tablet is left to the next person signed
  out. Without a password there is no sign-out (/sign-out is not found);
* without a password (a console on loopback) only requests naming a loopback host are
  served, so a web page whose name is made to resolve to 127.0.0.1 (DNS rebinding) cannot
  open it;
* the websocket is refused unless its Origin is the page's own (another site's page cannot
  drive the room through a signed-in tablet);
* at most `max_consoles` consoles at once (one counts until its process has ended: a page
  that goes ends its console, `ConsoleProcess`), each at most `MAX_COLUMNS` × `MAX_ROWS` cells;
* at most `webnames.CONNECTIONS_PER_ADDRESS` connections from one address at once and
  `webnames.CONNECTIONS_IN_ALL` in all, each closed if it sends no whole request within
  `webnames.REQUEST_TIMEOUT_S`;
* HTTPS when given a certificate (e.g. the facility's).

Each console is a `sessionroom console` process that reads the room's broker login itself;
neither the page nor the console's command line carries a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import secrets
import shlex
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import WSMsgType, web
from aiohttp.web_protocol import RequestPayloadError
from rich.logging import RichHandler
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from controller import webnames
from controller.console.web_options import WebOptions, is_loopback
from controller.untrusted import UntrustedJsonError, read_json
from controller.webnames import browser_origin, host_name
from controller.webrequests import http_logger, open_websocket

SESSION_COOKIE = "sessionroom_console"
SESSION_TTL_S = 12 * 3600.0
"""A sign-in lasts a working day."""
FAILED_SIGN_IN_DELAY_S = 1.0
MAX_WAITING_SIGN_INS = 32
"""More sign-ins waiting for their turn, from all addresses, are answered 429 at once."""
MAX_WAITING_SIGN_INS_PER_ADDRESS = 4
"""More sign-ins waiting from one address (as `webnames.address_key` counts them) are
answered 429 at once: one address guessing side by side turned every other one away."""
MAX_COLUMNS = 1000
MAX_ROWS = 400
"""The largest console screen a page may ask for (a 4K screen in a small font is about
770 × 270): the console process lays out every cell, and a billion columns would take the
room PC's memory."""
MAX_PAGE_MESSAGE = 1024 * 1024
"""The longest message a page may send (keys typed or pasted, a resize) that is read."""
OPEN_PATHS = ("/signin", "/sign-out", "/static/")
"""Served without signing in (the sign-in page, the sign-out, which also clears the cookie of
a session that has run out, and the page's scripts and styles)."""
SIGNED_OUT = b"signed out"
"""Why a console's websocket is closed when its session signs out."""
SIGN_OUT_CLOSE_S = 5.0
"""How long a sign-out waits for its consoles' pages to answer the close; a page that has not
(one that reads nothing, its connection stalled) is then cut off."""
CONSOLE_QUIT_S = 2.0
"""How long a console whose page went has to quit, and then to end once terminated, before
it is terminated, or killed."""
PAGE_HEARTBEAT_S = 15.0
"""How often a console's page is pinged (textual-serve's): one that has not answered by half
that later is closed, and its console ended."""
SIGN_OUT_FORM = """<style>#terminal.textual-terminal{height:calc(100vh - 3rem)}
.sign-out{position:fixed;right:.5rem;bottom:.4rem;margin:0;z-index:30}
.sign-out button{margin:0;padding:.4rem 1rem;font:1rem sans-serif}</style>
<form class="sign-out" method="post" action="/sign-out">
<button type="submit">Sign out</button></form>
"""
"""The console page's sign-out button, in a strip below the console (which it does not cover),
shown above the page's own dialogs (a console that ended can still sign out)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("controller.console.web")
http_log = http_logger("controller.console.web.http")
"""Where the server logs what goes wrong with a request (a malformed one in one line)."""


@dataclass
class Session:
    """A browser's sign-in: when it runs out, and the consoles open under it (each with its
    connection)."""

    expires: float
    consoles: dict[web.WebSocketResponse, asyncio.Transport | None] = field(default_factory=dict)
    ended: bool = False

    async def end(self) -> None:
        """Sign out: close the session's consoles (one still starting is closed as it opens)."""
        self.ended = True
        consoles = list(self.consoles.items())  # each leaves them as it closes
        await asyncio.gather(*(signed_out(*console) for console in consoles))


async def signed_out(console: web.WebSocketResponse, connection: asyncio.Transport | None) -> None:
    """Close a console whose session signed out; the connection of a page that has not
    answered within `SIGN_OUT_CLOSE_S` (one that reads nothing) is cut off, where the close
    would wait for it for good."""
    try:
        await asyncio.wait_for(console.close(message=SIGNED_OUT), SIGN_OUT_CLOSE_S)
    except TimeoutError:
        if connection is not None:
            connection.abort()


SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
"""The session a request is served under (set by the guard)."""
SERVED: ContextVar[web.Request] = ContextVar("served")
"""The websocket's request of the console being served (its session, its connection), from
the request to its messages."""


def screen_size(width: int, height: int) -> tuple[int, int]:
    """The console screen's size for a page that asks for `width` × `height`."""
    return max(1, min(MAX_COLUMNS, width)), max(1, min(MAX_ROWS, height))


def console_command(arguments: Sequence[str]) -> str:
    """The shell command that runs one terminal console with these arguments."""
    return shlex.join([sys.executable, "-m", "controller.console", *arguments])


class ConsoleProcess(AppService):
    """textual-serve's console process, made sure to end when its page goes.

    textual-serve only asks the process to quit: one whose page vanished without reading
    (its output waiting in a full pipe) never reads that, and went on for good, holding its
    memory, outside the cap on consoles.
    """

    async def stop(self) -> None:
        """Ask the console to quit; one still running `CONSOLE_QUIT_S` later is terminated, and
        killed if it is still running as long again; it is reaped either way. What it writes
        meanwhile is read and passed over (a full pipe would keep it from quitting)."""
        process = self._process
        try:
            await asyncio.wait_for(super().stop(), CONSOLE_QUIT_S)
        except (TimeoutError, ConnectionError):  # the page's connection lost
            pass
        except Exception:  # textual-serve's reader failed (a line too long): end it all the same
            log.exception("the console's output could not be read; ending it")
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        draining = [asyncio.create_task(passed_over(s)) for s in (process.stdout, process.stderr)]
        try:
            for end in (process.terminate, process.kill):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), CONSOLE_QUIT_S)
                    return
                with contextlib.suppress(ProcessLookupError):
                    end()
            await process.wait()
        finally:
            for task in draining:
                task.cancel()


async def passed_over(stream: asyncio.StreamReader | None) -> None:
    """Read `stream` to its end, keeping nothing."""
    while stream is not None and await stream.read(1 << 16):
        pass


class ConsoleServer(Server):
    """textual-serve's server with sign-in, an Origin check, a console cap and TLS."""

    def __init__(self, command: str, options: WebOptions) -> None:
        # the shell becomes the console (`exec`): the process ended when its page goes is it
        super().__init__(
            f"exec {command}", host=options.host, port=options.port, title=options.title
        )
        self.options = options
        self.scheme = "https" if options.tls is not None else "http"
        self.public_url = browser_origin(
            options.public_url or f"{self.scheme}://{options.host}:{options.port}"
        )
        self._sessions: dict[str, Session] = {}
        self.clock: Callable[[], float] = time.monotonic
        """What a session's time is measured by."""
        self._loopback = Session(expires=float("inf"))
        """The one session of a console without a password (it never signs out)."""
        self._consoles = 0
        self._sign_in_lock = asyncio.Lock()
        self._waiting_sign_ins = 0
        self._waiting_from: Counter[str] = Counter()

    async def _make_app(self) -> web.Application:
        app: web.Application = await super()._make_app()
        app.middlewares.append(self._guard)
        app.router.add_get("/signin", self.handle_sign_in_page)
        app.router.add_post("/signin", self.handle_sign_in)
        if self.options.password is not None:
            app.router.add_post("/sign-out", self.handle_sign_out)
        return app

    def base_url(self, request: web.Request) -> str:
        """Where this browser reaches the console: `public_url`, or the address it used."""
        if self.options.public_url is not None:
            return self.public_url
        return f"{self.scheme}://{request.host}"

    def origin_allowed(self, request: web.Request) -> bool:
        """Whether the request comes from the console's own page (its Origin header)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        try:
            return origin == browser_origin(self.base_url(request))
        except ValueError:  # a Host with a port that is not a number
            return False

    def session(self, request: web.Request) -> Session | None:
        """The session the request's cookie names, while it lasts (without a password, the
        console's one session)."""
        if self.options.password is None:
            return self._loopback
        token = request.cookies.get(SESSION_COOKIE, "")
        session = self._sessions.get(token)
        if session is None or session.expires < self.clock():
            self._sessions.pop(token, None)
            return None
        return session

    def host_allowed(self, request: web.Request) -> bool:
        """Whether the request may be served: any Host behind a password, else a loopback one
        (a page of another site resolved to this machine names that site as its Host)."""
        if self.options.password is not None:
            return True
        host = host_name(request.host)
        return host is not None and is_loopback(host)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_allowed(request):
            raise web.HTTPForbidden(text="this console answers on a loopback address only")
        if request.path.startswith(OPEN_PATHS):
            return await handler(request)
        session = self.session(request)
        if session is not None:
            request[SESSION] = session
            return await handler(request)
        if request.path == "/":
            raise web.HTTPSeeOther("/signin")
        raise web.HTTPUnauthorized(text="sign in first")

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The console's page, pointing its websocket back at where the browser came from."""
        base = self.base_url(request)
        websocket = ("wss" if base.startswith("https:") else "ws") + base[base.index(":") :]
        context: dict[str, Any] = {
            "font_size": 16,
            "app_websocket_url": f"{websocket}/ws",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }
        page = aiohttp_jinja2.render_string("app_index.html", request, context)
        if self.options.password is not None:
            page = page.replace("</body>", SIGN_OUT_FORM + "</body>", 1)
        return web.Response(text=page, content_type="text/html")

    async def handle_sign_in_page(self, request: web.Request) -> web.StreamResponse:
        return self._sign_in_page()

    async def handle_sign_in(self, request: web.Request) -> web.StreamResponse:
        """Check the password in turn; a wrong one holds the next check back a second."""
        if not self.origin_allowed(request):
            raise web.HTTPForbidden(text="sign in from the console's own page")
        try:
            form = await request.post()
        except (ValueError, LookupError, RuntimeError, RequestPayloadError) as error:
            # a part with no name, an unknown charset or transfer encoding, a body that is
            # not the gzip it says
            log.debug("an unreadable sign-in form: %s", error)
            raise web.HTTPBadRequest(text="a sign-in form that cannot be read") from None
        given = form.get("password")
        password = self.options.password
        if password is None:
            raise web.HTTPSeeOther("/")
        transport = request.transport
        address = webnames.address_key(transport and transport.get_extra_info("peername"))
        if (
            self._waiting_sign_ins >= MAX_WAITING_SIGN_INS
            or self._waiting_from[address] >= MAX_WAITING_SIGN_INS_PER_ADDRESS
        ):
            raise web.HTTPTooManyRequests(text="too many sign-ins at once; try again shortly")
        self._waiting_sign_ins += 1
        self._waiting_from[address] += 1
        try:
            async with self._sign_in_lock:
                # a form may spell a lone surrogate (a charset such as UTF-7): no password
                if isinstance(given, str) and hmac.compare_digest(
                    given.encode("utf-8", "surrogatepass"), password.encode()
                ):
                    return self._signed_in()
                await self.after_wrong_password()
        finally:
            self._waiting_sign_ins -= 1
            self._waiting_from[address] -= 1
            if self._waiting_from[address] <= 0:
                del self._waiting_from[address]
        return self._sign_in_page("Wrong password.", status=401)

    async def after_wrong_password(self) -> None:
        """The pause after a wrong password, before the next sign-in is checked."""
        await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)

    def _signed_in(self) -> web.StreamResponse:
        """The answer to a right password: a new session's cookie, and on to the console."""
        now = self.clock()
        self._sessions = {  # whose cookie never comes back (consoles open under it stay open)
            token: session for token, session in self._sessions.items() if session.expires >= now
        }
        token = secrets.token_urlsafe(32)
        self._sessions[token] = Session(expires=now + SESSION_TTL_S)
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            SESSION_COOKIE, token, max_age=int(SESSION_TTL_S), **self._cookie_attributes()
        )
        return response

    async def handle_sign_out(self, request: web.Request) -> web.StreamResponse:
        """End the session the cookie names (its token opens nothing after, its consoles are
        closed), clear the cookie, and back to the sign-in page. Only the console's own page
        signs out (its Origin): another site's form cannot sign a tablet out behind a
        therapist's back (SameSite=Strict keeps the cookie from another site, but not from
        another port of the same host)."""
        if not self.origin_allowed(request):
            raise web.HTTPForbidden(text="sign out from the console's own page")
        session = self._sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        if session is not None:
            await session.end()
        response = web.Response(status=303, headers={"Location": "/signin"})
        response.del_cookie(SESSION_COOKIE, **self._cookie_attributes())
        return response

    def _cookie_attributes(self) -> dict[str, Any]:
        """The session cookie's attributes, the same when it is set and when it is cleared:
        Secure when the browser's page is an https one (served so, or behind a proxy that
        terminates TLS: an https `public_url`, the only Origin let in)."""
        return {
            "path": "/",
            "httponly": True,
            "samesite": "Strict",
            "secure": self.options.tls is not None or self.public_url.startswith("https:"),
        }

    def _sign_in_page(self, problem: str = "", status: int = 200) -> web.Response:
        message = f'<p class="problem">{html.escape(problem)}</p>' if problem else ""
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — {html.escape(self.title)}</title>
<style>body{{font-family:sans-serif;background:#1e1e2e;color:#eee;display:grid;
place-items:center;height:100vh;margin:0}}form{{display:grid;gap:.8em}}
input,button{{font-size:1.3em;padding:.4em}}.problem{{color:#f88}}</style></head>
<body><form method="post" action="/signin">
<h1>{html.escape(self.title)}</h1>{message}
<label>Password <input type="password" name="password" autofocus
autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>"""
        return web.Response(text=body, content_type="text/html", status=status)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Start a console for a signed-in page of this console's own origin, within the cap;
        the console's place is taken until its process has ended (`ConsoleProcess.stop`)."""
        if not self.origin_allowed(request):
            raise web.HTTPForbidden(text="the console's websocket opens only from its own page")
        if self._consoles >= self.options.max_consoles:
            raise web.HTTPServiceUnavailable(
                text=f"{self.options.max_consoles} consoles are open already"
            )
        width, height = screen_size(
            to_int(request.query.get("width", "80"), 80),
            to_int(request.query.get("height", "24"), 24),
        )
        self._consoles += 1
        served = SERVED.set(request)
        try:
            websocket = web.WebSocketResponse(heartbeat=PAGE_HEARTBEAT_S)
            await open_websocket(websocket, request)

            async def close() -> None:
                await websocket.close()

            console = ConsoleProcess(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            try:
                await console.start(width, height)
                await self._process_messages(websocket, console)
            finally:
                await console.stop()
            return websocket
        finally:
            SERVED.reset(served)
            self._consoles -= 1

    async def _process_messages(
        self, websocket: web.WebSocketResponse, app_service: AppService
    ) -> None:
        """textual-serve's loop over what the page sends, while the console's session lasts
        (its sign-out closes the websocket, which ends the loop and the console)."""
        request = SERVED.get()
        session = request[SESSION]
        if session.ended:  # signed out while the console started
            await signed_out(websocket, request.transport)
            return
        session.consoles[websocket] = request.transport
        try:
            await self._read_page(websocket, app_service)
        finally:
            session.consoles.pop(websocket, None)

    async def _read_page(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
        """What the page sends, read as untrusted (`read_json`): a message that is not one of
        the page's is passed over and logged (the console stays open), a resize is held to
        `screen_size`."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = read_json(message.data, max_bytes=MAX_PAGE_MESSAGE)
            except UntrustedJsonError:
                envelope = None
            if not isinstance(envelope, list) or not envelope:
                log.warning("a page sent a message that is not a console's; passed over")
                continue
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await app_service.send_bytes(data.encode())
            elif kind == "resize" and isinstance(data, dict):
                width, height = data.get("width"), data.get("height")
                if type(width) is int and type(height) is int:  # not a bool, not a float
                    await app_service.set_terminal_size(*screen_size(width, height))
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await app_service.blur()
            elif kind == "focus":
                await app_service.focus()

    async def on_startup(self, app: web.Application) -> None:
        where = self.options.public_url or f"{self.scheme}://{self.options.host}:{self.port}/"
        self.console.print(f"Sessionroom console on {where} (Ctrl+C to quit)")

    def initialize_logging(self) -> None:
        """textual-serve's logging, but a fault's traceback without its locals: a sign-in's
        would show the password it was given."""
        super().initialize_logging()
        for handler in logging.getLogger().handlers:
            if isinstance(handler, RichHandler):
                handler.tracebacks_show_locals = False

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl+C or SIGTERM."""
        self.debug = debug
        self.initialize_logging()
        with contextlib.suppress(KeyboardInterrupt, web.GracefulExit):
            asyncio.run(self._serve())

    async def runner(self, *, handle_signals: bool = False) -> web.AppRunner:
        """The server's runner (not set up): its request timeout, its faults to `http_log`, no
        line per request (a client sending malformed ones as fast as it can wrote 160 KB of
        them a second, as the display's server)."""
        return web.AppRunner(
            await self._make_app(),
            handle_signals=handle_signals,
            keepalive_timeout=webnames.REQUEST_TIMEOUT_S,
            access_log=None,
            logger=http_log,
        )

    async def _serve(self) -> None:
        """`web.run_app`, with the connection caps of `webnames.hold_per_address`; SIGTERM
        raises GracefulExit (the runner's signal handling)."""
        runner = await self.runner(handle_signals=True)
        await runner.setup()
        try:
            webnames.hold_per_address(runner)
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.options.tls).start()
            await asyncio.Event().wait()  # until a signal
        finally:
            await runner.cleanup()


def serve(arguments: Sequence[str], options: WebOptions) -> None:
    """Serve the console (a `sessionroom console` with `arguments` per page) until interrupted."""
    ConsoleServer(console_command(arguments), options).serve()
