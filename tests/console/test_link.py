"""The console's MQTT link against the real Mosquitto: what it hears, what becomes of a command."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.config.loader import Room
from controller.config.settings import RoomSettings
from controller.console.link import (
    BrokerConnection,
    Endpoint,
    LinkUpdate,
    Outcome,
    RoomLink,
    StateMessage,
    StatusMessage,
)
from tests.console import sample_states as states
from tests.console.polling import eventually
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import free_port


class Listening:
    """A link running in the background, with everything it reported."""

    def __init__(self, link: RoomLink, heard: list[LinkUpdate]) -> None:
        self.link = link
        self.heard = heard

    def states(self) -> list[StateMessage]:
        return [update for update in self.heard if isinstance(update, StateMessage)]


@pytest.fixture
async def listening(endpoint: Endpoint, room: str) -> AsyncIterator[Listening]:
    heard: list[LinkUpdate] = []
    link = RoomLink(endpoint, room, heard.append)
    running = asyncio.create_task(link.run())
    await eventually(lambda: link.connected, what="the link connects")
    yield Listening(link, heard)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


@pytest.mark.mosquitto
async def test_the_link_reports_the_connection_then_retained_status_and_state(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.setup_state(room)
    await engine.publish_state(state)
    heard: list[LinkUpdate] = []
    link = RoomLink(endpoint, room, heard.append)
    running = asyncio.create_task(link.run())
    try:
        await eventually(lambda: len(heard) >= 3)
    finally:
        running.cancel()
    assert heard[0] == BrokerConnection(connected=True)
    assert StatusMessage("online") in heard
    assert StateMessage(state) in heard


@pytest.mark.mosquitto
async def test_a_status_that_is_neither_online_nor_offline_is_unknown(
    engine: StandInEngine, listening: Listening
) -> None:
    await engine.publish_status("rebooting")
    await eventually(lambda: StatusMessage("unknown") in listening.heard)


@pytest.mark.mosquitto
async def test_a_cleared_state_means_no_state_and_a_broken_one_says_what_is_wrong(
    engine: StandInEngine, listening: Listening
) -> None:
    await engine.publish_raw_state(b"")
    await engine.publish_raw_state(b"not json")
    await eventually(lambda: len(listening.states()) >= 2)
    cleared, broken = listening.states()[-2:]
    assert cleared == StateMessage(None)
    assert broken.state is None
    assert broken.problem is not None and broken.problem.startswith("unreadable state")


HOSTILE = [b"[" * 5000, b"{" * 5000, b'{"id":' + b"9" * 5000 + b"}", b"\xff\xfe", b'"\\ud800"']


@pytest.mark.mosquitto
async def test_hostile_messages_leave_the_link_alive_and_emergency_still_answered(
    engine: StandInEngine, listening: Listening
) -> None:
    """A message no engine writes (deep nesting, 5,000-digit numbers, bytes that are not
    text) on the state or a reply topic is unreadable, and the link lives on: the next
    command, the emergency, still gets its answer."""
    for payload in HOSTILE:
        await engine.publish_raw(engine.topics.reply("x"), payload)
        await engine.publish_raw_state(payload)
    await eventually(lambda: len(listening.states()) >= len(HOSTILE))
    assert all(m.state is None and m.problem for m in listening.states()[-len(HOSTILE) :])
    outcome = await listening.link.request({"id": "e-1", "action": "emergency"})
    assert outcome == Outcome("done")


@pytest.mark.mosquitto
async def test_a_command_the_engine_accepts_is_done(
    engine: StandInEngine, listening: Listening
) -> None:
    outcome = await listening.link.request({"id": "c-1", "action": "next"})
    assert outcome == Outcome("done")
    assert engine.commands == [{"id": "c-1", "action": "next"}]


@pytest.mark.mosquitto
async def test_a_refused_command_carries_the_engines_reason(
    engine: StandInEngine, listening: Listening
) -> None:
    engine.refusals["bls"] = "BLS speed 3 Hz is above the room's 2 Hz"
    outcome = await listening.link.request({"id": "c-2", "action": "bls", "op": "start"})
    assert outcome == Outcome("refused", "BLS speed 3 Hz is above the room's 2 Hz")


@pytest.mark.mosquitto
async def test_a_command_without_a_reply_times_out_and_says_so(
    engine: StandInEngine, listening: Listening
) -> None:
    engine.silent.add("hold")
    outcome = await listening.link.request({"id": "c-3", "action": "hold"}, timeout=0.2)
    assert outcome == Outcome("no_reply", "no reply from the engine within 0.2 s")


async def test_a_command_without_a_broker_is_not_sent(endpoint: Endpoint, room: str) -> None:
    link = RoomLink(endpoint, room, lambda update: None)
    outcome = await link.request({"id": "c-4", "action": "next"})
    assert outcome == Outcome("not_sent", "not connected to the broker")


async def test_an_unreachable_broker_is_reported_with_each_attempt(room: str) -> None:
    heard: list[LinkUpdate] = []
    link = RoomLink(Endpoint("127.0.0.1", free_port()), room, heard.append)
    running = asyncio.create_task(link.run())
    try:
        await eventually(lambda: len(heard) >= 1)
        link.reconnect()
        await eventually(lambda: len(heard) >= 2)
    finally:
        running.cancel()
    connections = [update for update in heard if isinstance(update, BrokerConnection)]
    assert [(update.connected, update.attempt) for update in connections[:2]] == [
        (False, 1),
        (False, 2),
    ]


# --------------------------------------------------------------------------- where the broker is


def room_with_broker(example_config: Path, broker: object) -> Room:
    settings = RoomSettings.model_validate({"room": "room-a", "broker": broker})
    return Room(config_path=example_config, settings=settings)


def test_the_embedded_broker_is_reached_on_loopback_at_its_configured_port(
    example_config: Path,
) -> None:
    room = room_with_broker(example_config, {"mode": "embedded", "port": 1884})
    assert Endpoint.for_room(room).url == "mqtt://127.0.0.1:1884"


def test_an_embedded_broker_on_a_free_port_needs_the_broker_option(example_config: Path) -> None:
    room = room_with_broker(example_config, {"mode": "embedded", "port": 0})
    with pytest.raises(ValueError, match=re.escape("give --broker mqtt://127.0.0.1:PORT")):
        Endpoint.for_room(room)


SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Debian's CA bundle (ca-certificates): a real PEM file to build a TLS context from."""


