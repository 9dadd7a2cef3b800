"""`facility retire` on the embedded broker (amqtt), which takes topics Mosquitto refuses: a
retained message under the room's topics whose topic carries a terminal escape sequence is
cleared, and named with the escape shown as its picture, never sent to the terminal."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiomqtt

from controller.broker.embedded import EmbeddedBroker

HOSTILE = "sessionroom/room-x/\x1b[2Jwiped"


async def test_a_topic_with_an_escape_sequence_is_cleared_and_named_harmlessly(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.yaml").write_text("room: room-x\n")
    async with EmbeddedBroker(host="127.0.0.1", port=0) as broker:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(HOSTILE, b"x", qos=1, retain=True)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controller.cli", "facility", "retire",
            "--config", str(tmp_path / "config.yaml"),
            "--broker", f"mqtt://127.0.0.1:{broker.port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, stderr.decode()
    assert b"\x1b" not in stdout + stderr
    assert "cleared sessionroom/room-x/␛[2Jwiped" in stdout.decode()
