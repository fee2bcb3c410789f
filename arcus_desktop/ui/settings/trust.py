""""Trust this certificate…": the question asked before a team server's certificate is
pinned by its fingerprint (remote/tls.py), the way SSH asks about a new host key. The
user compares it with the fingerprint the server's owner handed out; nothing is pinned
unless they say it matches."""

from __future__ import annotations

from html import escape
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

TRUST = "&Trust"


def shown(fingerprint: str) -> str:
    """The fingerprint in two lines of 16 pairs, in a fixed-width font, for comparing."""
    pairs = fingerprint.split(":")
    lines = [":".join(pairs[i:i + 16]) for i in range(0, len(pairs), 16)]
    return "<p style='font-family: monospace; font-size: large'>" + \
        "<br>".join(escape(line) for line in lines) + "</p>"


def ask(parent: QWidget, where: str, presented: str, pinned: str,
        on_trust: Callable[[str], None]) -> QMessageBox:
    """Open the question (window-modal, not blocking); `on_trust(presented)` runs when
    the user trusts it. `pinned`: the fingerprint trusted so far, "" for none."""
    box = QMessageBox(QMessageBox.Icon.Warning if pinned else QMessageBox.Icon.Question,
                      "Trust this certificate?", "", QMessageBox.StandardButton.Cancel, parent)
    text = (f"<p>The team server at <b>{escape(where)}</b> presents a certificate with this "
            f"SHA-256 fingerprint:</p>{shown(presented)}")
    if pinned:
        text += ("<p><b>This is not the certificate you trusted before</b> "
                 f"({escape(pinned[:11])}…). Trust it only if the server's owner told you "
                 "they made a new certificate.</p>")
    text += ("<p>Compare it, pair by pair, with the fingerprint the server's owner gave you "
             "(the server prints it when it starts). Trust it only if the two are the "
             "same. If they differ, someone may be intercepting the connection: do not "
             "connect, and tell the server's owner.</p>")
    box.setText(text)
    box.setTextFormat(Qt.TextFormat.RichText)
    yes = box.addButton(TRUST, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)  # Enter alone trusts nothing
    box.setAccessibleName("Trust this certificate?")
    box.setAccessibleDescription(f"Fingerprint {presented}")
    box.finished.connect(lambda _result: box.clickedButton() is yes and on_trust(presented))
    box.open()
    return box
