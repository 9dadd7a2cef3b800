"""The console app: wires the room link to the widgets and the keys to commands."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Key
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.worker import Worker

from controller.api.state import RoomState
from controller.console.clock import Clock, SystemClock
from controller.console.commands import (
    Command,
    command_for,
    emergency_command,
    end_command,
    note_command,
    recovery_command,
    start_command,
)
from controller.console.formatting import parse_wall
from controller.console.keymap import CONTROLS, CONTROLS_BY_ID, DEFAULT_KEYMAP, Keymap
from controller.console.link import (
    BrokerConnection,
    Endpoint,
    LateReply,
    LinkUpdate,
    Outcome,
    RoomLink,
    StatusMessage,
)
from controller.console.theme import SESSIONROOM_THEME
from controller.console.view import STALE_AFTER_S, Feedback, RoomView, offered
from controller.console.widgets.banner import Banner
from controller.console.widgets.emergency_band import EmergencyBand
from controller.console.widgets.feedback_line import FeedbackLine
from controller.console.widgets.key_bar import KeyBar
from controller.console.widgets.live_view import LiveView
from controller.console.widgets.top_bar import TopBar

if TYPE_CHECKING:
    # imported where first used: the live view, shown first during a session, needs none
    from controller.console.check_dialogs import BaselineAnswer, EndWithoutCheck, RecoveryAnswer
    from controller.console.widgets.setup_view import SetupView

ViewT = TypeVar("ViewT", bound=Widget)

TICK_S = 1.0
"""How often the age of the state shown is worked out again."""
STATE_WAIT_S = 1.0
"""How long the console waits for the room's retained state (which says whether a session
is on) before it shows the setup view without it."""
STATE_CLEARED = (
    "the room's state was cleared on the broker: shown is the last one the engine published"
)
QUIT_QUESTION = "Quit the console? The session goes on: the room keeps running."
EMERGENCY_WAITING_QUESTION = (
    "The EMERGENCY pressed here has not reached the engine yet (it is sent when the broker "
    "or the engine is back). Quit the console, and it is never sent?"
)
END_REASON_QUESTION = "Why does the session end without the recovery check?"
FINISH = "finish the session"
EMERGENCY = "EMERGENCY"


class ConsoleApp(App[None]):
    """The therapist's console for one room."""

    TITLE = "Sessionroom console"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #views { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                control.key,
                control.action,
                control.label,
                id=control.id,
                show=False,
                priority=control.id == "emergency",
            )
            for control in CONTROLS
        ),
    ]

    view: reactive[RoomView] = reactive(RoomView(room="", broker_url=""), always_update=True)

    def __init__(
        self,
        endpoint: Endpoint,
        room: str,
        *,
        keymap: Keymap = DEFAULT_KEYMAP,
        default_plan: str | None = None,
        stale_after_s: float = STALE_AFTER_S,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.register_theme(SESSIONROOM_THEME)
        self.theme = SESSIONROOM_THEME.name
        self.keymap = keymap
        self.default_plan = default_plan
        self.clock = clock or SystemClock()
        self.link = RoomLink(endpoint, room, self._heard)
        self._received_at: float | None = None
        self._states_heard = 0
        """States heard since the broker (re)connected: the first may be an old retained one."""
        self._live: LiveView | None = None
        self._setup: SetupView | None = None
        self._control_sent: Worker[None] | None = None
        """The last control a key sent: the next waits for its reply (a burst of keys sends
        one command, not a hundred unconfirmed ones)."""
        self._note_draft: tuple[str | None, str] | None = None
        """A note that has not reached the engine yet, with the session it was typed in."""
        self._live_shown: bool | None = None
        """Whether the live view is shown (else the setup view); None until the room's state
        says which."""
        self.set_reactive(
            ConsoleApp.view,
            RoomView(room=room, broker_url=endpoint.url, stale_after_s=stale_after_s),
        )
        self.set_keymap(dict(keymap.keys))

    def compose(self) -> ComposeResult:
        yield TopBar().data_bind(ConsoleApp.view)
        yield Banner().data_bind(ConsoleApp.view)
        yield EmergencyBand(self.keymap).data_bind(ConsoleApp.view)
        yield Container(id="views")  # the setup and the live view, each built when first shown
        yield FeedbackLine().data_bind(ConsoleApp.view)
        yield KeyBar(self.keymap).data_bind(ConsoleApp.view)

    def on_mount(self) -> None:
        # the connection first: the retained state is on its way while the screen is drawn
        self.run_worker(self.link.run(), name="room link", exit_on_error=False)
        self.set_interval(TICK_S, self._age)
        self.set_timer(STATE_WAIT_S, self._show_setup_if_nothing_shown)

    # ------------------------------------------------------------------ what the link hears

    def _heard(self, update: LinkUpdate) -> None:
        view = self.view
        if isinstance(update, BrokerConnection):
            self._states_heard = 0
            view = dataclasses.replace(
                view,
                broker_connected=update.connected,
                broker_ever_connected=view.broker_ever_connected or update.connected,
                broker_problem=update.problem,
                reconnect_attempt=update.attempt,
                engine=view.engine if update.connected else "unknown",
            )
        elif isinstance(update, StatusMessage):
            view = dataclasses.replace(view, engine=update.status)
        elif isinstance(update, LateReply):
            # the press said to have had no reply has one: said, unless another command's
            # outcome is shown since
            shown = view.feedback
            if shown is not None and shown.label == EMERGENCY and shown.outcome is not None:
                view = dataclasses.replace(view, feedback=Feedback(EMERGENCY, update.outcome))
        elif update.state is None and update.problem is not None:
            view = dataclasses.replace(view, state_problem=update.problem)
        elif update.state is None and view.state is not None:
            # says nothing about the room: its last state stays, and goes stale (the live
            # screen went for the setup one, closing any dialog, until the next state)
            view = dataclasses.replace(view, state_problem=STATE_CLEARED)
        else:
            if not _made_together(update.state, view.state):
                # a state heard again (replayed, or a bridge passing the retained one on
                # at each reconnect) is no news: its age goes on from when it first came
                self._received_at = self.clock.monotonic()
            self._states_heard += 1
            if update.state is not None:
                view.trends.add(update.state.vitals)
            view = dataclasses.replace(view, state=update.state, state_problem=None)
        self._show(view)

    def _age(self) -> None:
        self._show(self.view)

    def _show(self, view: RoomView) -> None:
        self.view = dataclasses.replace(view, age_s=self._state_age(view))

    def _state_age(self, view: RoomView) -> float | None:
        """Seconds since the engine made the state: since it arrived here, or by the engine's
        own clock for the first one heard on a connection (a retained state may be an old one;
        one published while the console listens is news, however the two wall clocks differ)."""
        if view.state is None or self._received_at is None:
            return None
        since_arrival = self.clock.monotonic() - self._received_at
        made = parse_wall(view.state.updated)
        if made is None or self._states_heard > 1:
            return since_arrival
        return max(self.clock.wall() - made.timestamp(), since_arrival)

    def watch_view(self, new: RoomView) -> None:
        if self._live_shown is None and new.state is None and new.broker_problem is None:
            return  # the retained state is on its way and says which view to build
        self._show_view(new.in_session)

    def _show_setup_if_nothing_shown(self) -> None:
        if self._live_shown is None:
            self._show_view(False)

    def _show_view(self, live: bool) -> None:
        """Show the live or the setup view, building it when first shown."""
        if live == self._live_shown:
            return
        if isinstance(self.screen, ModalScreen):
            self.pop_screen()
        self._live_shown = live
        if live and self._live is None:
            self._live = self._mount_view(LiveView(id="live"))
        if live and self._setup is not None:
            self._setup.forget_participant()
        if not live and self._setup is None:
            from controller.console.widgets.setup_view import SetupView

            # mounted, it puts the cursor in the participant code itself
            self._setup = self._mount_view(SetupView(self.default_plan, id="setup"))
        elif not live and self._setup is not None:
            self._setup.focus_code()
        if self._live is not None:
            self._live.display = live
        if self._setup is not None:
            self._setup.display = not live
            self._setup.disabled = live
        if live:
            self.set_focus(None)

    def _mount_view(self, view: ViewT) -> ViewT:
        self.query_one("#views").mount(view.data_bind(ConsoleApp.view))
        return view

    # ------------------------------------------------------------------ keys

    def on_key(self, event: Key) -> None:
        """A key typed before the question on the screen was asked (in one burst with the key
        that asked) answers nothing: it still reaches the bindings, through the screen below."""
        asked_at = getattr(self.screen, "asked_at", None)
        if asked_at is not None and event.time <= asked_at:
            event.prevent_default()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        control_id = parameters[0] if action == "control" and parameters else None
        control = CONTROLS_BY_ID.get(str(control_id)) or next(
            (control for control in CONTROLS if control.action == action), None
        )
        if control is None or control.id == "emergency":
            return True
        if isinstance(self.screen, ModalScreen):
            return False
        return offered(control, self.view)

    def action_emergency(self) -> None:
        """Never behind a dialog: sent at once, again on every press (the second is immediate);
        without a broker, as soon as it is back."""
        self._send_all(EMERGENCY, [emergency_command()], until_connected=True)

    def action_control(self, control_id: str) -> None:
        control = CONTROLS_BY_ID[control_id]
        recovery = self.view.state.checks.recovery if self.view.state is not None else None
        if control_id == "end_session" and recovery is not None and not recovery.done:
            self._recovery_check()
            return
        if control.confirm is None:
            self._send_control(control_id)
            return

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._send_control(control_id)

        from controller.console.dialogs import ConfirmDialog

        self.push_screen(ConfirmDialog(control.confirm), confirmed)

    def action_note(self) -> None:
        session = self.view.state.session if self.view.state is not None else None
        session_id = session.id if session is not None else None
        draft_session, draft = self._note_draft or (None, "")

        def add(text: str | None) -> None:
            if text is None:  # cancelled: a draft stays
                return
            self._note_draft = (session_id, text) if text else None
            if text:
                self.run_worker(self._send_note(session_id, text), name="note", group="commands")

        from controller.console.dialogs import NoteDialog

        self.push_screen(NoteDialog(draft if draft_session == session_id else ""), add)

    async def _send_note(self, session_id: str | None, text: str) -> None:
        """Send a note; one that did not reach the engine (or whose reply did not come) is
        kept, and the note dialog opens with it again, during the same session."""
        self._show(dataclasses.replace(self.view, feedback=Feedback("note")))
        outcome = await self._outcome_of("note", [note_command(text)], until_connected=False)
        done = outcome is not None and outcome.kind == "done"
        if done and self._note_draft == (session_id, text):
            self._note_draft = None

    def action_reconnect(self) -> None:
        self.link.reconnect()
        waiting = self.view.feedback
        if waiting is not None and waiting.outcome is None and waiting.until_connected:
            return  # the emergency waiting for the broker stays said, not "reconnecting"
        self._show(dataclasses.replace(self.view, feedback=Feedback("reconnecting")))

    def action_request_quit(self) -> None:
        waiting = self.link.emergency_waiting  # quit, its press would never be sent
        if not self.view.in_session and not waiting:
            self.exit()
            return

        def answered(leave: bool | None) -> None:
            if leave:
                self.exit()

        from controller.console.dialogs import ConfirmDialog

        question = EMERGENCY_WAITING_QUESTION if waiting else QUIT_QUESTION
        self.push_screen(ConfirmDialog(question, yes="Quit"), answered)

    def on_setup_view_start_requested(self, message: SetupView.StartRequested) -> None:
        state = self.view.state
        if state is None:
            return

        def confirmed(answer: BaselineAnswer | None) -> None:
            if answer is not None:
                command = start_command(message.plan, message.participant, reason=answer.reason)
                self._send("start session", command)

        from controller.console.check_dialogs import BaselineDialog

        self.push_screen(BaselineDialog(state), confirmed)

    def _recovery_check(self) -> None:
        """Before `end`: the recovery check, or a reason to end without it."""
        assert self.view.state is not None
        from controller.console.check_dialogs import (
            EndWithoutCheck,
            ReasonDialog,
            RecoveryAnswer,
            RecoveryDialog,
        )

        def answered(answer: RecoveryAnswer | EndWithoutCheck | None) -> None:
            if isinstance(answer, RecoveryAnswer):
                self._send_all(FINISH, [recovery_command(answer.items), end_command()])
            elif isinstance(answer, EndWithoutCheck):
                self.push_screen(ReasonDialog(END_REASON_QUESTION), reason_given)

        def reason_given(reason: str | None) -> None:
            if reason is not None:
                self._send(FINISH, end_command(reason))

        self.push_screen(RecoveryDialog(self.view.state), answered)

    # ------------------------------------------------------------------ commands

    def _send_control(self, control_id: str) -> None:
        """Send a control's command, unless the last one's reply is still awaited (the
        emergency never waits: it is not a control sent here)."""
        state = self.view.state
        if state is None:
            return
        label = CONTROLS_BY_ID[control_id].title
        command = command_for(control_id, state)
        waiting = self._control_sent
        if waiting is not None and not waiting.is_finished:
            command = f"waiting for the engine's reply to {waiting.name}"
        if isinstance(command, str):
            refusal = Outcome("not_sent", command)
            self._show(dataclasses.replace(self.view, feedback=Feedback(label, refusal)))
            return
        self._control_sent = self._send(label, command)

    def _send(self, label: str, command: Command) -> Worker[None]:
        return self._send_all(label, [command])

    def _send_all(
        self, label: str, commands: list[Command], *, until_connected: bool = False
    ) -> Worker[None]:
        """Send commands in turn; the first one not done stops the rest. `until_connected`:
        without a broker they wait for it, rather than not being sent."""
        waits = until_connected and not self.link.connected
        self._show(dataclasses.replace(self.view, feedback=Feedback(label, until_connected=waits)))
        request = self._request(label, commands, until_connected=until_connected)
        return self.run_worker(request, name=label, group="commands")

    async def _request(
        self, label: str, commands: list[dict[str, Any]], *, until_connected: bool
    ) -> None:
        await self._outcome_of(label, commands, until_connected=until_connected)

    async def _outcome_of(
        self, label: str, commands: list[dict[str, Any]], *, until_connected: bool
    ) -> Outcome | None:
        """Send `commands` in turn, saying what became of each; the outcome of the last one
        sent."""

        def waiting() -> None:
            feedback = Feedback(label, until_connected=True)
            self._show(dataclasses.replace(self.view, feedback=feedback))

        outcome = None
        for command in commands:
            outcome = await self.link.request(
                command, until_connected=until_connected, waiting=waiting
            )
            self._show(dataclasses.replace(self.view, feedback=Feedback(label, outcome)))
            if outcome.kind != "done":
                break
        return outcome


def _made_together(heard: RoomState | None, shown: RoomState | None) -> bool:
    """Whether the engine made both states at the same moment (to the microsecond its
    `updated` has): one is the other heard again."""
    return heard is not None and shown is not None and heard.updated == shown.updated
