"""Issue #16 item 1: a model folder the user already has (made by `download --model-dir`,
copied from a colleague, on a computer without internet) is usable from the setup
wizard and Settings > Engine, is checked (layout, structure, recorded checksums) with
precise messages, and is the folder the engine loads. Real parts: the test kit's tiny
model, a real `download --model-dir` from the local Hugging Face stand-in (so the
checksums are the ones huggingface_hub records), a settings file on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QWizard

from arcus_desktop.bridge.model_folder import check_folder
from arcus_desktop.engine.download import MODEL_FILES, REPO_ID, download_model
from arcus_desktop.settings.app_settings import check
from arcus_desktop.ui.first_run import needs_setup
from arcus_desktop.ui.first_run.wizard import DONE, MODEL
from arcus_desktop.ui.session import host_config
from arcus_desktop.ui.settings import SettingsDialog

from ..hubstub import HubStub
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_first_run import GPU_12, TOKEN, WAIT_MS, finish, no_keyring, open_wizard  # noqa: F401


@pytest.fixture
def downloaded(tiny_model, tmp_path) -> Path:
    """The tiny model as `arcus-desktop download --model-dir` leaves it (checksums
    recorded by huggingface_hub under .cache/huggingface)."""
    folder = tmp_path / "personaplex"
    with HubStub(tiny_model, REPO_ID) as hub:
        hub.required_token = TOKEN
        download_model(token=TOKEN, endpoint=hub.endpoint, local_dir=folder)
    return folder


def flip_last_byte(path: Path) -> None:
    """Damage the data without changing the size or the header."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def to_model_page(qtbot, service):
    wizard = open_wizard(qtbot, service, GPU_12)
    wizard.next()
    assert wizard.currentId() == MODEL
    return wizard


def check_in_wizard(qtbot, page, folder: Path):
    page.folder_radio.setChecked(True)
    page.folder.setText(str(folder))
    with qtbot.waitSignal(page.checked, timeout=WAIT_MS,
                          check_params_cb=lambda r: r is not None) as result:
        page.check_button.click()
    return result.args[0]


def test_the_wizard_uses_model_files_i_already_have(qtbot, service, downloaded):
    wizard = to_model_page(qtbot, service)
    page = wizard.model
    assert page.folder_radio.text().replace("&", "") == "Use model files I already have"
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    page.folder_radio.setChecked(True)
    assert not next_button.isEnabled()  # not before the folder is checked

    result = check_in_wizard(qtbot, page, downloaded)
    assert result.ok and sorted(result.verified) == sorted(MODEL_FILES)
    assert "Every checksum matches" in page.result.text() and page.result.kind == "ok"
    assert next_button.isEnabled() and page.nextId() == DONE  # no token, no download
    wizard.next()
    assert wizard.currentId() == DONE
    assert str(downloaded) in wizard.done_page.summary.text()
    finish(wizard)
    assert service.settings.engine.model_dir == str(downloaded)
    assert not needs_setup(service.settings)  # the HF cache is empty: the folder counts
    assert host_config(service.settings).model_dir == str(downloaded)


@pytest.mark.parametrize("damage, words", [
    ("missing", ["voices.tgz is missing", "config.json is missing"]),
    ("checksum", ["model.safetensors does not match the checksum recorded"]),
    ("cut", ["tokenizer-e351c8d8-checkpoint125.safetensors is",
             "the download was cut short"]),
])
def test_the_wizard_says_which_files_are_missing_or_wrong(qtbot, service, downloaded, damage,
                                                          words):
    if damage == "missing":
        (downloaded / "voices.tgz").unlink()
        (downloaded / "config.json").unlink()
    elif damage == "checksum":
        flip_last_byte(downloaded / "model.safetensors")
    else:
        path = downloaded / "tokenizer-e351c8d8-checkpoint125.safetensors"
        path.write_bytes(path.read_bytes()[:-100])
    wizard = to_model_page(qtbot, service)
    result = check_in_wizard(qtbot, wizard.model, downloaded)
    assert not result.ok
    text = wizard.model.result.text()
    for w in words:
        assert w in text
    assert wizard.model.result.kind == "error"
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_a_copy_without_recorded_checksums_is_checked_for_structure_and_says_so(
        qtbot, service, tiny_model, tmp_path):
    copy = tmp_path / "from-a-colleague"
    shutil.copytree(tiny_model, copy)
    wizard = to_model_page(qtbot, service)
    result = check_in_wizard(qtbot, wizard.model, copy)
    assert result.ok and result.verified == []
    assert "No checksums were recorded" in wizard.model.result.text()


def test_the_cache_folder_above_the_model_is_pointed_into(tmp_path, downloaded):
    above = tmp_path / "models--nvidia--personaplex-7b-v1"
    inner = above / "snapshots" / "abc123"
    inner.parent.mkdir(parents=True)
    shutil.move(downloaded, inner)
    result = check_folder(above)
    assert "model.safetensors is missing." in result.problems
    assert f"The model files are in {inner}: choose that folder." == result.hint


def test_settings_has_a_model_folder_with_browse_and_a_check(qtbot, service, tiny_model,
                                                              tmp_path, monkeypatch):
    dialog = SettingsDialog(service)
    qtbot.addWidget(dialog)
    page = dialog.engine
    assert page.model_dir.text() == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *args: str(empty)))  # no native dialog offscreen
    with qtbot.waitSignal(page.model_checked, timeout=WAIT_MS):
        page.browse.click()
    assert page.model_dir.text() == str(empty)
    _widget, message = page.fields["engine/model_dir"]
    assert "model.safetensors is missing" in message.text()
    assert not dialog.apply()  # a folder that cannot work is not saved

    with qtbot.waitSignal(page.model_checked, timeout=WAIT_MS):
        page.model_dir.setText(str(tmp_path / "nowhere"))
    assert "does not exist" in message.text()

    with qtbot.waitSignal(page.model_checked, timeout=WAIT_MS):
        page.model_dir.setText(str(tiny_model))
    assert message.text() == "" and "PersonaPlex-7B is in" in page.model_result.text()
    # The voices and the tokenizer are read again, from the folder.
    with qtbot.waitSignal(dialog.model_loaded, timeout=WAIT_MS,
                          check_params_cb=lambda info: info.root == tiny_model):
        assert dialog.apply()
    assert service.settings.engine.model_dir == str(tiny_model)
    assert host_config(service.settings).model_dir == str(tiny_model)

    again = SettingsDialog(service)  # saved: shown the next time
    qtbot.addWidget(again)
    assert again.engine.model_dir.text() == str(tiny_model)


def test_a_model_folder_that_does_not_exist_is_a_settings_problem(service, tmp_path):
    s = service.settings
    s.engine.model_dir = str(tmp_path / "gone")
    assert [p.key for p in check(s)] == ["engine/model_dir"]
    s.engine.model_dir = "relative/folder"
    assert "full path" in check(s)[0].text
