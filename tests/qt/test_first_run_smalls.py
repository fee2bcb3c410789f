"""Issue #16 item 10, the setup wizard's small faults: a malformed token was saved to the
keyring unchecked; "Open the model page" did nothing without a browser; "gpu box:8998"
was answered "Enter the server's address first"; the certificate warning quoted
OpenSSL; the last page's cancel button said "Set up later"; radio buttons all but
vanished in a dark theme. Real parts: a password store (tests/secret_service.py), a
self-signed team server on loopback; Qt's offscreen platform has no browser, as a
machine without one."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionButton, QWizard

from arcus_desktop.core.errors import MODEL_PAGE
from arcus_desktop.engine.download import TOKEN_PAGE
from arcus_desktop.settings import secrets

from ..health_stub import TOKEN as HEALTH_TOKEN
from ..health_stub import health_server
from ..secret_service import saved_names
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_first_run import (GPU_12, TOKEN, WAIT_MS, hub, no_keyring,  # noqa: F401
                             open_wizard, to_download, wait_state)
from arcus_desktop.ui.first_run.wizard import DONE, LICENCE, SERVER


def to_licence(qtbot, service):
    wizard = open_wizard(qtbot, service, GPU_12)
    for _page in range(3):  # this computer, the model, then the licence
        if wizard.currentId() != LICENCE:
            wizard.next()
    assert wizard.currentId() == LICENCE
    return wizard


@pytest.mark.parametrize("typed, words", [
    ("hello", "tokens start with “hf_”"),
    ("hf_abc", "part of it may be missing"),
    ("hf_" + "a" * 20 + " " + "b" * 14, "contains a space"),
    ("hf_" + "a" * 30 + "!@#$", "characters a token never has"),
])
def test_a_malformed_token_is_refused_before_it_is_saved(qtbot, service, os_keyring, typed,
                                                         words):
    wizard = to_licence(qtbot, service)
    page = wizard.licence
    page.accepted_box.setChecked(True)
    page.token.clear()
    qtbot.keyClicks(page.token, typed)
    wizard.next()
    assert wizard.currentId() == LICENCE  # stays
    assert words in page.message.text() and page.message.kind == "error"
    assert "huggingface.co/settings/tokens" in page.message.text()
    assert saved_names(os_keyring) == set()  # nothing reached the keyring

    page.token.clear()
    qtbot.keyClicks(page.token, TOKEN)
    wizard.next()  # a well-formed one goes through (only Hugging Face can say if it works)
    assert wizard.currentId() != LICENCE
    assert secrets.get_hf_token() == TOKEN


def test_without_a_browser_the_addresses_can_be_copied(qtbot, service):
    wizard = to_licence(qtbot, service)
    page = wizard.licence
    for button, address, line in ((page.model_page, MODEL_PAGE, page.model_address),
                                  (page.token_page, TOKEN_PAGE, page.token_address)):
        assert line.isVisible() and line.text() == address
        assert line.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
        assert line.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByKeyboard
        button.click()  # the offscreen platform opens no browser
        assert "No web browser could be opened" in page.browser_message.text()


def test_a_refused_download_gives_the_model_pages_address_without_a_browser(qtbot, service,
                                                                             hub):
    hub.licence_accepted = False
    wizard = open_wizard(qtbot, service, GPU_12, hub.endpoint)
    to_download(qtbot, wizard)
    wait_state(qtbot, wizard, "failed")
    page = wizard.download
    page.model_page_button.click()
    page.model_page_button.click()
    assert page.message.text().count(MODEL_PAGE) == 1
    assert "No web browser could be opened" in page.message.text()


@pytest.mark.parametrize("typed", ["gpu box:8998", "https://gpu box:8998"])
def test_a_host_name_with_a_space_gets_a_precise_message(qtbot, service, typed):
    wizard = open_wizard(qtbot, service, None)
    wizard.next()
    assert wizard.currentId() == SERVER
    page = wizard.server
    qtbot.keyClicks(page.url, typed)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS):
        page.test.click()
    assert "cannot contain spaces" in page.result.text() and "“gpu box”" in page.result.text()
    assert "address first" not in page.result.text()


def test_the_certificate_warning_speaks_plainly_with_details_behind_a_button(
        qtbot, service, tmp_path):
    from arcus_desktop.server.tls import make_cert

    make_cert(tmp_path / "cert")
    with health_server(ssl_dir=tmp_path / "cert") as url:
        wizard = open_wizard(qtbot, service, None)
        wizard.next()
        page = wizard.server
        qtbot.keyClicks(page.url, url)
        qtbot.keyClicks(page.token, HEALTH_TOKEN)
        with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as tested:
            page.test.click()
    check = tested.args[0]
    assert not check.ok and check.detail  # OpenSSL's words, e.g. "self-signed certificate"
    text = page.result.text()
    assert f"({check.detail})" not in text and "self-signed: the server vouches for itself" in text
    assert page.details_row.isVisible() and not page.details.isVisible()
    page.details_button.click()
    assert page.details.isVisible() and check.detail in page.details.text()


def test_the_last_pages_cancel_button_says_cancel(qtbot, service):
    wizard = open_wizard(qtbot, service, None)
    cancel = wizard.button(QWizard.WizardButton.CancelButton)
    assert cancel.text() == "Set up &later"
    wizard.next()
    wizard.server.url.setText("https://gpu-box:8998")
    wizard.next()
    assert wizard.currentId() == DONE
    assert cancel.text() == "&Cancel"
    wizard.back()
    assert cancel.text() == "Set up &later"


def dark_palette() -> QPalette:
    p = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#2b2b2b"),
                        (QPalette.ColorRole.WindowText, "#e6e6e6"),
                        (QPalette.ColorRole.Base, "#1e1e1e"),
                        (QPalette.ColorRole.Text, "#e6e6e6"),
                        (QPalette.ColorRole.Button, "#353535"),
                        (QPalette.ColorRole.ButtonText, "#e6e6e6"),
                        (QPalette.ColorRole.Highlight, "#3d7eff")):
        p.setColor(role, QColor(color))
    return p


def ring_contrast(radio) -> int:
    """How far the indicator's most distinct pixel is from the window colour (0-255)."""
    QApplication.processEvents()
    option = QStyleOptionButton()
    option.initFrom(radio)
    rect = radio.style().subElementRect(QStyle.SubElement.SE_RadioButtonIndicator, option, radio)
    image = radio.grab().toImage()
    window = radio.palette().color(QPalette.ColorRole.Window)
    best = 0
    for x in range(rect.left(), rect.right() + 1):
        for y in range(rect.top(), rect.bottom() + 1):
            c = image.pixelColor(x, y)
            best = max(best, abs(c.red() - window.red()), abs(c.green() - window.green()),
                       abs(c.blue() - window.blue()))
    return best


def test_radio_buttons_show_in_a_dark_theme(qtbot, service):
    wizard = open_wizard(qtbot, service, GPU_12)
    wizard.setPalette(dark_palette())
    unchecked = wizard.computer.radios["server"]
    checked = wizard.computer.radios["int8"]
    assert not unchecked.isChecked() and checked.isChecked()
    # A ring as distinct as text (the unchecked radios: 13 of 255).
    assert ring_contrast(unchecked) >= 100
    assert ring_contrast(checked) >= 100
    for radio in (wizard.model.download_radio, wizard.model.folder_radio):  # the next page's
        assert radio.style() is unchecked.style()
