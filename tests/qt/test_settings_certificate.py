"""Settings > Engine > Team server with a self-signed certificate: the connection test
against a real TLS server on loopback (its certificate from `serve --make-cert`) shows
the fingerprint and offers "Trust this certificate…"; the fingerprint is kept in the
settings file with the address, and another address forgets it."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox
import pytest

from arcus_desktop.server.tls import make_cert

from ..health_stub import health_server
from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_settings_dialog import WAIT_MS, message, open_dialog, page_of, tiny_info  # noqa: F401

TOKEN = "team-token"
KEY = "engine/server_fingerprint"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cert")
    return folder, make_cert(folder)


@pytest.fixture
def server(cert):
    with health_server(token=TOKEN, free_slots=3, ssl_dir=cert[0]) as url:
        yield url


@pytest.fixture
def page(qtbot, service, tiny_info):
    dialog = open_dialog(qtbot, service, tiny_info)
    page_of(dialog, dialog.engine)
    return dialog.engine


def connection_test(qtbot, page, url: str = ""):
    """Click "Test connection" and wait for its answer."""
    if url:
        page.server_url.setText(url)
    page.server_token.setText(TOKEN)
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as answer:
        page.test.click()
    return answer.args[0]


def trust_box(qtbot, page) -> QMessageBox:
    assert page.trust_button.isVisible()
    page.trust_button.click()
    box = page.trust_box
    qtbot.waitUntil(box.isVisible, timeout=WAIT_MS)
    return box


def button(box: QMessageBox, text: str):
    return next(b for b in box.buttons() if b.text().replace("&", "") == text)


def saved(ini_path) -> str:
    return QSettings(str(ini_path), QSettings.Format.IniFormat).value(KEY)


def test_an_untrusted_certificate_is_trusted_after_comparing_it_and_kept(
        qtbot, page, server, cert, ini):
    fingerprint = cert[1]
    assert not page.trust_button.isVisible()  # nothing to trust before a test
    result = connection_test(qtbot, page, server)
    assert not result.ok and result.presented == fingerprint
    text = page.test_result.text()
    assert fingerprint in text and "self-signed" in text and "Trust this certificate" in text
    assert page.trust_button.isVisible()

    # The question shows the fingerprint to compare; Cancel (the default) trusts nothing.
    box = trust_box(qtbot, page)
    shown = box.text().replace("<br>", ":")
    assert fingerprint in shown and "gave you" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=WAIT_MS)
    assert page.fingerprint.text() == "" and page.trust_button.isVisible()

    # Trust: the field holds it, and the test runs again through the pin.
    box = trust_box(qtbot, page)
    with qtbot.waitSignal(page.tested, timeout=WAIT_MS) as again:
        button(box, "Trust").click()
    assert page.fingerprint.text() == fingerprint
    assert again.args[0].ok and "the one you trusted" in page.test_result.text()
    assert not page.trust_button.isVisible()

    dialog = page.window()
    assert dialog.apply_button.isEnabled() and dialog.apply()
    assert saved(ini) == fingerprint
    assert dialog.service.settings.engine.server_fingerprint == fingerprint

    # The chat address of the same server keeps it; another server's address clears it.
    page.server_url.setText(server + "/api/chat")
    assert page.fingerprint.text() == fingerprint
    page.server_url.clear()
    qtbot.keyClicks(page.server_url, "https://gpu-box.example:8998")
    assert page.fingerprint.text() == ""
    assert dialog.apply()
    assert saved(ini) == "" and dialog.service.settings.engine.server_fingerprint == ""


def test_a_saved_fingerprint_is_loaded_and_a_different_certificate_is_a_warning(
        qtbot, service, tiny_info, server, cert):
    s = service.settings
    s.engine.mode, s.engine.server_url = "server", server
    s.engine.server_fingerprint = other = ":".join(["AB"] * 32)
    service.apply(s)
    dialog = open_dialog(qtbot, service, tiny_info)
    page = dialog.engine
    page_of(dialog, page)
    assert page.fingerprint.text() == other

    result = connection_test(qtbot, page)
    assert not result.ok and result.presented == cert[1]
    assert "intercepting" in page.test_result.text()
    box = trust_box(qtbot, page)
    assert "not the certificate you trusted before" in box.text()
    assert box.icon() == QMessageBox.Icon.Warning
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert page.fingerprint.text() == other  # kept until the user decides


def test_a_fingerprint_is_checked_before_it_is_saved(qtbot, page, ini):
    page.mode.setCurrentIndex(page.mode.findData("server"))
    page.server_url.setText("https://gpu-box:8998")
    page.fingerprint.setText("12:34")
    dialog = page.window()
    assert not dialog.apply()
    assert "not a SHA-256 fingerprint" in message(page, KEY)
    assert page.fingerprint.hasFocus()

    pasted = "sha256 Fingerprint=" + "ab" * 32  # openssl's line, pasted whole
    page.fingerprint.setText(pasted)
    assert message(page, KEY) == ""
    assert dialog.apply() and saved(ini) == ":".join(["AB"] * 32)

    page.server_url.setText("http://gpu-box:8998")  # the same server, without TLS
    assert "needs a secure address" in message(page, KEY)
    assert not dialog.apply()
