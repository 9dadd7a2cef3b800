"""`sessionroom tones` end to end: the file written, the one-line summary, errors and exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli import main
from tests.conftest import REPO

ROOM_PARTS = ("config.yaml", "devices", "scenes", "playlists")


def run_tones(*arguments: str) -> Result:
    return CliRunner().invoke(main, ["tones", *arguments])


def wav_facts(path: Path) -> tuple[int, int, int, float]:
    """Channels, bytes per sample, sample rate and duration of a WAV file."""
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        return source.getnchannels(), source.getsampwidth(), rate, source.getnframes() / rate


def room_with_safety(directory: Path, **safety: float) -> Path:
    """A copy of the shipped room whose config.yaml sets these safety limits."""
    directory.mkdir()
    for part in ROOM_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, directory / part)
        else:
            shutil.copy(source, directory / part)
    config = directory / "config.yaml"
    lines = config.read_text().splitlines()
    at = lines.index("safety:") + 1
    lines[at:at] = [f"  {name}: {value}" for name, value in safety.items()]
    config.write_text("\n".join(lines) + "\n")
    return config


def test_the_example_renders_ten_seconds_and_prints_one_summary_line(tmp_path: Path) -> None:
    out = tmp_path / "bls.wav"

    result = run_tones("--speed", "1.0", "--tone", "440", "--seconds", "10", "--out", str(out))

    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"Wrote {out}: 10.00 s, 10 passes at 1 Hz, 440 Hz sine (hard pan), peak level 0.500\n"
    )
    assert wav_facts(out) == (2, 2, 44100, 10.0)


def test_sets_with_pauses_and_every_sound_option_are_rendered(tmp_path: Path) -> None:
    out = tmp_path / "sets.wav"

    result = run_tones(
        "--speed", "2", "--tone", "880", "--passes", "6", "--sets", "2", "--pause", "1.5",
        "--tone-ms", "150", "--edge-ms", "20", "--waveform", "soft-square", "--pan", "sweep",
        "--volume", "0.25", "--rate", "22050", "--out", str(out),
    )  # fmt: skip

    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"Wrote {out}: 7.50 s, 12 passes in 2 sets at 2 Hz, 880 Hz soft-square (sweep pan), "
        "peak level 0.250\n"
    )
    assert wav_facts(out) == (2, 2, 22050, 7.5)


def test_without_a_length_a_set_is_safety_mds_24_passes(tmp_path: Path) -> None:
    result = run_tones("--speed", "2", "--out", str(tmp_path / "bls.wav"))

    assert result.exit_code == 0
    assert "12.00 s, 24 passes at 2 Hz" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--speed", "3"], "speed 3 Hz is above the hard limit 2 Hz"),
        (["--speed", "0.1"], "speed 0.1 Hz is below the hard limit 0.2 Hz"),
        (["--tone", "100"], "tone 100 Hz is below the hard limit 200 Hz"),
        (["--tone", "1500"], "tone 1500 Hz is above the hard limit 1000 Hz"),
        (["--volume", "1.5"], "volume 1.5 is above the hard limit 1"),
        (["--tone-ms", "600"], "tone length 600 ms does not fit in half a cycle (500 ms at 1 Hz)"),
        (["--edge-ms", "0.2"], "edge 0.2 ms is below the hard limit 1 ms"),
        (["--seconds", "200"], "set length 200 s is above the hard limit 120 s"),
        (["--passes", "0"], "passes 0 must be a whole number of at least 1"),
        (["--rate", "1000"], "sample rate 1000 Hz is below the hard limit 8000 Hz"),
        (["--speed", "nan"], "speed nan is not a finite number"),
    ],
    ids=" ".join,
)
def test_an_out_of_range_value_is_one_line_naming_the_bound_and_exit_2(
    tmp_path: Path, arguments: list[str], error: str
) -> None:
    out = tmp_path / "bls.wav"

    result = run_tones(*arguments, "--out", str(out))

    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {error}\n")
    assert not out.exists()


def test_the_rooms_cap_applies_with_config(tmp_path: Path) -> None:
    out = tmp_path / "bls.wav"
    config = str(REPO / "config.yaml")

    refused = run_tones("--volume", "0.8", "--config", config, "--out", str(out))
    allowed = run_tones("--volume", "0.8", "--out", str(out))

    assert (refused.exit_code, refused.stderr) == (
        2,
        "Error: volume 0.8 is above the room's cap 0.7\n",
    )
    assert allowed.exit_code == 0


def test_a_set_beyond_the_rooms_soft_limit_needs_confirm_long_set(tmp_path: Path) -> None:
    out = tmp_path / "bls.wav"
    config = str(REPO / "config.yaml")

    refused = run_tones("--passes", "30", "--speed", "2", "--config", config, "--out", str(out))
    confirmed = run_tones(
        "--passes",
        "30",
        "--speed",
        "2",
        "--config",
        config,
        "--confirm-long-set",
        "--out",
        str(out),
    )

    assert refused.exit_code == 2
    assert refused.stderr == (
        "Error: a set of 30 passes (15 s) is beyond the room's soft limit of 24 passes / 60 s "
        "and needs an explicit confirmation (--confirm-long-set)\n"
    )
    assert (confirmed.exit_code, confirmed.stderr) == (0, "")


def test_the_rooms_edge_length_is_the_default_and_the_floor(tmp_path: Path) -> None:
    config = str(room_with_safety(tmp_path / "room", tone_edge_ms=25))
    out = tmp_path / "bls.wav"

    default_edges = run_tones("--config", config, "--tone-ms", "40", "--out", str(out))
    short_edges = run_tones("--config", config, "--edge-ms", "10", "--out", str(out))

    assert default_edges.stderr == (
        "Error: tone length 40 ms is shorter than its rise and fall (2 × 25 ms edges)\n"
    )
    assert short_edges.stderr == "Error: edge 10 ms is below the room's limit 25 ms\n"


def test_a_room_that_does_not_load_is_reported_with_exit_2(tmp_path: Path) -> None:
    result = run_tones("--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x.wav"))

    assert result.exit_code == 2
    assert "missing.yaml" in result.stderr
    assert "Traceback" not in result.output


def test_an_unwritable_destination_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "bls.wav"

    result = run_tones("--out", str(out))

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: cannot write {out}: No such file or directory\n"


def test_help_shows_an_example() -> None:
    result = run_tones("--help")

    assert result.exit_code == 0
    assert "Example: sessionroom tones --speed 1.0 --tone 440 --seconds 10 --out bls.wav" in (
        result.stdout
    )


def test_the_installed_command_refuses_without_a_traceback(tmp_path: Path) -> None:
    """A real process, as an operator runs it: exit status and stderr as the shell sees them."""
    command = [sys.executable, "-c", "from controller.cli import main; main()", "tones"]
    refused = subprocess.run(
        [*command, "--tone", "2000", "--out", str(tmp_path / "a.wav")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    written = subprocess.run(
        [*command, "--seconds", "2", "--out", str(tmp_path / "b.wav")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )

    assert (refused.returncode, refused.stderr) == (
        2,
        "Error: tone 2000 Hz is above the hard limit 1000 Hz\n",
    )
    assert (written.returncode, written.stderr) == (0, "")
    assert written.stdout.startswith(f"Wrote {tmp_path / 'b.wav'}: 2.00 s, 2 passes")
