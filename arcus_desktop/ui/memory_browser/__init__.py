"""The memory browser: find, read, correct, add and delete what Arcus remembers, open the
conversation a memory came from and play its recording.

Widgets only. Every store operation goes through `bridge.memory_service`, which answers
with signals; no call here waits on the database. Confirmations and dialogs are opened
with `open()` (never `exec()`), so nothing blocks and tests can drive them.
"""

from .layout import SEARCH_DELAY_MS
from .window import MemoryBrowser

__all__ = ["SEARCH_DELAY_MS", "MemoryBrowser"]
