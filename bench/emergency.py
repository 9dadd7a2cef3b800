"""Emergency: an `emergency` command until the last device message it causes is on the wire.

The room runs a session. One untimed press first records what the engine sends for an
emergency: every message on the command topics of the room's lights, BLS devices and VR
headsets until those topics rest for `REST_S`. Each timed press then runs from publishing
the command on `sessionroom/<room>/cmd` until the recorder has had the first message on each
of those topics (the engine sends the safe light targets once more a second later; that
repeat is not timed). Every press is a first press (a
second one within the fade would make the emergency immediate): after each,
`clear_emergency`, the state polled until the room shows its phase's scene again, and the
command topics quiet for the safety gate's flash window, so the gate has no reason to
hold lights-up back. The raw hop is the same command payload published on a topic of its
own through the same clients and broker, one before each press, after a random pause. The
recorder is `mosquitto_sub` in a process of its own (`bench.wire.sub_wire_on`), which stamps
each message as it reads it: the recorder's own reading of 200 messages is not counted as
the engine's.

The example room runs its rehearsal plan: its phases fade in 5 s, which every light of
the room fades natively, so between presses no stepped fade keeps writing to the command
topics (the standard plan's 20 s fade is stepped on the Tasmota lamp). The room of many
lights is generated as for the fan-out (`bench.rooms`), under an id of its own: its safe
scene puts every light at 80 % in 1 s, and it has no BLS device or VR headset.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import Figure, Target, percentile
from bench.flood import flooding, sent_per_s
from bench.rooms import command_topics
from bench.stage import RunningRoom, room_running, state_when
from bench.wire import (
    QOS,
    RAW_TOPIC,
    Arrival,
    Wire,
    command_payload,
    publish_until,
    publisher_on,
    raw_hop,
    sub_wire_on,
)
from controller.api.client import EngineUnreachable
from controller.config import Room
from controller.engine.safety import FLASH_WINDOW_S, Rule
from tests.support.mosquitto import Mosquitto

EXAMPLE_PLAN = "rehearsal"
REST_S = FLASH_WINDOW_S
"""Before a press the command topics have been quiet this long; the recording press is
listened to until they have been quiet this long again (a stepped fade, or a light the
gate held back and sent later, would keep them busy)."""
MAX_PAUSE_S = 0.05
PRESS_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 30.0
P99_TARGET = Target.value_at_most(50.0, "ms")
"""For the room of many lights."""
FLOOD_PER_S = 10_000.0
"""Device messages a second flooding the room for the emergency under load."""
FLOOD_TARGET = Target.ratio_at_most(2.0)
"""The emergency under a flood, beside the same room idle."""
LISTED = 6
"""Recorded messages listed in the notes, in the order they arrived."""


@dataclass
class SafetyTally:
    """The engine's `safety` events: emergency steps, and flash-rate verdicts on devices."""

    steps: Counter[str] = field(default_factory=Counter)
    flash_rate: Counter[str] = field(default_factory=Counter)

    def add(self, event: dict[str, Any]) -> None:
        payload = event.get("payload")
        if event.get("kind") != "safety" or not isinstance(payload, dict):
            return
        if "emergency" in payload:
            self.steps[str(payload["emergency"])] += 1
        elif Rule.FLASH_RATE in payload.get("rules", ()):
            self.flash_rate[str(event.get("device"))] += 1


@dataclass(frozen=True)
class EmergencySamples:
    case: str
    recorded: list[Arrival]
    """The first message the recording press brought on each topic, in order of arrival."""
    recorded_s: float
    """From the recording press to the last message it brought."""
    engine: list[float]
    raw: list[float]
    safety: SafetyTally
    flood_per_s: float = 0.0
    """The device flood during the timed presses, in messages a second, as asked."""
    flood_sent_per_s: float | None = 0.0
    """...and as its senders measured it (None: they did not say)."""


async def measure(
    room: Room,
    broker: Mosquitto,
    workdir: Path,
    presses: int,
    *,
    case: str,
    plan: str | None = None,
    flood_per_s: float = 0.0,
) -> EmergencySamples:
    """Time `presses` first presses; with `flood_per_s`, while that many device messages a
    second flood the room's state topics (`bench.flood`)."""
    topics = list(command_topics(room).values())
    rng = random.Random(112)
    safety = SafetyTally()
    async with room_running(room, broker, workdir) as running:
        running.client.on_event(safety.add)
        await running.start_session(plan)
        state = await state_when(
            running.client,
            # the session's scene goes out once the engine has settled (docs/safety.md)
            lambda state: None if state["session"] and state["scene"] else "no session scene",
            SETTLE_TIMEOUT_S,
        )
        scene = str(state["scene"])
        async with sub_wire_on(broker, [*topics, RAW_TOPIC]) as wire, publisher_on(broker) as out:

            async def press() -> None:
                await out.publish(running.topics.cmd, command_payload("emergency"), qos=QOS)

            await wire.quiet(REST_S, SETTLE_TIMEOUT_S)
            started = time.perf_counter()
            recorded = await wire.until_quiet(REST_S, SETTLE_TIMEOUT_S, send=press)
            if not recorded:
                raise RuntimeError(f"an emergency in {case} sent no device message")
            # the first message on each topic is the emergency's; the safe targets go out once
            # more a second later (docs/emergency.md#first-press), which is not timed here
            firsts = sorted(
                {arrival.topic: arrival for arrival in reversed(recorded)}.values(),
                key=lambda arrival: arrival.at,
            )
            expected = Counter(arrival.topic for arrival in firsts)
            measured = EmergencySamples(case, firsts, firsts[-1].at - started, [], [], safety)
            await clear_and_settle(running, wire, scene)
            with contextlib.ExitStack() as stack:
                if flood_per_s:
                    counts = stack.enter_context(flooding(room, broker, workdir, flood_per_s))
                for _ in range(presses):
                    payload = command_payload("emergency")
                    await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
                    measured.raw.append(await raw_hop(wire, out, payload, PRESS_TIMEOUT_S))
                    await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
                    seconds, _arrivals = await publish_until(
                        wire, out, running.topics.cmd, payload, expected, PRESS_TIMEOUT_S
                    )
                    measured.engine.append(seconds)
                    await clear_and_settle(running, wire, scene)
    if flood_per_s:
        return dataclasses.replace(
            measured, flood_per_s=flood_per_s, flood_sent_per_s=sent_per_s(counts)
        )
    return measured


