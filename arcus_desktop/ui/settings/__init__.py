"""The settings dialog: voice, persona, sampling, engine, audio, hotkey, memory, sync and
data, each a page of `SettingsDialog`. Widgets only: settings are kept by
`bridge.settings_store.SettingsService`, tokens by the password store."""

from .dialog import SettingsDialog

__all__ = ["SettingsDialog"]
