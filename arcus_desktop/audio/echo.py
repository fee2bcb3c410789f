"""Echo cancellation, so the model does not hear itself on laptop speakers: WebRTC's
audio processing module (through livekit's bindings) on 10 ms blocks at 24 kHz, with
what the speaker played while the microphone heard each block as the far-end reference
(audio/duplex.py lines the two up).

The module hands every block back 9.3 ms late. While the assistant is silent there is
no echo to take out, and that delay would only make the user wait: a frame whose
reference was quiet for QUIET_S before it goes to the engine as the microphone heard
it (the module still runs on it, so it stays converged). The two paths are spliced with
a short crossfade where they meet: 9.3 ms of the user are skipped when the assistant
falls silent, and repeated when it speaks again."""

from __future__ import annotations

import numpy as np

RATE = 24_000
BLOCK = RATE // 100  # the module works on 10 ms blocks
# The module hands each block back this much later (its own block processing; found by
# cross-correlation at 24 kHz, see tests/unit/test_echo.py): the one delay it adds.
OWN_DELAY_S = 224 / RATE
# No echo can be in a frame when the reference was quiet this long before it: a room's
# tail (-30 dB within ~0.3 s in an ordinary room) plus the reference leading its echo by
# up to 0.2 s (the stamps' error; the module's own search goes about as far).
QUIET_S = 0.5
# A 10 ms block of the reference below this RMS (-50 dBFS) leaves no echo worth taking out.
LOUD = 10 ** (-50 / 20)
SPLICE = BLOCK  # the crossfade where the two paths meet


def _to_int16(pcm: np.ndarray) -> np.ndarray:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


class EchoCanceller:
    """`cancel(mic, played)`: the microphone with the echo of `played` taken out; both
    24 kHz float32 of the same length in whole 10 ms blocks (an 80 ms frame is eight).
    Each 10 ms of played audio goes in just before the 10 ms of microphone it may echo
    into: fed 80 ms at a time instead, the module's delay estimate suffers (20 dB of
    echo removed instead of 37 in the test). Disabled (headset users), it passes the
    microphone through. `delay_s`: what the last frame was delayed by (0 when it went
    out as heard)."""

    def __init__(self, delay_ms: int = 0, enabled: bool = True,
                 noise_suppression: bool = False) -> None:
        self.enabled = enabled
        self.delay_ms = delay_ms
        self._apm = None
        self._may_skip = not noise_suppression  # a user who asked for it gets it throughout
        self._quiet = 0  # reference samples since its last loud block
        self._direct = False  # the last frame went out as heard
        if enabled:
            from livekit import rtc

            self._frame = rtc.AudioFrame
            self._apm = rtc.AudioProcessingModule(echo_cancellation=True,
                                                  noise_suppression=noise_suppression,
                                                  high_pass_filter=True)

    @property
    def delay_s(self) -> float:
        return OWN_DELAY_S if self._apm is not None and not self._direct else 0.0

    def set_delay_ms(self, delay_ms: int) -> None:
        """Time from handing audio to the speaker until the microphone can hear it."""
        self.delay_ms = max(0, int(delay_ms))

    def cancel(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        if self._apm is None:
            return mic
        if mic.size != played.size or mic.size % BLOCK:
            raise ValueError(f"mic and played audio must match, in whole {BLOCK}-sample blocks")
        near, far = _to_int16(mic), _to_int16(played)
        out = np.empty(mic.size, np.float32)
        for start in range(0, mic.size, BLOCK):
            end = start + BLOCK
            self._apm.process_reverse_stream(self._frame(far[start:end].tobytes(), RATE, 1, BLOCK))
            frame = self._frame(near[start:end].tobytes(), RATE, 1, BLOCK)
            self._apm.set_stream_delay_ms(self.delay_ms)
            self._apm.process_stream(frame)  # in place
            out[start:end] = np.frombuffer(frame.data, np.int16) / 32768.0
        quiet_before = self._quiet
        loud = np.sqrt(np.mean(np.square(played.reshape(-1, BLOCK), dtype=np.float64), 1)) > LOUD
        self._quiet = mic.size - BLOCK * (int(np.flatnonzero(loud)[-1]) + 1) if loud.any() \
            else min(quiet_before + mic.size, 10 * RATE)
        direct = self._may_skip and not loud.any() and quiet_before >= QUIET_S * RATE
        heard = np.asarray(mic, np.float32)
        if direct != self._direct:
            # Continue from where the last frame's path left off, fade into the other.
            fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(SPLICE) + 0.5) / SPLICE)
            was, now = (out, heard) if direct else (heard, out)
            now = now.copy()
            now[:SPLICE] = was[:SPLICE] * (1 - fade) + now[:SPLICE] * fade
            self._direct = direct
            return now
        return heard.copy() if direct else out
