"""One screen device of the room: the device on the broker, its page over HTTP and a WebSocket.

The process is the device as the engine sees it: it subscribes to `vr/<id>/set` or
`bls/<id>/set`, reports `…/state` (retained) and keeps `…/availability` retained with
`offline` as its MQTT will. It is `online` only while a page is connected: a screen
nobody has open, or whose browser lost its connection, is not a working device.

Commands are read by the same firmware model the simulated device runs
(`controller.sim.vr`, `controller.sim.bls`): it refuses what the device would refuse and
clamps what it would clamp. The page renders them and is the device's clock: it reports
the state (position, passes) and the process publishes it, at most `REPORT_GAP_S` apart
(the latest). When several pages are open, each shows the device and the one connected
longest reports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import re
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import aiomqtt
from aiohttp import web

from controller import webnames
from controller.api.topics import MAX_STATE_BYTES, RoomTopics
from controller.cancelling import cancel_and_wait
from controller.config import limits
from controller.config.content import (
    Breathing,
    ContentError,
    MediaFile,
    content_file,
    parse_content,
)
from controller.config.models import Device, DisplaySettings, page_url
from controller.config.settings import HEX_COLOUR, SafetyLimits
from controller.config.yamlsource import plain_file
from controller.sim.bls import BlsDevice
from controller.sim.device import BrokerAddress
from controller.sim.model import clamp, compact_json, is_number
from controller.sim.vr import VrHeadset
from controller.untrusted import UntrustedJsonError, read_json
from controller.webnames import host_name
from controller.webrequests import http_logger, open_websocket

RECONNECT_DELAY_S = 1.0
PUBLISH_TIMEOUT_S = 2.0
MAX_PAGE_MESSAGE = 64 * 1024
MAX_POSITION_S = 24 * 3600
MAX_PAGES = 8
"""Pages open at once on one display: enough for a screen and a few checks, not a flood."""
PAGE_BACKLOG = 64
"""Messages waiting for one page: a page this far behind does not keep up and is closed."""
PAGE_UNSENT_BYTES = 128 * 1024
"""Bytes written for one page that its browser has not taken yet: a page this far behind
(hundreds of commands) has stopped reading and is closed. aiohttp waits for a slow reader
only now and then, so its own flow control does not bound this."""
PAGE_SEND_TIMEOUT_S = 5.0
"""How long one message may take to leave for a page before the page is closed."""
STOP = {True: b'{"action":"stop"}', False: b'{"running":false}'}
"""A headset's (True) and a light bar's stop, as the engine sends them."""
HELD_COMMANDS = 16
"""Commands the emergency latch holds back, kept for when it clears (the latest)."""
LATCH_CLEAR_GRACE_S = 1.0
"""How old a held-back command may be and still be carried out when the latch clears: the
engine's state follows the commands of its clearing within a tick; a command from
elsewhere held for longer is not carried out late."""
REPORT_GAP_S = 0.1
"""The page's reports go to the broker at most this often: ten a second, well within the
engine's 50 a second from one device (`controller.engine.intake`), so a page that floods
them is not dropped there with its last report. One that comes sooner waits, and only the
latest waiting is published."""
SET_END_SLACK_S = 0.1
"""A page's report of a set's end this close to its length ends it on its own clock, as
every page does by itself; earlier, the set was cut short and the other pages stop too."""
VR_STATUSES = ("idle", "playing", "paused")
STATIC = resources.files("controller.display") / "static"
STATIC_FILES = frozenset(entry.name for entry in STATIC.iterdir() if entry.is_file())
"""The page's own files: `/static/<name>` serves these and nothing else."""
VENDOR_DIR = Path(__file__).resolve().parent / "vendor" / "node_modules"
"""Where the build (`make install`, npm) puts the page's libraries; absent without them."""
THREE_JS = VENDOR_DIR / "three" / "build" / "three.module.js"
"""three.js, which shows 360° video in WebXR; without it 360° video plays flat."""

