"""The first-run wizard on real parts: the test kit's tiny model published by the local
Hugging Face stand-in (tests/hubstub.py) and downloaded by engine/download.py into the
test's HF cache, a real password store where tokens are involved, a settings file on
disk, and an HTTP server on loopback as the team server. Only nvidia-smi's output is
made up (there is no GPU here)."""

from __future__ import annotations

import os
import random
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QLineEdit, QSystemTrayIcon, QWizard

from arcus_desktop.bridge import gpu_probe
from arcus_desktop.bridge.settings_store import QSettingsStore, SettingsService
from arcus_desktop.core.errors import MODEL_PAGE
from arcus_desktop.engine import checkpoint, download
from arcus_desktop.engine.download import MODEL_FILES, REPO_ID, TOKEN_PAGE
from arcus_desktop.settings import secrets
from arcus_desktop.settings.app_settings import DictStore
from arcus_desktop.ui.first_run import FirstRunWizard, needs_setup
from arcus_desktop.ui.first_run.wizard import (COMPUTER, DONE, DOWNLOAD, LICENCE, MODEL,
                                               SERVER)

from ..health_stub import TOKEN as HEALTH_TOKEN
from ..health_stub import health_server
from ..hubstub import HubStub
from ..secret_service import saved_names
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .conversation_helpers import differs_from, screenshot_dir

WAIT_MS = 20_000
MIB = 2**20
TOKEN = "hf_5ecretTestTokenAbcdefghijklmnopqrstu"  # the shape of a real one: hf_ + 34
WRONG_TOKEN = "hf_WrongTokenAbcdefghijklmnopqrstuvwxy"
GPU_24 = "NVIDIA GeForce RTX 4090, 24564, 24010\n"
GPU_12 = "NVIDIA GeForce RTX 3060, 12288, 11822\n"
GPU_8 = "NVIDIA GeForce RTX 3070, 8192, 7814\n"
GPU_6 = "NVIDIA GeForce RTX 2060, 6144, 5730\n"
GPU_3 = "NVIDIA GeForce GTX 1050, 3072, 2900\n"


@pytest.fixture(autouse=True)
def no_keyring():
    """keyring's "fail" backend (a user without any password store) unless a test asks
    for the real one (os_keyring); a developer's own keyring never takes part."""
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)



@pytest.fixture
def hub(tiny_model):
    with HubStub(tiny_model, REPO_ID) as stub:
        stub.required_token = TOKEN
        yield stub


@pytest.fixture
def big_hub(tiny_model, tmp_path):
    """The tiny model with a model.safetensors over one 10 MiB chunk of huggingface_hub,
    so a transfer stopped mid-file leaves a partial file to resume."""
    repo = tmp_path / "repo"
    shutil.copytree(tiny_model, repo)
    (repo / "model.safetensors").write_bytes(random.Random(3).randbytes(12 * MIB))
    with HubStub(repo, REPO_ID) as stub:
        stub.required_token = TOKEN
        yield stub


@pytest.fixture
def opened_links():
    """Links the wizard opens with QDesktopServices, caught instead of a browser."""
    catcher = LinkCatcher()
    for scheme in ("https", "http"):
        QDesktopServices.setUrlHandler(scheme, catcher, "open")
    yield catcher.urls
    for scheme in ("https", "http"):
        QDesktopServices.unsetUrlHandler(scheme)


class LinkCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def open_wizard(qtbot, service, gpu: str | None = GPU_12, endpoint: str | None = None,
                **kwargs) -> FirstRunWizard:
    if "detect_gpu" not in kwargs:
        kwargs["detect_gpu"] = lambda: gpu
    wizard = FirstRunWizard(service, endpoint=endpoint, **kwargs)
    qtbot.addWidget(wizard)
    with qtbot.waitSignal(wizard.computer.detected, timeout=WAIT_MS):
        wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


