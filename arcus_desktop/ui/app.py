"""The tray application: one running instance per user, its tray icon, global hotkey
and status window, wired to the engine process through the app controller.

`run()` is what `arcus-desktop` starts. A second launch finds the first through
bridge/single_instance.py, brings it forward and exits; `arcus-desktop --toggle` starts
or ends a conversation in it.

Hooks for the windows built elsewhere (`ArcusApp`):
- `open_conversation`: the user asked to talk (tray click, menu, hotkey, --toggle);
  `controller.conversation_started(id)` / `conversation_ended` follow, and
  `controller.engine` is the EngineSupervisor whose `text` and `levels` signals feed
  the conversation window. Set `main_window` to it to have it brought forward by a
  second launch.
- `open_settings`: Settings… in the tray menu; `set_hotkey(text, hold)` and `persona`
  (a callable returning Persona fields) are what the settings feed back.
- `show_setup`: the first-run wizard (ui/first_run), shown by `run()` while
  `needs_setup()` and from Settings > Engine > "Run setup again…".
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QApplication, QLabel, QMainWindow, QPushButton,
                               QSystemTrayIcon, QVBoxLayout, QWidget)

from .. import __version__
from ..bridge import single_instance
from ..bridge.controller import AppController
from ..bridge.hotkey import DEFAULT as DEFAULT_HOTKEY
from ..bridge.hotkey import GlobalHotkey, pick_backend
from ..bridge.sync_service import describe as describe_sync
from ..bridge.sync_service import start_for_app
from ..core import modes
from ..core.errors import ArcusError, ModelNotFoundError, plain_hint
from .tray import Tray, describe

log = logging.getLogger(__name__)
APP_ID = "io.arcus.ArcusDesktop"  # the .desktop file's name: Wayland and the portal use it

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "arcus.svg"


# The way forward in the app: the engine's own hints name command-line flags.
MODEL_HINT = ("Choose the folder that holds the model files in Settings → Engine → Model "
              "folder, or click Run setup to download it.")


def model_status(model_dir: str | None = None) -> str:
    from ..bridge.model_info import locate

    try:
        files = locate(model_dir)
    except ModelNotFoundError as e:
        return f"{e.message} {MODEL_HINT}"
    except ArcusError as e:
        return e.user_text()
    return f"PersonaPlex is installed in {files.root}."


class StatusWindow(QMainWindow):
    """Where there is no tray, the app's window; with a tray it opens only when asked."""

    settings_requested = Signal()
    setup_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Arcus Desktop")
        body = QWidget()
        layout = QVBoxLayout(body)
        title = QLabel(f"<b>Arcus Desktop</b> {__version__}")
        self.status = QLabel(model_status())
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(self.status.textInteractionFlags())
        self.sync_line = QLabel("")  # filled in when sync is on
        self.sync_line.setWordWrap(True)
        self.sync_line.hide()
        self.setup_button = QPushButton("Run &setup…")  # shown while nothing is set up
        self.setup_button.clicked.connect(self.setup_requested)
        self.setup_button.hide()
        self.settings_button = QPushButton("S&ettings…")  # shown when the app has settings
        self.settings_button.clicked.connect(self.settings_requested)
        self.settings_button.hide()
        self.memories_button = QPushButton("&Memories…")
        self.memories_button.clicked.connect(self.show_memories)
        quit_button = QPushButton("&Quit")
        quit_button.clicked.connect(QApplication.quit)
        self.state_line = QLabel("")  # the conversation's state, once a controller is attached
        self.state_line.setWordWrap(True)
        self.state_line.hide()
        self.hotkey_line = QLabel("")
        self.hotkey_line.setWordWrap(True)
        self.hotkey_line.hide()
        self.talk_button = QPushButton("&Talk")  # for desktops without a tray
        self.talk_button.hide()
        for widget in (title, self.status, self.state_line, self.hotkey_line, self.sync_line,
                       self.setup_button, self.talk_button, self.settings_button,
                       self.memories_button, quit_button):
            layout.addWidget(widget)
        for label in (self.status, self.state_line, self.hotkey_line, self.sync_line):
            label.installEventFilter(self)  # a new text or shown: the window fits it
        self.setCentralWidget(body)
        self.resize(420, 160)
        self.memory_service = None  # opened on first use: the tray starts without the database
        self.memory_browser = None
        self.controller: AppController | None = None

    def set_setup_needed(self, needed: bool) -> None:
        self.setup_button.setVisible(needed)

    # --- fitting the text: a window's layout does not grow it for wrapped lines --------

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.Type.Show, QEvent.Type.Hide):
            QTimer.singleShot(0, self, self._fit)  # once the layout has the change
        return super().eventFilter(obj, event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()  # narrower: more lines

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit()

    def _fit(self) -> None:
        """At least as tall as the wrapped text needs at the window's width."""
        body = self.centralWidget()
        need = body.layout().totalHeightForWidth(body.width())
        if need > 0 and body.minimumHeight() != need:
            body.setMinimumHeight(need)

    def attach(self, controller: AppController) -> None:
        """Show the conversation state and offer Talk/End here too."""
        self.controller = controller
        self.talk_button.clicked.connect(controller.toggle_talk)
        self.talk_button.show()
        self.state_line.show()
        controller.changed.connect(self.refresh)
        controller.notify.connect(self.show_notice)
        self.refresh()

    def refresh(self) -> None:
        c = self.controller
        self.set_line(self.state_line, describe(c))
        self.talk_button.setText("&End conversation" if c.talking else "&Talk")

    def show_notice(self, message: str, hint: str, is_error: bool) -> None:
        """Where there is no tray to notify through, the window says it."""
        self.set_line(self.state_line, f"{message} {plain_hint(hint)}".strip())

    def show_hotkey(self, text: str) -> None:
        self.set_line(self.hotkey_line, text)
        self.hotkey_line.setVisible(bool(text))

    def set_line(self, label: QLabel, text: str) -> None:
        """A label's new text, with the window grown to show all of it."""
        label.setText(text)
        QTimer.singleShot(0, self, self._fit)

    def show_memories(self) -> None:
        from ..bridge.memory_service import MemoryService
        from .memory_browser import MemoryBrowser

        if self.memory_service is None:  # the app owns it: it outlives this window
            self.memory_service = MemoryService(parent=QApplication.instance())
        if self.memory_browser is None:
            self.memory_browser = MemoryBrowser(self.memory_service)
        self.memory_browser.showNormal()
        self.memory_browser.raise_()
        self.memory_browser.activateWindow()


class ArcusApp(QObject):
    """The running app's parts and their wiring (see the module docstring for hooks)."""

    open_conversation = Signal()
    open_settings = Signal()

    def __init__(self, engine_factory: Callable[[], QObject] | None = None,
                 instance: single_instance.InstanceServer | None = None,
                 hotkey_backend=pick_backend, tray: bool | None = None,
                 window: QMainWindow | None = None, settings=None, memory=None,
                 parent: QObject | None = None) -> None:
        """With `settings` (a SettingsService) the app has its conversation window and
        starts the engine and each conversation as they say (ui/session.py); `memory`
        (a MemoryService) adds recall and capture."""
        super().__init__(parent)
        self.persona: Callable[[], dict] = dict
        if engine_factory is None:
            from ..bridge.engine_config import start_engine

            engine_factory = lambda: start_engine(  # noqa: E731
                self.session.host_config() if self.session else None)
        self.controller = AppController(engine_factory, lambda: self.persona(), self)
        self.controller.talk_requested.connect(self.open_conversation)
        self.window = window or StatusWindow()
        self.main_window: QWidget = self.window  # what a second launch brings forward
        self.settings = settings
        self.session = None
        self.settings_dialog = None
        self.setup_wizard = None
        if settings is not None:
            from .session import Session

            self.session = Session(self.controller, settings, memory, self)
            self.persona = self.session.talk_request
            self.main_window = self.session.window
            self.open_settings.connect(self.show_settings)
            self.session.settings_requested.connect(self.open_settings)
            self.session.speech_to_text_requested.connect(self.show_speech_to_text)
            self.session.setup_requested.connect(self.show_setup)
            settings.changed.connect(self._hotkey_settings_changed)
        if isinstance(self.window, StatusWindow):
            self.window.attach(self.controller)
            self._show_model_status()
            if settings is not None:
                self.window.settings_button.show()
                self.window.settings_requested.connect(self.open_settings)
                self.window.setup_requested.connect(self.show_setup)
        if tray is None:
            tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: Tray | None = None
        if tray:
            self.tray = Tray(self.controller, self)
            self.tray.open_memories.connect(self._show_memories)
            self.tray.open_settings.connect(self.open_settings)
            self.tray.quit_requested.connect(self.quit)
            self.tray.setup_requested.connect(self.show_setup)
            self.tray.show()
        self.setup_needed = False
        if settings is not None:
            settings.changed.connect(lambda _new, _old: self.check_setup())
            self.check_setup()
        self.instance = instance
        if instance is not None:
            instance.handler = self.handle_command
        self.hotkey = GlobalHotkey(hotkey_backend, self)
        self.hotkey.pressed.connect(self._hotkey_pressed)
        self.hotkey.released.connect(self.controller.hotkey_released)
        self.hotkey.status_changed.connect(self._show_hotkey)

    def set_hotkey(self, text: str | None, hold_to_talk: bool = False) -> bool:
        """The settings' hook: a hotkey in portable text ("Ctrl+Alt+Space"), or none.
        Hold-to-talk needs a platform that reports the key's release."""
        ok = self.hotkey.set_hotkey(text)
        self.controller.hold_to_talk = hold_to_talk and self.hotkey.supports_release
        return ok

    def _hotkey_settings_changed(self, new, old) -> None:
        # Registered again only when it changed: on a portal that asks the user again,
        # and the hotkey must keep working after any other setting is applied.
        if new.hotkey != old.hotkey:
            self.set_hotkey(new.hotkey.shortcut or None, new.hotkey.hold_to_talk)

    def handle_command(self, command: str) -> str:
        """A later launch's command (single instance): the reply it prints."""
        if command == "activate":
            self.activate()
            return "Arcus Desktop is already running; brought it to the front."
        if command == "toggle" and self.setup_needed and not self.controller.talking:
            self.show_setup()
            return "Arcus Desktop needs setting up first: opened setup."
        if command == "toggle":
            talking = self.controller.toggle_talk()
            return ("Starting a conversation" if talking else "Ended the conversation") + \
                f" ({describe(self.controller)})."
        raise ValueError(command)

    def check_setup(self) -> bool:
        """Whether setup is still needed (no model, no team server); the tray and the
        status window offer it while it is."""
        from .first_run.check import needs_setup

        self.setup_needed = self.settings is not None and needs_setup(self.settings.settings)
        if self.tray is not None:
            self.tray.set_setup_needed(self.setup_needed)
        if isinstance(self.window, StatusWindow):
            self.window.set_setup_needed(self.setup_needed)
        return self.setup_needed

    def show_settings(self) -> None:
        from .settings import SettingsDialog

        if self.settings_dialog is None:
            memory = self.session.memory if self.session else None
            if memory is None and isinstance(self.window, StatusWindow):
                memory = self.window.memory_service
            from ..bridge.voice_samples import VoiceSamples

            self.settings_dialog = SettingsDialog(self.settings, memory_service=memory,
                                                  voice_samples=VoiceSamples(self.controller))
            self.settings_dialog.setup_requested.connect(self._setup_again)
            if self.session is not None:
                self.settings_dialog.engine.speech.installed.connect(
                    self.session.speech_to_text_installed)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()

    def show_speech_to_text(self) -> None:
        """Settings at the Engine page's speech-to-text download (a notice's button)."""
        self.show_settings()
        self.settings_dialog.show_page(self.settings_dialog.engine.title)
        self.settings_dialog.engine.show_speech_to_text()

    def show_setup(self) -> None:
        """The first-run wizard; it saves its choices through `settings` at Finish."""
        from .first_run import FirstRunWizard

        if self.setup_wizard is None:
            self.setup_wizard = FirstRunWizard(self.settings)
            self.setup_wizard.finished.connect(self._setup_closed)
        self.setup_wizard.show()
        self.setup_wizard.raise_()
        self.setup_wizard.activateWindow()

    def _setup_again(self) -> None:
        self.settings_dialog.deleteLater()  # closed; the next one reads what setup saves
        self.settings_dialog = None
        self.show_setup()

    def _setup_closed(self) -> None:
        self.setup_wizard.deleteLater()
        self.setup_wizard = None
        self._show_model_status()
        self.check_setup()  # a download adds no setting, but the model is there now

    def _show_model_status(self) -> None:
        if isinstance(self.window, StatusWindow):
            folder = self.settings.settings.engine.model_folder if self.settings is not None else None
            self.window.set_line(self.window.status, model_status(folder))

    def activate(self) -> None:
        w = self.main_window
        w.showNormal()
        w.raise_()
        w.activateWindow()

    def show_sync(self, status) -> None:
        """Sync state where the user looks: the status window and the tray tooltip."""
        text = describe_sync(status)
        if isinstance(self.window, StatusWindow):
            self.window.set_line(self.window.sync_line, text)
            self.window.sync_line.show()
        if self.tray is not None:
            self.tray.set_line("sync", text)

    def quit(self) -> None:
        QApplication.quit()

    def shutdown(self) -> None:
        """Stop what the app started: the engine, the hotkey, the instance socket."""
        self.hotkey.close()
        self.controller.shutdown()
        if self.instance is not None:
            self.instance.close()
            self.instance = None
        if self.tray is not None:
            self.tray.hide()

    def _hotkey_pressed(self) -> None:
        if self.setup_needed and not self.controller.talking:
            self.show_setup()  # a talk could only fail with "no model"
        else:
            self.controller.hotkey_pressed()

    def _show_memories(self) -> None:
        if isinstance(self.window, StatusWindow):
            self.window.show_memories()

    def _show_hotkey(self, text: str) -> None:
        if self.tray is not None:
            self.tray.set_line("hotkey", text)
        if isinstance(self.window, StatusWindow):
            self.window.show_hotkey(text)


def run(argv: list[str] | None = None, model_dir: str | None = None) -> int:
    """`model_dir` (checked by the caller) becomes Settings > Engine > Model folder."""
    # The lock first, before any window: a second launch only hands over and exits.
    lock = single_instance.acquire()
    if lock is None and model_dir is not None:
        raise ArcusError("Arcus Desktop is already running, so --model-dir cannot change "
                         "its model folder.",
                         "Set it in Settings > Engine > Model folder, or quit Arcus and start "
                         "it again with --model-dir.")
    if lock is None:
        try:
            reply = single_instance.send("activate")
        except single_instance.NotRunning:  # it just exited: start after all
            lock = single_instance.acquire()
            if lock is None:
                raise ArcusError("Arcus Desktop is starting or stopping in another process.",
                                 "Try again in a moment.") from None
        except single_instance.NotResponding:
            raise ArcusError("Arcus Desktop is already running but does not respond.",
                             "Quit it (or end its process), then start it again.") from None
        else:
            print(reply.message)
            return 0
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Arcus Desktop")
    app.setDesktopFileName(APP_ID)
    icon = QIcon(str(ICON))
    app.setWindowIcon(icon)
    instance = single_instance.InstanceServer(lock)
    from ..bridge.memory_service import MemoryService
    from ..bridge.settings_store import SettingsService

    from ..bridge.settings_store import QSettingsStore
    from ..core import app_log, paths

    # The data folder first: the settings' sync part, memories and recordings live there.
    paths.use_data_dir(QSettingsStore().value("data/folder"))
    app_log.start(rotate=True)  # before the engine process, which appends to it
    settings = SettingsService(parent=app)
    if model_dir is not None:
        _use_model_dir(settings, model_dir)
    memory = MemoryService(parent=app)  # opened on its own thread at first use
    arcus = ArcusApp(instance=instance, settings=settings, memory=memory)
    if isinstance(arcus.window, StatusWindow):
        arcus.window.memory_service = memory
    if arcus.tray is not None:
        app.setQuitOnLastWindowClosed(False)
    hotkey = settings.settings.hotkey
    arcus.set_hotkey(hotkey.shortcut or DEFAULT_HOTKEY, hotkey.hold_to_talk)
    sync = start_for_app(parent=app)
    if sync is not None:
        sync.status_changed.connect(arcus.show_sync)
        app.aboutToQuit.connect(sync.shutdown)
    app.aboutToQuit.connect(arcus.shutdown)
    _quit_on_signals(app)
    if arcus.tray is None:  # with a tray the tray is the app: no window unless asked for
        arcus.window.show()
    if arcus.setup_needed:
        arcus.show_setup()
    print("Arcus Desktop is running.", flush=True)  # a marker for smoke tests
    return app.exec()


def _use_model_dir(settings, model_dir: str) -> None:
    """Keep --model-dir as the Model folder setting, so Settings shows what the engine
    uses and the next start uses it too."""
    s = settings.settings
    if s.engine.model_dir != model_dir:
        s.engine.model_dir = model_dir
        try:
            settings.apply(s)
        except OSError as e:  # this run still uses it
            print(f"note: the model folder could not be saved ({e.strerror or e})",
                  file=sys.stderr)
    print(f"Model folder: {model_dir} (Settings > Engine > Model folder)", flush=True)
    if s.engine.mode == modes.SERVER:
        print("note: Settings use the team server; the model folder is used when Settings > "
              "Engine runs the model on this computer.", file=sys.stderr, flush=True)


def _quit_on_signals(app: QApplication) -> None:
    """SIGTERM and Ctrl+C quit cleanly (engine stopped, socket removed). Python runs its
    handlers only between bytecodes, so the signal also wakes Qt's loop through a socket."""
    if sys.platform == "win32":
        return
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier

    read_end, write_end = socket.socketpair()
    read_end.setblocking(False)
    write_end.setblocking(False)
    signal.set_wakeup_fd(write_end.fileno())
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: None)
    notifier = QSocketNotifier(read_end.fileno(), QSocketNotifier.Type.Read, app)

    def woke() -> None:
        read_end.recv(64)
        app.quit()

    notifier.activated.connect(woke)
    app._signal_socket = (read_end, write_end)  # kept open while the app runs
