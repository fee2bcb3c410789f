"""The windows built offscreen for `arcus-desktop --smoke-test` (arcus_desktop/smoke.py):
a missing Qt plugin, image format or module shows up here, not on a user's desk."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCollator, QLocale
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from ..bridge.settings_store import QSettingsStore, SettingsService
from . import tray_icons
from .conversation.window import ConversationWindow
from .first_run.wizard import FirstRunWizard
from .settings.dialog import SettingsDialog


def build_windows(folder: Path) -> str:
    """Show and close each window; raises on what a user would see broken."""
    app = QApplication.instance() or QApplication(["arcus-desktop"])
    if QIcon(str(tray_icons.ICON)).isNull():
        raise RuntimeError(f"the icon {tray_icons.ICON} does not load (svg plugin or file missing)")
    if tray_icons.state_icon("idle").isNull():
        raise RuntimeError("the tray icon does not render")
    # What Qt asks of ICU, whose data the Linux bundle slims (installer/pyinstaller/slim.py):
    # case mapping and collation.
    if QLocale(QLocale.Language.German).toUpper("straße") != "STRASSE":
        raise RuntimeError("Qt's case mapping (ICU) does not work")
    # English sorts "ä" with "a", before "z"; without ICU's collation data Qt falls back
    # to code points, which put it after (and Swedish, whose data says so too).
    if QCollator(QLocale(QLocale.Language.English)).compare("z", "ä") <= 0 \
            or QCollator(QLocale(QLocale.Language.Swedish)).compare("z", "ä") >= 0:
        raise RuntimeError("Qt's collation does not work (ICU data missing)")
    service = SettingsService(QSettingsStore.ini_file(folder / "settings.ini"))
    windows = [ConversationWindow(),
               SettingsDialog(service, list_devices=lambda refresh=False: []),
               FirstRunWizard(service, detect_gpu=lambda: None)]
    for w in windows:
        w.show()
    app.processEvents()
    names = ", ".join(type(w).__name__ for w in windows)
    for w in windows:
        w.close()
        w.deleteLater()
    app.processEvents()
    return f"{names} on the {app.platformName()} platform"
