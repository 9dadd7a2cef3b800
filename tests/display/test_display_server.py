"""The display process on a real Mosquitto, with aiohttp's WebSocket client in the page's place.

The client speaks the page's own protocol (JSON messages over the WebSocket), so these
tests reach what a browser cannot be made to do on purpose: hostile state reports, a
foreign web site's script, paths leading out of the content folder. The page itself is
tested in Chromium (test_screens_in_browser.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from yarl import URL

from controller import webnames
from controller.api.topics import RoomTopics
from controller.config.models import Device, DisplaySettings
from controller.config.settings import SafetyLimits
from controller.display.server import (
    MAX_PAGES,
    REPORT_GAP_S,
    DisplayServer,
    http_log,
    tls_context,
)
from controller.sim.device import BrokerAddress
from controller.webrequests import BAD_REQUEST_LOG_GAP_S, BadRequestsInOneLine
from tests.console.polling import eventually
from tests.support.fifo import raised_without_waiting
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import missing, mosquitto_binary

pytestmark = pytest.mark.mosquitto


class Broker:
    """Every retained/live message on the device's topics, as another client sees them."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.last: dict[str, str] = {}
        self.seen: list[tuple[str, str]] = []

    async def listen(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload)
            self.last[str(message.topic)] = text
            self.seen.append((str(message.topic), text))


@contextlib.asynccontextmanager
async def _running(
    server: DisplayServer, mosquitto: Mosquitto
) -> AsyncIterator[tuple[str, Broker]]:
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(server.run(stop, started=started.set_result))
    url = await asyncio.wait_for(started, 10)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(f"{server.base}/#")
        broker = Broker(client)
        listener = asyncio.create_task(broker.listen())
        await eventually(lambda: f"{server.base}/availability" in broker.last, 10, "availability")
        try:
            yield url, broker
        finally:
            stop.set()
            await task
            await asyncio.sleep(0.2)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


def _server(
    mosquitto: Mosquitto,
    content: Path,
    tls: ssl.SSLContext | None = None,
    safety: SafetyLimits | None = None,
    room_id: str = "test",
    **device: Any,
) -> DisplayServer:
    topic = f"d{uuid.uuid4().hex[:8]}"
    return DisplayServer(
        Device(id="screen", topic=topic, display={"port": 1}, **device),
        BrokerAddress(mosquitto.host, mosquitto.port),
        room_id=room_id,
        content_dir=content,
        port=0,
        tls=tls,
        safety=safety,
    )


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "clip.webm").write_bytes(b"not really a video")
    (tmp_path / "secret.webm").write_bytes(b"secret")
    (folder / "link.webm").symlink_to(tmp_path / "secret.webm")
    return folder


@pytest.fixture
async def headset(mosquitto: Mosquitto, content: Path) -> AsyncIterator[tuple[str, Broker]]:
    server = _server(mosquitto, content, kind="vr", driver="mqtt-vr")
    async with _running(server, mosquitto) as running:
        yield running


@pytest.fixture
async def bar(mosquitto: Mosquitto, content: Path) -> AsyncIterator[tuple[str, Broker]]:
    server = _server(mosquitto, content, kind="bls", driver="mqtt-bls", mode="visual")
    async with _running(server, mosquitto) as running:
        yield running


def _base(broker: Broker) -> str:
    topic = next(t for t in broker.last if t.endswith("/availability"))
    return topic.removesuffix("/availability")


async def _next(page: aiohttp.ClientWebSocketResponse, accept: Callable[[Any], bool]) -> Any:
    while True:
        message = await asyncio.wait_for(page.receive_json(), 5)
        if accept(message):
            return message


async def test_the_device_is_online_only_while_a_page_is_open(
    headset: tuple[str, Broker],
) -> None:
    url, broker = headset
    availability = f"{_base(broker)}/availability"
    assert broker.last[availability] == "offline"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url + "ws") as page:
            hello = await page.receive_json()
            assert (hello["type"], hello["kind"]) == ("hello", "vr")
            await eventually(lambda: broker.last[availability] == "online", 5, "online")
        await eventually(lambda: broker.last[availability] == "offline", 5, "offline again")


async def test_commands_reach_the_page_as_the_device_reads_them(
    headset: tuple[str, Broker],
) -> None:
    url, broker = headset
    base = _base(broker)
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        await page.receive_json()
        await broker.client.publish(f"{base}/set", '{"action":"play","content":"missing.webm"}')
        lone_surrogate = '{"action":"play","content":"\\ud800.webm"}'  # JSON's escape
        await broker.client.publish(f"{base}/set", lone_surrogate)
        too_big = '{"action":"volume","volume":1' + "0" * 400 + "}"  # no float holds it
        await broker.client.publish(f"{base}/set", too_big)
        await broker.client.publish(f"{base}/set", '{"action":"play","content":"breathing:6"}')
        play = await _next(page, lambda m: m.get("type") == "vr")
        assert play["content"] == "breathing:6"  # the files were ignored, not forwarded
        assert play["media"] == {"kind": "breathing", "period_s": 10.0, "inhale_s": 4.0}
        await broker.client.publish(f"{base}/set", '{"action":"volume","volume":250}')
        volume = await _next(page, lambda m: m.get("type") == "vr")
        assert volume["volume"] == 70  # clamped to the room's cap (70 % unless it sets one)
        async with session.ws_connect(url + "ws") as late:
            hello = await late.receive_json()
            assert hello["now"]["content"] == "breathing:6"  # a page that joins shows it too


