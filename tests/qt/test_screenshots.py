"""scripts/screenshots.py makes the README's pictures; this runs its functions here
(Qt's offscreen platform, the tiny model, a dark theme) so that the script keeps working
as the windows change. The whole script (its own Xvfb and PulseAudio) is run by hand:
`.venv/bin/python scripts/screenshots.py`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from .conversation_helpers import differs_from

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_screenshot_script_draws_the_wizard_in_a_dark_theme(qapp, tiny_model, tmp_path):
    shots = load_script()
    style, palette = qapp.style().name(), qapp.palette()
    written = shots.shoot(tmp_path, tiny_model, names=["wizard"], themes=["dark"])
    assert [p.name for p in written] == ["wizard-dark.png", "wizard-model-folder-dark.png"]
    for path in written:
        image = QImage(str(path))
        assert not image.isNull() and image.width() > 400 and image.height() > 300
        background = image.pixelColor(image.width() // 2, image.height() - 4)
        assert background.lightness() < 100, "the dark palette"
        assert differs_from(image, background).mean() > 0.02, f"{path.name} looks blank"
    # the application is left as it was
    assert qapp.style().name() == style and QApplication.palette() == palette


def test_the_readme_links_the_committed_pictures():
    import re

    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"docs/screenshots/([\w-]+\.png)", readme))
    committed = {p.name for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert linked and linked == committed
    assert sum((ROOT / "docs" / "screenshots" / n).stat().st_size for n in committed) < 2 * 2**20
