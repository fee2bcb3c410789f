"""Persona: who Arcus is. A text editor with presets, a live token count from the
model's own tokenizer against the budget, and a preview of the whole prompt the model
reads, memories included, with which memories were chosen and why, to pin or delete."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QListWidget, QListWidgetItem, QPlainTextEdit,
                               QPushButton, QSpinBox)

from ...bridge.memory_service import FACTS_INTRO, STYLE_INTRO
from ...bridge.model_info import count_tokens
from ...bridge.settings_store import (CUSTOM, LIMITS, PERSONA_PRESETS, AppSettings, Problem,
                                      Secrets, persona_preset)
from ...core.system_tag import clean
from .common import Message, Note, Page, row

PREVIEW_DELAY_MS = 400  # typing pauses shorter than this do not rebuild the preview


class PersonaPage(Page):
    title = "Persona"
    preview_updated = Signal(str)  # the prompt text now shown

    def __init__(self, current, memory_service=None, parent=None) -> None:
        super().__init__(current, parent)
        self.memory_service = memory_service
        self.tokenizer = None
        self._custom_text = ""
        self._request = None

        self.preset = QComboBox()
        for p in PERSONA_PRESETS:
            self.preset.addItem(p.title, p.key)
        self.preset.addItem("Custom", CUSTOM)
        self.preset.activated.connect(self._preset_chosen)
        self.add_field("persona/preset", "&Start from:", self.preset)

        self.text = QPlainTextEdit()
        self.text.setTabChangesFocus(True)  # Tab leaves the editor: keyboard users get out
        self.text.setMinimumHeight(90)
        self.text.setPlaceholderText("Describe who Arcus is and how it should talk, "
                                     "in the second person: \"You are…\"")
        self.text.textChanged.connect(self._text_changed)
        self.counter = Message()
        self.counter.setAccessibleName("Token count")
        self.add_field("persona/text", "&Role:", self.text, extra=(self.counter,))
        self.fields["persona/tokens"] = (self.text, self.counter)  # over budget shows here

        self.budget = QSpinBox()
        self.budget.setRange(*LIMITS["persona/token_budget"])
        self.budget.setSuffix(" tokens")
        self.budget.valueChanged.connect(self._update_count)
        self.add_field("persona/token_budget", "&Budget:", self.budget,
                       note="The model reads the role before every conversation; a longer "
                            "role leaves less room for memories and takes longer to start.")

        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setMinimumHeight(90)
        self.preview.setTabChangesFocus(True)
        self.refresh = QPushButton("&Refresh")
        self.refresh.clicked.connect(self.refresh_preview)
        self.preview_note = Note()
        self.add_field(None, "Pre&view:", self.preview,
                       extra=(row(self.preview_note, self.refresh, stretch=False),))

        self.chosen = QListWidget()  # the memories in the preview, each with why
        self.chosen.setAccessibleName("Memories in the prompt")
        self.chosen.setMinimumHeight(70)
        self.chosen.currentItemChanged.connect(self._chosen_changed)
        self.pin = QPushButton("&Pin")
        self.pin.clicked.connect(lambda: self._act_on_chosen("pin"))
        self.forget = QPushButton("&Delete")
        self.forget.clicked.connect(lambda: self._act_on_chosen("delete"))
        self.add_field(None, "&Chosen:", self.chosen,
                       note="Why each memory is in the prompt: its place by words and by "
                            "meaning, and when it was said. Pin the right ones so they always "
                            "come first; delete the wrong ones.",
                       extra=(row(self.pin, self.forget),))
        self._chosen_changed()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh_preview)
        self.text.textChanged.connect(self._timer.start)
        self.budget.valueChanged.connect(self._timer.start)
        if memory_service is not None:
            memory_service.finished.connect(self._on_context)
            memory_service.failed.connect(self._on_failed)
            memory_service.changed.connect(self._timer.start)  # a pin or delete: look again

    # --- model --------------------------------------------------------------------------

    def set_tokenizer(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self._update_count()
        self.refresh_preview()

    def token_count(self) -> int | None:
        if self.tokenizer is None:
            return None
        return count_tokens(self.tokenizer, self.text.toPlainText())

    # --- page ---------------------------------------------------------------------------

    def load(self, s: AppSettings, secrets: Secrets) -> None:
        self.text.setPlainText(s.persona.text)
        self.budget.setValue(s.persona.token_budget)
        if s.persona.preset == CUSTOM:
            self._custom_text = s.persona.text
        self._show_preset(s.persona.preset)
        self._update_count()
        self.refresh_preview()

    def store(self, s: AppSettings, secrets: Secrets) -> None:
        s.persona.text = self.text.toPlainText().strip()
        s.persona.preset = self.preset.currentData()
        s.persona.token_budget = self.budget.value()

    def problems(self) -> list[Problem]:
        n, budget = self.token_count(), self.budget.value()
        if n is not None and n > budget:
            return [Problem("persona/tokens", _over_budget(n, budget))]
        return []

    # --- editing ------------------------------------------------------------------------

    def _show_preset(self, key: str) -> None:
        index = self.preset.findData(key)
        self.preset.setCurrentIndex(index if index >= 0 else self.preset.findData(CUSTOM))

    def _preset_chosen(self, index: int) -> None:
        key = self.preset.itemData(index)
        if key == CUSTOM:
            if self._custom_text:
                self.text.setPlainText(self._custom_text)
            return
        self.text.setPlainText(persona_preset(key).text)

    def _text_changed(self) -> None:
        text = self.text.toPlainText().strip()
        match = next((p.key for p in PERSONA_PRESETS if p.text == text), None)
        if match is None:
            self._custom_text = self.text.toPlainText()
        self.preset.blockSignals(True)
        self._show_preset(match or CUSTOM)
        self.preset.blockSignals(False)
        self._update_count()

    def _update_count(self) -> None:
        budget = self.budget.value()
        n = self.token_count()
        if n is None:
            words = len(self.text.toPlainText().split())
            self.counter.show_text(f"About {words} words. The exact token count appears once "
                                   "the model is installed.", "info")
        elif n > budget:
            self.counter.show_text(_over_budget(n, budget), "error")
        else:
            self.counter.show_text(f"{n} of {budget} tokens", "ok")

    # --- preview ------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """Rebuild the preview: the wrapped role plus, when memory is on and the store
        is open, the memories a new conversation would get."""
        self._timer.stop()
        s = self.current()
        base = self.text.toPlainText()
        if (self.memory_service is not None and self.tokenizer is not None and s.memory.enabled
                and self.memory_service.running):
            self._request = self.memory_service.persona_context(
                base, self.tokenizer, self.budget.value(), s.memory.items)
            self.preview_note.setText("Looking up the memories a new conversation would get…")
            return
        self._request = None
        self._show_chosen(None)
        if not s.memory.enabled:
            note = "Memory is off: the model reads the role alone."
        elif self.tokenizer is None:
            note = "Memories are added to the role once the model is installed."
        else:
            note = "Memories are added to the role when the memory store is open."
        self._show_preview(base, note)

    def _on_context(self, rid: int, ctx) -> None:
        if rid != self._request:
            return
        self._request = None
        n = len(ctx.facts) + len(ctx.style)
        if n == 0:
            note = f"No memories to add yet. {ctx.tokens} of {ctx.budget} tokens."
        else:
            note = (f"With {n} memor{'y' if n == 1 else 'ies'} about the last conversation's "
                    f"topic: {ctx.tokens} of {ctx.budget} tokens.")
        if ctx.left_out:
            note += f" {len(ctx.left_out)} more did not fit."
        self._show_chosen(ctx)
        self._show_preview(ctx.text, note)

    def _on_failed(self, rid: int, text: str) -> None:
        if rid == self._request:
            self._request = None
            self._show_chosen(None)
            self._show_preview(self.text.toPlainText(), f"Without memories: {text}")

    def _show_chosen(self, ctx) -> None:
        self.chosen.clear()
        if ctx is not None:
            memories = [*ctx.facts, *ctx.style, *ctx.left_out]
            for m, line in zip(memories, ctx.explain(ids=False)):
                item = QListWidgetItem(line)
                if m.source != "team":  # the team's memories are not the user's to change
                    item.setData(Qt.ItemDataRole.UserRole, (m.id, m.pinned))
                self.chosen.addItem(item)
        self._chosen_changed()

    def _chosen_changed(self, *_) -> None:
        item = self.chosen.currentItem()
        data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.pin.setEnabled(bool(data) and not data[1])
        self.forget.setEnabled(bool(data))

    def _act_on_chosen(self, action: str) -> None:
        item = self.chosen.currentItem()
        data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not data or self.memory_service is None:
            return
        if action == "pin":
            self.memory_service.update(data[0], pinned=True)
        else:
            self.memory_service.delete(data[0])
        self.pin.setEnabled(False)
        self.forget.setEnabled(False)

    def _show_preview(self, prompt: str, note: str) -> None:
        text = readable(prompt)
        self.preview.setPlainText(text)
        self.preview_note.setText(note)
        self.preview_updated.emit(text)


def readable(prompt: str) -> str:
    """The prompt as the model reads it, for people: without the <system> tags around
    it, and with the remembered facts and the style notes in paragraphs of their own."""
    text = clean(prompt)
    for intro in (FACTS_INTRO, STYLE_INTRO):
        text = text.replace(f" {intro} ", f"\n\n{intro}\n")
    return text


def _over_budget(n: int, budget: int) -> str:
    return (f"{n} of {budget} tokens: {n - budget} over the budget. The model would refuse "
            "this role: shorten it, or raise the budget.")
