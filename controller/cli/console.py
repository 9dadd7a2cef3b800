"""`sessionroom console`: the therapist's console for one room, in the terminal or a browser."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import click

from controller.bus.credentials import BusConfigError, read_password
from controller.cli.common import (
    OVERVIEW_FILE,
    FiniteRange,
    Overrides,
    connection_options,
    load_broker_file,
    load_rooms_or_exit,
    load_settings_or_exit,
)
from controller.config.yamlsource import plain_file
from controller.console import ConsoleApp, Endpoint, KeymapError, load_keymap
from controller.console.view import STALE_AFTER_S
from controller.console.web_options import (
    DEFAULT_HOST,
    DEFAULT_MAX_CONSOLES,
    DEFAULT_PORT,
    WebOptions,
    is_loopback,
)
from controller.webnames import browser_origin


@click.command(
    epilog="Examples: sessionroom console --config config.yaml; "
    "sessionroom console --web --host 0.0.0.0 --port 8765 --password-file console.pass "
    "(a tablet in the room)"
)
@connection_options
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A YAML keymap (control: key) overriding the default keys.",
)
@click.option(
    "--stale-after",
    type=FiniteRange(min=1),
    default=STALE_AFTER_S,
    show_default=True,
    help="Seconds after which the engine's state is shown as stale.",
)
@click.option("--web", is_flag=True, help="Serve the console to a browser instead.")
@click.option(
    "--host", default=DEFAULT_HOST, show_default=True, help="Address to serve on (--web)."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to serve on (--web).",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="Where browsers reach the console, e.g. https://room-a.clinic.lan:8765 "
    "(--web; default: the address each browser used).",
)
@click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File holding the sign-in password (--web; required unless --host, and --public-url "
    "if given, are loopback).",
)
@click.option(
    "--max-consoles",
    type=click.IntRange(1, 64),
    default=DEFAULT_MAX_CONSOLES,
    show_default=True,
    help="Browser consoles open at once (--web).",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Serve HTTPS with this certificate (PEM; --web).",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The certificate's private key (PEM; --web).",
)
@click.option(
    "--facility",
    "facility_path",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Show the facility overview instead: every room on the broker, read-only. "
    "A facility folder (its overview.yaml) or a YAML file with a `broker:` section.",
)
@click.option(
    "--rooms",
    default=None,
    metavar="FOLDER,...",
    help="With --facility: rooms whose console Enter opens (their folders).",
)
def console(
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
    keys_path: Path | None,
    stale_after: float,
    web: bool,
    host: str,
    port: int,
    public_url: str | None,
    password_file: Path | None,
    max_consoles: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    facility_path: Path | None,
    rooms: str | None,
) -> None:
    """Run a session: phase, time, devices, music, BLS, vitals and the keys to steer them.

    Talks to the room's engine (`sessionroom run`) over MQTT only; quitting the console
    leaves the room running. With the embedded broker of config.yaml it connects to
    127.0.0.1 on the configured port.
    """
    if facility_path is not None:
        _overview(facility_path, rooms)
        return
    room = load_settings_or_exit(config_path, Overrides(broker, room_id, data_dir), role="console")
    try:
        endpoint = Endpoint.for_room(room)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        keymap = load_keymap(keys_path)
    except KeymapError as error:
        raise click.BadParameter(str(error), param_hint="--keys") from None
    if web:
        arguments = ["--config", str(config_path.resolve()), "--room", room.room_id]
        arguments += ["--stale-after", f"{stale_after:g}"]
        if broker is not None:
            arguments += ["--broker", broker]
        if keys_path is not None:
            arguments += ["--keys", str(keys_path.resolve())]
        options = WebOptions(
            host=host,
            port=port,
            title=f"Sessionroom console — {room.settings.name or room.room_id}",
            public_url=_public_url(public_url),
            password=_sign_in_password(password_file, host, public_url),
            max_consoles=max_consoles,
            tls=_tls(tls_cert, tls_key),
        )
        from controller.console.web import serve  # aiohttp: only when serving a browser

        serve(arguments, options)
        return
    ConsoleApp(
        endpoint,
        room.room_id,
        keymap=keymap,
        default_plan=room.settings.default_plan,
        stale_after_s=stale_after,
    ).run()


def _public_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    try:
        if parts.scheme in ("http", "https") and parts.hostname and parts.path in ("", "/"):
            return browser_origin(url)
    except ValueError:  # a port that is not a number or out of range
        pass
    raise click.BadParameter(f"{url!r} is not http(s)://HOST[:PORT]", param_hint="--public-url")


def _sign_in_password(path: Path | None, host: str, public_url: str | None) -> str | None:
    """The sign-in password, required for a console the network reaches: served beyond
    loopback, or behind a public URL naming another machine (a proxy forwarding to 127.0.0.1
    passes the loopback Host check)."""
    if path is None:
        public = urlsplit(public_url).hostname if public_url is not None else None
        if not is_loopback(host) or (public is not None and not is_loopback(public)):
            where = public_url if is_loopback(host) else host
            raise click.UsageError(
                f"a console served on {where} is reachable from the network: "
                "give --password-file (its first line is the sign-in password)"
            )
        return None
    try:
        password = read_password(path)
    except BusConfigError as error:
        message = str(error).replace("broker password_file", "password file")
        raise click.BadParameter(message, param_hint="--password-file") from None
    return password


def _tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None:
        if key is not None:
            raise click.BadParameter("needs --tls-cert too", param_hint="--tls-key")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(plain_file(cert), key and plain_file(key))
    except (OSError, ssl.SSLError) as error:
        raise click.BadParameter(f"{cert}: {error}", param_hint="--tls-cert") from None
    return context


def _overview(path: Path, rooms: str | None) -> None:
    """Run the facility overview with the broker login in `path`."""
    from controller.console.overview import OverviewApp

    file = path / OVERVIEW_FILE if path.is_dir() else path
    try:
        settings = load_broker_file(file)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--facility") from None
    loaded = load_rooms_or_exit(rooms, load_settings_or_exit) if rooms else []
    consoles = {room.room_id: room.config_path for room in loaded}
    try:
        app = OverviewApp(settings, root=file.parent, consoles=consoles)
    except BusConfigError as error:  # its password or TLS file
        raise click.BadParameter(f"{file}: {error}", param_hint="--facility") from None
    app.run()
