"""The facility overview: every room on the broker at a glance, read-only, updated live.

It subscribes to every room's retained `status` and `state` (`sessionroom/+/…`, what the
facility's `overview` login may read), and the `bridge` state of rooms on a broker of their
own, and shows one row per room: engine, session, phase,
time, hold and extension, emergency, alerts and offline essential devices. It sends nothing.
Enter on a room opens that room's console when its folder was given (`--rooms`), with the
room's own console login; quitting that console comes back to the overview.

What it reads may be hostile (on a broker without an ACL anyone may leave retained messages):
a topic whose room no room can be named (a room id is lower-case ASCII: no look-alike of
another room's, no markup) is ignored, and every cell is shown as plain text. Replays
(`<room>-replay`, whose login may publish a state with any phase or emergency) are no rooms
and are not listed. At most `MAX_ROOMS` rooms are listed (the rooms given with `--rooms`
always are): rooms beyond them are ignored, and the title says so. A room whose retained
status, state and bridge are all cleared (empty retained messages) is no longer listed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header

from controller.api.state import RoomState
from controller.api.topics import OFFLINE, ONLINE, is_replay
from controller.bus import Message
from controller.bus.bus import Bus
from controller.config.settings import IDENTIFIER, BrokerSettings
from controller.console.formatting import clock_time as clock
from controller.console.link import read_state as read_console_state

COLUMNS = ("Room", "Engine", "Session", "Phase", "Time", "Hold", "Emergency", "Alerts", "Offline")
EVERY_STATUS = "sessionroom/+/status"
EVERY_STATE = "sessionroom/+/state"
EVERY_BRIDGE = "sessionroom/+/bridge"
"""A room-local broker's bridge: `1` up, `0` down (docs/facility.md)."""
MAX_ROOMS = 200
"""The most rooms listed besides those given with `--rooms`: a flood of made-up rooms would
otherwise grow the table, and the time every key takes, without end."""
ROOMS_IGNORED = f"more than {MAX_ROOMS} rooms: rooms beyond them are ignored"


@dataclass(frozen=True)
class RoomRow:
    """One room as the overview shows it, every cell as text."""

    room: str
    engine: str
    session: str = "—"
    phase: str = "—"
    time: str = ""
    hold: str = ""
    emergency: str = ""
    alerts: str = ""
    offline: str = ""

    def cells(self) -> tuple[str, ...]:
        return (self.room, self.engine, self.session, self.phase, self.time, self.hold,
                self.emergency, self.alerts, self.offline)  # fmt: skip


def summarise(
    room: str,
    status: str | None,
    state: RoomState | None,
    bridge: str | None = None,
    *,
    unreadable: bool = False,
) -> RoomRow:
    """The row for `room` from its engine's last status and state (either may be missing),
    and its bridge's (a room on a broker of its own that the facility cannot reach now).
    A state that came but could not be read (`unreadable`) leaves the emergency unknown: a
    blank would read as none."""
    engine = {ONLINE: "online", OFFLINE: "OFFLINE"}.get(status or "", "unknown")
    if bridge == "0":
        engine = "UNREACHABLE"
    if state is None:
        if unreadable:
            return RoomRow(room, engine, session="state unreadable", emergency="unknown")
        return RoomRow(room, engine)
    session = "—"
    if state.session is not None:
        session = f"{state.session.participant} · {state.session.plan}"
    phase = state.phase
    hold = ""
    time = ""
    if phase is not None:
        time = f"{clock(phase.elapsed_s)} / {clock(phase.planned_s)}"
        parts = (["held"] if phase.held else []) + (
            [f"+{clock(phase.extended_s)}"] if phase.extended_s > 0 else []
        )
        hold = " ".join(parts)
    critical = sum(1 for alert in state.alerts if alert.level == "critical")
    alerts = ""
    if state.alerts:
        alerts = f"{len(state.alerts)}" + (f" ({critical} critical)" if critical else "")
    offline = [
        device_id
        for device_id, device in state.devices.items()
        if device.essential and device.available != "online"
    ]
    return RoomRow(
        room=room,
        engine=engine,
        session=session,
        phase=phase.name if phase is not None else "—",
        time=time,
        hold=hold,
        emergency="EMERGENCY" if state.emergency.active else "",
        alerts=alerts,
        offline=", ".join(sorted(offline)),
    )


ROOM_ID = re.compile(IDENTIFIER)


def room_of(topic: str) -> str | None:
    """`room` from `sessionroom/<room>/status` or `…/state`; None when no room has that name,
    or when it is a replay's room (`<room>-replay`: a recording, not a room to watch)."""
    room = topic.split("/")[1]
    return room if ROOM_ID.match(room) and not is_replay(room) else None


