"""A stand-in for EngineSupervisor with the same signals and methods, and a scripted,
realistic conversation for it to play: loading, ready, talking, both sides' levels, the
assistant's text pieces, a user backchannel, an interruption, stats, stopped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import Signal

from arcus_desktop.core.events import FrameStats

from .scripted_engine import ScriptedEngine

FRAME_S = 0.08


class ScriptedSupervisor(ScriptedEngine):
    """The tray's stand-in, driven by hand, remembering the conversation it started."""

    def __init__(self) -> None:
        super().__init__(auto=False)
        self.conversation: str | None = None

    def talk(self, persona: dict | None = None) -> str:
        self.calls.append(("talk", persona))
        self.conversation = f"conv-{len(self.calls)}"
        return self.conversation

    def stop_talking(self) -> None:
        self.calls.append(("stop_talking",))
        self.conversation = None

    def mute(self, muted: bool) -> None:
        self.calls.append(("mute", muted))

    def set_volume(self, volume: float) -> None:
        self.calls.append(("set_volume", volume))


class WithUserText(ScriptedSupervisor):
    """One that also has speech-to-text and a turn detector (as other work will add)."""
    user_text = Signal(str, float)
    turn = Signal(object)


def speech(frame: int, loud: float = 0.12) -> float:
    """A level that moves like speech does (deterministic)."""
    return loud * (0.55 + 0.45 * abs(math.sin(frame * 0.9) * math.cos(frame * 0.37)))


@dataclass
class Script:
    """What happens, frame by frame."""
    frames: int = 0
    pieces: dict[int, list[str]] = field(default_factory=dict)
    user: set[int] = field(default_factory=set)  # frames where the user is speaking
    assistant: set[int] = field(default_factory=set)

    def say(self, start_s: float, pieces: list[str], frames_each: int = 3) -> int:
        """The assistant says `pieces` from `start_s`; the frame after its last one."""
        frame = round(start_s / FRAME_S)
        for piece in pieces:
            self.pieces.setdefault(frame, []).append(piece)
            self.assistant.update(range(frame, frame + frames_each))
            frame += frames_each
        self.frames = max(self.frames, frame + 1)
        return frame

    def user_speaks(self, start_s: float, end_s: float) -> None:
        self.user.update(range(round(start_s / FRAME_S), round(end_s / FRAME_S)))
        self.frames = max(self.frames, round(end_s / FRAME_S) + 1)


GREETING = ["▁Hi", "!", "▁I", "'m", "▁Ar", "cus", ".", "▁What", "▁can", "▁I", "▁do", "▁for",
            "▁you", "▁today", "?"]
PLAN = ["▁Sure", ",", "▁let", "'s", "▁plan", "▁the", "▁trip", ".", "▁Most", "▁people",
        "▁start", "▁with", "▁the", "▁dates", ",", "▁then", "▁look", "▁at", "▁the", "▁train"]
REPLY = ["▁Of", "▁course", ",", "▁the", "▁weekend", "▁works", "▁too", ".", "▁Friday", "▁or",
         "▁Saturday", "?"]


def conversation_script() -> Script:
    """Arcus greets; the user answers (no speech-to-text: a "(speaking)" turn); Arcus
    answers, the user says "uh-huh" over it (a backchannel), then cuts in (Arcus stops,
    cut off); Arcus replies."""
    script = Script()
    script.say(0.4, GREETING)  # to 4.0 s
    script.user_speaks(4.6, 6.6)
    script.say(7.1, PLAN[:10])  # 7.1-9.5
    script.user_speaks(8.3, 8.7)  # "uh-huh": 0.4 s while Arcus talks
    end = script.say(9.5, PLAN[10:])  # to about 11.9 s
    script.user_speaks(11.0, 12.8)  # cuts in; Arcus stops at once
    for frame in range(round(11.5 / FRAME_S), end + 1):  # Arcus yields 0.5 s after
        script.assistant.discard(frame)
        script.pieces.pop(frame, None)
    script.say(13.4, REPLY)
    script.frames += 6
    return script


def play_loading(supervisor: ScriptedSupervisor) -> None:
    supervisor.state_changed.emit("loading", "")
    for fraction, what in ((0.05, "Reading the language model"), (0.4, "Reading the language "
                           "model"), (0.75, "Loading Mimi"), (0.9, "Loading voices"),
                           (1.0, "Ready")):
        supervisor.loading.emit(fraction, what)
    supervisor.state_changed.emit("ready", "")


def play_conversation(supervisor: ScriptedSupervisor, script: Script | None = None,
                      until_frame: int | None = None) -> str:
    """Start talking and play the script (all of it, or up to a frame); the id."""
    script = script or conversation_script()
    conversation = supervisor.talk({"text": "You are a calm helper."})
    supervisor.state_changed.emit("talking", conversation)
    play_frames(supervisor, script, 0, script.frames if until_frame is None else until_frame)
    return conversation


def play_frames(supervisor: ScriptedSupervisor, script: Script, first: int, last: int) -> None:
    for frame in range(first, last):
        time = frame * FRAME_S
        for piece in script.pieces.get(frame, []):
            supervisor.text.emit(piece, time)
        user = speech(frame) if frame in script.user else 0.002
        assistant = speech(frame + 7, 0.15) if frame in script.assistant else 0.0005
        supervisor.levels.emit(user, assistant)
        if (frame + 1) % 25 == 0:
            supervisor.stats.emit(FrameStats(frame + 1, 38.0 + frame % 5, 61.0, 0.49, 0, 0))


def play_ending(supervisor: ScriptedSupervisor) -> None:
    supervisor.stop_talking()
    supervisor.state_changed.emit("ready", "")
    supervisor.state_changed.emit("stopped", "shut down")
