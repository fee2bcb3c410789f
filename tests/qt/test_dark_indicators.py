"""Check boxes show in a dark theme (issue 16): Fusion draws an unchecked box's frame a
shade off the window colour and fills it with the base colour, which on a dark palette
leaves it all but invisible (15 of 255 from the window colour). Every check box of
Settings and of the setup wizard is measured as drawn, under a dark palette."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QCheckBox, QStyle, QStyleOptionButton

from .settings_fixtures import ini, service  # noqa: F401 (fixtures)
from .test_first_run import GPU_12, open_wizard
from .test_first_run_smalls import dark_palette
from .test_settings_dialog import open_dialog, tiny_info  # noqa: F401 (fixture)


def indicator_contrast(box: QCheckBox) -> int:
    """How far the indicator's most distinct pixel is from the window colour (0-255)."""
    QApplication.processEvents()
    option = QStyleOptionButton()
    option.initFrom(box)
    rect = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    image = box.grab().toImage()
    window = box.palette().color(QPalette.ColorRole.Window)
    best = 0
    for x in range(rect.left(), rect.right() + 1):
        for y in range(rect.top(), rect.bottom() + 1):
            c = image.pixelColor(x, y)
            best = max(best, abs(c.red() - window.red()), abs(c.green() - window.green()),
                       abs(c.blue() - window.blue()))
    return best


def faint(boxes) -> list[tuple[str, bool, int]]:
    out = []
    for box in boxes:
        for checked in (False, True):
            box.blockSignals(True)  # only the drawing is measured, no setting changes
            box.setChecked(checked)
            box.blockSignals(False)
            box.update()
            contrast = indicator_contrast(box)
            if contrast < 100:  # a frame as distinct as text
                out.append((box.text(), checked, contrast))
    return out


def test_settings_check_boxes_show_in_a_dark_theme(qtbot, service, tiny_info):
    dialog = open_dialog(qtbot, service, tiny_info)
    dialog.setPalette(dark_palette())
    found, seen = [], 0
    for row, page in enumerate(dialog.pages):
        dialog.sidebar.setCurrentRow(row)  # drawn as the user sees it, laid out
        qtbot.waitUntil(page.isVisible)
        boxes = page.findChildren(QCheckBox)
        seen += len(boxes)
        found += faint(boxes)
    assert seen >= 8
    assert found == []


def test_wizard_check_boxes_show_in_a_dark_theme(qtbot, service):
    wizard = open_wizard(qtbot, service, GPU_12)
    wizard.setPalette(dark_palette())
    boxes = wizard.findChildren(QCheckBox)
    assert len(boxes) >= 2
    for box in boxes:  # on pages not shown yet: laid out as they will be
        box.resize(box.sizeHint())
    assert faint(boxes) == []


def test_light_theme_check_boxes_are_left_to_the_style(qtbot):
    """Under a light palette the desktop's own drawing stays (only dark ones are redrawn)."""
    from arcus_desktop.ui.indicators import visible

    plain, ours = QCheckBox("Hold to talk"), visible(QCheckBox("Hold to talk"))
    for box in (plain, ours):
        qtbot.addWidget(box)
        box.resize(box.sizeHint())
    assert plain.palette().color(QPalette.ColorRole.Window).lightness() >= 128
    for checked in (False, True):
        plain.setChecked(checked)
        ours.setChecked(checked)
        assert plain.grab().toImage() == ours.grab().toImage()