async def test_a_command_that_fails_inside_the_display_leaves_it_taking_the_next(
    mosquitto: Mosquitto, content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours while carrying out one command (stood in for by a model that raises
    once) must not leave a display that says online but hears nothing: the stop after it
    still reaches the page."""
    server = _server(mosquitto, content, kind="vr", driver="mqtt-vr")
    handle = server.model.handle
    failures: list[str] = []

    def fails_once(topic: str, payload: bytes, now: float) -> Any:
        if not failures:
            failures.append(topic)
            raise RuntimeError("a fault in the device model")
        return handle(topic, payload, now)

    monkeypatch.setattr(server.model, "handle", fails_once)
    async with _running(server, mosquitto) as (url, broker):
        base = _base(broker)
        async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
            await page.receive_json()
            await broker.client.publish(f"{base}/set", '{"action":"play","content":"breathing:6"}')
            await eventually(lambda: failures, 5, "the first command failed")
            await broker.client.publish(f"{base}/set", '{"action":"stop"}')
            stop = await _next(page, lambda m: m.get("type") == "vr")
            assert stop["action"] == "stop"


@contextlib.asynccontextmanager
async def _headset_page_open(
    mosquitto: Mosquitto, content: Path
) -> AsyncIterator[tuple[str, Broker, aiohttp.ClientWebSocketResponse]]:
    """A running VR headset display with one page open (its hello read): URL, broker, page."""
    server = _server(mosquitto, content, kind="vr", driver="mqtt-vr")
    async with (
        _running(server, mosquitto) as (url, broker),
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "ws") as page,
    ):
        await page.receive_json()
        yield url, broker, page


async def _still_plays(broker: Broker, page: aiohttp.ClientWebSocketResponse) -> None:
    """The open page still takes the headset's commands."""
    await broker.client.publish(f"{_base(broker)}/set", '{"action":"play","content":"breathing:6"}')
    shown = await _next(page, lambda m: m.get("type") == "vr")
    assert shown["content"] == "breathing:6"


async def test_a_connection_that_trickles_its_request_is_closed_but_an_open_page_stays(
    mosquitto: Mosquitto, content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that never finishes its headers holds a connection no longer than the
    request timeout (10 s; half a second here), so a few cannot use up the server's."""
    monkeypatch.setattr(webnames, "REQUEST_TIMEOUT_S", 0.5)
    async with _headset_page_open(mosquitto, content) as (url, broker, page):
        address = URL(url)
        reader, writer = await asyncio.open_connection(address.host, address.port)
        writer.write(f"GET / HTTP/1.1\r\nHost: {address.host}:{address.port}\r\nX-Slow: a".encode())
        opened = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
        assert asyncio.get_running_loop().time() - opened < 2
        writer.close()
        await _still_plays(broker, page)  # open longer than the timeout


async def test_one_address_holds_a_bounded_number_of_connections_and_an_open_page_stays(
    mosquitto: Mosquitto, content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With its page open and two idle connections, an address at the cap (3 here) has its
    next connection closed as it opens; another address's page is served, and the open page
    still takes commands."""
    monkeypatch.setattr(webnames, "CONNECTIONS_PER_ADDRESS", 3)
    async with _headset_page_open(mosquitto, content) as (url, broker, page):
        address = URL(url)
        assert address.host is not None and address.port is not None
        idle = [await asyncio.open_connection(address.host, address.port) for _ in range(2)]
        reader, writer = await asyncio.open_connection(address.host, address.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at once
        writer.close()
        reader, writer = await asyncio.open_connection(
            address.host, address.port, local_addr=("127.0.0.2", 0)
        )
        writer.write(f"GET / HTTP/1.1\r\nHost: {address.host}:{address.port}\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        writer.close()
        for _, connection in idle:
            connection.close()
        await _still_plays(broker, page)


async def test_a_light_bar_set_is_clamped_before_the_page_gets_it(bar: tuple[str, Broker]) -> None:
    url, broker = bar
    base = _base(broker)
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        hello = await page.receive_json()
        assert (hello["kind"], hello["colour"]) == ("bls", "#ffffff")
        await broker.client.publish(f"{base}/set", '{"running":true,"mode":"tactile"}')
        await broker.client.publish(
            f"{base}/set", '{"running":true,"mode":"visual","speed_hz":5,"passes":3}'
        )
        start = await _next(page, lambda m: m.get("type") == "bls")
        assert (start["running"], start["speed_hz"], start["passes"]) == (True, 2.0, 3)


@contextlib.asynccontextmanager
async def _bar_on_a_hand_clock(
    mosquitto: Mosquitto, content: Path
) -> AsyncIterator[tuple[list[float], str, Broker, aiohttp.ClientSession]]:
    """A light bar's display whose clock the test sets (`now[0]`, 100 s to begin with)."""
    server = _server(mosquitto, content, kind="bls", driver="mqtt-bls", mode="visual")
    now = [100.0]
    server.clock = lambda: now[0]
    async with _running(server, mosquitto) as (url, broker), aiohttp.ClientSession() as session:
        yield now, url, broker, session


async def test_a_page_that_joins_a_running_set_gets_it_with_the_time_gone(
    mosquitto: Mosquitto, content: Path
) -> None:
    """The light bar's hello carries the running set and how long it has run (on the
    display's clock, set by hand here), so a page that joins shows the dot in phase."""
    async with _bar_on_a_hand_clock(mosquitto, content) as (now, url, broker, session):
        base = _base(broker)
        async with session.ws_connect(url + "ws") as page:
            assert "now" not in await page.receive_json()  # nothing runs yet
            await broker.client.publish(f"{base}/set", '{"running":true,"speed_hz":1,"passes":20}')
            await _next(page, lambda m: m.get("type") == "bls")
            now[0] = 103.5
            async with session.ws_connect(url + "ws") as late:
                hello = await late.receive_json()
                running = hello["now"]
                assert (running["running"], running["speed_hz"], running["passes"]) == (True, 1, 20)
                assert running["elapsed_s"] == 3.5
            await broker.client.publish(f"{base}/set", '{"running":false}')
            await _next(page, lambda m: m.get("running") is False)
            async with session.ws_connect(url + "ws") as after:
                assert "now" not in await after.receive_json()  # a stopped set is not joined


ROOM = SafetyLimits(volume_cap=60, bls_speed_min_hz=0.8, bls_speed_max_hz=1.5)
"""A room that tightened its limits below the devices' own 0–100 % and 0.2–2 Hz."""


async def test_a_volume_from_anywhere_on_the_broker_is_held_to_the_room_cap(
    mosquitto: Mosquitto, content: Path
) -> None:
    server = _server(mosquitto, content, safety=ROOM, kind="vr", driver="mqtt-vr")
    async with (
        _running(server, mosquitto) as (url, broker),
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "ws") as page,
    ):
        hello = await page.receive_json()
        assert (hello["volume_cap"], hello["volume_ramp_per_s"]) == (60, 10)
        told = f"{_base(broker)}/set"
        await broker.client.publish(told, '{"action":"play","content":"breathing:6","volume":100}')
        for volume, heard in ((None, 60), (95, 60), (20, 20), (60.5, 60)):
            if volume is not None:
                await broker.client.publish(told, f'{{"action":"volume","volume":{volume}}}')
            assert (await _next(page, lambda m: m.get("type") == "vr"))["volume"] == heard


async def test_a_light_bar_speed_from_anywhere_is_held_to_the_room_speeds(
    mosquitto: Mosquitto, content: Path
) -> None:
    server = _server(mosquitto, content, safety=ROOM, kind="bls", driver="mqtt-bls", mode="visual")
    async with (
        _running(server, mosquitto) as (url, broker),
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "ws") as page,
    ):
        assert (await page.receive_json())["bls_speed_hz"] == [0.8, 1.5]
        for asked, shown in ((2, 1.5), (0.2, 0.8), (1.2, 1.2)):
            await broker.client.publish(
                f"{_base(broker)}/set", f'{{"running":true,"speed_hz":{asked}}}'
            )
            start = await _next(page, lambda m: m.get("type") == "bls")
            assert start["speed_hz"] == shown


@pytest.mark.parametrize(
    "hostile",
    [
        "not json",
        '{"type":"state","seq":0,"state":{"status":"exploding","content":null,"position_s":0}}',
        '{"type":"state","seq":0,"state":{"status":"idle","content":null,"position_s":1e12}}',
        '{"type":"state","seq":0,"state":{"status":"idle","content":7,"position_s":0}}',
        '{"type":"state","seq":0,"state":{"status":"idle","content":"\\ud800","position_s":0}}',
        '{"type":"state","seq":0,"state":{"status":"idle","content":"clip.webm","position_s":0}}',
        '{"type":"state","seq":0,"state":{"status":"idle","content":null,"position_s":NaN}}',
        '{"type":"state","seq":true,"state":{"status":"idle","content":null,"position_s":0}}',
        '{"type":"state","seq":0,"state":{"status":"idle","content":null,"position_s":0,"x":1}}',
        '{"type":"state","seq":0,"state":[1,2]}',
        pytest.param("[" * 60_000, id="nested-60000-deep"),  # under the 64 KiB a message may be
    ],
)
async def test_a_page_cannot_publish_a_state_the_device_cannot_be_in(
    headset: tuple[str, Broker], hostile: str
) -> None:
    url, broker = headset
    state = f"{_base(broker)}/state"
    good = '{"type":"state","seq":0,"state":{"status":"idle","content":null,"position_s":0}}'
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        await page.receive_json()
        await page.send_str(hostile)
        await page.send_str(good)  # the page is still heard
        await eventually(lambda: state in broker.last, 5, "the good state")
    assert [json.loads(p) for t, p in broker.seen if t == state] == [
        {"status": "idle", "content": None, "position_s": 0}
    ]


def _report(seq: int, state: dict[str, Any]) -> str:
    """A page's state report, following the process's command number `seq`."""
    return json.dumps({"type": "state", "seq": seq, "state": state})


def _published(broker: Broker, topic: str) -> list[Any]:
    return [json.loads(p) for t, p in broker.seen if t == topic]


async def test_a_page_cannot_start_a_set_count_back_or_run_past_its_end(
    bar: tuple[str, Broker],
) -> None:
    url, broker = bar
    base = _base(broker)
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        assert (await page.receive_json())["seq"] == 0
        await page.send_str(_report(0, {"running": True, "pass": 0, "speed_hz": 1.0}))
        await broker.client.publish(f"{base}/set", '{"running":true,"speed_hz":1.5,"passes":3}')
        assert (await _next(page, lambda m: m.get("type") == "bls"))["seq"] == 1
        reports = [
            (0, True, 1, 1.5),  # from before the set: stale
            (1, True, 2, 1.5),  # taken
            (1, True, 1, 1.5),  # counts back
            (1, True, 4, 1.5),  # past the set's 3 passes
            (1, True, 2, 2.0),  # not the set's speed
            (1, False, 3, 1.5),  # taken: the set ended
            (1, True, 3, 1.5),  # the set does not start again
            (1, False, 3, 1.5),  # taken
        ]
        for seq, running, passes, speed in reports:
            state = {"running": running, "pass": passes, "speed_hz": speed}
            await page.send_str(_report(seq, state))
        state = f"{base}/state"
        await eventually(lambda: len(_published(broker, state)) >= 2, 5, "two states")
        await asyncio.sleep(2 * REPORT_GAP_S)  # a third (the last report) would come by now
    # The second and the third report taken came within `REPORT_GAP_S`: the latest went out.
    assert _published(broker, state) == [
        {"running": True, "pass": 2, "speed_hz": 1.5},
        {"running": False, "pass": 3, "speed_hz": 1.5},
    ]


async def test_a_stop_is_published_with_the_passes_the_page_showed(
    mosquitto: Mosquitto, content: Path
) -> None:
    """The page counts the passes it drew; a stop arriving after the display's own clock
    passed the next pass (the page started its set a frame later) still publishes the
    page's stopped state. It was refused as "counting back", and the bar stayed running
    on the broker after an emergency."""
    async with _bar_on_a_hand_clock(mosquitto, content) as (now, url, broker, session):
        base = _base(broker)
        async with session.ws_connect(url + "ws") as page:
            await page.receive_json()
            await broker.client.publish(f"{base}/set", '{"running":true,"speed_hz":1}')
            start = await _next(page, lambda m: m.get("type") == "bls")
            await page.send_str(_report(start["seq"], {"running": True, "pass": 2, "speed_hz": 1}))
            now[0] = 103.01  # three passes on the display's clock, two on the page
            await broker.client.publish(f"{base}/set", '{"running":false}')
            stop = await _next(page, lambda m: m.get("running") is False)
            await page.send_str(_report(stop["seq"], {"running": False, "pass": 2, "speed_hz": 1}))
            state = f"{base}/state"
            await eventually(lambda: len(_published(broker, state)) >= 2, 5, "the stopped state")
    assert _published(broker, state) == [
        {"running": True, "pass": 2, "speed_hz": 1},
        {"running": False, "pass": 2, "speed_hz": 1},
    ]


async def test_a_page_cannot_play_what_the_headset_was_not_told_to(
    headset: tuple[str, Broker],
) -> None:
    url, broker = headset
    base = _base(broker)
    playing = {"status": "playing", "content": "breathing:6", "position_s": 1.0}
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        await page.receive_json()
        await page.send_str(_report(0, playing))  # the device is idle
        await broker.client.publish(f"{base}/set", '{"action":"play","content":"breathing:6"}')
        assert (await _next(page, lambda m: m.get("type") == "vr"))["seq"] == 1
        await page.send_str(_report(1, {**playing, "content": "other.webm"}))
        await page.send_str(_report(1, {**playing, "status": "paused"}))
        await page.send_str(_report(0, {"status": "idle", "content": None, "position_s": 0}))
        await page.send_str(_report(1, {**playing, "position_s": 2.5}))
        await broker.client.publish(f"{base}/set", '{"action":"volume","volume":30}')
        assert (await _next(page, lambda m: m.get("type") == "vr"))["seq"] == 1
        await page.send_str(_report(1, {**playing, "position_s": 3.0}))
        state = f"{base}/state"
        await eventually(lambda: len(_published(broker, state)) >= 2, 5, "two states")
        async with session.ws_connect(url + "ws") as late:  # the stale idle stopped nothing
            assert (await late.receive_json())["now"]["content"] == "breathing:6"
    assert [s["position_s"] for s in _published(broker, state)] == [2.5, 3.0]


async def test_a_flood_of_reports_reaches_the_broker_ten_a_second_and_the_last_one_last(
    headset: tuple[str, Broker],
) -> None:
    """A page that sends its state as fast as it can (a hostile page, or one looping): the
    engine drops what a device sends beyond 50 a second, the last report with the rest; the
    display publishes at most one report every `REPORT_GAP_S`, and always the latest."""
    url, broker = headset
    state = f"{_base(broker)}/state"
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        await page.receive_json()
        started = time.monotonic()
        for position in range(300):
            idle = {"status": "idle", "content": None, "position_s": position}
            await page.send_str(_report(0, idle))
        await eventually(
            lambda: _published(broker, state)[-1:] == [{**idle, "position_s": 299}], 5, "the last"
        )
        took_s = time.monotonic() - started
        await asyncio.sleep(2 * REPORT_GAP_S)
    published = _published(broker, state)
    print(f"\n300 reports in {took_s:.2f} s: {len(published)} published")
    assert published[0]["position_s"] == 0  # the first at once
    assert published[-1]["position_s"] == 299
    assert len(published) <= took_s / REPORT_GAP_S + 2


async def test_only_the_page_open_longest_reports(headset: tuple[str, Broker]) -> None:
    url, broker = headset
    state = f"{_base(broker)}/state"
    report = '{{"type":"state","seq":0,"state":{{"status":"idle","content":null,"position_s":{}}}}}'
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "ws") as first,
        session.ws_connect(url + "ws") as second,
    ):
        await second.send_str(report.format(2))
        await first.send_str(report.format(1))
        await eventually(lambda: state in broker.last, 5, "a state")
        await asyncio.sleep(0.2)
    assert [json.loads(p)["position_s"] for t, p in broker.seen if t == state] == [1]


