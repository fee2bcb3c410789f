"""The audio side of the settings pages: listing the devices, a level meter for a
microphone, the test chime, and recording and checking the user's own voice. Each
blocking call (PortAudio) is made by the page on a worker (bridge.tasks); the page
imports this where it opens a device, so the app starts without PortAudio."""

from __future__ import annotations

from ..audio.chime import play_chime  # noqa: F401
from ..audio.devices import list_devices  # noqa: F401
from ..audio.files import write_wav  # noqa: F401
from ..audio.level import LevelMeter, MeterSlot  # noqa: F401
from ..audio.streams import RATE  # noqa: F401
from ..audio.voice_check import (MAX_VOICE_SECONDS, MIN_VOICE_SECONDS, VoiceCheck,  # noqa: F401
                                 check_file, check_pcm)
from ..audio.voice_recorder import VoiceRecorder  # noqa: F401