log = logging.getLogger("controller.display")


http_log = http_logger("controller.display.http")
"""Where the server logs what goes wrong with a request (a malformed one in one line)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Page:
    """One open page and the messages on their way to it.

    Each page is sent to by its own task, so a page whose browser stops reading holds up
    only itself: it is closed when it falls `PAGE_BACKLOG` messages or `PAGE_UNSENT_BYTES`
    behind or one message takes longer than `PAGE_SEND_TIMEOUT_S`, and every other page
    gets a stop at once.
    """

    def __init__(self, socket: web.WebSocketResponse, transport: asyncio.Transport | None):
        self.socket = socket
        self.transport = transport
        self.outbox: asyncio.Queue[str] = asyncio.Queue(PAGE_BACKLOG)

    def post(self, text: str) -> bool:
        """Queue `text` for the page; False (and the page dropped) when it is too far behind."""
        unsent = 0 if self.transport is None else self.transport.get_write_buffer_size()
        try:
            if unsent > PAGE_UNSENT_BYTES:
                raise asyncio.QueueFull
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.drop()
            return False
        return True

    async def deliver(self) -> None:
        """Send what is queued, in order, until the page goes or does not keep up."""
        while True:
            text = await self.outbox.get()
            try:
                await asyncio.wait_for(self.socket.send_str(text), PAGE_SEND_TIMEOUT_S)
            except TimeoutError:
                log.warning(
                    "a page took over %g s to take a message; closing it", PAGE_SEND_TIMEOUT_S
                )
                self.drop()
                return
            except (ConnectionError, RuntimeError):
                return

    @property
    def gone(self) -> bool:
        """Whether the connection is closed or closing (the page leaves the list soon)."""
        return self.transport is None or self.transport.is_closing()

    def drop(self) -> None:
        """End the connection at once (no closing handshake a stalled page would not read)."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self) -> None:
        """Close the page politely, or drop it when it does not answer."""
        try:
            await asyncio.wait_for(self.socket.close(), PAGE_SEND_TIMEOUT_S)
        except TimeoutError:
            self.drop()


