"""Fixtures for tests of windows that edit the settings: a real QSettings on an ini file
in the test's folder, behind the app's SettingsService."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcus_desktop.bridge.settings_store import QSettingsStore, SettingsService


@pytest.fixture
def ini(tmp_path) -> Path:
    return tmp_path / "arcus.ini"


@pytest.fixture
def service(ini) -> SettingsService:
    return SettingsService(QSettingsStore.ini_file(ini))
