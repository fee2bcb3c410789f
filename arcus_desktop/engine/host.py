"""The engine's own process: model and audio together, so the real-time path never
crosses a process boundary and a crash or out-of-memory error cannot take the app down.
Commands come in on one pipe, events go out on another (see core/events.py)."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass

import numpy as np

from ..core.errors import ArcusError
from ..core.events import EngineFailed, FrameStats, Levels, StateChanged, TextPiece
from ..core.persona import Persona

STATS_EVERY = 25  # frames (2 s)
EXIT_TOLD = 3  # ended on an error the user was told about: restarting would not help


@dataclass
class HostConfig:
    model_dir: str | None = None
    device: str = "auto"
    quant_mode: str = "bf16"
    input_device: object = None
    output_device: object = None
    echo_cancellation: bool = True


def main(config: HostConfig, commands, events) -> None:
    """The process's entry point (spawned: nothing is inherited from the app)."""
    # Audio threads run next to the model here: torch's worker threads spinning on every
    # core starve them (a CPU frame went from 10 ms to over 200 ms). Set before torch loads.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    try:
        _serve(config, commands, events)
    except ArcusError as e:  # no model, no device, out of memory: a way forward, no retry
        events.send(EngineFailed(e.message, e.hint))
        raise SystemExit(EXIT_TOLD)
    except Exception as e:  # a bug or a device fault: told, and the process ends
        events.send(EngineFailed(f"The engine stopped: {type(e).__name__}: {e}",
                                 "It is restarting; details: " + traceback.format_exc(limit=3)))
        raise


def _serve(config: HostConfig, commands, events) -> None:
    from ..audio.duplex import DuplexAudio
    from ..audio.echo import EchoCanceller
    from .engine import Engine
    from .frame_loop import FrameLoop
    events.send(StateChanged("loading"))
    engine = Engine.load(config.model_dir, config.device, quant_mode=config.quant_mode)
    events.send(StateChanged("ready"))
    muted, volume = False, 1.0
    while True:
        command, arg = commands.recv()
        if command == "shutdown":
            events.send(StateChanged("stopped", "shut down"))
            return
        if command == "mute":
            muted = bool(arg)
        elif command == "volume":
            volume = float(arg)
        elif command == "start":
            persona = Persona(**arg) if isinstance(arg, dict) else Persona()
            echo = EchoCanceller(enabled=config.echo_cancellation)
            with DuplexAudio(config.input_device, config.output_device, echo) as audio, \
                    FrameLoop(engine, engine.prepare(persona)) as loop:
                audio.muted, audio.volume = muted, volume
                events.send(StateChanged("talking"))
                stop = _converse(loop, audio, commands, events)
            events.send(StateChanged("ready"))
            if stop == "shutdown":
                events.send(StateChanged("stopped", "shut down"))
                return


def _converse(loop, audio, commands, events) -> str:
    """Frames until told to stop; returns the command that ended the conversation."""
    times: list[float] = []
    frame_s = 0.08
    n = 0
    while True:
        while commands.poll():
            command, arg = commands.recv()
            if command in ("stop", "shutdown"):
                return command
            if command == "mute":
                audio.muted = bool(arg)
            elif command == "volume":
                audio.volume = float(arg)
        mic = audio.read_frame(timeout=2.0)
        if mic is None:
            raise ArcusError("The microphone stopped delivering audio.",
                             "Check that it is still plugged in, or choose another device.")
        result = loop.process(mic)
        audio.write_frame(result.pcm)
        if result.piece is not None:
            events.send(TextPiece(result.piece, n * frame_s))
        events.send(Levels(float(np.sqrt(np.mean(mic ** 2))),
                           float(np.sqrt(np.mean(result.pcm ** 2)))))
        times.append(result.compute_ms)
        n += 1
        if n % STATS_EVERY == 0:
            stats = audio.stats
            recent = times[-STATS_EVERY:]
            events.send(FrameStats(n, float(np.median(recent)), float(max(recent)),
                                   float(np.mean(recent)) / (frame_s * 1000),
                                   stats.capture_overruns, stats.playback_underruns))
