"""Wayland: the xdg-desktop-portal GlobalShortcuts interface over the session D-Bus.

Steps (all asynchronous, answered on the Qt event loop through a socket notifier):
register the app id (org.freedesktop.host.portal.Registry, where the portal has it:
recent portals refuse unsandboxed apps without one), check that GlobalShortcuts exists,
CreateSession, BindShortcuts (the desktop shows the user a dialog to confirm or change
the key), then Activated/Deactivated signals are press/release, so hold-to-talk works.

D-Bus is spoken with jeepney rather than QtDBus: PySide6 cannot marshal BindShortcuts'
`a(sa{sv})` argument (QDBusArgument.beginArray needs a registered struct metatype, and
libdbus aborts the process on the mismatch).

Not exercised against a real portal here: no compositor on the test machines provides
GlobalShortcuts (tests/qt/test_hotkey.py says so).
"""

from __future__ import annotations

import itertools
import logging
from typing import Callable

from PySide6.QtCore import QObject, QSocketNotifier, Signal

from .keys import Hotkey, HotkeyError, native, xdg_trigger

log = logging.getLogger(__name__)

APP_ID = "io.arcus.ArcusDesktop"  # resources/linux/io.arcus.ArcusDesktop.desktop
PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REGISTRY = "org.freedesktop.host.portal.Registry"
REQUEST = "org.freedesktop.portal.Request"
SHORTCUT_ID = "talk"
DESCRIPTION = "Start or end a conversation with Arcus"
_tokens = itertools.count(1)


def request_path(unique_name: str, token: str) -> str:
    """Where the portal puts the Request object for a call made with `handle_token`."""
    sender = unique_name.lstrip(":").replace(".", "_")
    return f"{PORTAL_PATH}/request/{sender}/{token}"


