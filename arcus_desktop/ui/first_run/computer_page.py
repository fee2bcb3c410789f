"""Step 1, this computer: which GPU it has, how much memory is free, and so where the
model should run. The recommendation is engine.modes' own rule; the user may pick
another way."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QHBoxLayout, QLabel, QPushButton, QRadioButton,
                               QVBoxLayout, QWidget, QWizardPage)

from ...bridge import gpu_probe, tasks
from ...core import flavour, modes
from ...core.errors import ArcusError
from ...bridge.gpu_probe import GIB, NEEDS, pick
from ...bridge.model_info import locate
from ..indicators import visible
from ..settings.common import Message, Note
from .wizard import MODEL, SERVER

WHY = {key: modes.SETTINGS[key].why for key in modes.WIZARD}  # what each way means, in a line
NO_GPU = "Needs an NVIDIA GPU with about {need} free; none was found in this computer."


TRY_ON_CPU = ("If your team has none, “Processor only” runs the model here far slower "
              "than real time: enough to try the app, not to hold a conversation.")


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _indented(widget: QWidget) -> QWidget:
    """Under a radio button's text, not its circle."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(24, 0, 0, 4)
    layout.addWidget(widget)
    return box


def _downloaded() -> bool:
    """The model is in the download cache (setup run again: no token needed)."""
    try:
        locate()
    except ArcusError:
        return False
    return True


def because(mode: str, gpu: gpu_probe.Gpu | None) -> str:
    """Why engine.modes.pick chose `mode` for this GPU, in plain words."""
    if gpu is None:
        return ("Without an NVIDIA GPU the model cannot keep up with a conversation here "
                "(a processor alone is far too slow), so a team server does the work. "
                + TRY_ON_CPU)
    free = _gib(gpu.free)
    if mode == modes.BF16:
        return f"With {free} free, this GPU holds the whole model: the best sound."
    if mode == modes.INT8:
        return (f"With {free} free, full precision (about {_gib(NEEDS[modes.BF16][0])}) does not "
                "fit, but 8-bit weights do and sound nearly the same.")
    if mode == modes.INT4:
        return (f"With {free} free, only 4-bit weights fit. Replies may lag behind and Arcus "
                "remembers only the last two minutes: a team server would sound better.")
    if mode == modes.OFFLOAD:
        return (f"With {free} free, even 4-bit weights (about {_gib(NEEDS[modes.INT4][0])}) do not "
                "fit, so most of the model stays in this computer's memory and crosses to the "
                "GPU every frame: about 1.6 times slower than real time. Choose a team server "
                "if your team has one: it will sound much better.")
    return (f"With {free} free, this GPU is too small for the model (it needs at least "
            f"{_gib(NEEDS[modes.OFFLOAD][0])}, even with most of it in this computer's memory), "
            "so a team server does the work. " + TRY_ON_CPU)


