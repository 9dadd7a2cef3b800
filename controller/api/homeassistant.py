"""Home Assistant MQTT discovery: the room as one device, read-only but for the emergency.

With `home_assistant: {discovery: true}` in config.yaml the engine publishes, retained, one
device-based discovery message (`<prefix>/device/sessionroom_<room>/config`, Home Assistant
2024.12 and later): sensors for the phase, its elapsed and remaining time, heart rate and
SpO2, binary sensors for an open session and an active emergency, all read from the
retained `sessionroom/<room>/state`, and one button that publishes to
`sessionroom/<room>/emergency`, which the engine takes as an emergency press (lights up is
always safe; nothing else is reachable from there). Availability follows the engine's
`status`. The message is published again when Home Assistant announces `online` on
`<prefix>/status`; with discovery off, the engine clears it (an empty retained message).
A press left retained on the emergency topic is cleared and not taken as an emergency.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from controller import __version__
from controller.api.topics import OFFLINE, ONLINE, RoomTopics
from controller.bus import Message
from controller.bus.bus import Bus
from controller.config.settings import HomeAssistantSettings, RoomSettings

ORIGIN = {"name": "Sessionroom", "sw_version": __version__}
PHASE_OR_NONE = "if value_json.phase else None"


def _vital(key: str) -> str:
    """A template giving the first vitals reading of `key` in the state, or None."""
    return (
        f"{{% set v = value_json.vitals.values() | selectattr('{key}', 'number') "
        f"| map(attribute='{key}') | list %}}{{{{ v[0] if v else None }}}}"
    )


# Entity key → (platform, name, extra discovery keys)
ENTITIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "phase": ("sensor", "Phase", {
        "value_template": f"{{{{ value_json.phase.name {PHASE_OR_NONE} }}}}",
        "icon": "mdi:timeline-clock",
    }),
    "elapsed": ("sensor", "Phase elapsed", {
        "value_template": f"{{{{ value_json.phase.elapsed_s | round(0) {PHASE_OR_NONE} }}}}",
        "device_class": "duration", "unit_of_measurement": "s",
    }),
    "remaining": ("sensor", "Phase remaining", {
        "value_template": "{{ [value_json.phase.planned_s - value_json.phase.elapsed_s, 0] "
        f"| max | round(0) {PHASE_OR_NONE} }}}}",
        "device_class": "duration", "unit_of_measurement": "s",
    }),
    "session": ("binary_sensor", "Session active", {
        "value_template": "{{ 'ON' if value_json.session else 'OFF' }}",
        "device_class": "occupancy",
    }),
    "emergency_active": ("binary_sensor", "Emergency active", {
        "value_template": "{{ 'ON' if value_json.emergency.active else 'OFF' }}",
        "device_class": "safety",
    }),
    "heart_rate": ("sensor", "Heart rate", {
        "value_template": _vital("hr"), "unit_of_measurement": "bpm",
        "state_class": "measurement", "icon": "mdi:heart-pulse",
    }),
    "spo2": ("sensor", "SpO2", {
        "value_template": _vital("spo2"), "unit_of_measurement": "%",
        "state_class": "measurement", "icon": "mdi:water-percent",
    }),
}  # fmt: skip


@dataclass(frozen=True)
class Discovery:
    """Where a room's discovery message goes, and what it says (None: clear it)."""

    topic: str
    payload: str


def device_id(room: str) -> str:
    return f"sessionroom_{room.replace('.', '_').replace('-', '_')}"


def discovery(room: str, name: str | None, settings: HomeAssistantSettings) -> Discovery:
    """The room's discovery message; an empty payload (clearing it) when discovery is off."""
    identifier = device_id(room)
    topic = f"{settings.prefix}/device/{identifier}/config"
    if not settings.discovery:
        return Discovery(topic, "")
    topics = RoomTopics(room)
    components: dict[str, dict[str, Any]] = {
        key: {
            "platform": platform,
            "name": label,
            "unique_id": f"{identifier}_{key}",
            "state_topic": topics.state,
            **extra,
        }
        for key, (platform, label, extra) in ENTITIES.items()
    }
    components["emergency"] = {
        "platform": "button",
        "name": "Emergency: lights up, everything stops",
        "unique_id": f"{identifier}_emergency",
        "command_topic": topics.emergency,
        "payload_press": "PRESS",
        "icon": "mdi:alarm-light",
    }
    payload = {
        "device": {
            "identifiers": [identifier],
            "name": name or f"Session room {room}",
            "manufacturer": "Sessionroom",
            "model": "Session room",
            "sw_version": __version__,
        },
        "origin": ORIGIN,
        "availability": [
            {"topic": topics.status, "payload_available": ONLINE, "payload_not_available": OFFLINE}
        ],
        "qos": 1,
        "components": components,
    }
    return Discovery(topic, json.dumps(payload, separators=(",", ":")))


def emergency_command() -> bytes:
    """The command an emergency press on `sessionroom/<room>/emergency` stands for."""
    command = {"id": f"homeassistant-{uuid.uuid4().hex[:12]}", "action": "emergency",
               "source": "homeassistant"}  # fmt: skip
    return json.dumps(command).encode()


def _a_press(message: Message) -> bool:
    """Whether a message on the emergency topic is a press (`HomeAssistant._pressed`): an
    empty one (a clearing) or one left retained goes in line, never ahead of the commands
    (a flood of them filled the urgent lane, and an emergency on `cmd` was dropped)."""
    return bool(message.payload) and not message.retain


class HomeAssistant:
    """Keeps the room's discovery message on the broker (or clears it when turned off), and
    passes each press of its button on as an emergency command."""

    def __init__(
        self, bus: Bus, room: RoomSettings, command: Callable[[Message], Awaitable[None] | None]
    ) -> None:
        """`command` carries out a command message as if it came on the room's `cmd` (what it
        returns, if anything, finishes it)."""
        self._bus = bus
        self._message = discovery(room.room, room.name, room.home_assistant)
        self._command = command
        if room.home_assistant.discovery:
            # Home Assistant's topic, which anyone of the facility's Home Assistant may flood:
            # read beside the device reports, never in front of the room's commands
            bus.subscribe(
                f"{room.home_assistant.prefix}/status",
                self._home_assistant_status,
                intake=True,
                report=False,
            )
            # A press goes ahead of everything queued, as an emergency on `cmd` does.
            bus.subscribe(RoomTopics(room.room).emergency, self._pressed, urgent=_a_press)

    async def announce(self) -> None:
        """Publish (or clear) the discovery message, retained; one waiting to go out is
        replaced, so a flood of `online` on `<prefix>/status` queues one message, not one each
        (which would push the room's other messages out of the bounded queue)."""
        topic = self._message.topic
        await self._bus.publish(topic, self._message.payload, qos=1, retain=True, key=topic)

    async def _home_assistant_status(self, message: Message) -> None:
        if message.payload.strip() == ONLINE.encode():
            await self.announce()

    async def _pressed(self, message: Message) -> None:
        """A press, taken once: a retained one (left on the broker, sent again at every
        start and, through a bridge, at every reconnect) is cleared, and only a live one is
        an emergency; an empty message (such a clearing) is no press."""
        if not message.payload:
            return
        # one clearing waits at most (a newer one replaces it): a flood of presses while the
        # broker is slow would otherwise push older messages out of the bounded queue
        await self._bus.publish(message.topic, b"", qos=1, retain=True, key=message.topic)
        if not message.retain:
            rest = self._command(dataclasses.replace(message, payload=emergency_command()))
            if rest is not None:
                await rest