def to_download(qtbot, wizard, token: str = TOKEN) -> None:
    """Through the licence page to the download, which starts at once."""
    if wizard.currentId() == COMPUTER:
        assert wizard.computer.chosen() != "server"
        wizard.next()
    if wizard.currentId() == MODEL:
        assert wizard.model.download_radio.isChecked()  # the default way
        wizard.next()
    assert wizard.currentId() == LICENCE
    page = wizard.licence
    page.accepted_box.setChecked(False)
    page.token.clear()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    qtbot.keyClicks(page.token, token)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # licence first
    page.accepted_box.setChecked(True)
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    wizard.next()
    assert wizard.currentId() == DOWNLOAD


def wait_state(qtbot, wizard, *states: str) -> None:
    qtbot.waitUntil(lambda: wizard.download.state in states, timeout=WAIT_MS)


def finish(wizard) -> None:
    assert wizard.currentId() == DONE
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert wizard.result() == QWizard.DialogCode.Accepted


# --- this computer -------------------------------------------------------------------------


@pytest.mark.parametrize("gpu, mode, words", [
    (GPU_24, "bf16", "holds the whole model"),
    (GPU_12, "int8", "full precision (about 17.5 GiB) does not fit"),
    (GPU_8, "int4", "only 4-bit weights fit"),
    (GPU_6, "offload", "1.6 times slower than real time"),
    (GPU_3, "server", "too small for the model"),
    (None, "server", "Without an NVIDIA GPU"),
    ("No devices were found\n", "server", "Without an NVIDIA GPU"),
])
def test_the_gpu_decides_the_recommended_way(qtbot, service, gpu, mode, words):
    wizard = open_wizard(qtbot, service, gpu)
    page = wizard.computer
    assert page.chosen() == mode == wizard.choices.recommended.mode
    assert "(recommended)" in page.radios[mode].text()
    assert words in page.recommendation.text()
    if gpu and "," in gpu:
        name = gpu.split(",")[0]
        assert name in page.gpu_line.text()
    else:
        assert "No NVIDIA graphics card" in page.gpu_line.text()
    assert page.fit.text() == ""  # the recommendation always fits
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert page.nextId() == (SERVER if mode == "server" else MODEL)


def test_overriding_warns_when_the_choice_will_not_fit(qtbot, service):
    wizard = open_wizard(qtbot, service, GPU_8)
    wizard.computer.choose("bf16")
    assert "7.6 GiB free" in wizard.computer.fit.text()
    assert "would likely not load" in wizard.computer.fit.text()
    assert wizard.choices.mode == "bf16" and wizard.choices.saved_mode == "bf16"
    wizard.computer.choose("int4")
    assert wizard.computer.fit.text() == "" and wizard.choices.saved_mode == "auto"
    wizard.computer.choose("server")
    assert wizard.computer.nextId() == SERVER


def test_nvidia_smi_output_is_parsed_per_gpu():
    text = ("NVIDIA H100 80GB HBM3, 81559, 80000\n"
            "Weird, Inc. GPU, 4096, 1024\n"
            "NVIDIA T4, [N/A], [N/A]\n"
            "\n")
    gpus = gpu_probe.parse(text)
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "Weird, Inc. GPU"]
    assert gpus[0].total == 81559 * MIB and gpus[0].free == 80000 * MIB
    assert gpu_probe.parse(None) == [] and gpu_probe.parse("") == []


