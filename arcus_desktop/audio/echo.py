"""Echo cancellation, so the model does not hear itself on laptop speakers: WebRTC's
audio processing module (through livekit's bindings) on 10 ms blocks at 24 kHz, with
what the speaker played while the microphone heard each block as the far-end reference
(audio/duplex.py lines the two up)."""

from __future__ import annotations

import numpy as np

RATE = 24_000
BLOCK = RATE // 100  # the module works on 10 ms blocks
# The module hands each block back this much later (its own block processing; found by
# cross-correlation at 24 kHz, see tests/unit/test_echo.py): the one delay it adds.
OWN_DELAY_S = 224 / RATE


def _to_int16(pcm: np.ndarray) -> np.ndarray:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16)


class EchoCanceller:
    """`cancel(mic, played)`: the microphone with the echo of `played` taken out; both
    24 kHz float32 of the same length in whole 10 ms blocks (an 80 ms frame is eight).
    Each 10 ms of played audio goes in just before the 10 ms of microphone it may echo
    into: fed 80 ms at a time instead, the module's delay estimate suffers (20 dB of
    echo removed instead of 37 in the test). Disabled (headset users), it passes the
    microphone through."""

    def __init__(self, delay_ms: int = 0, enabled: bool = True,
                 noise_suppression: bool = False) -> None:
        self.enabled = enabled
        self.delay_ms = delay_ms
        self._apm = None
        if enabled:
            from livekit import rtc

            self._frame = rtc.AudioFrame
            self._apm = rtc.AudioProcessingModule(echo_cancellation=True,
                                                  noise_suppression=noise_suppression,
                                                  high_pass_filter=True)

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
        return out
