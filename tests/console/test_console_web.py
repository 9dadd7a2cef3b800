"""End to end: `sessionroom console --web` opened in headless Chromium, driven with Selenium.

A tablet in the room opens the console in a browser; pressing the next-phase key there
must change the real engine's phase (`RoomService` with the simulated room). Chromium and
chromedriver are Debian's (`apt-get install chromium chromium-driver`); Selenium never
downloads a browser here.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.api.client import RoomClient
from controller.config.settings import BrokerSettings
from controller.console.keymap import DEFAULT_KEYMAP
from controller.engine.service import RoomService
from controller.webnames import CONNECTIONS_PER_ADDRESS, REQUEST_TIMEOUT_S
from tests.console.live_room import live_engine
from tests.console.polling import eventually
from tests.support.browser import chromium
from tests.support.mosquitto import Mosquitto, free_port, port_accepts

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

DEADLINE_S = 30.0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium through its chromedriver, with a fresh profile."""
    driver = chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


@pytest.fixture
async def engine(private_mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[RoomService]:
    """The real engine with the simulated room, a session started in its first phase."""
    async with live_engine(private_mosquitto, tmp_path / "data") as service:
        settings = BrokerSettings(host=private_mosquitto.host, port=private_mosquitto.port)
        async with RoomClient(settings, room=service.room.room_id, client_id="web-test") as client:
            reply = await client.command("start", timeout=10, plan="rehearsal", participant="P7")
            assert reply["ok"], reply
        yield service


def start_web_console(
    mosquitto: Mosquitto, room: str, config: Path, tmp_path: Path, *options: str
) -> Iterator[int]:
    """`sessionroom console --web OPTIONS` on a free port until the test ends; yields the port."""
    port = free_port()
    sessionroom = str(Path(sys.executable).with_name("sessionroom"))
    command = [sessionroom, "console", "--web", "--port", str(port), *options]
    command += ["--config", str(config), "--broker", mosquitto.url, "--room", room]
    log = (tmp_path / "web-console.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + DEADLINE_S
    while not port_accepts(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            output = (tmp_path / "web-console.log").read_text()
            pytest.fail(f"the web console did not start:\n{output}")
        time.sleep(0.05)
    try:
        yield port
    finally:  # also when the test using it fails
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def web_console(
    private_mosquitto: Mosquitto, engine: RoomService, example_config: Path, tmp_path: Path
) -> Iterator[str]:
    """`sessionroom console --web` on a free loopback port; yields its address."""
    room = engine.room.room_id
    for port in start_web_console(
        private_mosquitto, room, example_config, tmp_path, "--host", "127.0.0.1"
    ):
        yield f"http://127.0.0.1:{port}/"


TABLET_PASSWORD = "tablet-in-room-a"


@pytest.fixture
def tablet_console(
    private_mosquitto: Mosquitto, engine: RoomService, example_config: Path, tmp_path: Path
) -> Iterator[str]:
    """The console bound to every address with a sign-in; yields it at 127.0.0.2, as a tablet
    on the room's network would reach it at the room PC's own address."""
    password_file = tmp_path / "console.password"
    password_file.write_text(TABLET_PASSWORD + "\n")
    room = engine.room.room_id
    options = ("--host", "0.0.0.0", "--password-file", str(password_file))
    for port in start_web_console(private_mosquitto, room, example_config, tmp_path, *options):
        yield f"http://127.0.0.2:{port}/"


def phase(engine: RoomService) -> str | None:
    assert engine.engine is not None
    current = engine.engine.snapshot().phase
    return None if current is None else current.name


def page_state(browser: Any, state: str) -> bool:
    """Whether the console's page is in `state` (a class of its body): "-first-byte" once the
    console draws, "-closed" once its websocket closed ("Session ended.")."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        classes = browser.find_element(By.TAG_NAME, "body").get_attribute("class") or ""
    except StaleElementReferenceException:  # the page was replaced as it was read
        return False
    return state in classes.split()


def sign_in(browser: Any, password: str) -> None:
    """Type `password` into the sign-in page and submit it."""
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.NAME, "password")
    field.clear()
    field.send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


async def next_phase_from_the_browser(engine: RoomService, browser: Any) -> None:
    """Wait for the console to draw, then press the next-phase key until the engine moves on."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    await eventually(
        lambda: page_state(browser, "-first-byte"), DEADLINE_S, what="the console draws"
    )
    terminal = browser.find_element(By.CSS_SELECTOR, ".textual-terminal")
    await asyncio.to_thread(ActionChains(browser).click(terminal).perform)

    # The page draws before the console has the engine's state; until it has, the key is
    # disabled, so it is pressed again until the engine moves on (its 2 s guard ignores a
    # second press that lands right after the first).
    press_next = ActionChains(browser).send_keys(DEFAULT_KEYMAP.key("next_phase"))
    deadline = time.monotonic() + DEADLINE_S
    while phase(engine) == "centering":
        assert time.monotonic() < deadline, "next phase never reached the engine"
        await asyncio.to_thread(press_next.perform)
        await asyncio.sleep(0.5)
    assert phase(engine) == "peak"


async def test_the_next_phase_key_pressed_in_the_browser_moves_the_engine_on(
    engine: RoomService, web_console: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    assert phase(engine) == "centering"
    await asyncio.to_thread(browser.get, web_console)
    await next_phase_from_the_browser(engine, browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "form.sign-out")  # no sign-in, no sign-out


async def test_a_tablet_signs_in_and_its_console_connects_back_to_the_address_it_used(
    engine: RoomService, tablet_console: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    await asyncio.to_thread(browser.get, tablet_console)
    assert browser.current_url == f"{tablet_console}signin"
    await asyncio.to_thread(sign_in, browser, "not-the-password")
    # a click submits the form and returns: the answer replaces the page a moment later
    await eventually(lambda: "Wrong password." in browser.page_source, what="the refusal")
    assert not browser.find_elements(By.CSS_SELECTOR, ".textual-terminal")
    await asyncio.to_thread(sign_in, browser, TABLET_PASSWORD)
    await eventually(lambda: browser.current_url == tablet_console, what="the console's page")
    page = browser.find_element(By.CSS_SELECTOR, "[data-session-websocket-url]")
    websocket = page.get_attribute("data-session-websocket-url")
    assert websocket == tablet_console.replace("http:", "ws:") + "ws"
    assert phase(engine) == "centering"
    await next_phase_from_the_browser(engine, browser)


async def test_a_tablet_signs_out_and_every_console_of_its_sign_in_ends(
    engine: RoomService, tablet_console: str, browser: Any
) -> None:
    """A therapist leaving a shared tablet presses Sign out (below the console, covering none
    of it): that page is back at the sign-in, another page of the same sign-in shows its
    console ended, and opening the console again asks for the password."""
    from selenium.webdriver.common.by import By

    await asyncio.to_thread(browser.get, tablet_console)
    await asyncio.to_thread(sign_in, browser, TABLET_PASSWORD)
    await eventually(lambda: page_state(browser, "-first-byte"), DEADLINE_S, what="a console")
    first = browser.current_window_handle
    await asyncio.to_thread(browser.switch_to.new_window, "tab")
    await asyncio.to_thread(browser.get, tablet_console)
    await eventually(lambda: page_state(browser, "-first-byte"), DEADLINE_S, what="a second")
    terminal = browser.find_element(By.CSS_SELECTOR, ".textual-terminal").rect
    button = browser.find_element(By.CSS_SELECTOR, "form.sign-out button")
    assert button.text == "Sign out"
    assert button.rect["y"] >= terminal["y"] + terminal["height"]
    await asyncio.to_thread(button.click)
    signed_out = f"{tablet_console}signin"
    await eventually(lambda: browser.current_url == signed_out, what="the sign-in page")
    await asyncio.to_thread(browser.switch_to.window, first)
    await eventually(lambda: page_state(browser, "-closed"), DEADLINE_S, what="its console ends")
    await asyncio.to_thread(browser.get, tablet_console)
    assert browser.current_url == signed_out


async def test_a_connection_that_trickles_its_request_is_closed_after_the_request_timeout(
    private_mosquitto: Mosquitto, example_config: Path, tmp_path: Path
) -> None:
    """The served console closes a connection that has not sent a whole request within
    REQUEST_TIMEOUT_S (aiohttp's own default would hold it 75 s); a page is still served."""
    for port in start_web_console(
        private_mosquitto, "room-a", example_config, tmp_path, "--host", "127.0.0.1"
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: a".encode())
        opened = time.monotonic()
        assert await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT_S + 10) == b""
        held = time.monotonic() - opened
        writer.close()
        assert REQUEST_TIMEOUT_S - 1 < held < REQUEST_TIMEOUT_S + 5
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
        writer.close()


async def served(host: str, port: int, *, source: str = "127.0.0.1") -> bool:
    """Whether a GET of the page from `source` is answered 200 (not closed at once)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        return (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


async def test_one_address_holds_a_bounded_number_of_connections_and_others_are_served(
    private_mosquitto: Mosquitto, example_config: Path, tmp_path: Path
) -> None:
    """An address that holds CONNECTIONS_PER_ADDRESS idle connections has its next closed at
    once (not after the request timeout); another address is served meanwhile, and the first
    again once one of its connections is closed."""
    for port in start_web_console(
        private_mosquitto, "room-a", example_config, tmp_path, "--host", "127.0.0.1"
    ):
        held = [
            await asyncio.open_connection("127.0.0.1", port) for _ in range(CONNECTIONS_PER_ADDRESS)
        ]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            opened = time.monotonic()
            assert await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT_S + 10) == b""
            writer.close()
            assert time.monotonic() - opened < REQUEST_TIMEOUT_S / 2
            assert await served("127.0.0.1", port, source="127.0.0.2")
            held.pop()[1].close()
            assert await eventually_served("127.0.0.1", port)
        finally:
            for _, idle in held:
                idle.close()


async def eventually_served(host: str, port: int) -> bool:
    """Whether the page is served within 10 s (the server sees a closed connection soon)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            if await served(host, port):
                return True
        await asyncio.sleep(0.05)
    return False
