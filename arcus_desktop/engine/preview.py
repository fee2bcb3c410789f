"""A preset voice's sample: the model greets an empty room for a few seconds in that
voice (core/previews.py keeps the samples)."""

from __future__ import annotations

import numpy as np

from ..audio.files import write_wav
from ..core import previews
from ..core.errors import ArcusError
from ..core.events import VoiceSample
from ..core.persona import Persona
from . import constants as C


def make_sample(engine, request: dict) -> VoiceSample:
    """`request`: {"voice": preset name, "seconds": length}. The WAV goes to the voice's
    place in the samples folder; every failure comes back as the event's message."""
    from .engine import seed_everything
    from .frame_loop import FrameLoop
    from .generator import Sampling

    voice = str(request.get("voice", ""))
    path = previews.path_for(voice)
    if path is None:
        return VoiceSample(voice, "", f"There is no preset voice called {voice!r}.")
    try:
        seconds = min(max(float(request.get("seconds", previews.SECONDS)), 0.5),
                      previews.MAX_SECONDS)
    except (TypeError, ValueError):
        seconds = previews.SECONDS
    try:
        prepared = engine.prepare(Persona(text=previews.PROMPT, voice=voice))
        prepared.key = ""  # a sample is not worth a slot in the persona cache
        seed_everything(previews.SEED)
        silence = np.zeros(C.FRAME_SIZE, np.float32)
        with FrameLoop(engine, prepared, Sampling(), user_words=False) as loop:
            pcm = np.concatenate([loop.process(silence).pcm
                                  for _ in range(round(seconds * C.FRAME_RATE))])
        write_wav(path, pcm, C.SAMPLE_RATE)
    except ArcusError as e:
        return VoiceSample(voice, "", e.message, e.hint)
    return VoiceSample(voice, str(path))
