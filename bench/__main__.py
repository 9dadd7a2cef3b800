"""`python -m bench`: measure the engine against raw baselines of the same run and print a table."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from bench import (
    chaos,
    emergency,
    facility,
    fanout,
    fuzz,
    journal_load,
    latency,
    rehearsal,
    research,
    start,
    study,
)
from bench.figures import Figure, table
from bench.processes import (
    DEFAULT_SIM_NICENESS,
    PROFILE_ENGINE,
    SIM_NICENESS,
    STAGES_ENGINE,
    MissingPart,
    running_broker,
)
from bench.rooms import example_room, many_lights_room
from bench.stages import read_trace, summary
from controller.api.client import EngineUnreachable

PARTS = (
    "latency",
    "start",
    "fanout",
    "emergency",
    "journal",
    "memory",
    "research",
    "facility",
    "study",
    "fuzz",
    "chaos",
)
DEFAULT_PARTS = PARTS[:-1]
"""Every part but chaos, a long run of its own (`--only chaos`)."""
NOTE_WIDTH = 100


@dataclass(frozen=True)
class Sizes:
    """How much each part measures."""

    commands: int
    lights: int
    scenes: int
    presses: int
    """Emergency presses timed in each of the part's two rooms."""
    journal_seconds: float
    plan: str
    fuzz_examples: int
    """Hypothesis examples shared among the input boundaries."""
    flood_per_s: float
    """Device messages a second during the emergency's presses under load (0: not measured)."""
    study_sessions: int
    """Recorded sessions written for the study part."""
    chaos: chaos.Sizes
    rooms: int = 10
    """Rooms on the broker for the facility part."""
    starts: int = 5
    """Starts of the engine and of the console (and of their baselines)."""

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            commands=500,
            lights=200,
            scenes=8,
            presses=50,
            journal_seconds=2.0,
            plan="standard",
            chaos=chaos.Sizes(kills=200, restarts=100, disk_full_s=5.0),
            study_sessions=1000,
            fuzz_examples=100_000,
            flood_per_s=emergency.FLOOD_PER_S,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            commands=100,
            lights=200,
            scenes=4,
            presses=20,
            journal_seconds=1.5,
            plan="rehearsal",
            chaos=chaos.Sizes(kills=20, restarts=10, disk_full_s=2.0),
            study_sessions=100,
            fuzz_examples=5_000,
            flood_per_s=emergency.FLOOD_PER_S,
            starts=3,
        )


@dataclass
class Report:
    figures: list[Figure]
    notes: list[str]


async def run_parts(
    parts: Sequence[str], sizes: Sizes, workdir: Path, broker_config: str
) -> Report:
    figures: list[Figure] = []
    notes: list[str] = []
    with running_broker(workdir, broker_config) as broker:
        if "latency" in parts:
            say(
                f"command-to-wire latency: {sizes.commands} light nudges, VR toggles and scene "
                f"changes, as many raw hops and relayed floors of each relay"
            )
            room = example_room(broker, "bench-latency", workdir)
            sampled = await latency.measure(room, broker, workdir, sizes.commands, every_kind=True)
            figures += latency.figures(sampled)
        if "start" in parts:
            say(f"start-up: engine online and console showing the phase, {sizes.starts} times each")
            started = await start.measure(
                example_room(broker, "bench-start", workdir), broker, workdir, sizes.starts
            )
            figures, notes = figures + start.figures(started), notes + start.notes(started)
        if "fanout" in parts:
            say(f"scene fan-out: {sizes.scenes} scenes to {sizes.lights} simulated lights, and raw")
            room = many_lights_room(broker, workdir, sizes.lights)
            figures += fanout.figures(await fanout.measure(room, broker, workdir, sizes.scenes))
        if "emergency" in parts:
            say(
                f"emergency: {sizes.presses} presses in the example room, idle and under a "
                f"device flood, {sizes.presses} with {sizes.lights} lights, and as many raw hops"
            )
            room = example_room(broker, "bench-emergency", workdir)
            pressed = await emergency.measure(
                room,
                broker,
                workdir,
                sizes.presses,
                case="example room",
                plan=emergency.EXAMPLE_PLAN,
            )
            figures += emergency.figures(pressed)
            notes += emergency.notes(pressed)
            if sizes.flood_per_s:
                say(f"emergency: again under {sizes.flood_per_s:,.0f} device messages a second")
                flooded = await emergency.under_flood(
                    example_room(broker, "bench-emergency-flood", workdir),
                    broker,
                    workdir,
                    sizes.presses,
                    idle=pressed,
                    flood_per_s=sizes.flood_per_s,
                )
                figures += flooded.figures
                notes += flooded.notes
            room = many_lights_room(broker, workdir, sizes.lights, name="bench-emergency")
            pressed = await emergency.measure(
                room, broker, workdir, sizes.presses, case=f"{sizes.lights} lights"
            )
            figures += emergency.figures(pressed, emergency.P99_TARGET)
            notes += emergency.notes(pressed)
        if "journal" in parts:
            say(f"journal: throughput and event-loop lag, {sizes.journal_seconds:g} s each")
            figures += await journal_load.figures(workdir, sizes.journal_seconds)
        if "memory" in parts:
            say(f"engine memory: a rehearsal of the {sizes.plan!r} plan at time scale 60")
            room = example_room(broker, "bench-memory", workdir)
            result = await rehearsal.measure(room, broker, workdir, sizes.plan)
            figures += rehearsal.figures(result)
            notes += rehearsal.notes(result)
        if "facility" in parts:
            say(
                f"facility: {sizes.commands} commands to a room among {sizes.rooms} and as many "
                f"with the others paused, in alternating blocks"
            )
            measured = await facility.measure(broker, workdir, sizes.rooms, sizes.commands)
            figures += facility.figures(measured)
            notes += facility.notes(measured)
        if "chaos" in parts:
            say(
                f"chaos: {sizes.chaos.kills} engine kills, {sizes.chaos.restarts} broker "
                f"restarts, {sizes.chaos.disk_full_s:g} s of a disk refusing writes"
            )
            figures += chaos.figures(await chaos.measure(broker, workdir, sizes.chaos, say))
    if "research" in parts:
        say("research tools on a 3-hour session journal of about 100 000 events")
        figures += await research.figures(workdir)
    if "study" in parts:
        say(f"a study of {sizes.study_sessions:,} recorded sessions: listing, summary, BIDS")
        figures += study.figures(workdir, sizes.study_sessions)
    if "fuzz" in parts:
        say(f"fuzz: {sizes.fuzz_examples:,} hypothesis examples over every input boundary")
        outcomes = fuzz.measure(sizes.fuzz_examples, say)
        figures += fuzz.figures(outcomes)
        notes += fuzz.notes(outcomes)
    return Report(figures, notes)


