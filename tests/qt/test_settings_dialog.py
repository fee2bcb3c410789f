"""The settings dialog on real parts: the tiny model's voices and sentencepiece tokenizer,
a settings file on disk, a real password store, a real memory store for the preview, an
HTTP server on loopback for "Test connection" and the sync test stack for signing in."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCursor
from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QApplication, QComboBox,
                               QKeySequenceEdit, QLineEdit, QListWidget, QPlainTextEdit,
                               QSlider, QWidget)

from arcus_desktop.audio.devices import Device
from arcus_desktop.audio.files import read_mono, write_wav
from arcus_desktop.bridge.model_info import ModelInfo, preset_voice_names, read_model_info
from arcus_desktop.bridge.settings_store import QSettingsStore, SettingsService
from arcus_desktop.core.persona import ARCUS_COMPANION
from arcus_desktop.engine.constants import PRESET_VOICES, TOKENIZER_FILE, VOICES_FILE
from arcus_desktop.settings import app_settings as a
from arcus_desktop.ui.settings import SettingsDialog
from arcus_desktop.ui.settings.persona_page import PREVIEW_DELAY_MS

from ..conftest import AUDIO
from ..health_stub import health_server as serve_health
from ..secret_service import saved_names
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)

WAIT_MS = 10_000
DEVICES = [Device(0, "Built-in Microphone", 2, 0, 48000.0, True),
           Device(3, "USB Headset", 1, 2, 48000.0, False),
           Device(5, "HDMI Speakers", 0, 2, 48000.0, True)]


def fake_devices(refresh: bool = False) -> list[Device]:
    return list(DEVICES)



@pytest.fixture(scope="session")
def tiny_info(tiny_model) -> ModelInfo:
    return read_model_info(tiny_model)


def open_dialog(qtbot, service, info=None, **kwargs) -> SettingsDialog:
    kwargs.setdefault("list_devices", fake_devices)
    dialog = SettingsDialog(service, model_info=info, **kwargs)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.audio.devices_listed, timeout=WAIT_MS):
        dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.fixture
def dialog(qtbot, service, tiny_info) -> SettingsDialog:
    return open_dialog(qtbot, service, tiny_info)


def page_of(dialog, page) -> None:
    dialog.sidebar.setCurrentRow(dialog.pages.index(page))


def warns(item) -> bool:
    """Whether a sidebar row shows its warning icon (a blank one keeps its place)."""
    image = item.icon().pixmap(16, 16).toImage()
    return any(image.pixelColor(x, y).alpha() for x in range(image.width())
               for y in range(image.height()))


def message(page, key: str) -> str:
    return page.fields[key][1].text()


# --- voices ---------------------------------------------------------------------------


def test_every_preset_voice_of_the_model_is_listed_with_its_labels(dialog, tiny_model):
    names = preset_voice_names(tiny_model / VOICES_FILE)
    assert names == ["NATF0", "NATF2", "NATM1", "VARF3"]  # what the test kit ships
    shown = [dialog.voice.voices.item(i).text() for i in range(dialog.voice.voices.count())]
    assert shown == ["NATF0 — natural, female", "NATF2 — natural, female",
                     "NATM1 — natural, male", "VARF3 — varied, female"]
    assert dialog.voice.selected_preset() == "NATF2"  # the default
    assert dialog.voice.voices_note.isHidden()


def test_a_saved_voice_the_model_does_not_have_is_kept_but_must_be_changed(
        qtbot, service, tiny_info):
    s = service.settings
    s.voice.preset = "VARM4"  # a real PersonaPlex voice the tiny model does not ship
    service.apply(s)
    dialog = open_dialog(qtbot, service, tiny_info)
    assert dialog.voice.voices.currentItem().text() == "VARM4 — not in the installed model"
    assert not dialog.apply()
    assert "no voice VARM4" in message(dialog.voice, "voice/preset")
    dialog.voice.voices.setCurrentRow(0)
    assert dialog.apply() and service.settings.voice.preset == "NATF0"


def test_without_a_model_the_published_voices_are_offered_and_tokens_estimated(qtbot, service):
    dialog = SettingsDialog(service, list_devices=fake_devices)  # reads the (empty) HF cache
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.model_loaded, timeout=WAIT_MS) as loaded:
        dialog.show()
    assert not loaded.args[0].installed
    assert dialog.voice.voices.count() == len(PRESET_VOICES) == 18
    assert "not installed" in dialog.voice.voices_note.text()
    assert "once the model is installed" in dialog.persona.counter.text()
    assert dialog.apply()  # nothing to check the tokens against: still usable


def test_own_voice_needs_a_recording_and_consent(qtbot, dialog, service, tmp_path):
    clip = tmp_path / "my voice.wav"  # 6 s of real speech (files are checked at Apply)
    write_wav(clip, read_mono(AUDIO / "input_service.wav", 24_000)[4 * 24_000:10 * 24_000],
              24_000)
    page_of(dialog, dialog.voice)
    dialog.voice.own_choice.click()
    assert dialog.voice.consent.isEnabled() and not dialog.voice.voices.isEnabled()
    assert not dialog.apply()
    assert "Choose a recording" in message(dialog.voice, "voice/own_recording")
    assert "Confirm" in message(dialog.voice, "voice/consent")

    qtbot.keyClicks(dialog.voice.path, str(clip))
    assert not dialog.apply()  # still no consent: not saved
    assert message(dialog.voice, "voice/own_recording") == ""
    assert "Confirm" in message(dialog.voice, "voice/consent")
    assert service.settings.voice.use_own is False

    dialog.voice.consent.click()
    assert dialog.apply()
    saved = service.settings
    assert saved.voice.use_own and saved.voice.consent and saved.voice.own_recording == str(clip)
    assert saved.to_persona().voice_file == str(clip)

    qtbot.keyClicks(dialog.voice.path, "x")  # another recording: consent is asked again
    assert not dialog.voice.consent.isChecked()
    assert not dialog.apply()


# --- persona ---------------------------------------------------------------------------


LONG_ROLE = (ARCUS_COMPANION + " You also know a great deal about appliance repair, the team "
             "schedule and the reports that are due on Friday.")


def real_count(tiny_model, role: str) -> int:
    sp = sentencepiece.SentencePieceProcessor(model_file=str(tiny_model / TOKENIZER_FILE))
    return len(sp.encode(f"<system> {' '.join(role.split())} <system>"))


def test_token_counter_counts_with_the_models_tokenizer_and_warns_over_budget(
        qtbot, dialog, service, tiny_model):
    page = dialog.persona
    page_of(dialog, page)
    n = real_count(tiny_model, ARCUS_COMPANION)
    assert page.counter.text() == f"{n} of 200 tokens" and page.counter.kind == "ok"

    long_role = LONG_ROLE
    page.text.setPlainText(long_role)
    over = real_count(tiny_model, long_role)
    assert over > 200  # the tiny tokenizer's pieces are short
    assert page.counter.text().startswith(f"{over} of 200 tokens: {over - 200} over the budget")
    assert page.counter.kind == "error"
    assert page.counter.label.palette().color(page.counter.label.foregroundRole()) == QColor("#b3261e")
    dialog.sidebar.setCurrentRow(0)
    assert not dialog.apply()
    assert dialog.stack.currentWidget() is page  # taken to the problem
    assert service.settings.persona.text == ARCUS_COMPANION  # not saved

    page.budget.setValue(over)
    assert page.counter.text() == f"{over} of {over} tokens"
    assert dialog.apply()
    assert service.settings.persona.text == long_role
    assert service.settings.persona.preset == "custom"


def test_presets_fill_the_editor_and_editing_makes_it_custom(qtbot, dialog):
    page = dialog.persona
    assert page.preset.currentData() == "companion"
    page.preset.setCurrentIndex(page.preset.findData("teacher"))
    page.preset.activated.emit(page.preset.currentIndex())
    assert page.text.toPlainText() == a.persona_preset("teacher").text
    page.text.setFocus()
    page.text.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(page.text, " Be brief.")
    assert page.preset.currentData() == "custom"
    page.preset.setCurrentIndex(page.preset.findData("casual"))
    page.preset.activated.emit(page.preset.currentIndex())
    page.preset.setCurrentIndex(page.preset.findData("custom"))
    page.preset.activated.emit(page.preset.currentIndex())
    assert page.text.toPlainText().endswith("Be brief.")  # the custom text comes back


def test_preview_shows_the_prompt_with_the_memories_it_would_get(
        qtbot, service, tiny_info, tmp_path, embedder):
    from arcus_desktop.bridge.memory_service import MemoryService
    from arcus_desktop.memory.store import MemoryStore

    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    store.add("semantic", "Dana leads the Tideline team", pinned=True)
    store.add("procedural", "I prefer short answers")
    store.close()
    memories = MemoryService(tmp_path / "memory.db", embedder=embedder)
    try:
        s = service.settings
        s.persona.token_budget = 600  # the tiny tokenizer needs room for two memories
        service.apply(s)
        dialog = open_dialog(qtbot, service, tiny_info, memory_service=memories)
        page = dialog.persona
        with qtbot.waitSignal(page.preview_updated, timeout=WAIT_MS) as shown:
            page.refresh_preview()
        text = shown.args[0]
        assert text == page.preview.toPlainText()
        # readable: no <system> tags, each part of the prompt in a paragraph of its own
        assert "<system>" not in text and text.startswith("You are Arcus")
        assert "\n\nWhat you remember from earlier conversations:\nDana leads the Tideline team." in text
        assert "\n\nHow the user likes you to talk:\nThey told you: I prefer short answers" in text
        assert "2 memories" in page.preview_note.text()

        # which memories and why, with a way to pin or delete the wrong ones
        lines = [page.chosen.item(i).text() for i in range(page.chosen.count())]
        assert len(lines) == 2 and lines[0].startswith("fact: “Dana leads the Tideline team”")
        assert "(pinned; saved " in lines[0] and lines[1].startswith("style: “I prefer short")
        page_of(dialog, page)
        page.scroll.ensureWidgetVisible(page.forget)
        path = screenshot_dir(tmp_path) / "settings_persona_memories.png"
        assert dialog.grab().save(str(path))
        assert_not_blank(path)
        page.chosen.setCurrentRow(0)
        assert not page.pin.isEnabled() and page.forget.isEnabled()  # already pinned
        page.chosen.setCurrentRow(1)
        assert page.pin.isEnabled()
        with qtbot.waitSignal(page.preview_updated, timeout=WAIT_MS) as shown:
            page.forget.click()  # deleted, and the preview is looked up again without it
        assert "short answers" not in shown.args[0]
        assert [page.chosen.item(i).text()[:10] for i in range(page.chosen.count())] == ["fact: “Dan"]

        dialog.memory.enabled.setChecked(False)  # memory off: the role alone
        with qtbot.waitSignal(page.preview_updated, timeout=PREVIEW_DELAY_MS * 10) as shown:
            page.refresh_preview()
        assert "Tideline" not in shown.args[0] and "Memory is off" in page.preview_note.text()
        assert shown.args[0] == ARCUS_COMPANION  # the role alone, without its tags
    finally:
        memories.shutdown()


# --- applying --------------------------------------------------------------------------


def test_apply_emits_the_new_settings_and_saves_them(qtbot, dialog, service, ini):
    assert not dialog.apply_button.isEnabled()
    dialog.sampling.text_temperature.setValue(0.55)
    dialog.sampling.fixed_seed.setChecked(True)
    dialog.sampling.seed.setValue(1234)
    dialog.audio.output.setCurrentIndex(dialog.audio.output.findData("USB Headset"))
    dialog.memory.items.setValue(9)
    dialog.data.retention.setValue(14)
    assert dialog.apply_button.isEnabled()
    with qtbot.waitSignal(service.changed) as changed, qtbot.waitSignal(dialog.applied) as applied:
        dialog.apply_button.click()
    new = applied.args[0]
    assert changed.args[0] == new and changed.args[1].memory.items == 5
    assert new.sampling.text_temperature == 0.55 and new.sampling.seed == 1234
    assert new.audio.output_device == "USB Headset" and new.audio.input_device == ""
    assert new.memory.items == 9 and new.data.retention_days == 14
    assert not dialog.apply_button.isEnabled()
    assert a.load(QSettingsStore.ini_file(ini)) == new  # on disk, as a restart reads it


def test_cancel_keeps_what_was_saved(qtbot, dialog, service):
    dialog.hotkey.hold.setChecked(True)
    with qtbot.assertNotEmitted(dialog.applied):
        dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    assert not dialog.isVisible() and service.settings.hotkey.hold_to_talk is False


def test_ok_applies_and_closes(qtbot, dialog, service):
    dialog.audio.echo.setChecked(False)
    with qtbot.waitSignal(dialog.applied):
        dialog.ok_button.click()
    assert not dialog.isVisible() and service.settings.audio.echo_cancellation is False


def test_a_settings_file_that_cannot_be_written_is_reported(qtbot, tmp_path, tiny_info):
    folder = tmp_path / "not-a-file.ini"
    folder.mkdir()  # QSettings cannot write a file where a folder is
    service = SettingsService(QSettingsStore.ini_file(folder))
    dialog = open_dialog(qtbot, service, tiny_info)
    dialog.memory.items.setValue(3)
    with qtbot.assertNotEmitted(dialog.applied):
        assert not dialog.apply()
    assert "could not be saved" in dialog.message.text()
    assert dialog.apply_button.isEnabled()


def test_problems_show_under_their_field_and_mark_the_page(qtbot, dialog):
    page = dialog.engine
    page_of(dialog, page)
    page.mode.setCurrentIndex(page.mode.findData("server"))
    assert "team server's address" in message(page, "engine/server_url")
    row = dialog.pages.index(page)
    assert warns(dialog.sidebar.item(row))
    assert "1 problem" in dialog.sidebar.item(row).toolTip()
    dialog.sidebar.setCurrentRow(0)
    assert not dialog.apply()
    assert dialog.stack.currentWidget() is page and page.server_url.hasFocus()
    qtbot.keyClicks(page.server_url, "https://gpu-box:8998")
    assert message(page, "engine/server_url") == ""
    assert not warns(dialog.sidebar.item(row))
    assert dialog.apply()


def test_saved_devices_that_are_not_plugged_in_are_kept(qtbot, service, tiny_info):
    s = service.settings
    s.audio.input_device = "Old Webcam"
    service.apply(s)
    dialog = open_dialog(qtbot, service, tiny_info)
    inputs = [dialog.audio.input.itemText(i) for i in range(dialog.audio.input.count())]
    outputs = [dialog.audio.output.itemText(i) for i in range(dialog.audio.output.count())]
    assert inputs == ["System default", "Built-in Microphone", "USB Headset",
                      "Old Webcam (not connected)"]
    assert outputs == ["System default", "USB Headset", "HDMI Speakers"]
    assert dialog.audio.input.currentData() == "Old Webcam"
    assert dialog.apply() and service.settings.audio.input_device == "Old Webcam"


def test_the_systems_devices_are_listed_on_a_worker_thread(qtbot, service, tiny_info, pulse):
    dialog = SettingsDialog(service, model_info=tiny_info)  # audio.devices.list_devices
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.audio.devices_listed, timeout=WAIT_MS):
        dialog.show()
    names = {dialog.audio.input.itemText(i) for i in range(dialog.audio.input.count())}
    # PulseAudio's microphone, by its description; the default names it.
    fifo = next(n for n in names if n.startswith("Unix FIFO source"))
    assert f"System default ({fifo})" in names and "Null Output" not in names
    assert dialog.audio.devices_message.text() == ""


WATCH = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from arcus_desktop.bridge.device_watch import DeviceWatch
app = QApplication([])
watch = DeviceWatch()
watch.changed.connect(lambda: (print("changed", flush=True), app.quit()))
QTimer.singleShot(0, lambda: print("watching", flush=True))
QTimer.singleShot(30_000, lambda: app.exit(1))
sys.exit(app.exec())
"""


