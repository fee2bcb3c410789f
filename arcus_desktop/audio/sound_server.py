"""The sound server's own devices (PulseAudio, or PipeWire through its PulseAudio
service), read with `pactl`: PortAudio sees such a server as one ALSA device ("pulse"),
so a USB headset can only be picked by name from the server's list. No new library:
pactl comes with every PulseAudio, and PipeWire desktops ship it too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

TIMEOUT_S = 3.0  # a server that answers slower than this is treated as absent
MAX_OUTPUT = 4 << 20  # bytes read from pactl at most (a few hundred devices fit)


@dataclass(frozen=True)
class ServerDevice:
    name: str  # the server's own name (alsa_output.usb-...): what a stream is sent to
    description: str  # what users see ("USB Headset Analog Stereo")
    kind: str  # "input" or "output"
    channels: int
    rate: int
    default: bool


def _pactl(*args: str) -> str | None:
    """pactl's output, or None when it is missing, fails or takes too long."""
    exe = shutil.which("pactl")
    if exe is None:
        return None
    env = dict(os.environ, LC_ALL="C")  # the text form's field names, not translated
    try:
        with subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, env=env) as child:
            try:
                out, _ = child.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                return None
    except OSError:
        return None
    if child.returncode != 0 or len(out) > MAX_OUTPUT:
        return None
    return out.decode("utf-8", "replace")


def subscribe_command() -> list[str] | None:
    """A command printing a line per change on the server (`pactl subscribe`)."""
    exe = shutil.which("pactl")
    return [exe, "subscribe"] if exe else None


# `pactl subscribe`'s lines that mean the device list or the defaults changed.
CHANGE_LINE = re.compile(r"Event '(?:new|remove)' on (?:sink|source) #|Event 'change' on server")


def _spec(text: str) -> tuple[int, int]:
    """(channels, rate) from "s16le 2ch 48000Hz"."""
    ch = re.search(r"(\d+)ch", text or "")
    hz = re.search(r"(\d+)Hz", text or "")
    return (int(ch.group(1)) if ch else 2), (int(hz.group(1)) if hz else 48_000)


def _json_list(what: str) -> list[dict] | None:
    out = _pactl("-f", "json", "list", what)
    if out is None:
        return None
    try:
        items = json.loads(out)
    except ValueError:
        return None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else None


def _text_list(what: str) -> list[dict] | None:
    """pactl before 16 has no JSON: its text form, as the fields used here."""
    out = _pactl("list", what)
    if out is None:
        return None
    items = []
    for block in re.split(r"\n(?=\S)", out):
        fields = dict(re.findall(r"^\t([A-Z][\w ]*): (.*)$", block, re.M))
        if "Name" in fields:
            items.append({"name": fields["Name"], "description": fields.get("Description", ""),
                          "sample_specification": fields.get("Sample Specification", ""),
                          "monitor": fields.get("Monitor of Sink", "n/a") != "n/a"})
    return items


def _defaults() -> tuple[str, str] | None:
    out = _pactl("info")
    if out is None:
        return None
    fields = dict(re.findall(r"^([A-Z][\w ]*): (.*)$", out, re.M))
    return fields.get("Default Sink", ""), fields.get("Default Source", "")


def _is_monitor(item: dict) -> bool:
    """A sink's monitor (what it plays, as a source): no one's microphone."""
    props = item.get("properties") or {}
    return bool(item.get("monitor")) or props.get("device.class") == "monitor" \
        or str(item.get("name", "")).endswith(".monitor")


def list_server_devices() -> list[ServerDevice] | None:
    """The server's sinks and sources (monitors left out), or None when no sound server
    answers (or pactl is not installed)."""
    defaults = _defaults()
    if defaults is None:
        return None
    found = []
    for what, kind, default in (("sinks", "output", defaults[0]),
                                ("sources", "input", defaults[1])):
        items = _json_list(what)
        if items is None:
            items = _text_list(what)
        if items is None:
            return None
        for item in items:
            name = str(item.get("name", ""))
            if not name or (kind == "input" and _is_monitor(item)):
                continue
            channels, rate = _spec(str(item.get("sample_specification", "")))
            found.append(ServerDevice(name, str(item.get("description") or name).strip(), kind,
                                      channels, rate, name == default))
    return found
