"""The `sessionroom` command line: one subcommand per task, each with --help and an example."""

import click

from controller import __version__
from controller.cli.check import check
from controller.cli.ctl import ctl
from controller.cli.demo import demo
from controller.cli.export import export
from controller.cli.replay import replay
from controller.cli.report import report
from controller.cli.run import run
from controller.cli.sessions import sessions
from controller.cli.sim import sim
from controller.cli.tones import tones


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: sessionroom check --config config.yaml",
)
@click.version_option(__version__, prog_name="sessionroom")
def main() -> None:
    """Run a guided-session room: lights, music, VR and bilateral stimulation over MQTT.

    Therapists run sessions from the console, facility staff check room files,
    researchers replay and export recorded sessions.
    """


for command in (check, ctl, demo, export, replay, report, run, sessions, sim, tones):
    main.add_command(command)
