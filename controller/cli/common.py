"""Options shared by the subcommands (--config, --broker, --room, --data-dir) and room loading.

The room's models (pydantic) and the bus are imported only when a room is loaded: a command
given a journal or --data-dir (`sessions`, `export`, `report`) starts without them.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pydantic import ValidationError

    from controller.config import Room
    from controller.config.models import Device
    from controller.config.settings import BrokerRole, BrokerSettings
    from controller.config.settings_file import RoomSettingsFile
    from controller.sim.device import BrokerAddress

F = TypeVar("F", bound=Callable[..., Any])
Loaded = TypeVar("Loaded", bound="RoomSettingsFile")
"""A whole room, or its config.yaml alone."""

EXIT_INVALID = 2

BROKER_ENVVAR = "SESSIONROOM_BROKER"
"""What a command with --broker reads when --broker is not given."""


class FiniteRange(click.FloatRange):
    """click's FloatRange that also refuses `nan` and `inf`, which its bounds let through
    (every comparison with `nan` is false; `inf` passes a range open above): a seconds or a
    speed option of `nan` reached the engine's clock as a traceback, or waited no time."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class FolderPath(click.Path):
    """A folder given on the command line, held to what a file system takes (a name too long
    for it ended `sessions` and `run` with "OSError: File name too long")."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from controller.config.folders import folder_problem

        folder = super().convert(value, param, ctx)
        problem = folder_problem(str(folder))
        if problem is not None:
            self.fail(f"{problem}.", param, ctx)
        return folder


def config_option(function: F) -> F:
    """--config PATH (default ./config.yaml)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path("config.yaml"),
        show_default=True,
        help="The room's config.yaml.",
    )(function)


def connection_options(function: F) -> F:
    """--config, --broker, --room and --data-dir, for commands that reach a room or its journals."""
    function = click.option(
        "--data-dir",
        type=FolderPath(),
        default=None,
        help="Where session journals live (overrides data_dir in config.yaml).",
    )(function)
    function = click.option(
        "--room",
        "room_id",
        default=None,
        help="Room id (overrides `room` in config.yaml).",
    )(function)
    function = broker_option(
        "mqtt://HOST:PORT, mqtts://HOST:PORT, or 'embedded' on config.yaml's broker port "
        "(and host, when config.yaml's broker is embedded)"
    )(function)
    return config_option(function)


def broker_option(what: str) -> Callable[[F], F]:
    """--broker URL (also SESSIONROOM_BROKER), overriding config.yaml; `what` says what URL."""
    return click.option(
        "--broker",
        envvar=BROKER_ENVVAR,
        default=None,
        metavar="URL",
        help=f"{what} (overrides config.yaml; also {BROKER_ENVVAR}).",
    )


@dataclass(frozen=True)
class Overrides:
    """What the command line says instead of config.yaml."""

    broker: str | None = None
    room_id: str | None = None
    data_dir: Path | None = None


def load_room_or_exit(
    config_path: Path,
    overrides: Overrides | None = None,
    *,
    role: BrokerRole | None = None,
    one_of_several: bool = False,
) -> Room:
    """Load the room, or print every problem with file:line and exit with status 2.

    With `role`, the broker settings are the ones that role logs in with (its credentials
    from config.yaml, when the room is on a facility broker); `devices` log in one by one.
    With `one_of_several` (a command given several rooms), each problem names the room's
    folder too, as `config_path` gives it (`rooms/b/config.yaml:2: ...`).
    """
    from controller.config import load_room

    return _loaded_or_exit(load_room, config_path, overrides, role, one_of_several)


def load_settings_or_exit(
    config_path: Path,
    overrides: Overrides | None = None,
    *,
    role: BrokerRole | None = None,
    one_of_several: bool = False,
) -> RoomSettingsFile:
    """Like `load_room_or_exit`, for a client of the engine (console, ctl): config.yaml alone
    (`controller.config.settings_file.load_settings_file`)."""
    from controller.config.settings_file import load_settings_file

    return _loaded_or_exit(load_settings_file, config_path, overrides, role, one_of_several)


