"""The plain pages: sampling, memory, and data."""

from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QLineEdit, QPushButton,
                               QSpinBox)

from ...core import paths
from ...bridge.settings_store import LIMITS, AppSettings, SamplingSettings, Secrets
from .common import Page, row
from ..indicators import visible


def _spin(key: str, step: float | None = None) -> QSpinBox | QDoubleSpinBox:
    lo, hi = LIMITS[key]
    if step is not None:
        box = QDoubleSpinBox()
        box.setDecimals(2)
        box.setSingleStep(step)
    else:
        box = QSpinBox()
    box.setRange(lo, hi)
    return box


class SamplingPage(Page):
    title = "Sampling"

    def __init__(self, current, parent=None) -> None:
        super().__init__(current, parent)
        self.audio_temperature = _spin("sampling/audio_temperature", 0.05)
        self.audio_top_k = _spin("sampling/audio_top_k")
        self.text_temperature = _spin("sampling/text_temperature", 0.05)
        self.text_top_k = _spin("sampling/text_top_k")
        self.add_field("sampling/audio_temperature", "&Audio temperature:", self.audio_temperature,
                       note="Higher sounds livelier and more varied; lower, steadier. 0 always "
                            "takes the most likely sound.")
        self.add_field("sampling/audio_top_k", "Audio &top-k:", self.audio_top_k,
                       note="How many of the likeliest sounds each step chooses from.")
        self.add_field("sampling/text_temperature", "Te&xt temperature:", self.text_temperature,
                       note="Higher gives more surprising words; lower, more predictable ones.")
        self.add_field("sampling/text_top_k", "Text to&p-k:", self.text_top_k)
        self.fixed_seed = visible(QCheckBox("&Fixed seed"))
        self.seed = _spin("sampling/seed")
        self.seed.setAccessibleName("Seed")
        self.fixed_seed.toggled.connect(self.seed.setEnabled)
        self.add_field("sampling/seed", "", row(self.fixed_seed, self.seed),
                       note="A fixed seed repeats the same answers to the same input: for "
                            "testing. Off gives every conversation its own.",
                       focus=self.fixed_seed)
        self.defaults = QPushButton("Restore &defaults")
        self.defaults.clicked.connect(self._restore_defaults)
        self.add_field(None, "", row(self.defaults))

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self._show(s.sampling)

    def _show(self, sp: SamplingSettings) -> None:
        self.audio_temperature.setValue(sp.audio_temperature)
        self.audio_top_k.setValue(sp.audio_top_k)
        self.text_temperature.setValue(sp.text_temperature)
        self.text_top_k.setValue(sp.text_top_k)
        self.fixed_seed.setChecked(sp.seed is not None)
        self.seed.setEnabled(sp.seed is not None)
        self.seed.setValue(sp.seed or 0)

    def _restore_defaults(self) -> None:
        self._show(SamplingSettings())

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        sp = s.sampling
        sp.audio_temperature = round(self.audio_temperature.value(), 2)
        sp.audio_top_k = self.audio_top_k.value()
        sp.text_temperature = round(self.text_temperature.value(), 2)
        sp.text_top_k = self.text_top_k.value()
        sp.seed = self.seed.value() if self.fixed_seed.isChecked() else None


class MemoryPage(Page):
    title = "Memory"

    def __init__(self, current, parent=None) -> None:
        super().__init__(current, parent)
        self.enabled = visible(
            QCheckBox("&Remember conversations and use what I told Arcus before"))
        self.add_field("memory/enabled", "", self.enabled,
                       note="Memories stay on this computer (and on your team's server when "
                            "sync is on). Read, correct or delete them in the memory browser.")
        self.items = _spin("memory/items")
        self.enabled.toggled.connect(self.items.setEnabled)
        self.add_field("memory/items", "Memories &per conversation:", self.items,
                       note="How many remembered facts join the persona at the start of a "
                            "conversation (they share its token budget).")

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.enabled.setChecked(s.memory.enabled)
        self.items.setValue(s.memory.items)
        self.items.setEnabled(s.memory.enabled)

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.memory.enabled = self.enabled.isChecked()
        s.memory.items = self.items.value()


class DataPage(Page):
    title = "Data"

    def __init__(self, current, parent=None) -> None:
        super().__init__(current, parent)
        self.folder = QLineEdit()
        self.folder.setClearButtonEnabled(True)
        self.folder.setPlaceholderText(str(paths.data_dir()))
        self.browse = QPushButton("&Browse…")
        self.browse.setAccessibleName("Browse for a data folder")
        self.browse.clicked.connect(self._browse)
        self.add_field("data/folder", "&Folder:", row(self.folder, self.browse, stretch=False),
                       note="Memories and recordings live here. Empty uses the standard "
                            "folder. A new folder is used after Arcus restarts; what is in "
                            "the old one is not moved.",
                       focus=self.folder)
        self.keep_recordings = visible(QCheckBox("&Keep recordings of conversations"))
        self.add_field("data/keep_recordings", "", self.keep_recordings,
                       note="So you can listen again to what was said when you read a memory.")
        self.retention = _spin("data/retention_days")
        self.retention.setSuffix(" days")
        self.retention.setSpecialValueText("Until I delete them")
        self.keep_recordings.toggled.connect(self.retention.setEnabled)
        self.add_field("data/retention_days", "Keep &for:", self.retention,
                       note="Older recordings are deleted; their memories stay.")
        self.start_at_login = visible(QCheckBox("&Start Arcus when I log in"))
        self.add_field("data/start_at_login", "", self.start_at_login)

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.folder.setText(s.data.folder)
        self.keep_recordings.setChecked(s.data.keep_recordings)
        self.retention.setValue(s.data.retention_days)
        self.retention.setEnabled(s.data.keep_recordings)
        self.start_at_login.setChecked(s.data.start_at_login)

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.data.folder = self.folder.text().strip()
        s.data.keep_recordings = self.keep_recordings.isChecked()
        s.data.retention_days = self.retention.value()
        s.data.start_at_login = self.start_at_login.isChecked()

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Choose a folder for Arcus's data",
                             self.folder.text().strip() or str(paths.data_dir()))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.folder.setText)
        dialog.open()
