"""The remote engine's process: engine/host.py's commands and events, the same audio,
turns and recording (engine.host.converse_live), but the model is a team server
(client.RemoteLoop). Nothing here loads torch: a laptop without it talks through a
server. The token comes from the keyring here, off the app's GUI thread."""

from __future__ import annotations

import contextlib
import traceback
from dataclasses import dataclass, field

from ..core.errors import ArcusError
from ..core.events import EngineFailed, Loading, StateChanged
from ..engine.event_sender import EventSender
from ..engine.host import EXIT_TOLD, converse_live
from .client import ClientSettings, RemoteLoop


@dataclass
class RemoteConfig:
    server_url: str = ""
    token: str | None = field(default=None, repr=False)  # None: the keyring's, at each start
    input_device: object = None
    output_device: object = None
    echo_cancellation: bool = True
    client: ClientSettings = field(default_factory=ClientSettings)


def main(config: RemoteConfig, commands, connection) -> None:
    """The process's entry point (spawned), as engine.host.main."""
    events = EventSender(connection)
    try:
        _serve(config, commands, events)
    except ArcusError as e:  # unreachable, refused, full, lost: told, not restarted
        events.send(EngineFailed(e.message, e.hint))
        events.close()
        raise SystemExit(EXIT_TOLD)
    except Exception as e:
        events.send(EngineFailed(f"The remote engine stopped: {type(e).__name__}: {e}",
                                 "It is restarting; details: " + traceback.format_exc(limit=3)))
        events.close()
        raise
    events.close()


class _Controls:
    """Mute and volume as the app last set them, across conversations."""
    muted = False
    volume = 1.0

    def take(self, command: str, arg) -> None:
        if command == "mute":
            self.muted = bool(arg)
        elif command == "volume":
            self.volume = float(arg)


def _serve(config: RemoteConfig, commands, events: EventSender) -> None:
    events.send(StateChanged("loading"))
    if not config.server_url.strip():
        raise ArcusError("No team server address is set.",
                         "Enter it in Settings > Engine, e.g. https://gpu-box:8998.")
    events.send(Loading(1.0, "Ready"))
    events.send(StateChanged("ready"))
    controls = _Controls()
    while True:
        command, arg = commands.recv()
        controls.take(command, arg)
        if command == "shutdown":
            events.send(StateChanged("stopped", "shut down"))
            return
        if command == "start":
            stop = _conversation(config, arg or {}, commands, events, controls)
            events.send(StateChanged("ready"))
            if stop == "shutdown":
                events.send(StateChanged("stopped", "shut down"))
                return


def _conversation(config: RemoteConfig, start: dict, commands, events, controls) -> str:
    from ..audio.duplex import DuplexAudio
    from ..audio.echo import EchoCanceller

    token = config.token
    if token is None:
        from ..settings.app_settings import server_token
        token = server_token()
    remote = RemoteLoop(config.server_url, token, start.get("persona"), start.get("sampling"),
                        start.get("seed"), events, config.client)
    remote.start()
    with contextlib.closing(remote):
        # The server may take seconds to get the persona ready: the app may stop meanwhile.
        while not remote.wait_ready(0.1):
            while commands.poll():
                command, arg = commands.recv()
                controls.take(command, arg)
                if command in ("stop", "shutdown"):
                    return command
        echo = EchoCanceller(enabled=config.echo_cancellation)
        with DuplexAudio(config.input_device, config.output_device, echo) as audio:
            audio.muted, audio.volume = controls.muted, controls.volume
            events.send(StateChanged("talking", start.get("conversation") or ""))
            stop = converse_live(remote, audio, commands, events, float(start.get("offset", 0)),
                                 persona_name=start.get("persona_name", ""))
            controls.muted, controls.volume = audio.muted, audio.volume
    return stop