def _loaded_or_exit(
    load: Callable[[Path], Loaded],
    config_path: Path,
    overrides: Overrides | None,
    role: BrokerRole | None,
    one_of_several: bool,
) -> Loaded:
    from controller.config import RoomConfigError

    try:
        room = load(config_path)
    except RoomConfigError as error:
        for issue in error.issues:
            shown = issue
            if one_of_several:  # its file is named from the room's folder, or absolute
                shown = replace(issue, file=str(_room_folder(config_path) / issue.file))
            click.echo(str(shown), err=True)
        count = len(error.issues)
        click.echo(f"{count} problem{'s' if count != 1 else ''} found.", err=True)
        raise SystemExit(EXIT_INVALID) from None
    room = apply_overrides(room, overrides or Overrides())
    return room if role is None else logging_in_as(room, role)


def logging_in_as(room: Loaded, role: BrokerRole) -> Loaded:
    """`room` with the broker settings `role` logs in with (`devices` log in one by one)."""
    if role != "devices":
        broker = room.settings.broker.for_role(role)
        room.settings = room.settings.model_copy(update={"broker": broker})
    return room


def _room_folder(config_path: Path) -> Path:
    """The folder a room's files are read from (config.yaml's, links followed), named as
    `config_path` gives it unless config.yaml is a link to a file in another folder."""
    folder = config_path.resolve().parent
    return config_path.parent if config_path.parent.resolve() == folder else folder


def apply_overrides(room: Loaded, overrides: Overrides) -> Loaded:
    """Apply command-line overrides to a loaded room (a bad --broker is a usage error;
    `--broker embedded` is config.yaml's embedded broker, host and port, or one on the port
    of config.yaml's external broker)."""
    from pydantic import ValidationError

    from controller.config.settings import BrokerSettings

    update: dict[str, Any] = {}
    if overrides.broker is not None:
        try:
            broker = BrokerSettings.model_validate(overrides.broker)
        except ValidationError as error:
            message = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise click.BadParameter(message, param_hint=_broker_source()) from None
        configured = room.settings.broker
        if broker.mode == "embedded" and configured.mode == "embedded":
            broker = configured  # its host too: `0.0.0.0`, for the room's devices to reach it
        elif broker.mode == "embedded":  # on the port config.yaml gives, as `broker: embedded` is
            broker = broker.model_copy(update={"port": configured.port})
        update["broker"] = broker
    if overrides.room_id is not None:
        update["room"] = overrides.room_id
    if overrides.data_dir is not None:
        update["data_dir"] = str(overrides.data_dir.resolve())
    if update:
        try:
            room.settings = room.settings.model_validate({**room.settings.model_dump(), **update})
        except ValidationError as error:
            raise _bad_override(error) from None
    return room


def _broker_source() -> str:
    """Where the command's broker URL came from: --broker, or SESSIONROOM_BROKER."""
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    from_environment = context is not None and (
        context.get_parameter_source("broker") is ParameterSource.ENVIRONMENT
    )
    return BROKER_ENVVAR if from_environment else "--broker"


def _bad_override(error: ValidationError) -> click.BadParameter:
    """A --room that is no room id, in the words `check` uses (a --data-dir is any folder)."""
    from controller.config.messages import error_message
    from controller.config.settings import RoomSettings

    detail = error.errors(include_url=False)[0]
    message = error_message(detail, tuple(detail["loc"]), RoomSettings)
    return click.BadParameter(message, param_hint="--room")


def client_broker(room: RoomSettingsFile) -> BrokerSettings:
    """Where a client (ctl, sim, console) connects; a usage error when it cannot know."""
    from controller.bus.credentials import BusConfigError, client_settings

    try:
        return client_settings(room.settings.broker)
    except BusConfigError as error:
        raise click.UsageError(str(error)) from None