async def _stalled_page(url: str) -> socket.socket:
    """A page whose browser stopped reading: the WebSocket handshake, then nothing read."""
    address = URL(url)
    assert address.host is not None and address.port is not None
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(stalled, (address.host, address.port))
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {address.host}:{address.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(stalled, request.encode())
    assert (await loop.sock_recv(stalled, 4096)).startswith(b"HTTP/1.1 101")
    return stalled


async def test_a_page_that_stops_reading_holds_up_no_other_page(
    mosquitto: Mosquitto, content: Path
) -> None:
    """A page that reads nothing (its socket buffers held small here, so the sets pile up
    in the display rather than the kernel) falls behind by more than the display keeps for
    it and is closed; the page that reads gets every command and the stop, and the device
    stays online for it."""
    server = _server(mosquitto, content, kind="bls", driver="mqtt-bls", mode="visual")
    async with _running(server, mosquitto) as (url, broker), aiohttp.ClientSession() as session:
        base = _base(broker)
        stalled = await _stalled_page(url)
        await eventually(lambda: len(server.pages) == 1, 5, "the stalled page")
        transport = server.pages[0].transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        async with session.ws_connect(url + "ws") as page:
            assert (await page.receive_json())["type"] == "hello"
            sets = 3000  # ~350 kB, well past the stalled page's socket and PAGE_UNSENT_BYTES
            stop = asyncio.create_task(_next(page, lambda m: m.get("running") is False))
            for n in range(sets):
                await broker.client.publish(f"{base}/set", f'{{"running":true,"passes":{n + 1}}}')
            await broker.client.publish(f"{base}/set", '{"running":false}')
            await asyncio.wait_for(stop, 30)
            await eventually(lambda: len(server.pages) == 1, 5, "the stalled page closed")
            assert broker.last[f"{base}/availability"] == "online"
        await asyncio.wait_for(_until_closed(stalled), 10)  # by the display, not the test
        stalled.close()


async def _until_closed(connection: socket.socket) -> None:
    """Read what is left on `connection` until the other end closes it."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ConnectionResetError):
        while await loop.sock_recv(connection, 65536):
            pass


async def test_a_flood_of_pages_is_refused_and_the_display_still_serves_one(
    mosquitto: Mosquitto, content: Path
) -> None:
    server = _server(mosquitto, content, kind="vr", driver="mqtt-vr")
    async with (
        _running(server, mosquitto) as (url, _),
        aiohttp.ClientSession() as session,
        contextlib.AsyncExitStack() as stack,
    ):
        pages = [
            await stack.enter_async_context(session.ws_connect(url + "ws"))
            for _ in range(MAX_PAGES)
        ]
        for page in pages:
            assert (await page.receive_json())["type"] == "hello"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url + "ws")
        assert refused.value.status == 503
        await pages[-1].close()
        await eventually(lambda: len(server.pages) < MAX_PAGES, 5, "the page left")
        async with session.ws_connect(url + "ws") as page:
            assert (await page.receive_json())["type"] == "hello"


async def test_another_web_site_cannot_drive_the_page_socket(headset: tuple[str, Broker]) -> None:
    url, _ = headset
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url + "ws", origin="http://evil.example")
        assert refused.value.status == 403


REBOUND = ["rebind.example", "127.0.0.1.rebind.example", "localhost.example"]


@pytest.mark.parametrize("name", REBOUND)
async def test_a_web_site_whose_name_leads_to_the_display_cannot_reach_it(
    headset: tuple[str, Broker], name: str
) -> None:
    """DNS rebinding: another site's name made to resolve to the display's address reaches
    the port, and its script's requests name that site as Host and Origin alike."""
    url, _ = headset
    port = URL(url).port
    named = {"Host": f"{name}:{port}"}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url + "ws", headers=named, origin=f"http://{name}:{port}")
        assert refused.value.status == 403
        for path in ("", "content/clip.webm"):
            async with session.get(url + path, headers=named) as response:
                assert response.status == 403, path
        for garbled in ("[::1", "[zz]:80"):
            async with session.get(url, headers={"Host": garbled}) as response:
                assert response.status == 403, garbled
        for address in ("localhost", "127.0.0.1", "[::1]"):
            async with session.get(url, headers={"Host": f"{address}:{port}"}) as response:
                assert response.status == 200, address


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("content/clip.webm", 200),
        ("content/..%2Fsecret.webm", 404),
        ("content/%2E%2E/secret.webm", 404),
        ("content/breathing:6", 404),
        ("static/..%2Fserver.py", 404),
        ("static/display.js", 200),
        ("static/missing.js", 404),
        ("static/%00.js", 404),
        ("static/display.js%00.css", 404),
        ("content/missing.webm", 404),
        ("content/link.webm", 404),
        ("content//etc/passwd", 404),
        ("content/%2Fetc%2Fhostname.webm", 404),
        ("static/%2E%2E%2Fserver.py", 404),
        ("content/%00.webm", 404),
        ("nothing-here", 404),
    ],
)
async def test_the_page_reaches_the_content_folder_and_nothing_outside_it(
    headset: tuple[str, Broker], path: str, status: int
) -> None:
    url, _ = headset
    async with aiohttp.ClientSession() as session, session.get(url + path) as response:
        assert response.status == status
        if status == 200 and path.startswith("content/"):
            assert await response.read() == b"not really a video"


