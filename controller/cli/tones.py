"""`sessionroom tones`: render a set of bilateral tones to a WAV file."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.common import EXIT_INVALID, load_room_or_exit
from controller.media.tone_limits import ToneParameterError, UnconfirmedLongSetError
from controller.media.tones import (
    DEFAULT_EDGE_MS,
    PANS,
    WAVEFORMS,
    Pan,
    SetSchedule,
    SetSummary,
    ToneSettings,
    Waveform,
    write_set_wav,
)

DEFAULT_PASSES = 24
"""docs/safety.md's default set length, used when neither --passes nor --seconds is given."""

EXIT_WRITE_FAILED = 1


@click.command(
    epilog="Example: sessionroom tones --speed 1.0 --tone 440 --seconds 10 --out bls.wav",
)
@click.option(
    "--speed",
    "speed_hz",
    type=float,
    default=1.0,
    show_default=True,
    help="Full left-right cycles per second (hard bounds 0.2–2.0).",
)
@click.option(
    "--tone",
    "tone_hz",
    type=float,
    default=440.0,
    show_default=True,
    help="Tone frequency in Hz (hard bounds 200–1000).",
)
@click.option(
    "--passes",
    type=int,
    default=None,
    help=f"Passes per set; one pass is one left-right cycle [default: {DEFAULT_PASSES}].",
)
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Set length in seconds (the whole passes that fit); with --passes, the shorter wins.",
)
@click.option("--sets", type=int, default=1, show_default=True, help="How many sets in a row.")
@click.option(
    "--pause",
    "pause_s",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds of silence between sets.",
)
@click.option(
    "--tone-ms",
    type=float,
    default=100.0,
    show_default=True,
    help="Length of each burst, edges included; it must fit in half a cycle.",
)
@click.option(
    "--edge-ms",
    type=float,
    default=None,
    help="Raised-cosine rise and fall of each burst [default: 10, or the room's tone_edge_ms].",
)
@click.option(
    "--waveform",
    type=click.Choice(WAVEFORMS),
    default="sine",
    show_default=True,
    help="soft-square is a band-limited square, as click-free as the sine.",
)
@click.option(
    "--pan",
    type=click.Choice(PANS),
    default="hard",
    show_default=True,
    help="hard: left burst then right burst; sweep: the sound glides between the sides.",
)
@click.option(
    "--volume",
    "level",
    type=float,
    default=0.5,
    show_default=True,
    help="Peak level, 0–1 of full scale; never exceeded.",
)
@click.option(
    "--rate",
    "sample_rate",
    type=int,
    default=44100,
    show_default=True,
    help="Sample rate in Hz.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A room's config.yaml whose tighter safety limits apply (volume cap, speeds, tones).",
)
@click.option(
    "--confirm-long-set",
    is_flag=True,
    help="Allow a set beyond the room's soft limit (never beyond the hard limit of 120 s).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The WAV file to write (16-bit PCM stereo).",
)
def tones(
    speed_hz: float,
    tone_hz: float,
    passes: int | None,
    seconds: float | None,
    sets: int,
    pause_s: float,
    tone_ms: float,
    edge_ms: float | None,
    waveform: Waveform,
    pan: Pan,
    level: float,
    sample_rate: int,
    config_path: Path | None,
    confirm_long_set: bool,
    out: Path,
) -> None:
    """Render a set of bilateral tones (left, then right) to a WAV file.

    Prints one line: the file, its duration, the passes and the peak level. Values outside
    docs/safety.md's hard bounds, or the room's limits with --config, are refused with the bound
    they break (exit 2).
    """
    safety = load_room_or_exit(config_path).settings.safety if config_path else None
    if edge_ms is None:
        edge_ms = safety.tone_edge_ms if safety else DEFAULT_EDGE_MS
    if passes is None and seconds is None:
        passes = DEFAULT_PASSES
    try:
        settings = ToneSettings(
            tone_hz=tone_hz,
            speed_hz=speed_hz,
            tone_ms=tone_ms,
            edge_ms=edge_ms,
            waveform=waveform,
            pan=pan,
            level=level,
            sample_rate=sample_rate,
        )
        schedule = SetSchedule(
            speed_hz=speed_hz, passes=passes, seconds=seconds, sets=sets, pause_s=pause_s
        )
        if safety is not None:
            settings.check_room_limits(safety)
            schedule.check_room_limits(safety, confirm_long_set=confirm_long_set)
    except UnconfirmedLongSetError as error:
        click.echo(f"Error: {error} (--confirm-long-set)", err=True)
        raise SystemExit(EXIT_INVALID) from None
    except ToneParameterError as error:
        click.echo(f"Error: {error}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    try:
        summary = write_set_wav(out, settings, schedule)
    except OSError as error:
        click.echo(f"Error: cannot write {out}: {error.strerror or error}", err=True)
        raise SystemExit(EXIT_WRITE_FAILED) from None
    click.echo(describe(summary, settings))


def describe(summary: SetSummary, settings: ToneSettings) -> str:
    """One line about a written set: file, duration, passes, tone and peak level."""
    sets = f" in {summary.sets} sets" if summary.sets > 1 else ""
    return (
        f"Wrote {summary.path}: {summary.duration_s:.2f} s, {summary.passes} passes{sets} "
        f"at {settings.speed_hz:g} Hz, {settings.tone_hz:g} Hz {settings.waveform} "
        f"({settings.pan} pan), peak level {summary.peak:.3f}"
    )
