"""Light and dark screenshots of Arcus as a new user meets it, for the README: the setup
wizard (its first page and its model-folder page), the conversation window showing an
error with its way forward, and Settings' Audio, Voice and Engine pages.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only audio ...]

It needs no network and changes nothing of yours: it starts its own X server (Xvfb), a
PulseAudio daemon of its own with a named headset and speakers (when PulseAudio is
installed), a fresh HOME, and the test kit's tiny model as the model folder. The error
is a team server that cannot be reached (a loopback port where nothing listens), which
fails the same way on any machine. The dark pictures use a dark palette under Qt's
Fusion style, as a dark desktop gives the app (Arcus follows the palette). Each picture
is the window alone; the functions below also run offscreen (tests/qt/test_screenshots.py).
"""

from __future__ import annotations

import argparse
import math
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
THEMES = ("light", "dark")
SIZE = (780, 560)  # the settings dialog; the other windows keep their own sizes
WAIT_S = 120  # a fresh engine process imports its libraries first

LIGHT = {"Window": "#eff0f1", "WindowText": "#232629", "Base": "#ffffff",
         "AlternateBase": "#f7f7f7", "Text": "#232629", "Button": "#e3e5e7",
         "ButtonText": "#232629", "Highlight": "#3daee9", "HighlightedText": "#ffffff",
         "PlaceholderText": "#70757a", "Mid": "#b8babd", "Dark": "#8b8e91",
         "Light": "#ffffff", "Midlight": "#f0f0f0", "Shadow": "#474a4c", "Link": "#2980b9",
         "ToolTipBase": "#f7f7f7", "ToolTipText": "#232629"}
DARK = {"Window": "#202326", "WindowText": "#fcfcfc", "Base": "#141618",
        "AlternateBase": "#1d1f22", "Text": "#fcfcfc", "Button": "#292c30",
        "ButtonText": "#fcfcfc", "Highlight": "#3daee9", "HighlightedText": "#fcfcfc",
        "PlaceholderText": "#8e9195", "Mid": "#3c3f43", "Dark": "#101112",
        "Light": "#44484c", "Midlight": "#32363a", "Shadow": "#000000", "Link": "#1d99f3",
        "ToolTipBase": "#292c30", "ToolTipText": "#fcfcfc"}


# --- in the Qt process: the pictures --------------------------------------------------------


def wait_until(condition, what: str, timeout_s: float = WAIT_S) -> None:
    """Run Qt's events until `condition()` holds."""
    from PySide6.QtCore import QDeadlineTimer
    from PySide6.QtTest import QTest

    deadline = QDeadlineTimer(int(timeout_s * 1000))
    while not condition():
        if deadline.hasExpired():
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        QTest.qWait(20)


def settle() -> None:
    """Layouts finish: a wrapped text that grew posts a relayout, which may post another."""
    from PySide6.QtWidgets import QApplication

    for _ in range(6):
        QApplication.processEvents()


def palette(dark: bool):
    from PySide6.QtGui import QColor, QPalette

    colours = DARK if dark else LIGHT
    result = QPalette()
    for role, colour in colours.items():
        result.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    for role in ("WindowText", "Text", "ButtonText"):
        result.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role),
                        QColor(colours["PlaceholderText"]))
    return result