def _self_signed(folder: Path) -> DisplaySettings:
    """A certificate for 127.0.0.1 made by the openssl CLI, as display settings."""
    openssl = shutil.which("openssl")
    if openssl is None:
        missing("openssl", "apt-get install openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", "screen.key", "-out", "screen.pem", "-days", "2",
         "-subj", "/CN=screen", "-addext", "subjectAltName=IP:127.0.0.1"],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip
    return DisplaySettings(port=1, cert_file="screen.pem", key_file="screen.key")


async def test_a_display_with_a_certificate_serves_its_page_over_https(
    mosquitto: Mosquitto, content: Path, tmp_path: Path
) -> None:
    settings = _self_signed(tmp_path)
    tls = tls_context(settings, tmp_path)
    server = _server(mosquitto, content, tls, kind="vr", driver="mqtt-vr")
    trust = ssl.create_default_context(cafile=tmp_path / "screen.pem")
    async with _running(server, mosquitto) as (url, broker):
        assert url.startswith("https://127.0.0.1:")
        availability = f"{_base(broker)}/availability"
        async with aiohttp.ClientSession() as session:
            async with session.get(url, ssl=trust) as page:
                assert page.status == 200
            async with session.ws_connect(url + "ws", ssl=trust) as page:
                assert (await page.receive_json())["type"] == "hello"
                await eventually(lambda: broker.last[availability] == "online", 5, "online")