class ComputerPage(QWizardPage):
    detected = Signal()  # the GPU answer is shown and a way is chosen

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("This computer")
        self.setSubTitle("Arcus runs NVIDIA's PersonaPlex voice model on a graphics card "
                         "(GPU), either in this computer or on your team's server.")
        self.gpu_line = QLabel("Looking at this computer's graphics card…")
        self.gpu_line.setWordWrap(True)
        self.recommendation = Message()
        self.recommendation.setAccessibleName("Recommendation")
        self.again = QPushButton("Look &again")
        self.again.setToolTip("Check the GPU's free memory again, e.g. after closing a game")
        self.again.clicked.connect(self.detect)
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        self.notes: dict[str, Note] = {}
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.gpu_line, 1)
        top.addWidget(self.again, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        layout.addWidget(self.recommendation)
        layout.addSpacing(6)
        layout.addWidget(QLabel("<b>Run the model:</b>"))
        for mode in modes.WIZARD:
            radio = visible(QRadioButton(modes.label(mode)))
            need = _gib(NEEDS[mode][0]) if mode in NEEDS else ""
            note = Note(WHY[mode].format(need=need))
            radio.setAccessibleDescription(note.text())
            self.group.addButton(radio)
            self.radios[mode] = radio
            self.notes[mode] = note
            layout.addWidget(radio)
            layout.addWidget(_indented(note))
            radio.toggled.connect(self._chosen)
        self.fit = Message()  # when the chosen way will not fit this GPU
        self.fit.setAccessibleName("Will it fit")
        layout.addWidget(self.fit)
        layout.addStretch(1)
        self.task = None
        self._looked = False
        self.downloaded = False  # the model is in the download cache (setup run again)

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        if not self._looked:
            self.detect()

    def detect(self) -> None:
        self._looked = True
        self.again.setEnabled(False)
        self.task = tasks.run(self.wizard().detect_gpu, self._show, self._failed,
                              "looking for an NVIDIA GPU")

    def _failed(self, text: str) -> None:
        self._show(None)

    def _show(self, output: str | None) -> None:
        choices = self.wizard().choices
        self.downloaded = _downloaded()
        choices.gpus = gpu_probe.parse(output)
        gpu = choices.gpus[0] if choices.gpus else None
        for mode in modes.GPU:  # without a GPU they cannot run: not offered, and said why
            need = _gib(NEEDS[mode][0])
            self.radios[mode].setEnabled(gpu is not None)
            text = (WHY[mode] if gpu is not None else NO_GPU).format(need=need)
            self.notes[mode].setText(text)
            self.radios[mode].setAccessibleDescription(text)
        if gpu is None:
            self.gpu_line.setText("No NVIDIA graphics card was found in this computer.")
        else:
            more = len(choices.gpus) - 1
            self.gpu_line.setText(
                f"Graphics card: <b>{gpu.name}</b>, {_gib(gpu.total)} of memory, "
                f"{_gib(gpu.free)} free now."
                + (f" (Arcus uses this one of the {more + 1}.)" if more else ""))
        recommended = pick(gpu.free if gpu else None)
        choices.recommended = recommended
        self.recommendation.show_text(f"Recommended: <b>{modes.label(recommended.mode)}</b>. "
                                      + because(recommended.mode, gpu), "info")
        for mode, radio in self.radios.items():
            label = modes.label(mode) + (" (recommended)" if mode == recommended.mode else "")
            radio.setText(label)
        self.radios[recommended.mode].setChecked(True)
        if flavour.is_client():
            self._client_only(gpu, recommended.mode)
        self._chosen()
        self.again.setEnabled(True)
        self.completeChanged.emit()
        self.detected.emit()

    def _client_only(self, gpu: gpu_probe.Gpu | None, fits: str) -> None:
        """Arcus Desktop Client has no model: the team server is the only way, and a GPU
        that could run the model is worth knowing about."""
        for mode, radio in self.radios.items():
            radio.setVisible(mode == modes.SERVER)
            self.notes[mode].parentWidget().setVisible(mode == modes.SERVER)
        self.radios[modes.SERVER].setText(modes.label(modes.SERVER))
        self.radios[modes.SERVER].setChecked(True)
        text = ("This is <b>Arcus Desktop Client</b>: the model runs on your team's server, "
                "and this computer sends and plays the audio.")
        if gpu is not None and fits in (modes.BF16, modes.INT8):
            text += (f" This computer's {gpu.name} could run the model itself, with no "
                     f"server: for that, {flavour.WHERE_FULL}.")
        self.recommendation.show_text(text, "info")

    def chosen(self) -> str:
        radio = self.group.checkedButton()
        return next((m for m, r in self.radios.items() if r is radio), "")

    def choose(self, mode: str) -> None:
        self.radios[mode].setChecked(True)

    def _chosen(self, *_args) -> None:
        choices = self.wizard().choices if self.wizard() else None
        mode = self.chosen()
        if choices is None or not mode:
            return
        choices.mode = mode
        gpu = choices.gpus[0] if choices.gpus else None
        if mode == modes.SERVER:
            self.fit.clear()
        elif mode == modes.CPU:
            self.fit.show_text("Not real time: Arcus will answer many seconds late. Choose "
                               "this to try the app; for conversations, use a team server"
                               + (" or this GPU." if gpu is not None else "."), "info")
        elif gpu is None:
            self.fit.show_text("Without an NVIDIA GPU the model cannot run on this computer.",
                               "error")
        elif gpu.free < NEEDS[mode][0]:
            self.fit.show_text(f"This GPU has {_gib(gpu.free)} free and this needs about "
                               f"{_gib(NEEDS[mode][0])}: the model would likely not load.",
                               "error")
        else:
            self.fit.clear()
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        return bool(self.chosen()) and self.again.isEnabled()

    def nextId(self) -> int:  # noqa: N802 (Qt's name)
        return SERVER if self.chosen() == modes.SERVER else MODEL