# The bundles leave Qt Multimedia out (build.spec): the sound server's notices must do.
WITHOUT_QT_MULTIMEDIA = "import sys; sys.modules['PySide6.QtMultimedia'] = None\n"


@pytest.mark.parametrize("qt_multimedia", [True, False], ids=["qt-multimedia", "bundled"])
def test_the_device_watch_sees_a_device_plugged_in(pulse, qt_multimedia):
    # Its own process: Qt connects to the sound server once per process, and tests that
    # ran before this one had none.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    script = WATCH if qt_multimedia else WITHOUT_QT_MULTIMEDIA + WATCH
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout.readline().strip() == "watching"
        # A real device appearing in the real sound server (a USB headset, say). `pactl
        # subscribe` gives no sign that it has subscribed, so a device plugged in before
        # it has is not seen: plug in another until the watch tells (10 at most).
        for n in range(10):
            subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name=usb{n}"],
                           check=True, capture_output=True)
            if select.select([child.stdout], [], [], 3)[0]:
                break
        assert child.stdout.readline().strip() == "changed"
        assert child.wait(30) == 0
    finally:
        child.kill()
        child.wait()


def test_the_audio_page_looks_again_when_devices_change(qtbot, service, tiny_info):
    refreshes = []
    dialog = SettingsDialog(service, model_info=tiny_info,
                            list_devices=lambda refresh=False: refreshes.append(refresh) or [])
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.audio.devices_listed, timeout=WAIT_MS):
        dialog.show()
    page_of(dialog, dialog.audio)
    qtbot.waitUntil(lambda: dialog.audio.watch is not None)
    with qtbot.waitSignal(dialog.audio.devices_listed, timeout=WAIT_MS):
        dialog.audio.watch.changed.emit()  # as when the system says (test above)
    assert refreshes == [False, True]  # PortAudio was asked to look again