def fake_nvidia_smi(folder: Path, body: str) -> None:
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_the_default_detector_runs_nvidia_smi_off_the_gui_thread(qtbot, service, tmp_path,
                                                                monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Answers only the query the wizard must ask, in the format it must ask for.
    fake_nvidia_smi(bin_dir, 'if [ "$1" = "--query-gpu=name,memory.total,memory.free" ] && '
                             '[ "$2" = "--format=csv,noheader,nounits" ]; then\n'
                             f'  printf "{GPU_24.strip()}\\n"; exit 0\nfi\nexit 2\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    wizard = open_wizard(qtbot, service, detect_gpu=None)
    assert "NVIDIA GeForce RTX 4090" in wizard.computer.gpu_line.text()
    assert wizard.computer.chosen() == "bf16"

    # A driver that does not answer reads as no GPU.
    fake_nvidia_smi(bin_dir, 'echo "NVIDIA-SMI has failed because it couldn\'t communicate '
                             'with the NVIDIA driver."\nexit 9\n')
    with qtbot.waitSignal(wizard.computer.detected, timeout=WAIT_MS):
        wizard.computer.again.click()
    assert wizard.computer.chosen() == "server"


# --- licence, token and the download ----------------------------------------------------------


def test_download_with_the_token_from_the_keyring_only(qtbot, service, hub, ini, os_keyring,
                                                        opened_links):
    assert needs_setup(service.settings)
    wizard = open_wizard(qtbot, service, GPU_12, hub.endpoint)
    wizard.next()
    wizard.next()
    page = wizard.licence
    page.model_page.click()
    page.token_page.click()
    assert opened_links == [MODEL_PAGE, TOKEN_PAGE]
    assert "password store" in page.keyring_note.text()
    assert page.token.echoMode() == QLineEdit.EchoMode.Password
    wizard.back()

    to_download(qtbot, wizard)
    assert saved_names(os_keyring) == {"hf_token"}
    assert secrets.get_hf_token() == TOKEN
    job = wizard.download.job
    seen = []
    job.progress.connect(seen.append)
    texts = []
    job.progress.connect(lambda p: texts.append(wizard.download.detail.text()))
    wait_state(qtbot, wizard, "done")

    total = sum((hub.folder / n).stat().st_size for n in MODEL_FILES)
    assert seen and seen[-1].done == seen[-1].total == total
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert f"of {total / 1e6:.1f} MB" in texts[0]
    assert wizard.download.bar.value() == wizard.download.bar.maximum()
    found = checkpoint.locate()
    assert wizard.choices.model_dir == found.root
    assert "downloaded and checked" in wizard.download.message.text()
    file_gets = [r for r in hub.requests if "/resolve/" in r.path]
    assert file_gets and all(r.authorization == f"Bearer {TOKEN}" for r in file_gets)

    wizard.next()
    assert "Low memory: 8-bit weights" in wizard.done_page.summary.text()
    assert str(found.root) in wizard.done_page.summary.text()
    finish(wizard)
    assert service.settings.engine.mode == "auto"  # the recommendation, kept
    assert not needs_setup(service.settings)
    assert TOKEN not in ini.read_text(encoding="utf-8")
    assert "5ecret" not in ini.read_text(encoding="utf-8")


def test_without_a_password_store_the_token_is_used_but_not_saved(qtbot, service, hub):
    assert not secrets.available()
    wizard = open_wizard(qtbot, service, GPU_24, hub.endpoint)
    wizard.next()
    wizard.next()
    assert "no password store" in wizard.licence.keyring_note.text()
    wizard.back()
    to_download(qtbot, wizard)
    wait_state(qtbot, wizard, "done")
    assert secrets.get_hf_token() is None
    assert any(r.authorization == f"Bearer {TOKEN}" for r in hub.requests)


@pytest.mark.parametrize("token, licence, words", [
    (WRONG_TOKEN, True, "rejected the access token"),
    (TOKEN, False, "the licence is not accepted"),
])
def test_a_refused_token_or_licence_points_to_the_model_page(qtbot, service, hub, opened_links,
                                                             token, licence, words):
    hub.licence_accepted = licence
    wizard = open_wizard(qtbot, service, GPU_12, hub.endpoint)
    to_download(qtbot, wizard, token)
    wait_state(qtbot, wizard, "failed")
    page = wizard.download
    assert words in page.message.text() and page.message.kind == "error"
    assert "Open the model page" in page.message.text()
    assert "Traceback" not in page.message.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert page.model_page_button.isVisible() and page.retry_button.isVisible()
    page.model_page_button.click()
    assert opened_links == [MODEL_PAGE]

    page.token_button.click()  # back to the token, then forward again with the right one
    assert wizard.currentId() == LICENCE
    hub.licence_accepted = True
    to_download(qtbot, wizard, TOKEN)
    wait_state(qtbot, wizard, "done")
    assert not page.model_page_button.isVisible()


def test_run_again_with_the_model_installed_adds_speech_to_text(qtbot, service, hub, tiny_stt):
    from arcus_desktop.engine.download import STT_FILES, STT_REPO_ID, download_model

    download_model(token=TOKEN, endpoint=hub.endpoint)  # an earlier setup
    assert not needs_setup(service.settings)
    with HubStub(tiny_stt, STT_REPO_ID) as stt_hub:  # public: no token
        wizard = open_wizard(qtbot, service, GPU_24, stt_hub.endpoint)
        assert wizard.computer.nextId() == MODEL
        wizard.next()
        assert wizard.model.nextId() == DOWNLOAD  # no token needed again
        wizard.next()
        page = wizard.download
        assert page.state == "done" and wizard.choices.model_dir == checkpoint.locate().root
        assert not stt_hub.requests  # nothing fetched for PersonaPlex
        page.stt.setChecked(True)
        assert "speech-to-text" in page.what.text()
        wait_state(qtbot, wizard, "done")
        fetched = {r.path.rsplit("/", 1)[-1] for r in stt_hub.requests if "/resolve/" in r.path}
        assert fetched == set(STT_FILES)
        assert "Speech-to-text is ready too" in page.message.text()
        wizard.next()
        assert "Your own words appear" in wizard.done_page.summary.text()
        finish(wizard)
    assert service.settings.engine.mode == "auto"


def test_run_again_with_a_damaged_model_fetches_the_damaged_file_anew(qtbot, service, hub):
    # The engine said a file is damaged and offered "Run setup": setup downloads it again.
    hub.required_token = None  # public here: the token is not what this is about
    folder = download.download_model(endpoint=hub.endpoint)  # an earlier setup
    lm = (folder / "model.safetensors").resolve()
    good = lm.read_bytes()
    lm.write_bytes(b"\x07" * len(good))  # same size, damaged since
    wizard = open_wizard(qtbot, service, GPU_24, hub.endpoint)
    wizard.next()
    assert wizard.model.nextId() == DOWNLOAD
    wizard.next()
    wait_state(qtbot, wizard, "done")
    assert len(hub.content_gets("model.safetensors")) == 2
    assert (Path(wizard.choices.model_dir) / "model.safetensors").read_bytes() == good


class DiskUsage:
    """shutil.disk_usage saying the disk is full while `full` (a disk cannot be filled
    safely here: the one part made up besides nvidia-smi)."""

    def __init__(self) -> None:
        self.full = True
        self.real = shutil.disk_usage

    def __call__(self, path):
        if self.full:
            return SimpleNamespace(total=10**12, used=10**12, free=1000)
        return self.real(path)


@pytest.mark.parametrize("fault", ["network", "corrupt", "disk"])
def test_each_failure_says_what_to_do_and_retry_finishes(qtbot, service, hub, monkeypatch, fault):
    disk = DiskUsage()
    if fault == "network":
        hub.fail_after_bytes["model.safetensors"] = 1000
    elif fault == "corrupt":
        good = (hub.folder / "voices.tgz").read_bytes()
        hub.corrupt["voices.tgz"] = bytes(b ^ 0xFF for b in good)
    else:
        monkeypatch.setattr("shutil.disk_usage", disk)
    expected = {"network": ("Could not reach Hugging Face", "Check the internet connection",
                            "&Retry"),
                "corrupt": ("voices.tgz came down damaged", "download it again",
                            "&Download again"),
                "disk": ("Not enough disk space", "Free up space", "&Retry")}[fault]
    wizard = open_wizard(qtbot, service, GPU_12, hub.endpoint)
    to_download(qtbot, wizard)
    wait_state(qtbot, wizard, "failed")
    page = wizard.download
    assert expected[0] in page.message.text() and expected[1] in page.message.text()
    assert page.retry_button.text() == expected[2] and page.retry_button.isVisible()
    assert not page.model_page_button.isVisible()

    hub.corrupt.clear()
    disk.full = False
    page.retry_button.click()
    wait_state(qtbot, wizard, "done")
    assert checkpoint.locate().root == wizard.choices.model_dir


def test_cancel_mid_file_then_resume_after_a_restart(qtbot, service, big_hub, monkeypatch):
    # Every byte count reaches the wizard (it is the moment Cancel is looked at), and
    # the stand-in holds the transfer after the first 10 MiB chunk until released.
    monkeypatch.setattr(download._Reporter, "INTERVAL", 0.0)
    big_hub.hold_after_bytes["model.safetensors"] = 10 * MIB
    wizard = open_wizard(qtbot, service, GPU_12, big_hub.endpoint)
    to_download(qtbot, wizard)
    page = wizard.download
    qtbot.waitUntil(lambda: page.job.latest is not None
                    and page.job.latest.filename == "model.safetensors"
                    and page.job.latest.file_done >= 10 * MIB, timeout=WAIT_MS)
    assert big_hub.held.is_set()
    assert page.stt.isEnabled()  # may be ticked now, to follow PersonaPlex
    assert "MB of" in page.detail.text()
    assert 0 < page.bar.value() < page.bar.maximum()

    page.cancel_button.click()
    assert page.detail.text() == "Stopping…" and not page.cancel_button.isEnabled()
    big_hub.release.set()
    wait_state(qtbot, wizard, "paused")
    assert "paused" in page.message.text()
    assert page.retry_button.isVisible() and page.retry_button.text() == "&Resume"
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    partial = list(Path(os.environ["HF_HUB_CACHE"]).rglob("*.incomplete"))
    assert len(partial) == 1 and partial[0].stat().st_size == 10 * MIB
    wizard.reject()  # "Set up later": the app quits, say

    again = open_wizard(qtbot, service, GPU_12, big_hub.endpoint)  # the next start
    to_download(qtbot, again)
    assert "Continuing from before" in again.download.message.text()
    wait_state(qtbot, again, "done")
    gets = big_hub.content_gets("model.safetensors")
    assert [g.range for g in gets] == [None, f"bytes={10 * MIB}-"]
    published = (big_hub.folder / "model.safetensors").read_bytes()
    assert checkpoint.locate().lm.read_bytes() == published


# --- a team server instead -------------------------------------------------------------------


@pytest.fixture
def team_server():
    with health_server() as url:
        yield url


def test_team_server_path_tests_the_connection_and_keeps_the_token_in_the_keyring(
        qtbot, service, ini, team_server, os_keyring):
    wizard = open_wizard(qtbot, service, None)  # no GPU: the server is recommended
    wizard.next()
    assert wizard.currentId() == SERVER
    page = wizard.server
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()  # no address yet
    qtbot.keyClicks(page.url, team_server)
    qtbot.keyClicks(page.token, "wrong")
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as result:
        page.test.click()
    assert not result.args[0].ok and "refused the token" in page.result.text()

    page.token.clear()
    qtbot.keyClicks(page.token, HEALTH_TOKEN)
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as result:
        page.test.click()
    assert result.args[0].ok and page.result.kind == "ok"
    assert "2 free conversation slots" in page.result.text()
    assert next_button.isEnabled()
    wizard.next()
    assert team_server in wizard.done_page.summary.text()
    assert "Connection test: Connected" in wizard.done_page.summary.text()
    finish(wizard)

    s = service.settings
    assert (s.engine.mode, s.engine.server_url) == ("server", team_server)
    assert "server_token" in saved_names(os_keyring)
    assert secrets.get_secret("server_token") == HEALTH_TOKEN
    assert "5ecret" not in ini.read_text(encoding="utf-8")
    assert not needs_setup(s)


def test_a_self_signed_team_server_is_trusted_by_its_fingerprint(qtbot, service, tmp_path,
                                                                  os_keyring):
    from PySide6.QtWidgets import QMessageBox

    from arcus_desktop.server.tls import make_cert

    fingerprint = make_cert(tmp_path / "cert")
    with health_server(ssl_dir=tmp_path / "cert") as url:
        wizard = open_wizard(qtbot, service, None)
        wizard.next()
        page = wizard.server
        qtbot.keyClicks(page.url, url)
        qtbot.keyClicks(page.token, HEALTH_TOKEN)
        with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as result:
            page.test.click()
        assert not result.args[0].ok and fingerprint in page.result.text()
        page.trust_button.click()
        box = page.trust_box
        qtbot.waitUntil(box.isVisible, timeout=WAIT_MS)
        assert fingerprint.split(":")[0] in box.text()
        trust = next(b for b in box.buttons()
                     if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole)
        with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as result:
            trust.click()
        assert result.args[0].ok and "the one you trusted" in page.result.text()
        assert fingerprint in page.pin_note.text()
        wizard.next()
        finish(wizard)
    s = service.settings
    assert (s.engine.server_url, s.engine.server_fingerprint) == (url, fingerprint)


def test_needs_setup_without_a_model_or_a_server():
    s = SettingsService(DictStore()).settings
    assert needs_setup(s)
    s.engine.mode = "server"
    assert needs_setup(s)  # a server without an address is no server
    s.engine.server_url = "https://gpu-box:8998"
    assert not needs_setup(s)
    s.engine.mode = "auto"  # an address alone does not run anything here
    assert needs_setup(s)


# --- the app's hooks ---------------------------------------------------------------------


def no_hotkey(parent=None):
    from arcus_desktop.bridge.hotkey import HotkeyError

    raise HotkeyError("no hotkey in this test")


def test_settings_run_setup_again_opens_the_wizard_in_the_app(qtbot, service):
    from arcus_desktop.ui.app import ArcusApp

    from .scripted_engine import ScriptedEngine

    app = ArcusApp(engine_factory=lambda: ScriptedEngine(auto=True), hotkey_backend=no_hotkey,
                   tray=False, settings=service)
    qtbot.addWidget(app.window)
    qtbot.addWidget(app.session.window)
    app.show_settings()
    dialog = app.settings_dialog
    with qtbot.waitSignal(dialog.setup_requested, timeout=WAIT_MS):
        dialog.engine.setup_button.click()
    assert not dialog.isVisible() and app.settings_dialog is None
    wizard = app.setup_wizard
    assert isinstance(wizard, FirstRunWizard) and wizard.isVisible()
    qtbot.waitUntil(lambda: wizard.computer.chosen() != "", timeout=WAIT_MS)  # no GPU here
    wizard.reject()
    assert app.setup_wizard is None
    assert "not installed" in app.window.status.text()


def test_before_setup_the_tray_says_so_and_a_click_opens_setup(qtbot, service):
    """Nothing is set up: the tray does not offer to talk, it offers setup, and a click
    (or the menu's first entry, or --toggle) opens the wizard instead of failing."""
    from arcus_desktop.ui.app import ArcusApp

    from .scripted_engine import ScriptedEngine

    engines = []
    app = ArcusApp(engine_factory=lambda: engines.append(ScriptedEngine()) or engines[-1],
                   hotkey_backend=no_hotkey, tray=True, settings=service)
    qtbot.addWidget(app.window)
    qtbot.addWidget(app.session.window)
    try:
        tray = app.tray
        assert tray.tooltip().splitlines()[0] == "Arcus — set up needed: click to start setup"
        assert tray.talk_action.text() == "Set up Arcus…"
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
        wizard = app.setup_wizard
        assert isinstance(wizard, FirstRunWizard) and wizard.isVisible()
        assert engines == [] and not app.controller.want_talk  # no talk that must fail
        wizard.reject()
        assert app.setup_wizard is None
        assert "set up needed" in tray.tooltip()  # still true
        assert "needs setting up" in app.handle_command("toggle")
        assert app.setup_wizard is not None and engines == []
        app.setup_wizard.reject()
        app.hotkey.pressed.emit()  # the global hotkey, as its backend reports it
        assert app.setup_wizard is not None and engines == []
        app.setup_wizard.reject()

        s = service.settings  # a team server saved (as setup would save it)
        s.engine.mode, s.engine.server_url = "server", "https://gpu-box:8998"
        service.apply(s)
        assert tray.tooltip().splitlines()[0] == "Arcus Desktop: Click to talk"
        assert tray.talk_action.text() == "Talk"
    finally:
        app.shutdown()


RUN_APP = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
from arcus_desktop.ui import app as shell
def report():
    shown = sorted(type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible())
    print("shown", *shown, flush=True)
    app.quit()
QTimer.singleShot(0, report)
sys.exit(shell.run([]))
"""


@pytest.mark.parametrize("configured", [False, True])
def test_the_app_opens_setup_at_start_only_when_needed(tmp_path, configured):
    import subprocess
    import sys

    config = tmp_path / "config"
    if configured:  # a team server saved by an earlier setup
        (config / "Arcus").mkdir(parents=True)
        (config / "Arcus" / "arcus-desktop.conf").write_text(
            "[engine]\nmode=server\nserver_url=https://gpu-box:8998\n")
    env = dict(os.environ, XDG_CONFIG_HOME=str(config), PATH="/usr/bin:/bin",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run([sys.executable, "-c", RUN_APP], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shown = next(line for line in out.stdout.splitlines() if line.startswith("shown")).split()
    assert "StatusWindow" in shown
    assert ("FirstRunWizard" in shown) is (not configured)


def test_download_texts():
    from arcus_desktop.engine.download import DownloadProgress
    from arcus_desktop.ui.first_run.download_page import describe, size, time_left

    assert size(16_700_000_000) == "16.7 GB" and size(2_500_000) == "2.5 MB"
    assert size(900) == "900 bytes"
    assert time_left(30) == "less than a minute left"
    assert time_left(300) == "about 5 minutes left"
    assert time_left(5 * 3600) == "about 5 hours left"
    assert time_left(1.5 * 3600) == "about 1.5 hours left"
    p = DownloadProgress("model.safetensors", 1, 2, 1_200_000_000, 16_700_000_000, 45_000_000)
    assert describe(p) == "1.2 GB of 16.7 GB · 45.0 MB/s · about 6 minutes left"
    assert describe(DownloadProgress("m", 1, 2, 5, 10, 0.0)) == "5 bytes of 10 bytes"


# --- screenshots ------------------------------------------------------------------------


def shoot(wizard, name: str, folder: Path) -> Path:
    """Save the wizard as it looks and check it shows more than its background."""
    QApplication.processEvents()  # layouts settle after a text changed (no waiting)
    image = wizard.grab().toImage()
    path = folder / f"first-run-{name}.png"
    assert image.save(str(path))
    background = wizard.palette().color(wizard.backgroundRole())
    assert differs_from(image, background).mean() > 0.01, f"{name} looks blank"
    return path


def test_screenshots_of_every_page(qtbot, service, big_hub, team_server, tmp_path, monkeypatch,
                                  os_keyring):
    monkeypatch.setattr(download._Reporter, "INTERVAL", 0.0)
    folder = screenshot_dir(tmp_path)
    wizard = open_wizard(qtbot, service, GPU_12, big_hub.endpoint)
    wizard.resize(660, 540)
    shoot(wizard, "1-computer", folder)

    to_download(qtbot, wizard, WRONG_TOKEN)
    wait_state(qtbot, wizard, "failed")
    shoot(wizard, "3-download-refused", folder)
    wizard.download.token_button.click()
    wizard.licence.token.clear()
    qtbot.keyClicks(wizard.licence.token, TOKEN)
    shoot(wizard, "2-licence", folder)

    big_hub.hold_after_bytes["model.safetensors"] = 10 * MIB
    wizard.next()
    page = wizard.download
    qtbot.waitUntil(lambda: page.job.latest is not None
                    and page.job.latest.file_done >= 10 * MIB, timeout=WAIT_MS)
    shoot(wizard, "4-download-progress", folder)
    big_hub.release.set()
    wait_state(qtbot, wizard, "done")
    shoot(wizard, "5-download-done", folder)
    wizard.next()
    shoot(wizard, "6-done-local", folder)

    server = open_wizard(qtbot, service, None)
    server.resize(660, 540)
    server.next()
    qtbot.keyClicks(server.server.url, team_server)
    qtbot.keyClicks(server.server.token, HEALTH_TOKEN)
    with qtbot.waitSignal(server.server.tested, timeout=WAIT_MS) as tested:
        server.server.test.click()
    assert tested.args[0].ok
    shoot(server, "7-server", folder)
    server.next()
    shoot(server, "8-done-server", folder)
