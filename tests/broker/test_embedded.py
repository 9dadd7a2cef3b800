"""The embedded amqtt broker: starts on a free port, carries the bus, stops cleanly.

Also pins what amqtt 0.12.1 does differently from Mosquitto, so a fix upstream shows up here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import aiomqtt
import pytest

from controller.broker import EmbeddedBroker, EmbeddedBrokerError
from controller.bus.bus import Bus
from tests.bus.support import (
    FAST_RETRY,
    ConnectionLog,
    Recorder,
    eventually,
    eventually_retained,
    settings_for,
)
from tests.support.mosquitto import free_port, port_accepts

REPO = Path(__file__).resolve().parents[2]


def bus_on(broker: EmbeddedBroker, client_id: str) -> Bus:
    return Bus(settings_for(broker.host, broker.port), client_id=client_id, **FAST_RETRY)


async def test_a_bus_roundtrips_through_a_broker_on_a_free_port() -> None:
    async with EmbeddedBroker(host="127.0.0.1", port=0) as broker:
        assert broker.port > 0
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        received = Recorder()
        async with bus_on(broker, "engine") as bus:
            bus.subscribe("sessionroom/room-a/cmd", received)
            await bus.publish("sessionroom/room-a/cmd", '{"action":"next"}')
            await eventually(lambda: received.payloads == ['{"action":"next"}'])


async def test_a_configured_port_is_the_port_it_listens_on() -> None:
    """Checked with an MQTT client: amqtt 0.12.1 leaves a bare TCP probe's socket unclosed."""
    port = free_port()
    async with EmbeddedBroker(port=port) as broker:
        assert broker.port == port
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.publish("room/probe", "hello", qos=1)


async def test_two_brokers_run_side_by_side_without_crosstalk() -> None:
    async with EmbeddedBroker() as first, EmbeddedBroker() as second:
        assert first.port != second.port
        heard_first, heard_second = Recorder(), Recorder()
        async with bus_on(first, "room-a") as bus_a, bus_on(second, "room-b") as bus_b:
            bus_a.subscribe("room/cmd", heard_first)
            bus_b.subscribe("room/cmd", heard_second)
            await bus_a.publish("room/cmd", "to a")
            await bus_b.publish("room/cmd", "to b")
            await eventually(lambda: heard_first.payloads == ["to a"])
            await eventually(lambda: heard_second.payloads == ["to b"])
        assert heard_first.payloads == ["to a"]


async def test_shutdown_closes_the_port_and_leaves_no_tasks_or_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks_before = asyncio.all_tasks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with EmbeddedBroker() as broker, bus_on(broker, "engine") as bus:
            assert await bus.wait_connected(timeout=5)
    assert not port_accepts(broker.port)
    assert asyncio.all_tasks() == tasks_before
    assert [str(warning.message) for warning in caught] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_bus_outliving_the_broker_reports_the_loss() -> None:
    connections = ConnectionLog()
    async with EmbeddedBroker() as broker:
        bus = bus_on(broker, "engine")
        bus.on_connection(connections)
        async with bus:
            assert await bus.wait_connected(timeout=5)
            await broker.__aexit__(None, None, None)  # the block's own exit is then a no-op
            await eventually(lambda: connections.states == [True, False])
    assert connections.changes[1].reason is not None


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(EmbeddedBrokerError, match=f"127.0.0.1:{port}: Address already in use"):
            async with EmbeddedBroker(port=port):
                pass


async def test_birth_and_will_are_retained_on_the_embedded_broker() -> None:
    async with EmbeddedBroker() as broker:
        arguments = [broker.host, str(broker.port), "killed-engine", "room/status"]
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.bus.bus_process", *arguments],
            cwd=REPO,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), timeout=20)
            assert line == b"connected\n"
            await eventually_retained(broker.host, broker.port, "room/status", "online")
            child.send_signal(signal.SIGKILL)
            await eventually_retained(broker.host, broker.port, "room/status", "offline")
        finally:
            child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()


async def test_retained_messages_amqtt_leaks_to_other_clients_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """amqtt 0.12.1 sends a connecting client the retained messages of every session's filters.

    (broker.py, `_handle_client_session`: "Publish retained messages to a pre-existing
    session's subscriptions" loops over all subscriptions, not the client's own.)
    """
    caplog.set_level(logging.DEBUG, logger="controller.bus.bus")
    lamp_state = Recorder()
    async with (
        EmbeddedBroker() as broker,
        aiomqtt.Client(broker.host, broker.port, identifier="console") as console,
    ):
        await console.publish("sessionroom/room-a/state", '{"phase":"peak"}', retain=True)
        await console.subscribe("sessionroom/room-a/state")
        async with bus_on(broker, "lamp-driver") as bus:
            bus.subscribe("zigbee2mqtt/+", lamp_state)
            leak = "dropped a message on sessionroom/room-a/state"
            await eventually(lambda: leak in caplog.text)
            await bus.publish("zigbee2mqtt/lamp", '{"state":"ON"}')
            await eventually(lambda: lamp_state.payloads == ['{"state":"ON"}'])
    assert [message.topic for message in lamp_state.messages] == ["zigbee2mqtt/lamp"]


@pytest.mark.xfail(
    strict=True, reason="amqtt 0.12.1 sends one copy per matching subscription (Mosquitto: one)"
)
async def test_overlapping_filters_deliver_a_message_once() -> None:
    async with EmbeddedBroker() as broker:
        everything, lamp = Recorder(), Recorder()
        async with bus_on(broker, "overlap") as bus:
            bus.subscribe("zigbee2mqtt/#", everything)
            bus.subscribe("zigbee2mqtt/lamp", lamp)
            await bus.publish("zigbee2mqtt/lamp", "once")
            await bus.publish("zigbee2mqtt/end", "end")
            await eventually(lambda: everything.payloads[-1:] == ["end"])
        assert lamp.payloads == ["once"]
        assert everything.payloads == ["once", "end"]


async def test_a_broker_cannot_be_entered_twice() -> None:
    broker = EmbeddedBroker()
    async with broker:
        with pytest.raises(RuntimeError, match="already running"):
            await broker.__aenter__()