class DisplayServer:
    """The device `device` on `broker`, with its page served on the device's display port."""

    def __init__(
        self,
        device: Device,
        broker: BrokerAddress,
        *,
        room_id: str,
        content_dir: Path,
        host: str | None = None,
        port: int | None = None,
        tls: ssl.SSLContext | None = None,
        safety: SafetyLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert device.display is not None, "a display device has display settings"
        self.device = device
        self.settings: DisplaySettings = device.display
        self.broker = broker
        self.client_id = f"sessionroom-display-{room_id}-{device.id}"
        self.content_dir = content_dir
        self.host = host or self.settings.host
        self.port = self.settings.port if port is None else port
        self.tls = tls
        self.safety = safety or SafetyLimits()
        """The room's limits, which the display holds to whoever sends it a command."""
        self.clock = clock
        self.model: VrHeadset | BlsDevice = (
            VrHeadset(device) if device.driver == "mqtt-vr" else BlsDevice(device)
        )
        if isinstance(self.model, BlsDevice):
            self.model.colour = self.settings.colour
        self.pages: list[Page] = []
        self._client: aiomqtt.Client | None = None
        self._last_state: str | None = None
        self._reported_at = -math.inf
        """When (the event loop's time) the page's report was last published."""
        self._report_waiting: asyncio.Task[None] | None = None
        self._set_since: float | None = None
        """When the light bar's running set began, on `clock` (a page that joins starts there)."""
        self.room_state_topic = RoomTopics(room_id).state
        self.latched = False
        """Whether the room's retained state says its emergency is latched: the display then
        carries out only what stops or lowers, whoever sends it (emergency.md#latch)."""
        self._held: deque[tuple[float, str, bytes, str]] = deque(maxlen=HELD_COMMANDS)
        """Commands the latch held back, with when and their action: the engine sends the
        scene it applies on clearing the emergency before the room's state says so."""
        self._seq = 0
        """Counts the commands that change what the page shows: a page's report names the
        last one it had, and a report from before the latest one is stale."""

    # ------------------------------------------------------------------ topics

    @property
    def base(self) -> str:
        return self.model.base

    @property
    def is_vr(self) -> bool:
        return isinstance(self.model, VrHeadset)

    @property
    def availability(self) -> str:
        return "online" if self.pages else "offline"

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event, started: Callable[[str], None] | None = None) -> None:
        """Serve the page and be the device until `stop` is set; then report offline."""
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            keepalive_timeout=webnames.REQUEST_TIMEOUT_S,
            logger=http_log,
        )
        await runner.setup()
        webnames.hold_per_address(runner)
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.tls)
        await site.start()
        address = self.url(runner)
        log.info("%s: page on %s", self.device.id, address)
        if started is not None:
            started(address)
        link = asyncio.create_task(self._mqtt(), name=f"display-{self.device.id}-mqtt")
        try:
            await stop.wait()
        finally:
            for page in list(self.pages):
                await page.close()
            if self._report_waiting is not None:  # the page's last report goes out first
                await cancel_and_wait(self._report_waiting)
                await self._publish_report()
            await self._publish(self.model.availability.topic, "offline")
            await cancel_and_wait(link)
            await runner.cleanup()

    def url(self, runner: web.AppRunner) -> str:
        """The page's address (with the port the system chose when asked for port 0)."""
        port = self.port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                port = int(address[1])
                break
        return page_url(self.host, port, secure=self.tls is not None)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_PAGE_MESSAGE, middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/content/{path:.+}", self._content)
        if THREE_JS.is_file():
            app.router.add_static("/vendor/three/", VENDOR_DIR / "three", follow_symlinks=False)
        return app

    # ------------------------------------------------------------------ HTTP

    def named_here(self, request: web.Request) -> bool:
        """Whether the request names this display as its screens do: over HTTPS any name
        (the certificate holds it), else an address, `localhost` or the display's `host`.

        A web site whose name is made to resolve to the display's address (DNS rebinding)
        names that site as its Host; without this its script could act as a page.
        """
        if self.tls is not None:
            return True
        host = host_name(request.host)
        if host is None:
            return False
        if host in ("localhost", self.host.lower()):
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.named_here(request):
            raise web.HTTPForbidden(text="open this display by its address or its host name")
        return await handler(request)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return _resource("display.html", "text/html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        kinds = {".js": "text/javascript", ".css": "text/css"}
        kind = next((kinds[s] for s in kinds if name.endswith(s)), None)
        if kind is None or name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return _resource(name, kind)

    async def _content(self, request: web.Request) -> web.StreamResponse:
        if not self.is_vr:
            raise web.HTTPNotFound()
        try:
            media = parse_content(request.match_info["path"])
            if not isinstance(media, MediaFile):
                raise web.HTTPNotFound()
            path = content_file(self.content_dir, media)
        except ContentError:
            raise web.HTTPNotFound() from None
        return web.FileResponse(path, headers={"Cache-Control": "no-store"})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            raise web.HTTPForbidden(text="the page must come from this display")
        if len(self.pages) >= MAX_PAGES:
            raise web.HTTPServiceUnavailable(text=f"{MAX_PAGES} pages are open on this display")
        socket = web.WebSocketResponse(heartbeat=2.0, max_msg_size=MAX_PAGE_MESSAGE)
        await open_websocket(socket, request)
        page = Page(socket, request.transport)
        self.pages.append(page)
        if len(self.pages) == 1 and isinstance(self.model, BlsDevice):
            # A page starts with the bar at rest: a set nobody was shown is not resumed.
            self.model.running, self.model.completed_passes = False, 0
        log.info("%s: a page connected (%d open)", self.device.id, len(self.pages))
        page.post(json.dumps(self._hello(), separators=(",", ":")))
        sender = asyncio.create_task(page.deliver(), name=f"display-{self.device.id}-page")
        try:
            if len(self.pages) == 1:
                await self._publish(self.model.availability.topic, "online")
            async for message in socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._from_page(page, message.data)
        finally:
            sender.cancel()
            if page in self.pages:
                self.pages.remove(page)
            log.info("%s: a page left (%d open)", self.device.id, len(self.pages))
            if not self.pages:
                await self._publish(self.model.availability.topic, "offline")
        return socket

    def _hello(self) -> dict[str, Any]:
        """What a page needs on connecting: what it shows, and what it should be showing now."""
        hello: dict[str, Any] = {
            "type": "hello",
            "device": self.device.id,
            "label": self.device.label or self.device.id,
            "kind": "vr" if self.is_vr else "bls",
            "colour": self.settings.colour,
            "dot_size": self.settings.dot_size,
            "tone": self.settings.tone,
            "volume_cap": self.safety.volume_cap,
            "volume_ramp_per_s": self.safety.volume_ramp_per_s,
            "bls_speed_hz": list(self.bls_speeds),
            "webxr": THREE_JS.is_file(),
            "seq": self._seq,
        }
        if isinstance(self.model, VrHeadset) and self.model.content is not None:
            hello["now"] = self._vr_message("play", self.model.content)
            hello["now"]["paused"] = self.model.status == "paused"
        elif (
            isinstance(self.model, BlsDevice) and self.model.running and self._set_since is not None
        ):
            hello["now"] = self._bls_message(self.model)
            hello["now"]["elapsed_s"] = max(0.0, self.clock() - self._set_since)
        return hello

    # ------------------------------------------------------------------ page → broker

    async def _from_page(self, page: Page, data: str) -> None:
        if page is not self.pages[0]:
            return
        try:
            message = read_json(data, max_bytes=MAX_PAGE_MESSAGE)
        except UntrustedJsonError as refused:
            log.warning("%s: a page sent something that is not used: %s", self.device.id, refused)
            return
        if not isinstance(message, dict) or message.get("type") != "state":
            return
        if message.get("seq") != self._seq:
            log.debug("%s: a page's state from before the last command", self.device.id)
            return
        state = message.get("state")
        problem = self._state_problem(state)
        if problem is None and isinstance(state, dict):
            problem = self._disagreement(state)
        if problem is not None:
            log.warning("%s: a page's state is not used: %s", self.device.id, problem)
            return
        assert isinstance(state, dict)
        cut_short = self._cut_short(state)
        self._follow(state)
        if cut_short:
            # The device is what its reports say: no other page goes on showing it.
            self._to_pages(self._stopped_message(), but=page)
        self._last_state = compact_json(state)
        await self._report()

    async def _report(self) -> None:
        """Publish the page's latest report now, or when `REPORT_GAP_S` has passed since
        the last one was (reports that come meanwhile replace it)."""
        wait = self._reported_at + REPORT_GAP_S - asyncio.get_running_loop().time()
        if wait <= 0:
            await self._publish_report()
        elif self._report_waiting is None:
            self._report_waiting = asyncio.create_task(self._report_after(wait))

    async def _report_after(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        self._report_waiting = None
        await self._publish_report()

    async def _publish_report(self) -> None:
        self._reported_at = asyncio.get_running_loop().time()
        if self._last_state is not None:
            await self._publish(self.model.state_topic, self._last_state)

    def _state_problem(self, state: Any) -> str | None:
        if not isinstance(state, dict):
            return "not an object"
        if self.is_vr:
            if set(state) != {"status", "content", "position_s"}:
                return "keys are not status, content, position_s"
            if state["status"] not in VR_STATUSES:
                return "unknown status"
            if state["content"] is not None and not isinstance(state["content"], str):
                return "content is not text"
            if state["status"] == "idle" and state["content"] is not None:
                return "an idle headset names no content"
            if not is_number(state["position_s"]) or not 0 <= state["position_s"] <= MAX_POSITION_S:
                return "position_s is not 0–24 h"
            return None
        if set(state) != {"running", "pass", "speed_hz"}:
            return "keys are not running, pass, speed_hz"
        passes, speed = state["pass"], state["speed_hz"]
        if not isinstance(state["running"], bool):
            return "running is not true/false"
        if not isinstance(passes, int) or isinstance(passes, bool) or passes < 0:
            return "pass is not a whole number"
        if not is_number(speed) or not 0 <= speed <= 2:
            return "speed_hz is not 0–2"
        return None

    def _disagreement(self, state: dict[str, Any]) -> str | None:
        """Why a well-formed state cannot follow the device's last command, or None.

        The page may end what plays (a file played once, a set's last pass) and count
        passes up; it cannot start, resume or change content, nor count back.
        """
        model = self.model
        if isinstance(model, VrHeadset):
            if state["status"] != "idle" and state["status"] != model.status:
                return f"status {state['status']} while the device is {model.status}"
            if state["status"] != "idle" and state["content"] != model.content:
                return "content is not what the device was told to play"
            return None
        if state["running"] and not model.running:
            return "a set runs while the device is stopped"
        if state["running"] and state["speed_hz"] != model.speed_hz:
            return "speed_hz is not the set's"
        if state["pass"] < model.completed_passes:
            return "pass counts back"
        if model.passes is not None and state["pass"] > model.passes:
            return "pass is beyond the set's passes"
        return None

    def _cut_short(self, state: dict[str, Any]) -> bool:
        """Whether an accepted state ends what the device plays before every page ends it
        by itself: a content that ended (its length is the file's), a set stopped before
        its length has passed on this process's clock (each page ends a whole set itself)."""
        model = self.model
        if isinstance(model, VrHeadset):
            return model.status != "idle" and state["status"] == "idle"
        if not model.running or state["running"] or self._set_since is None:
            return False
        lengths = [math.inf, model.duration_s or math.inf]
        if model.passes is not None:
            lengths.append(model.passes / model.speed_hz)
        return self.clock() < self._set_since + min(lengths) - SET_END_SLACK_S

    def _stopped_message(self) -> dict[str, Any]:
        """The stop as pages get it, once the model has stopped (the same command count)."""
        model = self.model
        message = (
            self._vr_message("stop", None)
            if isinstance(model, VrHeadset)
            else self._bls_message(model)
        )
        message["seq"] = self._seq
        return message

    def _follow(self, state: dict[str, Any]) -> None:
        """Keep the firmware model where the page is (a once-played file ends, a set ends)."""
        if isinstance(self.model, VrHeadset):
            if state["status"] == "idle":
                self.model.handle(f"{self.base}/set", b'{"action":"stop"}', self.clock())
        else:
            self.model.running = state["running"]
            self.model.completed_passes = state["pass"]

    # ------------------------------------------------------------------ broker → page

    async def _command(self, topic: str, payload: bytes) -> None:
        now = self.clock()
        if topic != f"{self.base}/set":
            return  # a broker that delivers more than was subscribed to (amqtt does)
        try:
            command = read_json(payload, max_bytes=MAX_PAGE_MESSAGE)
        except UntrustedJsonError as refused:
            log.warning("%s ignores a command on %s: %s", self.device.id, topic, refused)
            return
        problem = self._unshowable(command)
        if problem is None and self._latch_refuses(command):
            problem = "a command that starts or raises while the room's emergency is latched"
            self._held.append((now, topic, payload, _action(command)))
        elif problem is None and self.latched and isinstance(command, dict):
            self._outdate_held(_action(command))
        if problem is not None:
            log.warning("%s ignores %s", self.device.id, problem)
            return
        shown_passes = self.model.completed_passes if isinstance(self.model, BlsDevice) else 0
        if not self.model.handle(topic, payload, now):
            return  # the model logged why the device ignores it
        if isinstance(self.model, BlsDevice) and not self.model.running:
            # The page counts the passes it drew; the firmware model would count them on
            # this process's clock, ahead of a page that began the set a frame later.
            self.model.completed_passes = shown_passes
        self._hold_to_room_limits()
        if isinstance(self.model, VrHeadset):
            message = self._vr_message(command["action"], self.model.content)
        else:
            message = self._bls_message(self.model)
            self._set_since = now if self.model.running else None
        if message.get("action") not in ("volume", "brightness"):
            self._seq += 1
        message["seq"] = self._seq
        self._to_pages(message)

    @property
    def bls_speeds(self) -> tuple[float, float]:
        """The light bar's slowest and fastest speed (`SafetyLimits.light_bar_speeds_hz`)."""
        return self.safety.light_bar_speeds_hz

    def _hold_to_room_limits(self) -> None:
        """Clamp what the firmware accepted to the room's cap, speeds and the hard set
        length (safety.md).

        The engine's gate already does; this holds for a command from anywhere else on
        the broker too (another tool, a replay, a person with `mosquitto_pub`).
        """
        model, safety = self.model, self.safety
        if isinstance(model, VrHeadset):
            if model.volume > safety.volume_cap:
                log.warning("%s clamps volume %g to the room's cap", self.device.id, model.volume)
                model.volume = safety.volume_cap
            return
        if not model.running:
            return
        speed = clamp(model.speed_hz, *self.bls_speeds)
        if speed != model.speed_hz:
            log.warning("%s clamps speed_hz %g to the room's", self.device.id, model.speed_hz)
            model.speed_hz = speed
        longest = limits.BLS_SET_MAX_SECONDS
        if model.passes is not None and model.passes > longest * speed:
            log.warning("%s ends %d passes at %g s", self.device.id, model.passes, longest)
            model.passes = math.floor(longest * speed)
        endless = model.duration_s is None and model.passes is None
        if endless or (model.duration_s is not None and model.duration_s > longest):
            log.warning("%s ends a set of %s s at %g s", self.device.id, model.duration_s, longest)
            model.duration_s = longest

    def _latch_refuses(self, command: Any) -> bool:
        """Whether the room's latched emergency holds back a command that starts, resumes
        or raises something (a stop, a pause, a lower volume or brightness passes)."""
        if not self.latched or not isinstance(command, dict):
            return False
        model = self.model
        if isinstance(model, BlsDevice):
            calming = command.get("running") is False
        elif command.get("action") in ("stop", "pause"):
            calming = True
        else:  # a volume or brightness no higher than now
            lowering = {
                "volume": ("volume", model.volume),
                "brightness": ("level", model.brightness),
            }
            key, level = lowering.get(str(command.get("action")), ("", 0.0))
            asked = command.get(key)
            calming = is_number(asked) and isinstance(asked, int | float) and asked <= level
        return not calming

    def _outdate_held(self, action: str) -> None:
        """A command carried out during the latch has the last word over what it held back
        before: a stop or pause over all of it, a volume or brightness over the raises of
        the same (the room's clearing must not start or raise what was stopped or lowered
        since)."""
        if action in ("volume", "brightness"):
            kept = [held for held in self._held if held[3] != action]
        else:
            kept = []
        if action == "volume":  # a held play keeps the volume that passed, not its own
            kept = [(since, topic, _without_volume(sent), was) for since, topic, sent, was in kept]
        self._held = deque(kept, maxlen=HELD_COMMANDS)

    async def _room_state(self, payload: bytes) -> None:
        """Follow the room's emergency latch in its retained state (empty: no room state).

        When the room latches, what the display still plays or runs stops (as the engine's
        emergency stops it; this holds when that stop was lost). When the latch clears,
        the commands it held back in the last `LATCH_CLEAR_GRACE_S` are carried out in
        order: the engine applies the room's scene as it clears, and says it cleared in its
        state only after.
        """
        try:
            state = read_json(payload, max_bytes=MAX_STATE_BYTES) if payload else {}
        except UntrustedJsonError as refused:
            log.warning("%s cannot read the room's state: %s", self.device.id, refused)
            return
        emergency = state.get("emergency") if isinstance(state, dict) else None
        latched = isinstance(emergency, dict) and emergency.get("active") is True
        if latched == self.latched:
            return
        log.warning("%s: the room's emergency is %s", self.device.id, "on" if latched else "clear")
        self.latched = latched
        held, now = list(self._held), self.clock()
        self._held.clear()
        model = self.model
        showing = model.running if isinstance(model, BlsDevice) else model.status != "idle"
        if latched and showing:
            await self._obey(f"{self.base}/set", STOP[self.is_vr])
        for since, topic, command, _ in held:
            if not latched and now - since <= LATCH_CLEAR_GRACE_S:
                await self._obey(topic, command)

    def _unshowable(self, command: Any) -> str | None:
        """Why this display ignores a command the firmware model would take, or None: a
        play of a content it cannot play, a set's colour that is not `#RRGGBB`."""
        if not isinstance(command, dict):
            return None  # the model logs it
        if self.is_vr and command.get("action") == "play":
            content = command.get("content")
            if not isinstance(content, str):
                return None
            try:
                media = parse_content(content)
                if isinstance(media, MediaFile):
                    content_file(self.content_dir, media)
            except ContentError as error:
                return f"play {content[:80]!r}: {error}"
        colour = command.get("colour")
        if not self.is_vr and isinstance(colour, str) and not re.fullmatch(HEX_COLOUR, colour):
            return f"a set whose colour {colour[:20]!r} is not #RRGGBB"
        return None

    def _vr_message(self, action: str, content_id: str | None) -> dict[str, Any]:
        assert isinstance(self.model, VrHeadset)
        message: dict[str, Any] = {
            "type": "vr",
            "action": action,
            "volume": self.model.volume,
            "brightness": self.model.brightness,
        }
        if action == "play" and content_id is not None:
            message["content"] = content_id
            message["media"] = _describe(parse_content(content_id))
        return message

    @staticmethod
    def _bls_message(model: BlsDevice) -> dict[str, Any]:
        return {
            "type": "bls",
            "running": model.running,
            "speed_hz": model.speed_hz,
            "intensity": model.intensity,
            "colour": model.colour,
            "passes": model.passes,
            "duration_s": model.duration_s,
        }

    def _to_pages(self, message: dict[str, Any], *, but: Page | None = None) -> None:
        """Queue `message` for every page (`but` one); a page too far behind is dropped,
        not waited for."""
        text = json.dumps(message, separators=(",", ":"))
        for page in self.pages:
            if page is not but and not page.gone and not page.post(text):
                log.warning("%s: a page does not keep up and is closed", self.device.id)

    # ------------------------------------------------------------------ MQTT

    async def _publish(self, topic: str, payload: str) -> None:
        """Publish (retained) while connected; what is lost is published again on connecting."""
        client = self._client
        if client is None:
            return
        try:
            await client.publish(topic, payload, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S)
        except aiomqtt.MqttError as error:
            log.warning("%s could not publish on %s: %s", self.device.id, topic, error)

    async def _mqtt(self) -> None:
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as error:
                log.warning(
                    "%s: no connection to %s (%s); retrying in %g s",
                    self.device.id,
                    self.broker.url,
                    error,
                    RECONNECT_DELAY_S,
                )
            finally:
                self._client = None
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _session(self) -> None:
        availability = self.model.availability
        async with self.broker.device_client(self.client_id, availability) as client:
            self._client = client
            # The room's state first: its retained latch comes before any command does.
            await client.subscribe(self.room_state_topic, qos=1)
            for topic_filter in self.model.subscriptions():
                await client.subscribe(topic_filter, qos=1)
            await self._publish(availability.topic, self.availability)
            if self._last_state is not None:
                await self._publish(self.model.state_topic, self._last_state)
            log.info("%s on %s as %s", self.device.id, self.broker.url, self.base)
            async for message in client.messages:
                payload = message.payload
                if str(message.topic) == self.room_state_topic:
                    if isinstance(payload, bytes | bytearray):
                        await self._follow_the_room(bytes(payload))
                elif message.retain:
                    # Left on the broker by someone, from before now (an emergency's stop
                    # included): the engine never retains a command.
                    log.warning(
                        "%s ignores a command retained on %s", self.device.id, message.topic
                    )
                elif isinstance(payload, bytes | bytearray):
                    await self._obey(str(message.topic), bytes(payload))

    async def _follow_the_room(self, payload: bytes) -> None:
        """Follow the room's state; a fault of ours in it is logged and the display goes on
        taking commands (the latch as it was), as it does for a command (`_obey`)."""
        try:
            await self._room_state(payload)
        except Exception:
            log.exception(
                "%s: the room's state could not be followed; the latch is as it was", self.device.id
            )

    async def _obey(self, topic: str, payload: bytes) -> None:
        """Carry out one command; a fault of ours in it is logged and the display goes on
        taking commands (a stop after it must still reach the page)."""
        try:
            await self._command(topic, payload)
        except Exception:
            log.exception("%s: a command on %s failed; taking the next one", self.device.id, topic)
        await asyncio.sleep(0)  # each page's sender sends what was queued before the next


def tls_context(settings: DisplaySettings, root: Path) -> ssl.SSLContext | None:
    """The HTTPS context of a display with a certificate (files relative to `root`), or None.

    Raises ValueError with the reason when the files cannot be used.
    """
    if settings.cert_file is None or settings.key_file is None:
        return None
    cert, key = root / settings.cert_file, root / settings.key_file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(plain_file(cert), plain_file(key))
    except (OSError, ssl.SSLError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ValueError(f"cannot use the certificate {cert} with key {key}: {reason}") from None
    return context


def _without_volume(payload: bytes) -> bytes:
    """A held command without the volume it carries (a play's own), as read before."""
    command = read_json(payload, max_bytes=MAX_PAGE_MESSAGE)
    if not isinstance(command, dict) or "volume" not in command:
        return payload
    return json.dumps({key: value for key, value in command.items() if key != "volume"}).encode()


def _action(command: Any) -> str:
    """What a command does, as the latch tells commands apart: a light bar's are all
    `set`, a headset's its `action`."""
    action = command.get("action", "set") if isinstance(command, dict) else "set"
    return action if isinstance(action, str) else "set"


def _describe(content: Breathing | MediaFile) -> dict[str, Any]:
    """What the page needs to play a content."""
    if isinstance(content, Breathing):
        return {
            "kind": "breathing",
            "period_s": content.period_s,
            "inhale_s": content.inhale_s,
        }
    return {
        "kind": "video" if content.is_video else "audio",
        "url": "/content/" + "/".join(quote(part, safe="") for part in content.path.split("/")),
        "loop": content.loop,
        "spherical": content.spherical,
    }


NOT_IN_A_FRAME = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}
"""The page is never shown inside another page: framed by another web site, it would be
served by the display and so pass the WebSocket's origin check (a page the site hides)."""


def _resource(name: str, kind: str) -> web.Response:
    body = (STATIC / name).read_bytes()
    return web.Response(
        body=body,
        content_type=kind,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **NOT_IN_A_FRAME,
        },
    )


def _same_origin(request: web.Request) -> bool:
    """Only the page this display served may connect (not a script of another web site)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: a browser always sends Origin on a WebSocket
    return origin in (f"http://{request.host}", f"https://{request.host}")