@contextmanager
def theme(name: str):
    """The app in Fusion with a light or dark palette; what it had before afterwards."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    style, before = app.style().name(), app.palette()
    app.setStyle("Fusion")
    app.setPalette(palette(name == "dark"))
    try:
        yield
    finally:
        app.setStyle(style)
        app.setPalette(before)


def fresh_settings(**engine):
    from arcus_desktop.bridge.settings_store import SettingsService
    from arcus_desktop.settings.app_settings import DictStore

    service = SettingsService(DictStore())
    s = service.settings.copy()
    s.memory.enabled = False
    for name, value in engine.items():
        setattr(s.engine, name, value)
    service.apply(s)
    return service


def grab(window):
    """The window alone, once it has grown to what its layout asks (under X11 a resize
    takes a round trip to the server)."""
    settle()
    wait_until(lambda: window.width() >= window.minimumWidth()
               and window.height() >= window.minimumHeight(), "the window to fit its layout",
               timeout_s=10)
    settle()
    return window.grab().toImage()


def shown_path(folder: Path) -> str:
    """A folder as a user would type it: under the home folder, with ~."""
    try:
        return "~/" + str(folder.relative_to(Path.home()))
    except ValueError:
        return str(folder)


def close(*windows) -> None:
    for window in windows:
        window.close()
        window.deleteLater()
    settle()


def wizard(model_dir: Path) -> dict:
    """The setup wizard on a computer without an NVIDIA GPU (as most laptops that try the
    app): its first page, then "Use model files I already have" with the folder checked."""
    from arcus_desktop.ui.first_run import FirstRunWizard

    w = FirstRunWizard(fresh_settings(), detect_gpu=lambda: None)
    looked = []
    w.computer.detected.connect(lambda: looked.append(True))
    w.show()
    wait_until(lambda: looked, "the wizard to look at the GPU")
    pictures = {"wizard": grab(w)}
    w.computer.choose("cpu")
    w.next()
    page = w.model
    page.folder_radio.setChecked(True)
    page.folder.setText(shown_path(model_dir))
    results = []
    page.checked.connect(lambda r: results.append(r))
    page.check_button.click()
    wait_until(lambda: any(r is not None for r in results), "the model folder's check")
    pictures["wizard-model-folder"] = grab(w)
    close(w)
    return pictures


def _no_hotkey(parent=None):
    from arcus_desktop.bridge.hotkey import HotkeyError

    raise HotkeyError("no global hotkey while taking screenshots")


def _closed_port() -> int:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conversation_error(model_dir: Path) -> dict:
    """The conversation window after a talk that could not reach the team server: the
    problem bar with its buttons, as it stays until the user acts."""
    from arcus_desktop.ui.app import ArcusApp

    settings = fresh_settings(mode="server", server_url=f"http://127.0.0.1:{_closed_port()}")
    app = ArcusApp(hotkey_backend=_no_hotkey, tray=False, settings=settings)
    window = app.session.window
    try:
        app.controller.start_talk()
        wait_until(lambda: app.controller.error is not None and window.state == "ready"
                   and window.status.problem.isVisible(), "the team server's error")
        window.show()
        return {"conversation-error": grab(window)}
    finally:
        app.shutdown()
        close(window, app.window)


def _settings_page(model_dir: Path, name: str):
    from arcus_desktop.bridge.model_info import read_model_info
    from arcus_desktop.ui.settings import SettingsDialog

    dialog = SettingsDialog(fresh_settings(model_dir=str(model_dir)),
                            model_info=read_model_info(model_dir))
    page = getattr(dialog, name)
    dialog.sidebar.setCurrentRow(dialog.pages.index(page))
    dialog.resize(*SIZE)
    return dialog, page


def audio(model_dir: Path) -> dict:
    """Settings > Audio with the sound server's devices listed."""
    from PySide6.QtWidgets import QProgressBar

    dialog, page = _settings_page(model_dir, "audio")
    listed = []
    told = getattr(page, "devices_listed", None)  # the page says when its lists are filled
    if told is not None:
        told.connect(lambda: listed.append(True))
    try:
        dialog.show()  # the page lists the devices when it is shown
        if told is not None:
            wait_until(lambda: listed, "the device list", timeout_s=30)
        meters = [bar for bar in page.findChildren(QProgressBar) if bar.isVisible()]
        if meters:  # a live level: wait for the microphone's sound to reach it
            wait_until(lambda: any(m.value() > m.minimum() for m in meters),
                       "the microphone level", timeout_s=10)
        return {"audio": grab(dialog)}
    finally:
        close(dialog)


def _page_shot(model_dir: Path, name: str) -> dict:
    """A settings page as it opens, with nothing to wait for."""
    dialog, _page = _settings_page(model_dir, name)
    dialog.show()
    try:
        return {name: grab(dialog)}
    finally:
        close(dialog)


def voice(model_dir: Path) -> dict:
    """Settings > Voice: the presets with their play buttons, the recorder and a file."""
    return _page_shot(model_dir, "voice")


def engine(model_dir: Path) -> dict:
    """Settings > Engine: the mode, the model folder and the speech-to-text row."""
    return _page_shot(model_dir, "engine")


SHOTS = {"wizard": wizard, "conversation-error": conversation_error, "audio": audio,
         "voice": voice, "engine": engine}


