"""Light and dark palettes, pixel checks and where screenshots go, for the conversation
window's tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor, QImage, QPalette

LIGHT = {"Window": "#eff0f1", "WindowText": "#232629", "Base": "#ffffff",
         "AlternateBase": "#f7f7f7", "Text": "#232629", "Button": "#e3e5e7",
         "ButtonText": "#232629", "Highlight": "#3daee9", "HighlightedText": "#ffffff",
         "PlaceholderText": "#70757a", "Mid": "#b8babd", "Dark": "#8b8e91",
         "Light": "#ffffff", "Midlight": "#f0f0f0", "Shadow": "#474a4c", "Link": "#2980b9",
         "ToolTipBase": "#f7f7f7", "ToolTipText": "#232629"}
DARK = {"Window": "#202326", "WindowText": "#fcfcfc", "Base": "#141618",
        "AlternateBase": "#1d1f22", "Text": "#fcfcfc", "Button": "#292c30",
        "ButtonText": "#fcfcfc", "Highlight": "#3daee9", "HighlightedText": "#fcfcfc",
        "PlaceholderText": "#8e9195", "Mid": "#3c3f43", "Dark": "#101112",
        "Light": "#44484c", "Midlight": "#32363a", "Shadow": "#000000", "Link": "#1d99f3",
        "ToolTipBase": "#292c30", "ToolTipText": "#fcfcfc"}


def palette(colors: dict[str, str]) -> QPalette:
    result = QPalette()
    for role, color in colors.items():
        result.setColor(getattr(QPalette.ColorRole, role), QColor(color))
    disabled = QColor(colors["PlaceholderText"])
    for role in ("WindowText", "Text", "ButtonText"):
        result.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role),
                        disabled)
    return result


def pixels(image: QImage) -> np.ndarray:
    """(height, width, 3) RGB values of an image."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    raw = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    rows = raw.reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def differs_from(image: QImage, color: QColor, tolerance: int = 40) -> np.ndarray:
    """A mask of the pixels that are clearly not `color`."""
    target = np.array([color.red(), color.green(), color.blue()], np.int16)
    return np.abs(pixels(image).astype(np.int16) - target).sum(axis=2) > tolerance


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ARCUS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
