"""What the engine process tells the app. Plain, picklable values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StateChanged:
    state: str  # loading, ready, talking, stopped
    detail: str = ""


@dataclass
class Levels:  # droppable: only the waveform needs them
    user: float
    assistant: float


@dataclass
class Loading:
    fraction: float  # 0..1
    what: str  # what is being loaded, for the user


@dataclass
class TextPiece:
    piece: str  # sentencepiece text, "▁" marks a word start
    time: float  # seconds into the conversation when it was said
    speaker: str = "assistant"  # or "user" (from the speech-to-text model)


@dataclass
class Notice:  # something the user should know that did not stop the conversation
    message: str
    hint: str = ""


@dataclass
class DeviceChanged:  # the audio devices in use are not the ones they were (and why)
    reason: str  # lost, restarted, fallback, changed
    message: str
    input_name: str
    output_name: str


@dataclass
class FrameStats:
    frames: int
    compute_ms_p50: float
    compute_ms_max: float
    real_time_factor: float  # compute time / audio time
    capture_overruns: int
    playback_underruns: int  # samples of silence the speaker got since the first reply
    dropped_levels: int = 0  # waveform levels the app was too slow to take
    capture_queue_ms: float = 0.0  # microphone audio waiting for the engine
    playback_queue_ms: float = 0.0  # reply audio waiting for the speaker
    latency_ms: float | None = None  # a team server's round trip as heard (net, server, buffer)
    # What the audio path on this computer adds to it (frame, devices, queues): see
    # audio.duplex.AudioStats.added_delay_ms.
    added_delay_ms: float | None = None


@dataclass
class EngineFailed:
    message: str
    hint: str = ""


@dataclass
class RecordingStarted:  # memory's ConversationCapture takes `path` as its recording_path
    path: str  # the WAV; when not `recorded`, only a key for this part of the conversation
    started_at: float
    recorded: bool = True  # False: recordings are off or there is no room, no file


@dataclass
class RecordingFinished:  # the recording's part is over; every turn of it was sent before
    path: str  # RecordingStarted's; its transcript JSON is beside the WAV if written
    duration: float  # seconds


@dataclass
class RecordingStopped:  # the conversation goes on without being recorded
    message: str
    hint: str = ""


@dataclass
class VoiceSample:  # the answer to a "preview" command
    voice: str
    path: str  # the WAV written; "" when it could not be made (then `message` says why)
    message: str = ""
    hint: str = ""


# Turns travel as core.turns' TurnStarted, Backchannel and TurnEnded (plain values too).