# --- hotkey ----------------------------------------------------------------------------


def test_hotkey_is_captured_by_pressing_it(qtbot, dialog, service):
    page = dialog.hotkey
    page_of(dialog, page)
    page.clear.click()
    page.shortcut.setFocus()
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(page.shortcut, Qt.Key.Key_K, mods)
    assert page.shortcut_text() == "Ctrl+Shift+K"
    assert dialog.apply() and service.settings.hotkey.shortcut == "Ctrl+Shift+K"

    page.clear.click()
    page.shortcut.setFocus()
    qtbot.keyClick(page.shortcut, Qt.Key.Key_G)  # a plain key would be stolen from every app
    assert "Ctrl, Alt, Shift or Meta" in message(page, "hotkey/shortcut")
    assert "arcus-desktop --toggle" in page.platform_note.text()


# --- engine: tokens and the connection test ---------------------------------------------


@pytest.fixture
def health_server():
    with serve_health(token="team-token", free_slots=3) as url:
        yield url


def run_test(qtbot, page, url: str, token: str):
    page.server_url.setText(url)
    page.server_token.setText(token)
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as result:
        page.test.click()
    assert page.test.isEnabled()
    return result.args[0]


def test_connection_test_reaches_a_server_on_loopback(qtbot, dialog, health_server):
    page = dialog.engine
    page_of(dialog, page)
    result = run_test(qtbot, page, health_server, "team-token")
    assert result.ok and page.test_result.kind == "ok"
    assert page.test_result.text().startswith("Connected: 127.0.0.1:")
    assert "3 free conversation slots" in page.test_result.text()

    ws = health_server.replace("http://", "ws://") + "/api/chat"  # the chat address works too
    assert run_test(qtbot, page, ws, "team-token").ok

    result = run_test(qtbot, page, health_server, "wrong")
    assert not result.ok and "refused the token (HTTP 401)" in page.test_result.text()
    assert page.test_result.kind == "error"