class PortalBackend(QObject):
    pressed = Signal()
    released = Signal()
    registered = Signal(str)
    failed = Signal(str, str)

    name = "GlobalShortcuts portal"
    supports_release = True

    def __init__(self, app_id: str = APP_ID, bus: str = "SESSION",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        try:
            from jeepney import DBusAddress, MatchRule
            from jeepney.bus_messages import message_bus
            from jeepney.io.blocking import open_dbus_connection

            self._conn = open_dbus_connection(bus)
        except Exception as e:  # no jeepney, no session bus
            raise HotkeyError("The session D-Bus cannot be reached.", "") from e
        self.app_id = app_id
        self._portal = DBusAddress(PORTAL_PATH, PORTAL)
        self._calls: dict[int, Callable] = {}  # reply serial -> handler(message)
        self._responses: dict[str, Callable] = {}  # request path -> handler(code, results)
        self._session: str | None = None
        self._hotkey: Hotkey | None = None
        for rule in (MatchRule(type="signal", interface=REQUEST, member="Response"),
                     MatchRule(type="signal", interface=SHORTCUTS, sender=PORTAL)):
            self._conn.send(message_bus.AddMatch(rule))
        self._notifier = QSocketNotifier(self._conn.sock.fileno(), QSocketNotifier.Type.Read,
                                         self)
        self._notifier.activated.connect(self._read)

    # -- the steps -----------------------------------------------------------------------

    def register(self, hotkey: Hotkey) -> None:
        """Starts binding; `registered` or `failed` says how it ended."""
        self.unregister()
        self._hotkey = hotkey
        self._call(REGISTRY, "Register", "sa{sv}", (self.app_id, {}), self._registered)

    def _registered(self, reply) -> None:
        if _is_error(reply):  # an older portal: the app id comes from elsewhere
            log.info("portal app-id registry: %s", _error_name(reply))
        self._call("org.freedesktop.DBus.Properties", "Get", "ss", (SHORTCUTS, "version"),
                   self._have_version)

    def _have_version(self, reply) -> None:
        if _is_error(reply):
            self._fail("This desktop offers no global shortcuts.", "")
            return
        token = self._token()
        options = {"handle_token": ("s", token), "session_handle_token": ("s", self._token())}
        self._expect(token, self._session_created)
        self._call(SHORTCUTS, "CreateSession", "a{sv}", (options,), self._check_call)

    def _session_created(self, code: int, results: dict) -> None:
        if code != 0:
            self._fail("The desktop did not open a global shortcuts session.", "")
            return
        self._session = _value(results.get("session_handle"))
        token = self._token()
        shortcut = {"description": ("s", DESCRIPTION),
                    "preferred_trigger": ("s", xdg_trigger(self._hotkey))}
        self._expect(token, self._bound)
        self._call(SHORTCUTS, "BindShortcuts", "oa(sa{sv})sa{sv}",
                   (self._session, [(SHORTCUT_ID, shortcut)], "", {"handle_token": ("s", token)}),
                   self._check_call)

    def _bound(self, code: int, results: dict) -> None:
        if code == 1:
            self._fail("The global shortcut was not confirmed.",
                       "Set it again in Settings, and confirm it in the desktop's dialog.")
            return
        if code != 0:
            self._fail("The desktop did not bind the global shortcut.", "")
            return
        trigger = native(self._hotkey)
        for shortcut_id, props in _value(results.get("shortcuts")) or []:
            if shortcut_id == SHORTCUT_ID:
                trigger = _value(props.get("trigger_description")) or trigger
        self.registered.emit(trigger)

    def unregister(self) -> None:
        if self._session:
            from jeepney import DBusAddress, new_method_call

            session = DBusAddress(self._session, PORTAL, "org.freedesktop.portal.Session")
            self._conn.send(new_method_call(session, "Close"))
            self._session = None
        self._responses.clear()

    def close(self) -> None:
        self.unregister()
        self._notifier.setEnabled(False)
        self._conn.close()

    # -- D-Bus plumbing ------------------------------------------------------------------

    def _token(self) -> str:
        return f"arcus{next(_tokens)}"

    def _expect(self, token: str, handler: Callable[[int, dict], None]) -> None:
        # Listen before calling: the Response may come before the call's own reply.
        self._responses[request_path(self._conn.unique_name, token)] = handler

    def _call(self, interface: str, method: str, signature: str, body: tuple,
              on_reply: Callable) -> None:
        from jeepney import DBusAddress, new_method_call

        address = DBusAddress(PORTAL_PATH, PORTAL, interface)
        serial = next(self._conn.outgoing_serial)
        self._calls[serial] = on_reply
        self._conn.send(new_method_call(address, method, signature, body), serial=serial)

    def _check_call(self, reply) -> None:
        if _is_error(reply):
            self._fail(f"The global shortcuts portal refused: {_error_name(reply)}.", "")

    def _fail(self, message: str, hint: str) -> None:
        self._responses.clear()
        self.failed.emit(message, hint or "Bind `arcus-desktop --toggle` to a key in your "
                                          "desktop's keyboard settings instead.")

    def _read(self, *_args) -> None:
        from jeepney import HeaderFields, MessageType

        while True:
            try:
                msg = self._conn.receive(timeout=0)
            except TimeoutError:
                return
            except (OSError, ConnectionError):
                self._notifier.setEnabled(False)
                self._fail("The session D-Bus went away.", "")
                return
            fields = msg.header.fields
            kind = msg.header.message_type
            if kind in (MessageType.method_return, MessageType.error):
                handler = self._calls.pop(fields.get(HeaderFields.reply_serial), None)
                if handler is not None:
                    handler(msg)
            elif kind == MessageType.signal:
                self._signal(fields.get(HeaderFields.interface), fields.get(HeaderFields.member),
                             fields.get(HeaderFields.path), msg.body)

    def _signal(self, interface, member, path, body) -> None:
        if interface == REQUEST and member == "Response":
            handler = self._responses.pop(path, None)
            if handler is not None:
                handler(int(body[0]), dict(body[1]))
        elif interface == SHORTCUTS and body and body[0] == self._session:
            if len(body) > 1 and body[1] == SHORTCUT_ID:
                if member == "Activated":
                    self.pressed.emit()
                elif member == "Deactivated":
                    self.released.emit()


def _is_error(msg) -> bool:
    from jeepney import MessageType

    return msg.header.message_type == MessageType.error


def _error_name(msg) -> str:
    from jeepney import HeaderFields

    return str(msg.header.fields.get(HeaderFields.error_name, "error"))


def _value(variant):
    """jeepney gives a{sv} values as (signature, value)."""
    if isinstance(variant, tuple) and len(variant) == 2 and isinstance(variant[0], str):
        return variant[1]
    return variant