def test_a_certificate_that_cannot_be_used_is_named_with_the_reason(tmp_path: Path) -> None:
    settings = _self_signed(tmp_path)
    (tmp_path / "screen.key").write_text("not a key")
    with pytest.raises(ValueError, match=r"cannot use the certificate .*screen\.pem with key"):
        tls_context(settings, tmp_path)
    missing_key = settings.model_copy(update={"key_file": "gone.key"})
    with pytest.raises(ValueError, match="No such file or directory"):
        tls_context(missing_key, tmp_path)
    assert tls_context(DisplaySettings(port=1), tmp_path) is None


def test_a_key_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    settings = _self_signed(tmp_path)
    (tmp_path / "screen.key").unlink()
    os.mkfifo(tmp_path / "screen.key")
    error = raised_without_waiting(lambda: tls_context(settings, tmp_path), tmp_path / "screen.key")
    assert isinstance(error, ValueError)
    assert "not a regular file" in str(error)


@pytest.mark.parametrize(
    ("driver", "command"),
    [
        ({"kind": "vr", "driver": "mqtt-vr"}, '{"action":"play","content":"breathing:6"}'),
        (
            {"kind": "bls", "driver": "mqtt-bls", "mode": "visual"},
            '{"running":true,"speed_hz":1,"passes":20}',
        ),
    ],
    ids=["headset", "light-bar"],
)
async def test_a_command_left_retained_on_the_broker_is_not_carried_out(
    mosquitto: Mosquitto, content: Path, driver: dict[str, str], command: str
) -> None:
    """Anyone on the broker can leave a command retained on `…/set`; the broker hands it
    to the display on every (re)connect, after an emergency's stop too. The display
    carries out only commands sent while it listens (the engine never retains one)."""
    server = _server(mosquitto, content, **driver)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as intruder:
        await intruder.publish(f"{server.base}/set", command, qos=1, retain=True)
    try:
        async with (
            _running(server, mosquitto) as (url, broker),
            aiohttp.ClientSession() as session,
            session.ws_connect(url + "ws") as page,
        ):
            hello = await page.receive_json()
            assert "now" not in hello
            await broker.client.publish(f"{server.base}/set", command)  # sent live: obeyed
            shown = await _next(page, lambda m: m.get("type") in ("vr", "bls"))
            assert shown["seq"] == 1
            async with session.ws_connect(url + "ws") as late:
                assert "now" in await late.receive_json()
    finally:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as intruder:
            await intruder.publish(f"{server.base}/set", b"", qos=1, retain=True)