def test_connection_test_explains_an_unreachable_port(qtbot, dialog):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page = dialog.engine
    result = run_test(qtbot, page, f"http://127.0.0.1:{port}", "")
    assert not result.ok
    assert page.test_result.text() == (f"Nothing answers at 127.0.0.1:{port} (connection "
                                       "refused). Check the address and port, and that the "
                                       "server is running.")
    assert "Enter the server's address" in run_test(qtbot, page, "", "").text


def test_tokens_typed_in_the_dialog_go_to_the_keyring_only(qtbot, service, tiny_info, ini,
                                                            os_keyring, tmp_path):
    dialog = open_dialog(qtbot, service, tiny_info)
    page = dialog.engine
    assert page.server_token.isEnabled()
    assert page.server_token.echoMode() == QLineEdit.EchoMode.Password
    page.mode.setCurrentIndex(page.mode.findData("server"))
    page.server_url.setText("https://gpu-box:8998")
    page.server_token.setText("srv-5ecret-token")
    page.hf_token.setText("hf_5ecretHuggingFace")
    assert dialog.apply()
    assert a.load_secrets() == a.Secrets("hf_5ecretHuggingFace", "srv-5ecret-token")
    assert {"hf_token", "server_token"} <= saved_names(os_keyring)
    for path in (ini, tmp_path / "data" / "sync.json"):
        text = path.read_text(encoding="utf-8")
        assert "5ecret" not in text

    again = open_dialog(qtbot, service, tiny_info)  # shown again when the dialog reopens
    assert again.engine.server_token.text() == "srv-5ecret-token"
    again.engine.server_token.clear()
    assert again.apply()
    assert a.load_secrets().server_token == ""
    assert "server_token" not in saved_names(os_keyring)


