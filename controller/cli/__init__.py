"""The `sessionroom` command line: one subcommand per task, each with --help and an example.

Subcommands are imported only when used, so `sessionroom ctl` starts fast and the console
never loads the engine.
"""

from __future__ import annotations

import gc
import importlib
import os

import click

from controller import __version__

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
"""Sessionroom uses no pydantic plugin: without this, building the first model reads every
installed package's entry points looking for one (9 ms of the console's start in a run of 9,
median; bench/start.py). Set the variable to use a plugin anyway."""

COMMANDS = {
    "check": "controller.cli.check",
    "console": "controller.cli.console",
    "ctl": "controller.cli.ctl",
    "demo": "controller.cli.demo",
    "display": "controller.cli.display",
    "export": "controller.cli.export",
    "facility": "controller.cli.facility",
    "replay": "controller.cli.replay",
    "report": "controller.cli.report",
    "run": "controller.cli.run",
    "sessions": "controller.cli.sessions",
    "sim": "controller.cli.sim",
    "tones": "controller.cli.tones",
}
"""Command name → the module defining a click command of that name."""


def imported(module: str) -> object:
    """Import a subcommand's module with the garbage collector paused, then freeze what it
    made: an import makes many objects and little garbage (some hundred objects, frozen with
    the rest), and scanning them again and again costs start-up time (the console's imports
    take about a tenth less CPU; without the freeze, the first collection after the import
    takes that back)."""
    gc.disable()
    try:
        return importlib.import_module(module)
    finally:
        gc.freeze()
        gc.enable()


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(imported(module), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: sessionroom check --config config.yaml",
)
@click.version_option(__version__, prog_name="sessionroom")
def main() -> None:
    """Run a guided-session room: lights, music, VR and bilateral stimulation over MQTT.

    Therapists run sessions from the console, facility staff check room files,
    researchers replay and export recorded sessions.
    """
