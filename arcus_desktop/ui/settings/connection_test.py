""""Test connection" → "Trust this certificate…" for a team server, as the settings'
Engine page and the setup wizard's server page both offer it: the test runs off the GUI
thread (bridge/server_check.py), its answer shows under the button, and a certificate
the server presents that is not trusted yet can be compared and trusted (trust.py)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPushButton, QWidget

from ...bridge import tasks
from ...bridge.server_check import ServerCheck, check_server
from ...core.certs import normalize
from ...core.addresses import where
from . import trust
from .common import Message, row


class ConnectionTest(QObject):
    """The button, its answer (`result`) and the trust row (`trust_row`), for the page to
    lay out. `address()`, `token()` and `pinned()` read the page's fields (the pinned
    fingerprint as typed: the test says what is wrong with it); `on_trust(url,
    fingerprint)` pins a certificate the user trusted, then the test runs again."""

    started = Signal()  # a test began
    tested = Signal(object)  # ServerCheck

    def __init__(self, parent: QWidget, address: Callable[[], str], token: Callable[[], str],
                 pinned: Callable[[], str], on_trust: Callable[[str, str], None]) -> None:
        super().__init__(parent)
        self.page = parent
        self.address, self.token, self.pinned, self.on_trust = address, token, pinned, on_trust
        self.test = QPushButton("Test &connection")
        self.test.clicked.connect(self.run)
        self.result = Message()
        self.result.setAccessibleName("Connection test result")
        self.trust_button = QPushButton("T&rust this certificate…")
        self.trust_button.setToolTip("Compare the server's certificate fingerprint with the "
                                     "one its owner gave you, and trust it if they match.")
        self.trust_button.clicked.connect(self.ask_trust)
        self.trust_row = row(self.trust_button)
        self.trust_row.hide()
        self.presented: tuple[str, str] | None = None  # (address, fingerprint) to trust
        self.trust_box = None
        self.task = None

    def run(self) -> None:
        """GET <address>/healthz on a worker thread; the answer shows in `result`."""
        if self.task is not None and not self.task.finished:
            return  # one test at a time
        url, token, pin = self.address(), self.token(), self.pinned()
        # The button stays enabled: disabling it would move the focus on to the next
        # field (a token, all selected) and a keystroke would replace it.
        self.forget()
        self.started.emit()
        self.result.show_text(f"Asking {url or 'the server'}…", "info")
        self.task = tasks.run(lambda: (url, check_server(url, token, fingerprint=pin)),
                              self._tested,
                              lambda text: self._tested((url, ServerCheck(False, text))),
                              "testing the team server")

    def forget(self) -> None:
        """Nothing to trust any more (a new test, or the address was edited)."""
        self.trust_row.hide()
        self.presented = None

    def _tested(self, answer: tuple[str, ServerCheck]) -> None:
        url, check = answer
        self.result.show_text(check.text, "ok" if check.ok else "error")
        if check.presented and url == self.address():
            self.presented = (url, check.presented)
            self.trust_row.show()
        self.tested.emit(check)

    def ask_trust(self) -> None:
        """Show the presented fingerprint and ask the user to compare it with the owner's."""
        if self.presented is None:
            return
        url, presented = self.presented
        pinned = normalize(self.pinned()) or ""
        self.trust_box = trust.ask(self.page, where(url), presented,
                                   pinned if pinned != presented else "",
                                   lambda fp: self._trust(url, fp))

    def _trust(self, url: str, presented: str) -> None:
        if url != self.address():
            return  # the address changed meanwhile: this certificate is another server's
        self.on_trust(url, presented)
        self.forget()
        self.run()  # shows that it now connects
