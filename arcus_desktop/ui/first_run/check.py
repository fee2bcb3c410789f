"""Whether the app can hold a conversation yet, or should show the setup wizard."""

from __future__ import annotations

from ...core import modes
from ...core.errors import ArcusError
from ...bridge.model_info import locate
from ...bridge.settings_store import AppSettings, server_url_ok


def needs_setup(settings: AppSettings | None = None) -> bool:
    """True when no PersonaPlex model is installed (engine.checkpoint.locate finds none in the
    model folder setting or the download cache) and no
    team server is configured. `settings` default to the app's saved ones."""
    if settings is None:
        from ...bridge.settings_store import SettingsService

        settings = SettingsService().settings
    engine = settings.engine
    if engine.mode == modes.SERVER and server_url_ok(engine.server_url):
        return False
    try:
        locate(engine.model_folder)
    except ArcusError:
        return True
    return False