def save(image, path: Path) -> Path:
    """The smallest PNG Qt writes (quality 0: the strongest compression)."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)  # no alpha: smaller
    if not image.save(str(path), "PNG", 0):
        raise OSError(f"could not write {path}")
    return path


def shoot(out: Path, model_dir: Path, names=tuple(SHOTS), themes=THEMES) -> list[Path]:
    """Each picture of `names` in each of `themes`, as out/NAME-THEME.png."""
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([sys.argv[0]])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in themes:
        with theme(name):
            for shot in names:
                for picture, image in SHOTS[shot](model_dir).items():
                    written.append(save(image, out / f"{picture}-{name}.png"))
    return written


# --- the outer process: X server, sound server, fresh HOME ------------------------------------


@contextmanager
def xvfb(screen: str = "1280x900x24"):
    """A display of our own (":N"), told by Xvfb itself once it accepts clients."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp",
                             "-noreset", "-screen", "0", screen], pass_fds=(write_end,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    data = b""
    try:
        while not data.endswith(b"\n"):
            if not select.select([read_end], [], [], 30)[0]:
                break
            chunk = os.read(read_end, 32)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
    if not data.endswith(b"\n"):
        proc.kill()
        raise SystemExit("Xvfb did not start (install the xvfb package)")
    try:
        yield f":{data.decode().strip()}"
    finally:
        proc.terminate()
        proc.wait(10)


def _pactl(server: str, *args: str) -> None:
    subprocess.run(["pactl", "-s", server, *args], check=True, capture_output=True, timeout=30)


@contextmanager
def pulse(runtime: Path):
    """A PulseAudio daemon with a headset's microphone (it plays a voice-like sound, for
    the level meter) and two speakers, each with the description a desktop shows."""
    if shutil.which("pulseaudio") is None:
        print("note: PulseAudio is not installed: the Audio page shows what PortAudio finds")
        yield None
        return
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    fifo, socket_path = runtime / "mic.fifo", runtime / "native"
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), HOME=str(runtime))

    def named(text: str) -> str:  # what a desktop's sound settings show for the device
        return f"\"device.description='{text}'\""

    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         "-L", f"module-native-protocol-unix socket={socket_path} auth-anonymous=1",
         "-L", "module-null-sink sink_name=speakers rate=48000 "
               f"sink_properties={named('Built-in Audio Analog Stereo')}",
         "-L", "module-null-sink sink_name=headset_out rate=48000 "
               f"sink_properties={named('USB Headset Analog Stereo')}",
         "-L", f"module-pipe-source source_name=headset_mic file={fifo} format=s16le "
               f"rate=24000 channels=1 source_properties={named('USB Headset Mono Microphone')}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = f"unix:{socket_path}"
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["pactl", "-s", server, "info"], capture_output=True).returncode:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("PulseAudio did not start")
            stop.wait(0.1)
        _pactl(server, "set-default-sink", "speakers")
        _pactl(server, "set-default-source", "headset_mic")
        threading.Thread(target=_speak, args=(fifo, stop), daemon=True).start()
        yield server
    finally:
        stop.set()
        daemon.terminate()
        daemon.wait(10)


def _speak(fifo: Path, stop: threading.Event) -> None:
    """A voice-like sound into the microphone, 20 ms at a time as a microphone delivers."""
    rate, frame = 24_000, 480
    begun, n = time.monotonic(), 0
    try:
        with open(fifo, "wb") as f:
            while not stop.is_set():
                t = [(n + i) / rate for i in range(frame)]
                loud = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t[0])  # syllables
                samples = (int(8000 * loud * math.sin(2 * math.pi * 180 * x)) for x in t)
                f.write(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
                f.flush()
                n += frame
                stop.wait(begun + n / rate - time.monotonic())
    except (BrokenPipeError, FileNotFoundError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="+", choices=sorted(SHOTS), default=list(SHOTS))
    parser.add_argument("--inside", metavar="MODEL_DIR", type=Path,
                        help=argparse.SUPPRESS)  # the Qt process, started by the outer one
    args = parser.parse_args(argv)
    if args.inside:
        for path in shoot(args.out, args.inside, args.only):
            print(f"{path} ({path.stat().st_size // 1024} KiB)", flush=True)
        return 0
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arcus-shots-")))
        home = tmp / "home"
        (tmp / "run").mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "HF_", "ARCUS_", "PULSE_", "QT_"))
               and k not in ("DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY", "DISPLAY")}
        env.update(HOME=str(home), XDG_RUNTIME_DIR=str(tmp / "run"), HF_HUB_OFFLINE="1",
                   QT_QPA_PLATFORM="xcb", PYTHONPATH=os.pathsep.join(
                       filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        model = home / "PersonaPlex-7B"
        subprocess.run([sys.executable, "-m", "arcus_desktop", "testkit", "--out", str(model)],
                       env=dict(env, QT_QPA_PLATFORM="offscreen"), check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        env["DISPLAY"] = stack.enter_context(xvfb())
        server = stack.enter_context(pulse(tmp / "pulse"))
        if server:
            env.update(PULSE_SERVER=server, PULSE_RUNTIME_PATH=str(tmp / "pulse"))
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--inside",
                               str(model), "--out", str(args.out.resolve()), "--only",
                               *args.only], env=env, cwd=home.mkdir(exist_ok=True) or home)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