def read_state(payload: bytes, room: str | None = None) -> RoomState | None:
    """The state in `payload`, or None when it is too large or not a state, or, with `room`,
    another room's: read as the room's console reads it (`controller.console.link.read_state`:
    no NaN or Infinity either, and its text `shown`, so no escape sequence reaches the
    terminal)."""
    return read_console_state(payload, room).state


class OverviewApp(App[None]):
    """One row per room on the broker, updated as engines publish."""

    TITLE = "Sessionroom — facility overview"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_room", "Open the room's console"),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        root: Path,
        consoles: Mapping[str, Path] | None = None,
    ) -> None:
        """`root` is where relative files in `settings` start; `consoles` maps room ids to
        their config.yaml, for the rooms whose console may be opened from here."""
        super().__init__()
        self.bus = Bus(settings, client_id=f"sessionroom-overview-{uuid.uuid4().hex[:8]}",
                       root=root, retry_max_s=5.0)  # fmt: skip
        self.consoles = dict(consoles or {})
        self.statuses: dict[str, str] = {}
        self.states: dict[str, RoomState | None] = {}
        """Each room's last state; None when it could not be read (no key: none came, or it
        was cleared with an empty retained message)."""
        self.bridges: dict[str, str] = {}
        self.rows: dict[str, RoomRow] = {}
        self._sort_due = False

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer()

    async def on_mount(self) -> None:
        self.bus.subscribe(EVERY_STATUS, self._on_status)
        self.bus.subscribe(EVERY_STATE, self._on_state)
        self.bus.subscribe(EVERY_BRIDGE, self._on_bridge)
        await self.bus.__aenter__()

    async def on_unmount(self) -> None:
        await self.bus.__aexit__(None, None, None)

    def _on_status(self, message: Message) -> None:
        if (room := self._listed(message)) is not None:
            if message.payload:
                self.statuses[room] = message.payload.decode("utf-8", "replace")
            else:
                self.statuses.pop(room, None)
            self._show(room)

    def _on_state(self, message: Message) -> None:
        if (room := self._listed(message)) is not None:
            if message.payload:
                self.states[room] = read_state(message.payload, room)
            else:
                self.states.pop(room, None)
            self._show(room)

    def _on_bridge(self, message: Message) -> None:
        if (room := self._listed(message)) is not None:
            if message.payload:
                self.bridges[room] = message.payload.decode("utf-8", "replace")
            else:
                self.bridges.pop(room, None)
            self._show(room)

    def _listed(self, message: Message) -> str | None:
        """The room `message` is about if it is listed or may be (`MAX_ROOMS`), else None."""
        room = room_of(message.topic)
        if room is None or room in self.rows or room in self.consoles:
            return room
        if not message.payload:
            return None  # a room not listed that is cleared: nothing to list
        if len(self.rows) < MAX_ROOMS:
            return room
        self.sub_title = ROOMS_IGNORED
        return None

    def _show(self, room: str) -> None:
        if room not in self.statuses and room not in self.states and room not in self.bridges:
            self._drop(room)
            return
        row = summarise(
            room,
            self.statuses.get(room),
            self.states.get(room),
            self.bridges.get(room),
            unreadable=room in self.states and self.states[room] is None,
        )
        self.rows[room] = row
        tables = self.query(DataTable)
        if not tables:
            return  # the overview is closing
        table: DataTable[Text] = tables.first()
        cells = [Text(cell) for cell in row.cells()]  # plain text: no markup reaches the table
        if room in table.rows:
            for column, cell in zip(table.columns, cells, strict=True):
                table.update_cell(room, column, cell, update_width=True)
        else:
            table.add_row(*cells, key=room)
            if not self._sort_due:  # once for many rooms arriving together
                self._sort_due = True
                self.call_later(self._sort, table)

    def _drop(self, room: str) -> None:
        """No longer list `room`: all it had retained was cleared."""
        self.rows.pop(room, None)
        tables = self.query(DataTable)
        if tables and room in tables.first().rows:
            tables.first().remove_row(room)

    def _sort(self, table: DataTable[Text]) -> None:
        self._sort_due = False
        table.sort(table.ordered_columns[0].key, key=lambda room: room.plain)

    def action_open_room(self) -> None:
        table: DataTable[Text] = self.query_one(DataTable)
        if not table.rows:
            return
        room = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        config = self.consoles.get(room)
        if config is None:
            self.notify(f"No console for {room}: give its folder with --rooms.", severity="warning")
            return
        command = [sys.executable, "-m", "controller.console", "--config", str(config)]
        with self.suspend():
            subprocess.run(command, check=False)