async def test_a_light_bar_speed_is_held_to_the_room_flash_rate(
    mosquitto: Mosquitto, content: Path
) -> None:
    """A visual light bar flashes each side once per cycle: a room that allows fewer
    flashes a second than its BLS speed limit holds the bar to the flash rate too, as the
    engine's gate does, whoever sends the set."""
    safety = SafetyLimits(max_flashes_per_s=1.5, bls_speed_min_hz=0.5, bls_speed_max_hz=2.0)
    server = _server(
        mosquitto, content, safety=safety, kind="bls", driver="mqtt-bls", mode="visual"
    )
    async with (
        _running(server, mosquitto) as (url, broker),
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "ws") as page,
    ):
        assert (await page.receive_json())["bls_speed_hz"] == [0.5, 1.5]
        await broker.client.publish(f"{_base(broker)}/set", '{"running":true,"speed_hz":2}')
        assert (await _next(page, lambda m: m.get("type") == "bls"))["speed_hz"] == 1.5


@pytest.mark.parametrize(
    ("length", "shown"),
    [
        ("", (None, 120.0)),  # names neither: runs until stopped on the device
        (',"passes":1000', (240, None)),  # 500 s at 2 Hz
        (',"duration_s":1e300', (None, 120.0)),
        (',"passes":100', (100, None)),  # 50 s: as sent
    ],
)
async def test_a_light_bar_set_from_anywhere_ends_within_the_hard_set_length(
    bar: tuple[str, Broker], length: str, shown: tuple[int | None, float | None]
) -> None:
    """The engine's gate never sends a set longer than 120 s; a set from anywhere else on
    the broker is held to that hard bound too, never an endless one."""
    url, broker = bar
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        await page.receive_json()
        await broker.client.publish(
            f"{_base(broker)}/set", f'{{"running":true,"speed_hz":2{length}}}'
        )
        start = await _next(page, lambda m: m.get("type") == "bls")
        assert (start["passes"], start["duration_s"]) == shown


@pytest.mark.parametrize(
    ("driver", "command", "ended"),
    [
        (
            {"kind": "vr", "driver": "mqtt-vr"},
            '{"action":"play","content":"breathing:6"}',
            {"status": "idle", "content": None, "position_s": 0},
        ),
        (
            {"kind": "bls", "driver": "mqtt-bls", "mode": "visual"},
            '{"running":true,"speed_hz":1,"passes":20}',
            {"running": False, "pass": 0, "speed_hz": 1},
        ),
    ],
    ids=["headset", "light-bar"],
)
async def test_what_the_reporting_page_ends_ends_on_every_page(
    mosquitto: Mosquitto,
    content: Path,
    driver: dict[str, str],
    command: str,
    ended: dict[str, Any],
) -> None:
    """The device is what its reports say. A program acting as the page open longest (or
    a page whose file ended early) reports the content or the set ended: every other page
    stops too, so the console never shows stopped while a screen still plays or sweeps."""
    server = _server(mosquitto, content, **driver)
    async with (
        _running(server, mosquitto) as (url, broker),
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "ws") as spoofer,
        session.ws_connect(url + "ws") as screen,
    ):
        await spoofer.receive_json()
        await screen.receive_json()
        await broker.client.publish(f"{server.base}/set", command)
        told = await _next(screen, lambda m: m.get("type") in ("vr", "bls"))
        await spoofer.send_str(_report(told["seq"], ended))
        await eventually(
            lambda: json.loads(broker.last.get(f"{server.base}/state", "{}")) == ended, 5, "ended"
        )
        stop = await _next(screen, lambda m: m.get("type") in ("vr", "bls"))
        assert stop.get("action", "stop") == "stop" and stop.get("running", False) is False


async def test_a_set_that_ends_at_its_length_is_left_to_each_page(
    mosquitto: Mosquitto, content: Path
) -> None:
    """Each page ends a whole set itself (a page that joined ends with the first): the
    reporting page's end, at the set's length, stops no other page early."""
    async with _bar_on_a_hand_clock(mosquitto, content) as (now, url, broker, session):
        base = _base(broker)
        async with session.ws_connect(url + "ws") as first, session.ws_connect(url + "ws") as other:
            await first.receive_json()
            await other.receive_json()
            await broker.client.publish(f"{base}/set", '{"running":true,"speed_hz":1,"passes":2}')
            told = await _next(other, lambda m: m.get("type") == "bls")
            now[0] += 2.0
            ended = {"running": False, "pass": 2, "speed_hz": 1}
            await first.send_str(_report(told["seq"], ended))
            await eventually(
                lambda: json.loads(broker.last.get(f"{base}/state", "{}")) == ended, 5, ""
            )
            await broker.client.publish(f"{base}/set", '{"running":true,"speed_hz":1,"passes":3}')
            after = await _next(other, lambda m: m.get("type") == "bls")
            assert (after["running"], after["passes"]) == (True, 3)  # no stop came before it


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("[" * 100_000, id="nested-100000-deep"),
        '{"running":true,"speed_hz":1,"colour":"#000"}',
        '{"running":true,"speed_hz":1,"colour":"red;background:url(/x)"}',
        '{"running":true,"speed_hz":1,"passes":3,"colour":"#ffffff","colour":"black"}',
    ],
)
async def test_a_command_the_display_cannot_read_is_ignored_without_a_fault(
    bar: tuple[str, Broker], hostile: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A payload nested too deep for the parser, or a set whose colour is not `#RRGGBB`
    (the page would set it as CSS), is logged in one line and ignored; the display takes
    the next command."""
    url, broker = bar
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as page:
        await page.receive_json()
        await broker.client.publish(f"{_base(broker)}/set", hostile)
        await broker.client.publish(f"{_base(broker)}/set", '{"running":true,"speed_hz":1.5}')
        start = await _next(page, lambda m: m.get("type") == "bls")
        assert (start["speed_hz"], start["colour"], start["seq"]) == (1.5, "#ffffff", 1)
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


class BadRequestClock:
    """The clock of the display's bad-request log, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bad_request_clock(monkeypatch: pytest.MonkeyPatch) -> BadRequestClock:
    """A fresh rate limit on the display's bad-request log, on a clock the test moves."""
    assert any(isinstance(f, BadRequestsInOneLine) for f in http_log.filters)
    clock = BadRequestClock()
    monkeypatch.setattr(http_log, "filters", [BadRequestsInOneLine(clock)])
    return clock


async def answer_to(url: str, request_bytes: bytes) -> bytes:
    """The status line of the display's answer to `request_bytes`, sent as written."""
    address = URL(url)
    assert address.host is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(request_bytes)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return answer


def bad_requests_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("Error handling request")]


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
            id="header-9000",
        ),
        pytest.param(
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id="url-9000"
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n", id="length"
        ),
    ],
)
async def test_a_malformed_request_is_answered_400_and_logged_in_one_line(
    headset: tuple[str, Broker],
    request_bytes: bytes,
    caplog: pytest.LogCaptureFixture,
    bad_request_clock: BadRequestClock,
) -> None:
    """Anyone who reaches the port can send these, as fast as they like: each is one
    warning line, never a traceback filling the display's log."""
    assert (await answer_to(headset[0], request_bytes)).split(b" ", 2)[1] == b"400"
    await eventually(lambda: bad_requests_logged(caplog), 5, "the request logged")
    assert [
        (r.levelname, r.exc_info, "\n" in r.getMessage()) for r in bad_requests_logged(caplog)
    ] == [("WARNING", None, False)]


