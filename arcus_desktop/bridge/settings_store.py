"""The settings for the GUI: kept in QSettings (the platform's own place: the registry on
Windows, a plist on macOS, an ini file on Linux), loaded once, changed through `apply`,
which saves and tells everyone who listens. Secrets never pass through here."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal

from ..settings import app_settings
from ..settings.app_settings import AppSettings, SettingsStore

# What the windows use of settings/: ui/ reaches it only through bridge/ (the layer test).
from ..settings import secrets as secret_store  # noqa: E402,F401 (the keyring)
from ..settings.app_settings import (  # noqa: E402,F401
    CUSTOM, LIMITS, PERSONA_PRESETS, RECORDING_SUFFIXES, SECRET_NAMES, Problem,
    SamplingSettings, Secrets, check, describe_voice, load_secrets, persona_name,
    persona_preset, same_server, save_secrets, server_url_ok)

ORGANIZATION = "Arcus"
APPLICATION = "arcus-desktop"


class QSettingsStore:
    """A SettingsStore on a QSettings: the app's own by default, or any given one (tests
    pass one on an ini file)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings if qsettings is not None else QSettings(
            QSettings.Format.NativeFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    @classmethod
    def ini_file(cls, path) -> QSettingsStore:
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    def value(self, key: str) -> object | None:
        return self.qsettings.value(key) if self.qsettings.contains(key) else None

    def set_value(self, key: str, value: object) -> None:
        self.qsettings.setValue(key, value)

    def sync(self) -> None:
        self.qsettings.sync()
        if self.qsettings.status() != QSettings.Status.NoError:
            raise OSError(f"{self.qsettings.fileName()} cannot be written")

    @property
    def location(self) -> str:
        return self.qsettings.fileName()


class SettingsService(QObject):
    """Holds the current settings. `changed(new, old)` follows every `apply`, so the app
    can restart what the change concerns (the engine for a new voice, the sync thread for
    a new project...)."""

    changed = Signal(object, object)  # AppSettings now, AppSettings before

    def __init__(self, store: SettingsStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else QSettingsStore()
        self._settings = app_settings.load(self.store)

    @property
    def settings(self) -> AppSettings:
        """A copy: change it and give it to `apply`."""
        return self._settings.copy()

    def apply(self, new: AppSettings) -> None:
        """Save `new` and announce it. Raises OSError when the settings file or
        sync.json cannot be written (the settings in memory are still the new ones)."""
        old, self._settings = self._settings, new.copy()
        app_settings.save(self.store, self._settings)
        if self._settings != old:
            self.changed.emit(self._settings.copy(), old)
