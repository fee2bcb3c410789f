"""The Qt binding itself: PySide6 6.12.0 on Python 3.11 drops a reference to None on
every void call, so a long-running app aborts (pyproject excludes it); this keeps any
future version with the same fault out."""

import sys

from PySide6.QtCore import QCoreApplication


def test_event_processing_keeps_references_to_none(qapp):
    before = sys.getrefcount(None)
    for _ in range(2000):
        QCoreApplication.processEvents()
    assert sys.getrefcount(None) >= before - 50  # a little slack for unrelated objects
