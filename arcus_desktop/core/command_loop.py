"""The command loop both engine processes run between conversations (engine/host.py with
the model here, remote/host.py with a team server's): commands in, events out. Torch-free,
so the remote engine runs it on a machine without torch."""

from __future__ import annotations

from typing import Callable

from .errors import ArcusError
from .events import EngineFailed, StateChanged


class Controls:
    """What the app set that outlives a conversation: mute, volume, devices (written to
    `config.input_device` and `config.output_device`)."""

    def __init__(self, config) -> None:
        self.config = config
        self.muted, self.volume = False, 1.0

    def take(self, command: str, arg) -> None:
        if command == "mute":
            self.muted = bool(arg)
        elif command == "volume":
            self.volume = float(arg)
        elif command == "devices":
            self.devices(arg)

    def devices(self, pair) -> None:
        self.config.input_device, self.config.output_device = pair


def serve_commands(commands, events, controls: Controls, talk: Callable[[dict], str | None],
                   preview: Callable[[dict], object] | None = None) -> None:
    """Until "shutdown": "start" runs `talk(start)` (a conversation; it returns the
    command that ended it), "preview" sends `preview(arg)`'s event, when there is one.
    An ArcusError ends that conversation only, told as EngineFailed."""
    while True:
        command, arg = commands.recv()
        controls.take(command, arg)
        if command == "shutdown":
            events.send(StateChanged("stopped", "shut down"))
            return
        if command == "preview" and preview is not None:
            events.send(preview(arg or {}))
        elif command == "start":
            try:
                stop = talk(arg or {})
            except ArcusError as e:  # no device, a bad voice file, no server: this one only
                events.send(EngineFailed(e.message, e.hint))
                stop = None
            events.send(StateChanged("ready"))
            if stop == "shutdown":
                events.send(StateChanged("stopped", "shut down"))
                return