async def test_malformed_requests_are_logged_at_most_once_a_second(
    headset: tuple[str, Broker],
    caplog: pytest.LogCaptureFixture,
    bad_request_clock: BadRequestClock,
) -> None:
    """One client's malformed requests grew the display's log by 420 KB a second."""
    malformed = b"GET /\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for _ in range(5):
        assert (await answer_to(headset[0], malformed)).split(b" ", 2)[1] == b"400"
    bad_request_clock.now += BAD_REQUEST_LOG_GAP_S
    assert (await answer_to(headset[0], malformed)).split(b" ", 2)[1] == b"400"
    await eventually(lambda: len(bad_requests_logged(caplog)) == 2, 5, "the second line")
    assert bad_requests_logged(caplog)[1].getMessage().endswith("; 4 more not logged")
    assert len(bad_requests_logged(caplog)) == 2


async def test_a_websocket_key_that_is_not_ascii_is_answered_400_without_a_traceback(
    headset: tuple[str, Broker], caplog: pytest.LogCaptureFixture
) -> None:
    address = URL(headset[0])
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {address.host}:{address.port}\r\n"
        f"Origin: http://{address.host}:{address.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    ).encode() + b"Sec-WebSocket-Key: \xff\xff\r\n\r\n"
    assert (await answer_to(headset[0], request)).split(b" ", 2)[1] == b"400"
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


def _room_state(latched: bool) -> str:
    """The part of the room's retained state a display reads: its emergency."""
    return json.dumps({"room": "r", "emergency": {"active": latched, "since": None}})


@contextlib.asynccontextmanager
async def _screen_of_a_room(
    mosquitto: Mosquitto, content: Path, *, latched: bool, **device: Any
) -> AsyncIterator[tuple[DisplayServer, RoomTopics, Broker, aiohttp.ClientWebSocketResponse]]:
    """A display of a room of its own, one page open (its hello read), the room's retained
    state saying whether its emergency is `latched` from the start (removed after)."""
    room = RoomTopics(f"r{uuid.uuid4().hex[:8]}")
    server = _server(mosquitto, content, room_id=room.room, **device)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as engine:
        await engine.publish(room.state, _room_state(latched), qos=1, retain=True)
    try:
        async with (
            _running(server, mosquitto) as (url, broker),
            aiohttp.ClientSession() as session,
            session.ws_connect(url + "ws") as page,
        ):
            await page.receive_json()
            yield server, room, broker, page
    finally:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as engine:
            await engine.publish(room.state, b"", qos=1, retain=True)


async def test_while_the_room_emergency_is_latched_only_what_stops_or_lowers_is_carried_out(
    mosquitto: Mosquitto, content: Path
) -> None:
    """The engine's latch holds what it sends; a display on an open broker holds what
    anyone else sends during the latch (a play, a raise, a set), and stops what it still
    plays when the room latches (the engine's stop may have been lost). When the room
    clears, what the engine sent in the clearing (before its state said so) is carried
    out, and nothing older."""
    async with _screen_of_a_room(
        mosquitto, content, latched=False, kind="vr", driver="mqtt-vr"
    ) as (server, room, broker, page):
        now = [100.0]
        server.clock = lambda: now[0]
        told = f"{server.base}/set"
        await broker.client.publish(told, '{"action":"play","content":"breathing:6","volume":40}')
        assert (await _next(page, lambda m: m.get("type") == "vr"))["seq"] == 1
        await broker.client.publish(room.state, _room_state(True), retain=True)
        latched = await _next(page, lambda m: m.get("type") == "vr")  # the engine's stop lost
        assert (latched["action"], latched["seq"]) == ("stop", 2)
        for refused in (
            '{"action":"play","content":"breathing:8"}',
            '{"action":"resume"}',
            '{"action":"volume","volume":60}',
            '{"action":"brightness","level":100.5}',
        ):
            await broker.client.publish(told, refused)
        await broker.client.publish(told, '{"action":"volume","volume":20}')
        lowered = await _next(page, lambda m: m.get("type") == "vr")
        assert (lowered["action"], lowered["volume"], lowered["seq"]) == ("volume", 20, 2)
        await broker.client.publish(told, '{"action":"stop"}')
        stop = await _next(page, lambda m: m.get("type") == "vr")
        assert (stop["action"], stop["seq"]) == ("stop", 3)
        now[0] = 110.0
        await broker.client.publish(told, '{"action":"play","content":"breathing:5"}')
        now[0] = 110.5
        await broker.client.publish(room.state, _room_state(False), retain=True)
        play = await _next(page, lambda m: m.get("type") == "vr")
        assert (play["action"], play["content"], play["seq"]) == ("play", "breathing:5", 4)
        await broker.client.publish(told, '{"action":"volume","volume":30}')
        assert (await _next(page, lambda m: m.get("type") == "vr"))["volume"] == 30


async def test_a_light_bar_set_waits_for_the_room_emergency_to_clear(
    mosquitto: Mosquitto, content: Path
) -> None:
    """A latched room's retained state, found on connecting, holds a set from anywhere."""
    async with _screen_of_a_room(
        mosquitto, content, latched=True, kind="bls", driver="mqtt-bls", mode="visual"
    ) as (server, _, broker, page):
        await broker.client.publish(f"{server.base}/set", '{"running":true,"speed_hz":1}')
        await broker.client.publish(f"{server.base}/set", '{"running":false}')
        stop = await _next(page, lambda m: m.get("type") == "bls")
        assert (stop["running"], stop["seq"]) == (False, 1)