def device_broker_address(room: Room, device: Device | None = None) -> BrokerAddress:
    """Where a device of the room (simulated, a display) connects, with its own login when the
    room has per-device credentials (a Zigbee light: its Zigbee2MQTT's, by base topic); exit 2
    when it cannot be used."""
    from controller.bus.credentials import BusConfigError, client_settings
    from controller.sim.device import BrokerAddress

    settings = room.settings.broker
    if device is not None:
        base = device.zigbee2mqtt_base
        if base is None:
            settings = settings.for_role("devices", device.id)
        elif "devices" in settings.credentials and "zigbee2mqtt" not in settings.credentials:
            click.echo(
                f"{room.config_path}: broker.credentials has a devices login but no zigbee2mqtt "
                f"one, which Zigbee light {device.id!r} connects with (its Zigbee2MQTT of base "
                f"topic {base!r}): this broker section predates it; write it again with "
                "`sessionroom facility init --update-configs`",
                err=True,
            )
            raise SystemExit(EXIT_INVALID)
        else:
            settings = settings.for_role("zigbee2mqtt", base)
    try:
        return BrokerAddress.from_settings(client_settings(settings), room.root)
    except BusConfigError as error:
        click.echo(f"{room.config_path}: {error}", err=True)
        raise SystemExit(EXIT_INVALID) from None


def log_to_stderr(logger_name: str, verbose: bool) -> None:
    """What a device process does goes to stderr, with times (every message when verbose)."""
    logger = logging.getLogger(logger_name)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def run_async(main: Any) -> None:
    """Run a coroutine until it finishes or Ctrl-C, without a traceback for Ctrl-C."""
    import asyncio

    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        click.echo("stopped.", err=True)


OVERVIEW_FILE = "overview.yaml"
"""In a facility folder: the overview's broker login (written by `facility init`)."""


def room_configs(rooms: str) -> list[Path]:
    """The config.yaml of each room folder (or file) in a comma-separated list."""
    paths = []
    for entry in (part.strip() for part in rooms.split(",")):
        if not entry:
            continue
        path = Path(entry)
        config = path / "config.yaml" if path.is_dir() else path
        if not config.is_file():
            raise click.BadParameter(f"{entry}: no room's config.yaml there", param_hint="--rooms")
        paths.append(config)
    if not paths:
        raise click.BadParameter("name at least one room folder", param_hint="--rooms")
    return paths


def load_rooms_or_exit(rooms: str, load: Callable[..., Loaded]) -> list[Loaded]:
    """Each room of a comma-separated --rooms list, loaded with `load` (`load_room_or_exit`
    or `load_settings_or_exit`) as one of several; a folder given twice is one room. Two
    folders whose config.yaml give one room id are a usage error naming both: one would
    stand for the other (a console opened for the other's row, units or logins written over
    the other's)."""
    given: dict[str, tuple[Path, Loaded]] = {}
    for config in room_configs(rooms):
        room = load(config, one_of_several=True)
        first, _ = given.setdefault(room.room_id, (config, room))
        if first.resolve() != config.resolve():
            raise click.BadParameter(
                f"{first.parent} and {config.parent} are both room {room.room_id!r} "
                "(the `room:` of their config.yaml): give each room once",
                param_hint="--rooms",
            )
    return [room for _, room in given.values()]


def load_broker_file(path: Path) -> BrokerSettings:
    """The `broker:` section of a YAML file; ValueError with the reason when it has none."""
    from pydantic import ValidationError

    from controller.config.settings import BrokerSettings
    from controller.config.yamlsource import yaml_data

    try:
        data = yaml_data(path)  # as a room file: no traceback, no wait, bounded memory
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if not isinstance(data, dict) or "broker" not in data:
        raise ValueError(f"{path}: no `broker:` section")
    try:
        return BrokerSettings.model_validate(data["broker"])
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ValueError(f"{path}: broker.{where}: {problem['msg']}") from None