def test_an_external_broker_brings_its_password_and_tls_files(
    example_config: Path, tmp_path: Path
) -> None:
    password = tmp_path / "broker-password"
    password.write_text("s3cret\n")
    ca_file = tmp_path / "ca.pem"
    shutil.copy(SYSTEM_CA_BUNDLE, ca_file)
    broker = {
        "mode": "external",
        "host": "broker.local",
        "port": 8883,
        "username": "console",
        "password_file": str(password),
        "tls": {"ca_file": str(ca_file)},
    }
    endpoint = Endpoint.for_room(room_with_broker(example_config, broker))
    assert endpoint.url == "mqtts://broker.local:8883"
    assert (endpoint.username, endpoint.password) == ("console", "s3cret")
    assert endpoint.tls_context is not None
    assert endpoint.tls_context.verify_mode == ssl.CERT_REQUIRED


def test_a_missing_tls_file_is_a_clear_error(example_config: Path) -> None:
    broker = {"mode": "external", "port": 8883, "tls": {"ca_file": "certs/absent.pem"}}
    with pytest.raises(ValueError, match=r"absent\.pem"):
        Endpoint.for_room(room_with_broker(example_config, broker))


def test_an_unreadable_password_file_is_a_clear_error(example_config: Path, tmp_path: Path) -> None:
    broker = {"mode": "external", "username": "console", "password_file": str(tmp_path / "absent")}
    with pytest.raises(ValueError, match=r"broker password_file .*absent"):
        Endpoint.for_room(room_with_broker(example_config, broker))
