"""The delay the live audio path should add on given devices, before any conversation
(`arcus-desktop doctor`): the same streams DuplexAudio would open, opened and closed."""

from __future__ import annotations

from dataclasses import dataclass

from . import devices
from .duplex import FRAME
from .echo import OWN_DELAY_S
from .ring import Ring
from .streams import RATE, SPEAKER_BLOCKS_S, Streams, pick_rate
from .tape import Tape

FRAME_S = FRAME / RATE
BLOCK = SPEAKER_BLOCKS_S[0]  # as a conversation starts


@dataclass(frozen=True)
class ExpectedDelay:
    input_name: str
    output_name: str
    in_rate: int
    out_rate: int
    input_ms: float  # PortAudio's latencies for these devices
    output_ms: float
    echo_ms: float  # the echo canceller's own block delay (0 when off)
    # The speaker's blocks a reply waits for (PortAudio's); 0 for the sound server's own
    # stream, written the moment a reply exists (audio/pulse_out.py).
    block_s: float = BLOCK

    @property
    def total_ms(self) -> float:
        """While the assistant is silent (the user's turn): the canceller is not in the
        path then (audio/echo.py); while it speaks, echo_ms more."""
        # A reply also waits for the speaker's next block: half a block on average.
        return 1000 * (FRAME_S + self.block_s / 2) + self.input_ms + self.output_ms

    def describe(self) -> str:
        rates = f"{self.in_rate} Hz" if self.in_rate == self.out_rate else \
            f"{self.in_rate}/{self.out_rate} Hz"
        resampled = "" if self.in_rate == self.out_rate == RATE else ", resampled to 24 kHz"
        echo = f"; echo cancellation {self.echo_ms:.0f} ms more while Arcus speaks" \
            if self.echo_ms else ""
        speaker = f"half a speaker block {1000 * self.block_s / 2:.1f} ms" if self.block_s \
            else "replies written to the sound server at once"
        return (f"about {self.total_ms:.0f} ms added on “{self.input_name}” → "
                f"“{self.output_name}” at {rates}{resampled} (frame {1000 * FRAME_S:.0f}, "
                f"devices {self.input_ms:.0f} + {self.output_ms:.0f}, {speaker}{echo})")


def expected_delay(input_device=None, output_device=None, echo: bool = True) -> ExpectedDelay:
    """LookupError for a device that is not connected; sounddevice's PortAudioError when
    one will not open."""
    import sounddevice as sd

    inp, out = devices.find(input_device, "input"), devices.find(output_device, "output")
    in_rate, out_rate = pick_rate(sd, inp, "input"), pick_rate(sd, out, "output")
    streams = Streams(sd, inp, out, in_rate, out_rate, Ring(in_rate), Ring(out_rate),
                      Tape(out_rate))
    try:
        in_s, out_s = streams.latency
        block_s = 0.0 if streams.pulse is not None else BLOCK
    finally:
        streams.close(drain=False)
    return ExpectedDelay(devices.name_of(inp, "input"), devices.name_of(out, "output"),
                         in_rate, out_rate, 1000 * in_s, 1000 * out_s,
                         1000 * OWN_DELAY_S if echo else 0.0, block_s)
