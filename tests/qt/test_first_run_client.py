"""The setup wizard and Settings in Arcus Desktop Client (core/flavour.py; ARCUS_FLAVOUR=client
stands in for a build without torch): the team server is the only way offered, and a GPU
that could run the model is pointed at the full app. Only nvidia-smi's output is made up."""

from __future__ import annotations

import pytest

from arcus_desktop.ui.first_run import FirstRunWizard
from arcus_desktop.ui.first_run.wizard import SERVER

from .settings_fixtures import ini, service  # noqa: F401 (fixtures)

GPU_24 = "NVIDIA GeForce RTX 4090, 24564, 24010\n"
GPU_3 = "NVIDIA GeForce GTX 1050, 3072, 2900\n"


@pytest.fixture(autouse=True)
def client(monkeypatch):
    monkeypatch.setenv("ARCUS_FLAVOUR", "client")


def open_wizard(qtbot, service, gpu):
    wizard = FirstRunWizard(service, detect_gpu=lambda: gpu)
    qtbot.addWidget(wizard)
    with qtbot.waitSignal(wizard.computer.detected, timeout=20_000):
        wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


@pytest.mark.parametrize("gpu", [None, GPU_3, GPU_24])
def test_the_client_offers_only_the_team_server(qtbot, service, gpu):
    wizard = open_wizard(qtbot, service, gpu)
    page = wizard.computer
    shown = [mode for mode, radio in page.radios.items() if radio.isVisible()]
    assert shown == ["server"]
    assert page.chosen() == "server"
    text = page.recommendation.text()
    assert "Arcus Desktop Client" in text
    # A GPU that holds the model (24 GB) is worth the full app; a small one is not.
    assert ("full Arcus Desktop" in text) == (gpu == GPU_24)
    wizard.next()
    assert wizard.currentId() == SERVER


def test_the_clients_settings_offer_only_the_team_server(qtbot, service):
    from arcus_desktop.ui.settings.dialog import SettingsDialog

    dialog = SettingsDialog(service, list_devices=lambda refresh=False: [])
    qtbot.addWidget(dialog)
    combo = dialog.engine.mode
    assert [combo.itemData(i) for i in range(combo.count())] == ["server"]
    # No local model, so no local speech-to-text to download: the server's own is used.
    dialog.show()
    dialog.show_page(dialog.engine.title)
    assert not dialog.engine.speech.isVisible()