async def clear_and_settle(running: RunningRoom, wire: Wire, scene: str) -> None:
    """Clear the emergency; return once the room shows `scene` again and the wire has rested."""
    await running.command("clear_emergency")

    def back(state: dict[str, Any]) -> str | None:
        if state["emergency"]["active"]:
            return "the emergency still showed after clear_emergency"
        if state["scene"] != scene:
            return f"the room showed scene {state['scene']!r}, not {scene!r}, after the emergency"
        return None

    await state_when(running.client, back, SETTLE_TIMEOUT_S)
    await wire.quiet(REST_S, SETTLE_TIMEOUT_S)


def figures(
    measured: EmergencySamples,
    target: Target | None = None,
    *,
    idle: EmergencySamples | None = None,
) -> list[Figure]:
    """p50 and p99 beside the raw hop's, `target` applying to the p99; or, for presses under
    a flood, beside the `idle` room's presses, within FLOOD_TARGET."""
    ms = 1000.0
    if idle is None:
        what = f"emergency→last device msg, {measured.case} ({len(measured.recorded)} msgs)"
        baseline, label = measured.raw, "raw hop"
    else:
        what = f"emergency, {measured.case}, under {measured.flood_per_s:,.0f} device msgs/s"
        baseline, label, target = idle.engine, "idle", FLOOD_TARGET
    return [
        Figure(
            f"{what} {name} (n={len(measured.engine)})",
            percentile(measured.engine, fraction) * ms,
            "ms",
            percentile(baseline, fraction) * ms,
            f"{label} {name}",
            target if name == "p99" or idle is not None else None,
        )
        for name, fraction in (("p50", 0.50), ("p99", 0.99))
    ]


@dataclass(frozen=True)
class Flooded:
    figures: list[Figure]
    notes: list[str]


async def under_flood(
    room: Room,
    broker: Mosquitto,
    workdir: Path,
    presses: int,
    *,
    idle: EmergencySamples,
    flood_per_s: float,
) -> Flooded:
    """The example room's presses again under a device flood, beside the `idle` ones; an
    engine that falls so far behind that a command goes unanswered is a MISS, not the end of
    the benchmark."""
    try:
        flooded = await measure(
            room,
            broker,
            workdir,
            presses,
            case=idle.case,
            plan=EXAMPLE_PLAN,
            flood_per_s=flood_per_s,
        )
    except (EngineUnreachable, TimeoutError, RuntimeError) as failure:
        name = f"emergency, {idle.case}, under {flood_per_s:,.0f} device msgs/s p99"
        return Flooded(
            [
                Figure(
                    name,
                    math.inf,
                    "ms",
                    percentile(idle.engine, 0.99) * 1000,
                    "idle p99",
                    FLOOD_TARGET,
                )
            ],
            [
                f"Emergency under a flood of {flood_per_s:,.0f} device messages a second: the "
                f"engine fell behind the flood ({failure})."
            ],
        )
    put = flooded.flood_sent_per_s
    sent = (
        f"Emergency under a flood: its senders put {put:,.0f} device messages a second on "
        f"the wire ({flood_per_s:,.0f} asked)."
        if put is not None
        else f"Emergency under a flood of {flood_per_s:,.0f} device messages a second asked: "
        "its senders were killed before they said how many they sent (at full rate)."
    )
    return Flooded(figures(flooded, idle=idle), [sent])


def notes(measured: EmergencySamples) -> list[str]:
    recorded = measured.recorded
    steps = measured.safety.steps
    flash = measured.safety.flash_rate
    flash_text = (
        f"{flash.total()} on {len(flash)} device(s), e.g. {', '.join(sorted(flash)[:3])}"
        if flash
        else "none"
    )
    lines = [
        f"Emergency, {measured.case}: presses that started an emergency: {steps['start']}; "
        f"made one immediate: {steps['immediate']}; flash-rate verdicts (a light held back "
        f"or clamped): {flash_text}. The recorded press brought {len(recorded)} device "
        f"messages on {len({arrival.topic for arrival in recorded})} topics, the last "
        f"{measured.recorded_s * 1000:.1f} ms after the press:",
        *(
            f"  {arrival.topic} {arrival.payload.decode('utf-8', 'replace')}"
            for arrival in recorded[:LISTED]
        ),
    ]
    if len(recorded) > LISTED:
        lines.append(f"  … and {len(recorded) - LISTED} more")
    return lines
