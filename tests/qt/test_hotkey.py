"""The global hotkey: parsing, key tables, the X11 backend for real (Xvfb, keys typed
by xdotool through XTEST), and the fallback message where no backend works.

Not exercised here: the Windows and macOS backends (the suite runs on Linux; their key
tables are checked) and the real xdg-desktop-portal GlobalShortcuts (no compositor
here implements it; test_portal_against_a_stand_in checks our side of the D-Bus
conversation against a stand-in that follows the portal's documented interface)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from arcus_desktop.bridge.hotkey import NO_HOTKEY, GlobalHotkey, HotkeyError, keys, parse
from arcus_desktop.ui.app import ArcusApp

from ..xserver import need, xdotool, xvfb
from .scripted_engine import ScriptedEngine

WAIT_MS = 10_000


@pytest.fixture(scope="module")
def display():
    need("xdotool")
    with xvfb() as d:
        yield d


@pytest.fixture
def x11(display, qapp):
    from arcus_desktop.bridge.hotkey.x11 import X11Backend

    made = []

    def make(parent=None):
        made.append(X11Backend(display, parent))
        return made[-1]

    yield make
    for backend in made:
        backend.close()
    xdotool(display, "keyup", "ctrl", "alt", "space")


# -- strings and key codes -----------------------------------------------------------------

def test_hotkeys_are_written_like_qt_portable_key_sequences(qapp):
    h = parse("Ctrl+Alt+Space")
    assert h.key == Qt.Key.Key_Space and h.modifiers == {"ctrl", "alt"}
    assert h.text() == "Ctrl+Alt+Space" and parse(" ctrl+alt+space ") == h
    assert parse("Meta+Shift+K").modifiers == {"meta", "shift"}
    assert parse("F9").modifiers == frozenset()  # a function key may stand alone


@pytest.mark.parametrize("text, why", [
    ("A", "away from typing"), ("Shift+A", "away from typing"), ("Ctrl+Alt", "no key"),
    ("Ctrl+X, Ctrl+C", "not a key combination"), ("", "not a key combination"),
])
def test_hotkeys_that_cannot_work_are_refused_with_a_reason(qapp, text, why):
    with pytest.raises(HotkeyError, match=why):
        parse(text)


def test_key_codes_per_platform(qapp):
    space, k, f9 = parse("Ctrl+Alt+Space"), parse("Meta+Shift+K"), parse("Ctrl+F9")
    assert [keys.x11_keysym(h.key) for h in (space, k, f9)] == [0x20, 0x6B, 0xFFC6]
    assert [keys.windows_vk(h.key) for h in (space, k, f9)] == [0x20, 0x4B, 0x78]
    assert keys.windows_vk(parse("Ctrl+Alt+,").key) is None  # layout-dependent: VkKeyScanW
    assert [keys.mac_keycode(h.key) for h in (space, k, f9)] == [0x31, 0x28, 0x65]
    assert keys.xdg_trigger(space) == "CTRL+ALT+space"
    assert keys.xdg_trigger(k) == "SHIFT+LOGO+k"
    assert keys.xdg_trigger(parse("Ctrl+Alt+,")) == "CTRL+ALT+comma"


def test_auto_repeat_is_not_a_release():
    from arcus_desktop.bridge.hotkey.x11 import KEY_PRESS, KEY_RELEASE, key_transitions

    held = [(KEY_PRESS, 65, 100), (KEY_RELEASE, 65, 600), (KEY_PRESS, 65, 600),
            (KEY_RELEASE, 65, 633), (KEY_PRESS, 65, 633), (KEY_PRESS, 38, 640)]
    assert key_transitions(held, {65}, False) == ([True], True)
    assert key_transitions([(KEY_RELEASE, 65, 900)], {65}, True) == ([False], False)


# -- X11 for real --------------------------------------------------------------------------

def test_x11_hotkey_reports_press_and_release_of_the_real_key(qtbot, display, x11):
    backend = x11()
    with qtbot.waitSignal(backend.registered, timeout=WAIT_MS) as shown:
        backend.register(parse("Ctrl+Alt+Space"))
    assert shown.args == ["Ctrl+Alt+Space"]
    with qtbot.waitSignal(backend.pressed, timeout=WAIT_MS):
        xdotool(display, "keydown", "ctrl+alt+space")
    with qtbot.waitSignal(backend.released, timeout=WAIT_MS):
        xdotool(display, "keyup", "space")
    xdotool(display, "keyup", "ctrl", "alt")
    xdotool(display, "key", "Num_Lock")  # Num Lock on: the grab still matches
    try:
        with qtbot.waitSignal(backend.pressed, timeout=WAIT_MS):
            xdotool(display, "key", "ctrl+alt+space")
    finally:
        xdotool(display, "key", "Num_Lock")


def test_x11_hotkey_taken_by_another_program_is_refused(qtbot, x11):
    first = x11()
    first.register(parse("Ctrl+Alt+Space"))
    with pytest.raises(HotkeyError, match="already taken by another program"):
        x11().register(parse("Ctrl+Alt+Space"))
    first.unregister()  # and once let go, it can be had
    x11().register(parse("Ctrl+Alt+Space"))


def test_the_hotkey_starts_and_ends_a_conversation_in_the_app(qtbot, display, x11):
    arcus = ArcusApp(engine_factory=lambda: ScriptedEngine(auto=True), hotkey_backend=x11,
                     tray=True)
    qtbot.addWidget(arcus.window)
    try:
        assert arcus.set_hotkey("Ctrl+Alt+Space")
        assert arcus.hotkey.status == "Hotkey: Ctrl+Alt+Space"
        assert "Hotkey: Ctrl+Alt+Space" in arcus.tray.tooltip()
        with qtbot.waitSignal(arcus.controller.conversation_started, timeout=WAIT_MS):
            xdotool(display, "key", "ctrl+alt+space")
        assert arcus.controller.state == "listening"
        with qtbot.waitSignal(arcus.controller.conversation_ended, timeout=WAIT_MS):
            xdotool(display, "key", "ctrl+alt+space")

        arcus.set_hotkey("Ctrl+Alt+Space", hold_to_talk=True)  # X11 reports the release
        assert arcus.controller.hold_to_talk
        with qtbot.waitSignal(arcus.controller.conversation_started, timeout=WAIT_MS):
            xdotool(display, "keydown", "ctrl+alt+space")
        assert arcus.controller.state == "listening"
        with qtbot.waitSignal(arcus.controller.changed, timeout=WAIT_MS):
            xdotool(display, "keyup", "space")
        assert arcus.controller.state == "muted"  # let go: the microphone closes
    finally:
        arcus.shutdown()


# -- where there is no hotkey --------------------------------------------------------------

def test_without_a_backend_the_app_says_to_bind_toggle(qtbot):
    def nothing(parent=None):
        raise HotkeyError("This desktop has neither an X11 display nor a Wayland portal.")

    arcus = ArcusApp(engine_factory=ScriptedEngine, hotkey_backend=nothing, tray=True)
    qtbot.addWidget(arcus.window)
    assert not arcus.set_hotkey("Ctrl+Alt+Space")
    assert "No global hotkey here: bind `arcus-desktop --toggle`" in arcus.hotkey.status
    assert arcus.hotkey.status in arcus.tray.tooltip()
    assert arcus.window.hotkey_line.text() == arcus.hotkey.status
    arcus.set_hotkey("Ctrl+Alt+Space", hold_to_talk=True)
    assert not arcus.controller.hold_to_talk
    arcus.shutdown()


def test_the_backend_follows_the_session(monkeypatch, qapp):
    from arcus_desktop.bridge import hotkey

    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(HotkeyError, match="neither an X11 display"):
        hotkey.pick_backend()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("DISPLAY", ":0")  # XWayland is there, but its grabs see X11 windows only
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    with pytest.raises(HotkeyError, match="session D-Bus"):  # the portal was tried
        hotkey.pick_backend()
    assert GlobalHotkey(hotkey.pick_backend).status == NO_HOTKEY


# -- the Wayland portal, against a stand-in ------------------------------------------------

@pytest.fixture
def private_bus(tmp_path):
    """A D-Bus session daemon of this test's own; yields its address."""
    daemon = subprocess.Popen([need("dbus-daemon"), "--session", "--nofork",
                               "--print-address=1"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        address = daemon.stdout.readline().strip()  # printed once it accepts connections
        assert address, "dbus-daemon did not start"
        yield address
    finally:
        daemon.terminate()
        daemon.wait(10)


def test_portal_against_a_stand_in(qtbot, private_bus):
    """The real GlobalShortcuts portal is NOT exercised here: no compositor on these
    machines implements it. This runs our side of the D-Bus conversation against
    tests/qt/portal_stand_in.py, which follows the portal's documented interface: the
    calls must marshal (BindShortcuts' a(sa{sv}) is why jeepney is used, not QtDBus),
    come in the documented order, and the Response/Activated/Deactivated signals must
    come back as registered/pressed/released."""
    from arcus_desktop.bridge.hotkey.portal import APP_ID, PortalBackend

    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=private_bus)
    stand_in = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
        "portal_stand_in.py"))], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(stand_in.stdout.readline()) == {"ready": True}
        hotkey = GlobalHotkey(lambda parent: PortalBackend(bus=private_bus, parent=parent))
        with qtbot.waitSignals([hotkey.pressed, hotkey.released], timeout=WAIT_MS):
            assert hotkey.set_hotkey("Ctrl+Alt+Space")
            assert hotkey.status == "Hotkey Ctrl+Alt+Space: waiting for the desktop"
        assert hotkey.active and hotkey.supports_release
        assert hotkey.status == "Hotkey: Press <Ctrl><Alt>space"  # the desktop's words
        hotkey.close()  # closes the portal session
        stand_in.wait(30)
        calls = [json.loads(line) for line in stand_in.stdout.read().splitlines()]
    finally:
        if stand_in.poll() is None:
            stand_in.kill()
    assert [c.get("call") for c in calls] == [
        "org.freedesktop.host.portal.Registry.Register",
        "org.freedesktop.DBus.Properties.Get",
        "org.freedesktop.portal.GlobalShortcuts.CreateSession",
        "org.freedesktop.portal.GlobalShortcuts.BindShortcuts",
        "org.freedesktop.portal.Session.Close", None]
    assert calls[0]["body"] == [APP_ID, {}]
    bind = calls[3]
    assert bind["signature"] == "oa(sa{sv})sa{sv}"
    (shortcut_id, props), = bind["body"][1]
    assert props["preferred_trigger"] == ["s", "CTRL+ALT+space"]
    assert props["description"][1].startswith("Start or end a conversation")
