"""During the session: one screen that reads at a glance from across the room."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive

from controller.console.view import RoomView
from controller.console.widgets.bls_panel import BlsPanel
from controller.console.widgets.devices_panel import DevicesPanel
from controller.console.widgets.music_panel import MusicPanel
from controller.console.widgets.phase_panel import PhasePanel
from controller.console.widgets.timeline_panel import TimelinePanel
from controller.console.widgets.vitals_panel import VitalsPanel


class LiveView(Vertical):
    DEFAULT_CSS = """
    LiveView > Horizontal { height: auto; margin: 0 1; }
    LiveView #media > * { width: 1fr; }
    LiveView #media > BlsPanel { margin-left: 2; }
    LiveView TimelinePanel { margin: 0 1; }
    LiveView.-not-live { opacity: 55%; }
    """

    view: reactive[RoomView | None] = reactive(None, init=False)

    def compose(self) -> ComposeResult:
        yield PhasePanel().data_bind(LiveView.view)
        with Horizontal(id="room"):
            yield DevicesPanel().data_bind(LiveView.view)
            yield VitalsPanel().data_bind(LiveView.view)
        with Horizontal(id="media"):
            yield MusicPanel().data_bind(LiveView.view)
            yield BlsPanel().data_bind(LiveView.view)
        yield TimelinePanel().data_bind(LiveView.view)

    def watch_view(self, view: RoomView | None) -> None:
        live = view is not None and view.engine_reachable and not view.stale
        self.set_class(not live, "-not-live")
