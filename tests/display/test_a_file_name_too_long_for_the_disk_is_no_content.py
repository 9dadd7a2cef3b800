"""A content name that is too long for the file system is a content the display cannot play.

A name of a few hundred characters passes the content id's own length (300 characters) but
not the disk's (255 bytes a name: 130 `é` are 260): looking the file up raised OSError
rather than the display's "no such file". A play of it from anywhere on the broker was
logged as a fault of the display, with its traceback, at every command; the page's request
for it was answered 500. A symbolic link in the folder that leads back to itself did the
same (pathlib raises RuntimeError for it).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from urllib.parse import quote

import aiohttp
import aiomqtt
import pytest

from controller.config.models import Device
from controller.display.server import DisplayServer
from controller.sim.device import BrokerAddress
from tests.console.polling import eventually
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

LONG_NAME = "é" * 130 + ".webm"
"""265 characters (within a content id's 300), 265 bytes: more than a file name may have."""


async def test_a_play_or_request_of_a_name_the_disk_cannot_look_up_is_refused_as_no_file(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="controller")
    content = tmp_path / "content"
    content.mkdir()
    (content / "loop.webm").symlink_to(content / "loop.webm")
    server = DisplayServer(
        Device(
            id="screen",
            kind="vr",
            driver="mqtt-vr",
            topic=f"d{uuid.uuid4().hex[:8]}",
            display={"port": 1},
        ),
        BrokerAddress(mosquitto.host, mosquitto.port),
        room_id="test",
        content_dir=content,
        port=0,
    )
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(server.run(stop, started=started.set_result))
    try:
        url = await asyncio.wait_for(started, 10)
        async with (
            aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
            aiohttp.ClientSession() as session,
            session.ws_connect(url + "ws") as page,
        ):
            await page.receive_json()  # hello
            await eventually(lambda: server.pages, 5, "the page is open")
            for name in (LONG_NAME, f"walks/{LONG_NAME}", "loop.webm"):
                await client.publish(
                    f"{server.base}/set", f'{{"action":"play","content":"{name}"}}', qos=1
                )
            await client.publish(
                f"{server.base}/set", '{"action":"play","content":"breathing:6"}', qos=1
            )
            shown = await asyncio.wait_for(page.receive_json(), 5)
            assert shown["content"] == "breathing:6"  # the long names were not played
            for name in (quote(LONG_NAME), "loop.webm"):
                async with session.get(url + "content/" + name) as response:
                    assert response.status == 404
    finally:
        stop.set()
        await task
    faults = [r for r in caplog.records if r.exc_info is not None]
    assert not faults, f"logged as a fault: {faults[0].getMessage()}"
    ignored = [r.getMessage() for r in caplog.records if "ignores play" in r.getMessage()]
    assert len(ignored) == 3, ignored