def test_without_a_password_store_tokens_cannot_be_typed(qtbot, service, tiny_info, monkeypatch):
    from arcus_desktop.settings import secrets

    monkeypatch.setattr(secrets, "_keyring", lambda: None)
    dialog = open_dialog(qtbot, service, tiny_info)
    assert not dialog.engine.server_token.isEnabled() and not dialog.engine.hf_token.isEnabled()
    assert "no password store" in dialog.engine.keyring_note.text()
    assert dialog.apply()


# --- sync ------------------------------------------------------------------------------


def test_sync_sign_in_and_out_off_the_gui_thread(qtbot, service, tiny_info, supabase_stack,
                                                  os_keyring):
    supabase_stack.auth.add_user("dana@northwind.test", "correct horse")
    dialog = open_dialog(qtbot, service, tiny_info)
    page = dialog.sync
    page.url.setText(supabase_stack.url)
    page.anon_key.setText(supabase_stack.anon_key)
    with qtbot.waitSignal(page.account.state_changed, timeout=WAIT_MS):
        page_of(dialog, page)  # showing the page asks who is signed in
    assert page.state.text() == "Not signed in." and not page.sign_out_button.isEnabled()

    page.email.setText("dana@northwind.test")
    page.password.setText("wrong")
    with qtbot.waitSignal(page.account.failed, timeout=WAIT_MS):
        page.sign_in_button.click()
    assert "not accepted" in page.account_message.text()

    page.password.setText("correct horse")
    with qtbot.waitSignal(page.account.state_changed, timeout=WAIT_MS):
        page.sign_in_button.click()
        assert page.account.busy and not page.sign_in_button.isEnabled()  # while it works
    assert page.state.text() == "Signed in as dana@northwind.test."
    assert page.password.text() == "" and page.sign_out_button.isEnabled()
    assert any(n.startswith("supabase:") for n in saved_names(os_keyring))

    with qtbot.waitSignal(page.account.state_changed, timeout=WAIT_MS):
        page.sign_out_button.click()
    assert page.state.text() == "Not signed in."
    assert not any(n.startswith("supabase:") for n in saved_names(os_keyring))
    page.enabled.setChecked(True)
    assert dialog.apply() and service.settings.sync.url == supabase_stack.url


