"""Issue #16 item 4: without a usable GPU the setup wizard recommends the team server,
says plainly what the processor alone means (not real time; for trying the app), offers
no GPU mode as if it could run, and every later page agrees. Only nvidia-smi's answer
is made up (there is no GPU here); the model folder is the test kit's tiny model."""

from __future__ import annotations

from PySide6.QtWidgets import QWizard

from arcus_desktop.settings.app_settings import ENGINE_MODES
from arcus_desktop.ui.first_run.wizard import DONE
from arcus_desktop.ui.session import host_config
from arcus_desktop.ui.settings.engine_page import MODE_NOTES

from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_first_run import GPU_3, WAIT_MS, finish, no_keyring, open_wizard  # noqa: F401

GPU_MODES = ("bf16", "int8", "int4", "offload")


def test_without_a_gpu_only_the_server_and_the_processor_are_offered(qtbot, service):
    wizard = open_wizard(qtbot, service, None)
    page = wizard.computer
    assert page.chosen() == "server" and "(recommended)" in page.radios["server"].text()
    for mode in GPU_MODES:  # they cannot run here: not choosable, and the note says why
        assert not page.radios[mode].isEnabled()
        assert "none was found in this computer" in page.notes[mode].text()
    assert "moves" not in page.notes["offload"].text()
    assert "to the GPU" not in page.notes["offload"].text()
    cpu = page.notes["cpu"].text()
    assert page.radios["cpu"].isEnabled()
    assert "Not real time" in cpu and "for trying the app" in cpu
    assert "Processor only" in page.recommendation.text()
    assert "not to hold a conversation" in page.recommendation.text()


def test_a_gpu_found_on_looking_again_makes_its_modes_choosable(qtbot, service):
    answers = [None, "NVIDIA GeForce RTX 4090, 24564, 24010\n"]
    wizard = open_wizard(qtbot, service, detect_gpu=lambda: answers.pop(0))
    assert not wizard.computer.radios["bf16"].isEnabled()
    with qtbot.waitSignal(wizard.computer.detected, timeout=WAIT_MS):
        wizard.computer.again.click()
    assert wizard.computer.radios["bf16"].isEnabled() and wizard.computer.chosen() == "bf16"
    assert "none was found" not in wizard.computer.notes["offload"].text()


def test_processor_only_says_the_same_on_every_later_page(qtbot, service, tiny_model):
    wizard = open_wizard(qtbot, service, None)
    wizard.computer.choose("cpu")
    assert wizard.computer.fit.kind == "info" and "Not real time" in wizard.computer.fit.text()
    wizard.next()
    page = wizard.model  # "The model": where its files come from
    page.folder_radio.setChecked(True)
    page.folder.setText(str(tiny_model))
    with qtbot.waitSignal(page.checked, timeout=WAIT_MS, check_params_cb=lambda r: r is not None):
        page.check_button.click()
    wizard.next()
    assert wizard.currentId() == DONE
    summary = wizard.done_page.summary.text()
    assert "processor" in summary and "not real time" in summary and "try the app" in summary
    assert "GPU:" not in summary and ENGINE_MODES["offload"] not in summary
    assert "free GPU memory" not in summary  # no "picks the same way" about a GPU
    finish(wizard)
    s = service.settings
    assert s.engine.mode == "cpu"
    config = host_config(s)
    assert config.device == "cpu" and config.model_dir == str(tiny_model)


def test_a_gpu_too_small_also_points_to_the_processor_for_trying(qtbot, service):
    wizard = open_wizard(qtbot, service, GPU_3)
    assert wizard.computer.chosen() == "server"
    assert "Processor only" in wizard.computer.recommendation.text()
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_settings_texts_agree_about_the_gpu():
    assert "NVIDIA GPU" in MODE_NOTES["offload"]  # it needs one; it does not invent one
    assert "Without an NVIDIA GPU it cannot run" in MODE_NOTES["offload"]
    assert "team server when there is no suitable GPU" not in MODE_NOTES["auto"]
    assert "Not real time" in MODE_NOTES["cpu"] and "trying the app" in MODE_NOTES["cpu"]
    assert set(MODE_NOTES) == set(ENGINE_MODES)
