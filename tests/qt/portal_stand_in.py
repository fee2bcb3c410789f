"""A stand-in for xdg-desktop-portal's GlobalShortcuts, on a private D-Bus, written from
the portal's documented interface (org.freedesktop.portal.GlobalShortcuts v1 and
org.freedesktop.host.portal.Registry). It is not the real portal: it checks that our
calls are well formed and follow the documented sequence, nothing about a desktop.

After binding it presses and releases the shortcut once (Activated, Deactivated), and
prints one JSON line per call it received. Run with DBUS_SESSION_BUS_ADDRESS set."""

import json
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, \
    new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

PORTAL = "org.freedesktop.portal.Desktop"
ROOT = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"


def say(**what) -> None:
    print(json.dumps(what), flush=True)


def main() -> None:
    conn = open_dbus_connection("SESSION")
    conn.send_and_get_reply(message_bus.RequestName(PORTAL))
    say(ready=True)
    session = None
    while True:
        msg = conn.receive()
        h = msg.header
        if h.message_type != MessageType.method_call:
            continue
        iface, member = h.fields.get(HeaderFields.interface), h.fields[HeaderFields.member]
        sender = h.fields[HeaderFields.sender].lstrip(":").replace(".", "_")
        signature = h.fields.get(HeaderFields.signature, "")
        say(call=f"{iface}.{member}", signature=signature, body=_plain(msg.body))
        if (iface, member) == ("org.freedesktop.host.portal.Registry", "Register"):
            conn.send(new_method_return(msg))
        elif (iface, member) == ("org.freedesktop.DBus.Properties", "Get"):
            if msg.body == (SHORTCUTS, "version"):
                conn.send(new_method_return(msg, "v", (("u", 1),)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty"))
        elif (iface, member) == (SHORTCUTS, "CreateSession"):
            options = msg.body[0]
            request = f"{ROOT}/request/{sender}/{options['handle_token'][1]}"
            session = f"{ROOT}/session/{sender}/{options['session_handle_token'][1]}"
            conn.send(new_method_return(msg, "o", (request,)))
            conn.send(new_signal(DBusAddress(request, interface="org.freedesktop.portal.Request"),
                                 "Response", "ua{sv}", (0, {"session_handle": ("s", session)})))
        elif (iface, member) == (SHORTCUTS, "BindShortcuts"):
            session_handle, shortcuts, _parent, options = msg.body
            request = f"{ROOT}/request/{sender}/{options['handle_token'][1]}"
            bound = [(sid, {"description": props["description"],
                            "trigger_description": ("s", "Press <Ctrl><Alt>space")})
                     for sid, props in shortcuts]
            conn.send(new_method_return(msg, "o", (request,)))
            conn.send(new_signal(DBusAddress(request, interface="org.freedesktop.portal.Request"),
                                 "Response", "ua{sv}", (0, {"shortcuts": ("a(sa{sv})", bound)})))
            here = DBusAddress(ROOT, interface=SHORTCUTS)
            for signal in ("Activated", "Deactivated"):  # the user presses it once
                conn.send(new_signal(here, signal, "osta{sv}",
                                     (session_handle, shortcuts[0][0], 1234, {})))
        elif member == "Close":
            conn.send(new_method_return(msg))
            say(closed=True)
            return
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    sys.exit(main())