def say(text: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {text}", err=True)


@click.command()
@click.option(
    "--quick",
    is_flag=True,
    help="Small sizes (100 commands, 4 scenes, 20 emergency presses, 1.5 s of journaling, a "
    "study of 100 sessions, 5,000 fuzz examples) and the 5-minute rehearsal plan instead of "
    "the 90-minute standard plan: about four minutes in all.",
)
@click.option("--commands", type=click.IntRange(min=2), help="Commands (and raw hops) to time.")
@click.option(
    "--lights",
    type=click.IntRange(min=1),
    help="Simulated lights for the fan-out and the emergency's large room.",
)
@click.option("--scenes", type=click.IntRange(min=1), help="Scene applications to time.")
@click.option(
    "--presses",
    type=click.IntRange(min=2),
    help="Emergency presses (and raw hops) to time in the example room, and again with "
    "--lights lights.",
)
@click.option(
    "--journal-seconds", type=click.FloatRange(min=0.2), help="How long each journal load runs."
)
@click.option("--plan", help="The example room's plan to rehearse for the memory figure.")
@click.option("--kills", type=click.IntRange(min=1), help="Chaos: SIGKILLs of the engine.")
@click.option("--restarts", type=click.IntRange(min=0), help="Chaos: broker restarts.")
@click.option(
    "--disk-full-seconds",
    type=click.FloatRange(min=0.5),
    help="Chaos: how long the journal's disk refuses writes.",
)
@click.option(
    "--rooms", type=click.IntRange(min=2), help="Rooms on one broker for the facility part."
)
@click.option(
    "--flood",
    type=click.FloatRange(min=0),
    help="Device messages a second flooding the room while the emergency is timed again "
    "(default 10,000; 0 skips it).",
)
@click.option(
    "--fuzz-examples",
    type=click.IntRange(min=1),
    help="Hypothesis examples shared among the input boundaries (default 100,000).",
)
@click.option(
    "--starts",
    type=click.IntRange(min=1),
    help="Starts of the engine and of the console (and their baselines) to time.",
)
@click.option(
    "--only",
    type=click.Choice(PARTS),
    multiple=True,
    help="Measure only this part (repeatable); default: all but chaos.",
)
@click.option(
    "--mosquitto-conf",
    multiple=True,
    metavar="LINE",
    help="A line added to the broker's mosquitto.conf (repeatable), e.g. 'set_tcp_nodelay true'.",
)
@click.option(
    "--sim-niceness",
    type=click.IntRange(0, 19),
    default=DEFAULT_SIM_NICENESS,
    show_default=True,
    help="How far below the engine's priority the simulated devices run (nice). They stand "
    "for hardware on machines of their own; 0 runs them beside the engine, where their answer "
    "to a device message takes the two cores from that message on its way to the benchmark.",
)
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep logs, journals and profiles in this folder (default: a temporary one, removed).",
)
@click.option(
    "--profile",
    is_flag=True,
    help="Profile every engine process with cProfile into engine-<room>.prof (needs --keep).",
)
@click.option(
    "--stages",
    is_flag=True,
    help="Time every engine's commands stage by stage into engine-<room>-stages.jsonl and "
    "print where the time went (needs --keep; see bench/stages.py).",
)
def main(
    quick: bool,
    commands: int | None,
    lights: int | None,
    scenes: int | None,
    presses: int | None,
    journal_seconds: float | None,
    plan: str | None,
    kills: int | None,
    restarts: int | None,
    disk_full_seconds: float | None,
    rooms: int | None,
    fuzz_examples: int | None,
    flood: float | None,
    starts: int | None,
    only: tuple[str, ...],
    mosquitto_conf: tuple[str, ...],
    sim_niceness: int,
    keep: Path | None,
    profile: bool,
    stages: bool,
) -> None:
    """Measure Sessionroom's engine on a real Mosquitto with the simulated room.

    Each figure is printed beside a baseline measured in the same run (a raw MQTT hop, raw
    publishes of the same payloads, raw SQLite inserts, an idle event loop, the idle
    engine) and the ratio between them. Run it from the repository root.
    """
    base = Sizes.quick() if quick else Sizes.full()
    sizes = Sizes(
        commands=commands or base.commands,
        lights=lights or base.lights,
        scenes=scenes or base.scenes,
        presses=presses or base.presses,
        journal_seconds=journal_seconds or base.journal_seconds,
        plan=plan or base.plan,
        chaos=chaos.Sizes(
            kills=kills or base.chaos.kills,
            restarts=base.chaos.restarts if restarts is None else restarts,
            disk_full_s=disk_full_seconds or base.chaos.disk_full_s,
        ),
        rooms=rooms or base.rooms,
        study_sessions=base.study_sessions,
        fuzz_examples=fuzz_examples or base.fuzz_examples,
        flood_per_s=base.flood_per_s if flood is None else flood,
        starts=starts or base.starts,
    )
    parts = only or DEFAULT_PARTS
    broker_config = "".join(f"{line}\n" for line in mosquitto_conf)
    if profile:
        if keep is None:
            raise click.UsageError("--profile needs --keep FOLDER to write the profiles to")
        os.environ[PROFILE_ENGINE] = "1"
    if stages:
        if keep is None:
            raise click.UsageError("--stages needs --keep FOLDER to write the traces to")
        os.environ[STAGES_ENGINE] = "1"
    os.environ[SIM_NICENESS] = str(sim_niceness)
    started = time.monotonic()
    try:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            report = asyncio.run(run_parts(parts, sizes, keep.resolve(), broker_config))
        else:
            with tempfile.TemporaryDirectory(prefix="sessionroom-bench-") as folder:
                report = asyncio.run(run_parts(parts, sizes, Path(folder), broker_config))
    except MissingPart as missing:
        click.echo(f"cannot run the benchmark: {missing}", err=True)
        sys.exit(2)
    except (TimeoutError, RuntimeError, EngineUnreachable) as failure:
        where = f"logs in {keep}" if keep else "rerun with --keep FOLDER to keep the logs"
        click.echo(f"the benchmark failed: {failure} ({where})", err=True)
        sys.exit(1)
    mode = "quick" if quick else "full"
    broker_note = f"; mosquitto.conf + {', '.join(mosquitto_conf)}" if mosquitto_conf else ""
    sim_note = f"; simulated devices at nice {sim_niceness}"
    click.echo(
        f"\nSessionroom benchmark ({mode}{broker_note}{sim_note}; "
        f"{time.monotonic() - started:.0f} s)\n"
    )
    click.echo(table(report.figures))
    click.echo("")
    for note in [*report.notes, *general_notes(sizes, quick)]:
        click.echo(note if note.startswith("  ") else textwrap.fill(note, NOTE_WIDTH))
    if stages and keep is not None:
        for trace in sorted(keep.glob("engine-*-stages.jsonl")):
            click.echo(f"\nStages of the commands in {trace.name}:")
            click.echo(summary(read_trace(trace)))


def general_notes(sizes: Sizes, quick: bool) -> list[str]:
    lines = [
        "Baselines: raw hop = a plain aiomqtt publish→subscribe of the same command payload "
        "(QoS 1) through the same broker and clients; relay floors = the same payload through "
        "a process that only republishes it (QoS 1, client → relay → client: the two broker "
        "hops a command makes console → engine → device), one an asyncio program on aiomqtt "
        "as the engine is (the floor the targets are against), one paho republishing from its"
        " own network thread (bench/relay.py); raw fan-out "
        "= the same payloads published one after the other with aiomqtt (QoS 1, each awaited,"
        " as the engine's bus does); raw SQLite = the same rows inserted with executemany in "
        "groups of 500 (WAL, synchronous=FULL); idle loop = the same lag probe without "
        "journaling; idle engine = the engine process before the session starts.",
    ]
    if quick:
        lines.append(
            f"QUICK MODE: the memory figure comes from the {sizes.plan!r} plan, not the "
            "90-minute standard plan; sizes are smaller than the targets assume."
        )
    return lines


if __name__ == "__main__":
    main()