# --- keyboard, small sizes, screenshots -------------------------------------------------


def test_every_input_can_be_reached_and_named(qtbot, dialog):
    """Screen readers need a name for each input; buttons are named by their text."""
    inputs = (QLineEdit, QAbstractButton, QComboBox, QAbstractSpinBox, QPlainTextEdit,
              QListWidget, QSlider, QKeySequenceEdit)
    inner = (QAbstractSpinBox, QComboBox, QKeySequenceEdit, QLineEdit)  # Qt's own parts
    unnamed = []
    for page in dialog.pages:
        for w in page.findChildren(QWidget):
            if (not isinstance(w, inputs) or isinstance(w.parent(), inner)
                    or w.focusPolicy() == Qt.FocusPolicy.NoFocus):
                continue
            if not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text())):
                unnamed.append(f"{page.title}: {type(w).__name__}")
    assert not unnamed
    dialog.sidebar.setFocus()
    qtbot.keyClick(dialog.sidebar, Qt.Key.Key_Down)
    assert dialog.stack.currentWidget() is dialog.persona
    qtbot.keyClick(dialog, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert dialog.stack.currentWidget() is dialog.audio
    qtbot.keyClick(dialog, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(dialog, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert dialog.stack.currentWidget() is dialog.voice

    page_of(dialog, dialog.hotkey)  # Tab leaves the shortcut field instead of being captured
    dialog.hotkey.shortcut.setFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert not dialog.hotkey.shortcut.isAncestorOf(QApplication.focusWidget())
    assert dialog.hotkey.shortcut_text() == "Ctrl+Alt+Space"
    assert dialog.persona.text.tabChangesFocus()  # the role editor too


def screenshot_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("ARCUS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def assert_not_blank(path: Path) -> None:
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    assert not image.isNull() and image.width() > 100 and image.height() > 100
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert len(colours) > 8, f"{path.name} looks blank"


def settle() -> None:
    """Let layouts finish: a wrapped text that grew posts a relayout, which may post one
    more for the scrolling page around it."""
    for _ in range(5):
        QApplication.processEvents()


def test_screenshots_of_every_page(qtbot, service, tiny_info, tmp_path, os_keyring):
    folder = screenshot_dir(tmp_path)
    dialog = open_dialog(qtbot, service, tiny_info)  # with a password store: tokens usable
    dialog.engine.test_result.show_text("Connected: gpu-box:8998 is ready (answered in 12 ms), "
                                        "3 free conversation slots.", "ok")
    for size, suffix in (((780, 560), ""), ((460, 360), "_small")):
        dialog.resize(*size)
        for page in dialog.pages:
            page_of(dialog, page)
            settle()
            path = folder / f"settings_{page.title.lower()}{suffix}.png"
            assert dialog.grab().save(str(path))
            assert_not_blank(path)
    page_of(dialog, dialog.persona)
    dialog.resize(780, 560)
    dialog.persona.text.setPlainText(LONG_ROLE)
    dialog.persona.refresh_preview()
    settle()
    path = folder / "settings_persona_over_budget.png"
    assert dialog.grab().save(str(path))
    assert_not_blank(path)


def test_settings_modules_import_neither_torch_nor_supabase():
    code = ("import sys; import arcus_desktop.ui.settings, arcus_desktop.bridge.settings_store, "
            "arcus_desktop.bridge.model_info, arcus_desktop.bridge.sync_account, "
            "arcus_desktop.bridge.server_check, arcus_desktop.settings.app_settings; "
            "print('torch' in sys.modules, 'supabase' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_the_own_recording_can_be_listened_to(qtbot, service, tiny_info, pulse):
    # Played through PortAudio to the real PulseAudio daemon's speaker, and stopped.
    dialog = SettingsDialog(service, model_info=tiny_info, list_devices=fake_devices)
    qtbot.addWidget(dialog)
    dialog.show()
    page = dialog.voice
    page_of(dialog, page)
    page.own_choice.setChecked(True)
    page.listen.click()  # nothing chosen yet: says so
    assert "Choose a recording first" in page.fields["voice/own_recording"][1].text()
    page.path.setText(str(AUDIO / "input_service.wav"))
    with qtbot.waitSignal(page.listen.finished, timeout=60_000):
        page.listen.click()
        qtbot.waitUntil(lambda: page.listen.playing, timeout=10_000)
        assert page.listen.text() == "&Stop"
        page.listen.click()  # and stopped again
    assert page.listen.text() == "&Listen"
    qtbot.waitUntil(page.listen.player.settled, timeout=WAIT_MS)  # before the daemon goes


def test_focus_stays_on_test_connection_and_the_token_is_not_selected(
        qtbot, service, tiny_info, health_server, os_keyring):
    """After "Test connection" a keystroke must not replace the saved Hugging Face token
    (the button was disabled while it ran, and Qt moved focus on to the token field)."""
    dialog = open_dialog(qtbot, service, tiny_info)  # with a password store: tokens editable
    page = dialog.engine
    page_of(dialog, page)
    page.hf_token.setText("hf_saved_token")
    page.server_url.setText(health_server)
    page.server_token.setText("team-token")
    dialog.activateWindow()
    page.test.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(page.test.hasFocus, timeout=WAIT_MS)
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS):
        qtbot.keyClick(page.test, Qt.Key.Key_Space)
        assert not page.hf_token.hasFocus()  # also while the test runs
    assert page.test.hasFocus()
    assert page.hf_token.selectedText() == ""
    qtbot.keyClicks(QApplication.focusWidget(), "x")
    assert page.hf_token.text() == "hf_saved_token"


def test_the_sidebar_lists_audio_before_sampling(dialog):
    titles = [dialog.sidebar.item(i).text() for i in range(dialog.sidebar.count())]
    assert titles == [p.title for p in dialog.pages]
    assert titles.index("Audio") < titles.index("Sampling")
    assert titles[:3] == ["Voice", "Persona", "Audio"]


def test_a_problem_marks_its_page_without_moving_the_sidebar(qtbot, dialog):
    sidebar = dialog.sidebar
    rows = lambda: [sidebar.visualItemRect(sidebar.item(i)) for i in range(sidebar.count())]
    before, width = rows(), sidebar.width()
    dialog.persona.text.setPlainText(LONG_ROLE)  # over the budget: a problem on Persona
    item = sidebar.item(dialog.pages.index(dialog.persona))
    assert item.toolTip() == "1 problem to fix" and warns(item)
    QApplication.processEvents()
    assert rows() == before and sidebar.width() == width
