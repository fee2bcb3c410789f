"""Voice: one of the model's preset voices (each can be heard first), or the user's own
voice, recorded here or chosen as a file, with consent. A file is checked when the
settings are applied (not at the next conversation): what is wrong with it is said."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QFileDialog, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QRadioButton)

from ...bridge.audio_devices import MAX_VOICE_SECONDS, MIN_VOICE_SECONDS, VoiceCheck, check_file
from ...bridge.voice_samples import VoiceSamples
from ...core.errors import ArcusError
from ...bridge.settings_store import (RECORDING_SUFFIXES, AppSettings, Problem, Secrets,
                                      describe_voice)
from ..indicators import visible
from .common import Note, Page, row
from .listen import ListenButton
from .voice_recorder import RecorderBox
from .voice_samples import SamplePanel

CONSENT = "This is my &voice, or I have permission to use it"
CONSENT_NOTE = ("Tick this only if you are the person speaking in this recording, or they "
                "agreed that Arcus may speak with their voice. It is asked again for each "
                "new recording.")


class VoicePage(Page):
    title = "Voice"

    def __init__(self, current, samples: VoiceSamples | None = None, parent=None) -> None:
        """`samples` makes the presets' samples (bridge.voice_samples); without one, a
        voice not heard before asks for the engine, which this dialog cannot start."""
        super().__init__(current, parent)
        self.preset_choice = visible(QRadioButton("&Preset voice"))  # shows in dark themes
        self.own_choice = visible(QRadioButton("My &own voice"))
        self.choice = QButtonGroup(self)
        self.choice.addButton(self.preset_choice)
        self.choice.addButton(self.own_choice)
        self.add_field(None, "", self.preset_choice)

        self.voices = QListWidget()
        self.voices.setAccessibleName("Preset voices")
        self.voices.setMinimumHeight(120)
        self.voices_note = Note()
        self.voices_note.hide()
        speaker = self._speaker
        self.samples = SamplePanel(samples or VoiceSamples(parent=self), output_device=speaker)
        self.add_field("voice/preset", "", self.voices, extra=(self.voices_note, self.samples))
        # A double click plays a voice too (not Enter: the dialog's OK button takes it).
        self.voices.itemDoubleClicked.connect(
            lambda item: self.samples.toggle(item.data(Qt.ItemDataRole.UserRole)))

        self.add_field(None, "", self.own_choice)
        self.recorder = RecorderBox(lambda: self.current().audio.input_device or None,
                                    output_device=speaker)
        self.recorder.recorded.connect(self._recorded)
        self.add_field(None, "Record:", self.recorder,
                       note=f"{MIN_VOICE_SECONDS:.0f} to {MAX_VOICE_SECONDS:.0f} seconds of "
                            "one person speaking clearly, in a quiet room, without music or "
                            "other voices. The microphone is the one chosen on the Audio page.",
                       focus=self.recorder.record)
        self.path = QLineEdit()
        self.path.setPlaceholderText("A WAV, FLAC, MP3 or OGG file")
        self.path.setClearButtonEnabled(True)
        self.browse = QPushButton("&Browse…")
        self.browse.setAccessibleName("Browse for a recording")
        self.browse.clicked.connect(self._browse)
        self.listen = ListenButton(output_device=speaker)
        self.path.textChanged.connect(lambda text: setattr(self.listen, "path", text.strip()))
        recording_message = self.add_field(
            "voice/own_recording", "Or a &file:",
            row(self.path, self.browse, self.listen, stretch=False),
            note="A recording made elsewhere; Listen plays it. It is checked when you press "
                 f"OK or Apply; only its first {MAX_VOICE_SECONDS:.0f} s are used.",
            focus=self.path)
        self.listen.failed.connect(recording_message.show_text)
        self.consent = visible(QCheckBox(CONSENT))
        self.consent.setAccessibleName("Consent to use this voice")
        self.own_note = Note("The recording stays on this computer. Arcus prepares it once "
                             "and keeps the result in its cache.")
        self.add_field("voice/consent", "", self.consent, extra=(Note(CONSENT_NOTE),
                                                                 self.own_note))
        self.own_widgets = (self.recorder, self.path, self.browse, self.listen, self.consent)

        self.choice.buttonToggled.connect(self._choice_changed)
        self.path.textEdited.connect(lambda _t: self.consent.setChecked(False))
        self._known: list[str] = []
        self._installed = False  # whether `_known` is what the installed model has
        self._saved_preset = ""
        self._checked: dict[tuple, VoiceCheck | str] = {}  # file checks, by file identity
        self._warning = ""  # a usable file's flaw, shown once problems are

    # --- model --------------------------------------------------------------------------

    def set_voices(self, names: list[str], installed: bool) -> None:
        """The presets to offer (those in the installed model's voices.tgz)."""
        with self.quietly():
            self._set_voices(names, installed)

    def _set_voices(self, names: list[str], installed: bool) -> None:
        keep = self.selected_preset() or self._saved_preset
        self._known = list(names)
        self._installed = installed
        self.voices.blockSignals(True)
        self.voices.clear()
        self.samples.forget_buttons()
        for name in names:
            item = QListWidgetItem(describe_voice(name).label)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.voices.addItem(item)
            holder = self.samples.button_for(name)
            item.setSizeHint(item.sizeHint().expandedTo(holder.sizeHint()))
            self.voices.setItemWidget(item, holder)
        if keep and keep not in names:  # keep a saved choice the model does not have
            item = QListWidgetItem(f"{keep} — not in the installed model")
            item.setData(Qt.ItemDataRole.UserRole, keep)
            self.voices.addItem(item)
        self.voices.blockSignals(False)
        self._select(keep)
        if installed:
            self.voices_note.hide()
        else:
            self.voices_note.setText("The model is not installed yet: these are the voices "
                                     "it comes with.")
            self.voices_note.show()

    def selected_preset(self) -> str:
        item = self.voices.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _select(self, name: str) -> None:
        for i in range(self.voices.count()):
            if self.voices.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.voices.setCurrentRow(i)
                return

    # --- page ---------------------------------------------------------------------------

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self._saved_preset = s.voice.preset
        if not any(self.voices.item(i).data(Qt.ItemDataRole.UserRole) == s.voice.preset
                   for i in range(self.voices.count())):
            self.set_voices(self._known, self._installed)
        self._select(s.voice.preset)
        (self.own_choice if s.voice.use_own else self.preset_choice).setChecked(True)
        self.path.setText(s.voice.own_recording)
        self.consent.setChecked(s.voice.consent)
        self._choice_changed()

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.voice.preset = self.selected_preset() or s.voice.preset
        s.voice.use_own = self.own_choice.isChecked()
        s.voice.own_recording = self.path.text().strip()
        s.voice.consent = self.consent.isChecked()

    def problems(self) -> list[Problem]:
        name = self.selected_preset()
        self._warning = ""
        if self._installed and not self.own_choice.isChecked() and name not in self._known:
            return [Problem("voice/preset", f"The installed model has no voice {name}: "
                                            "choose one of its voices.")]
        if self.own_choice.isChecked():
            return self._file_problems()
        return []

    def _file_problems(self) -> list[Problem]:
        """The own recording decoded (with the decoder's caps) and checked: once per
        file, so typing elsewhere does not read it again."""
        path = Path(self.path.text().strip()).expanduser()
        try:
            st = path.stat()
        except OSError:
            return []  # the common checks say it is missing
        if not path.is_file() or path.suffix.lower() not in RECORDING_SUFFIXES:
            return []  # so do they
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._checked:
            if len(self._checked) >= 16:  # files tried one after another: keep it small
                self._checked.clear()
            try:
                self._checked[key] = check_file(path)
            except ArcusError as e:
                self._checked[key] = e.user_text()
        found = self._checked[key]
        if isinstance(found, str):
            return [Problem("voice/own_recording", found)]
        if found.errors:
            return [Problem("voice/own_recording", " ".join(found.errors) +
                            " Record again, or choose another file.")]
        self._warning = " ".join(found.warnings)
        return []

    def show_problems(self, problems: list[Problem]) -> list[Problem]:
        rest = super().show_problems(problems)
        _widget, message = self.fields["voice/own_recording"]
        if self._warning and message.kind != "error":
            message.show_text(self._warning, "info")
        elif not self._warning and message.kind == "info":
            message.clear()
        return rest

    def _recorded(self, path: str) -> None:
        """A usable take: it becomes the own recording, once its consent is ticked."""
        self.own_choice.setChecked(True)
        self.path.setText(path)
        self.consent.setChecked(False)  # consent is given for one recording
        self.edited.emit()

    def _speaker(self) -> str | None:
        """The speaker chosen on the Audio page, applied or not: samples play there."""
        return self.current().audio.output_device or None

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.recorder.cancel()  # the microphone is let go when the dialog closes
        self.samples.stop()  # and so is the speaker
        self.listen.stop()
        self.recorder.listen.stop()
        super().hideEvent(event)

    def _choice_changed(self, *_args) -> None:
        own = self.own_choice.isChecked()
        for w in self.own_widgets:
            w.setEnabled(own)
        self.voices.setEnabled(not own)

    def _browse(self) -> None:
        start = self.path.text().strip() or str(Path.home())
        dialog = QFileDialog(self, "Choose a recording of the voice", start,
                             "Recordings (" + " ".join(f"*{s}" for s in RECORDING_SUFFIXES) + ")")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self._picked)
        dialog.open()  # not exec(): nothing blocks

    def _picked(self, path: str) -> None:
        if path and path != self.path.text():
            self.path.setText(path)
            self.consent.setChecked(False)  # consent is given for one recording