@pytest.mark.parametrize(
    "unreadable",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nested far beyond 32
        b'{"emergency": {"active": NaN}}',
        b'{"emergency": {"active": false}, "room": "\\ud800"}',  # a lone surrogate
        b"\xff\xfe not UTF-8",
        b'{"emergency": {"active": false}}' + b" " * 1024 * 1024,  # over the state's limit
    ],
    ids=["nested", "nan", "lone-surrogate", "not-utf8", "oversized"],
)
async def test_a_room_state_the_display_cannot_read_leaves_the_latch_as_it_was(
    mosquitto: Mosquitto, content: Path, unreadable: bytes
) -> None:
    """Only a readable state clears the latch: garbage on the room's state topic (hostile or
    damaged) is logged and passed over, and a set sent after it is still held back."""
    async with _screen_of_a_room(
        mosquitto, content, latched=True, kind="bls", driver="mqtt-bls", mode="visual"
    ) as (server, room, broker, page):
        await broker.client.publish(room.state, unreadable)
        await broker.client.publish(f"{server.base}/set", '{"running":true,"speed_hz":1}')
        await broker.client.publish(f"{server.base}/set", '{"running":false}')
        stop = await _next(page, lambda m: m.get("type") == "bls")
        assert (stop["running"], stop["seq"]) == (False, 1)
        assert server.latched


async def test_a_fault_while_following_the_room_s_state_leaves_the_display_taking_commands(
    mosquitto: Mosquitto, content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours while following the room's state (injected: no input is known to cause
    one) is logged, the latch left as it was, and the display goes on taking commands: the
    fault ended its connection's task, and nothing sent after it reached the screen."""
    async with _screen_of_a_room(
        mosquitto, content, latched=False, kind="bls", driver="mqtt-bls", mode="visual"
    ) as (server, room, broker, page):

        async def fails(payload: bytes) -> None:
            raise RuntimeError("a fault of ours")

        monkeypatch.setattr(server, "_room_state", fails)
        await broker.client.publish(room.state, _room_state(True), retain=True)
        await broker.client.publish(f"{server.base}/set", '{"running":true,"speed_hz":1}')
        started = await _next(page, lambda m: m.get("type") == "bls")
        assert started["running"] is True and not server.latched


async def test_what_passed_during_the_latch_has_the_last_word_over_what_it_held_back(
    mosquitto: Mosquitto, content: Path
) -> None:
    """A play held back, then a stop that passed: the room's clearing does not play it
    after the newer stop; a raise held back, then a lower volume that passed: the clearing
    does not raise it again, nor by the volume a play held back carries (a play at 90 held
    before a volume of 5 played at 70, the cap). Of two plays held back, the later one
    plays."""
    async with _screen_of_a_room(mosquitto, content, latched=True, kind="vr", driver="mqtt-vr") as (
        server,
        room,
        broker,
        page,
    ):
        server.clock = lambda: 100.0
        told = f"{server.base}/set"
        await broker.client.publish(told, '{"action":"volume","volume":40}')
        assert (await _next(page, lambda m: m.get("type") == "vr"))["volume"] == 40
        for command in (
            '{"action":"play","content":"breathing:5"}',
            '{"action":"stop"}',
            '{"action":"volume","volume":80}',
            '{"action":"volume","volume":10}',
        ):
            await broker.client.publish(told, command)
        await _next(page, lambda m: m.get("action") == "stop")
        assert (await _next(page, lambda m: m.get("type") == "vr"))["volume"] == 10
        await broker.client.publish(room.state, _room_state(False), retain=True)
        await broker.client.publish(room.state, _room_state(True), retain=True)
        for command in (
            '{"action":"play","content":"breathing:6","volume":90}',
            '{"action":"play","content":"breathing:8"}',
        ):
            await broker.client.publish(told, command)
        await eventually(lambda: len(server._held) == 2, 5, "both plays held back")
        await broker.client.publish(told, '{"action":"volume","volume":5}')
        assert (await _next(page, lambda m: m.get("type") == "vr"))["volume"] == 5
        await broker.client.publish(room.state, _room_state(False), retain=True)
        shown = [await _next(page, lambda m: m.get("type") == "vr") for _ in range(2)]
        assert [(m["action"], m.get("content"), m["volume"]) for m in shown] == [
            ("play", "breathing:6", 5),
            ("play", "breathing:8", 5),
        ]


async def test_a_display_reads_the_room_state_before_it_takes_a_command(
    mosquitto: Mosquitto, content: Path
) -> None:
    """Started while the room is latched, the display subscribes to the room's state before
    its commands: the broker hands it the retained latch before any command can come, so
    none is carried out in between (as the broker's log shows the subscriptions)."""
    async with _screen_of_a_room(mosquitto, content, latched=True, kind="vr", driver="mqtt-vr") as (
        server,
        room,
        _,
        _,
    ):
        assert server.latched
        lines = mosquitto.log_file.read_text().splitlines()
    start = lines.index(next(line for line in lines if line.endswith(f"from {server.client_id}")))
    subscribed = [line.split("\t")[1].split(" ")[0] for line in lines[start:] if "\t" in line]
    assert subscribed[0] == room.state
    assert f"{server.base}/set" in subscribed


async def test_a_display_that_may_not_read_the_room_state_takes_commands_on_one_connection(
    tmp_path: Path, content: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A facility broker's access list hides the room's state from a device login (Mosquitto
    grants the subscription and delivers nothing): the display takes commands on the one
    connection, with no error and no reconnecting."""
    acl = tmp_path / "acl"
    acl.write_text("topic write sessionroom/+/state\ntopic readwrite vr/#\n")
    broker = Mosquitto(mosquitto_binary(), tmp_path, extra_config=f"user root\nacl_file {acl}\n")
    broker.start()
    try:
        caplog.set_level(logging.INFO, "controller.display")
        async with aiomqtt.Client(broker.host, broker.port) as engine:
            await engine.publish("sessionroom/test/state", _room_state(True), qos=1, retain=True)
        async with _headset_page_open(broker, content) as (_, bus, page):
            await _still_plays(bus, page)  # a play: the room's latch is not seen
    finally:
        broker.stop()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "controller.display"]
    assert [m for m in said if m[0] != "INFO"] == []
    assert sum(m.startswith("screen on mqtt://") for _, m in said) == 1
