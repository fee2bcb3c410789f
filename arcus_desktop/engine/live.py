"""`arcus-desktop converse --live`: a conversation on the real microphone and speaker from
the terminal, through the same frame loop as the app's engine process (turns and the
recording included)."""

from __future__ import annotations

import os
import sys
import time

from ..core.events import FrameStats, Notice, TextPiece
from ..core.persona import Persona
from ..core.transcript import SPACE
from ..core.turns import TurnEnded
from .host import converse_live


class _Deadline:
    """The loop's commands: stop once `seconds` have passed (never, when None)."""

    def __init__(self, seconds: float | None) -> None:
        self._end = time.monotonic() + seconds if seconds else None

    def poll(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def recv(self):
        return ("stop", None)


class _Terminal:
    """The loop's events: the assistant's words as they come, notices on stderr."""

    def __init__(self, out=sys.stdout) -> None:
        self.out = out
        self.stats: FrameStats | None = None
        self.frames = 0

    def send(self, event) -> None:
        if isinstance(event, TextPiece) and event.speaker == "assistant":
            self.out.write(event.piece.replace(SPACE, " "))
            self.out.flush()
        elif isinstance(event, TurnEnded) and event.turn.speaker == "user":
            said = event.turn.text or "(spoke, no transcript)"  # an ended turn, no words
            self.out.write(f"\n  you [{event.turn.start:.1f}-{event.turn.end:.1f} s]: {said}\n")
            self.out.flush()
        elif isinstance(event, FrameStats):
            self.stats = event
        elif isinstance(event, Notice):
            print(f"\nnote: {event.message} {event.hint}".rstrip(), file=sys.stderr)

    def send_levels(self, event) -> None:
        self.frames += 1  # one per frame


def run(engine, persona: Persona, sampling, seconds: float | None = None,
        input_device=None, output_device=None, echo_cancellation: bool = True
        ) -> tuple[int, FrameStats | None]:
    """Talk until `seconds` pass or Ctrl-C; the frames run and the last statistics."""
    from ..audio.duplex import DuplexAudio
    from ..audio.echo import EchoCanceller
    from .frame_loop import FrameLoop
    from .torch_env import torch

    # Leave a core to the audio threads: torch's workers spinning on all of them starve
    # the PortAudio callback (the engine process does the same).
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    terminal = _Terminal()
    echo = EchoCanceller(enabled=echo_cancellation)
    with DuplexAudio(input_device, output_device, echo) as audio, \
            FrameLoop(engine, engine.prepare(persona), sampling) as loop:
        print("talking: speak now" + (f" ({seconds:g} s)" if seconds else "; Ctrl-C ends"),
              file=sys.stderr)
        try:
            converse_live(loop, audio, _Deadline(seconds), terminal)
        except KeyboardInterrupt:
            pass
    print(file=terminal.out)
    return terminal.frames, terminal.stats
