"""Last step: what was set up, in a few lines; Finish saves it into the app settings."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWizardPage

from ...bridge.hotkey import DEFAULT as DEFAULT_HOTKEY
from ...core import modes
from ..settings.common import Message


class DonePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Ready")
        self.setSubTitle("Finish saves these choices. You can change them later in Settings.")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Summary")
        self.message = Message()  # the settings could not be written
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.setFinalPage(True)

    def nextId(self) -> int:  # noqa: N802 (Qt's name)
        return -1  # the last page (QWizard's default is the next page id: the model page)

    def initializePage(self) -> None:  # noqa: N802 (Qt's name)
        self.message.clear()
        self.summary.setText(summary(self.wizard()))

    def validatePage(self) -> bool:  # noqa: N802 (Qt's name)
        try:
            self.wizard().save()
        except OSError as e:
            self.message.show_text(f"The settings could not be saved ({e.strerror or e}). "
                                   "Check that your settings folder can be written to.", "error")
            return False
        return True


def summary(wizard) -> str:
    c = wizard.choices
    hotkey = wizard.service.settings.hotkey.shortcut or DEFAULT_HOTKEY
    items = []
    if c.mode == modes.SERVER:
        items.append(f"Arcus talks to your team's server at <b>{escape(c.server_url)}</b>.")
        if c.server_check is None:
            items.append("The connection was not tested.")
        else:
            items.append(("Connection test: " if c.server_check.ok else "The last connection "
                          "test failed: ") + escape(c.server_check.text))
    else:
        if c.mode == modes.CPU:
            items.append("Arcus runs PersonaPlex-7B on this computer's <b>processor</b>, "
                         "without a GPU. This is not real time: replies come many seconds "
                         "after you speak, so use it to try the app. For conversations, "
                         "choose a team server in Settings > Engine.")
        else:
            items.append("Arcus runs PersonaPlex-7B on this computer's GPU: "
                         f"<b>{escape(modes.label(c.mode))}</b>.")
        if c.saved_mode == modes.AUTO:
            items.append("Each time a conversation starts, Arcus looks at the free GPU memory "
                         "again and picks the same way as here.")
        items.append(f"The model is in {escape(str(c.model_dir))}"
                     + (" (your folder, checked)." if c.model_folder else "."))
        if c.stt_dir is not None:
            items.append("Your own words appear in the transcript (speech-to-text is installed).")
        elif c.model_folder:  # setup again would not offer it: no download page on this way
            items.append("The transcript shows Arcus's words only; for yours too, download "
                         "the speech-to-text model (about 2.5 GB) in Settings > Engine > "
                         "Speech-to-text.")
        else:
            items.append("The transcript shows Arcus's words only; speech-to-text can be added "
                         "by running setup again.")
    items.append(f"Start a conversation from the tray icon, or with <b>{escape(hotkey)}</b>.")
    return "".join(f"<p>{item}</p>" for item in items)
