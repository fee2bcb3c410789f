"""The engine facade: a loaded checkpoint, personas prepared for it, generators."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .torch_env import pick_device, torch

from ..core import paths
from ..core.modes import BF16
from ..core.persona import Persona
from . import checkpoint, generator, model, prompt
from . import constants as C
from .persona_cache import PersonaCache
from .voices import VoiceLibrary, prepare_recording

if TYPE_CHECKING:
    from .stt import SpeechToText


@dataclass(frozen=True)
class VoiceCodes:
    """A voice as Mimi codes [V, 8], with a name to show and a content key."""

    name: str
    codes: "torch.Tensor"
    key: str


@dataclass
class PreparedPersona:
    persona: Persona
    plan: generator.PromptPlan
    text: prompt.TextPrompt
    voice: str  # what the user would call it: a preset name or a file name
    notes: list[str] = field(default_factory=list)  # things the user should be told
    key: str = ""  # identity of the prefilled state: model, voice, prompt tokens


class Engine:
    def __init__(self, loaded: model.LoadedModel, cache_dir: Path | None = None,
                 stt: "SpeechToText | None" = None, stt_note: str = "", stt_hint: str = "") -> None:
        self.loaded = loaded
        self.stt = stt  # the user's words; None without a speech-to-text model
        self.stt_note = stt_note  # why there are no user words, for the UI; "" with them
        self.stt_hint = stt_hint  # the command line's way forward for stt_note, if any
        self.lm = loaded.lm
        self.mimi = loaded.mimi
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.voices = VoiceLibrary(loaded.files.voices)
        self.cache_dir = Path(cache_dir) if cache_dir else paths.cache_dir()
        self.persona_states = PersonaCache()
        self._model_id = _model_identity(loaded)
        self._kept_loop = None  # frame_loop.KeptStreams of the last conversation, or None

    # -- the last conversation's streams, kept for the next (frame_loop.py) -------------
    def keep_loop(self, kept) -> None:
        self.release_loop()
        self._kept_loop = kept

    def take_kept_loop(self, key: tuple):
        """The kept streams if they were made for `key`; otherwise they are closed."""
        kept = self._kept_loop
        if kept is None or kept.key != key:
            self.release_loop()
            return None
        self._kept_loop = None
        return kept

    def release_loop(self) -> None:
        """Close the kept streams: the codec and the model are free for other uses."""
        kept, self._kept_loop = self._kept_loop, None
        if kept is not None:
            kept.close()

    @property
    def identity(self) -> tuple:
        """What the model's output depends on: weights, voices, precision, device."""
        return self._model_id

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None, device: str | None = None,
             dep_steps: int = C.NUM_CODEBOOKS, quant_mode: str = BF16,
             context: int | None = None, stt_dir: str | os.PathLike | None = None,
             user_words: bool = True, progress=None) -> "Engine":
        """PersonaPlex, plus the speech-to-text model for the user's words: from `stt_dir`
        (errors raised), else the downloaded one if any (`engine.stt_note` says why not).
        `progress(fraction, what)`, when given, follows the load (see model.load)."""
        from . import stt, stt_checkpoint

        files = checkpoint.locate(model_dir)
        if stt_dir is not None and user_words:
            stt_checkpoint.locate(stt_dir)  # a wrong folder fails before the long load
        dev = pick_device(device)
        compiling = _compile_ahead(files, dev, quant_mode, context, dep_steps, stt_dir, user_words)
        try:
            loaded = model.load(files, dev, dep_steps=dep_steps, quant_mode=quant_mode,
                                context=context, progress=progress)
        except BaseException:
            if compiling is not None:
                compiling.stop()
            raise
        speech, note, hint = stt.attach(loaded, stt_dir, enabled=user_words)
        return cls(loaded, stt=speech, stt_note=note, stt_hint=hint)

    def prepare(self, persona: Persona, voice_codes: "VoiceCodes | None" = None) -> PreparedPersona:
        """Everything the persona's prefill needs; errors say what to fix.

        `voice_codes`, when given, is the voice (already Mimi-encoded elsewhere, as the
        server does for uploads) instead of `persona.voice`/`voice_file`; nothing here
        touches Mimi then, so it is safe on any thread."""
        text = prompt.encode(self.tokenizer, persona.text, persona.token_budget, persona.truncate)
        notes = []
        if text.truncated:
            notes.append(f"The persona text was cut by {text.dropped_tokens} tokens to fit "
                         f"the budget of {text.budget}.")
        if voice_codes is not None:
            plan = generator.plan_prompt(self.lm, text.tokens, voice_codes=voice_codes.codes)
            label = voice_codes.name
            voice_id = "codes:" + voice_codes.key
        elif persona.voice_file:
            self.release_loop()  # encoding the recording needs the codec's own streams
            rec = prepare_recording(persona.voice_file, self.mimi, self.loaded.files.mimi, self.cache_dir)
            if rec.trimmed_seconds:
                notes.append(f"Only the first 30 s of the voice recording are used "
                             f"({rec.trimmed_seconds:.1f} s left out).")
            plan = generator.plan_prompt(self.lm, text.tokens, voice_codes=rec.codes)
            label = Path(persona.voice_file).name
            voice_id = "file:" + rec.key
        else:
            voice = self.voices.load(persona.voice, self.lm.dim)
            plan = generator.plan_prompt(self.lm, text.tokens, voice_embeddings=voice.embeddings,
                                         voice_ring=voice.ring)
            label = voice.name
            voice_id = "preset:" + voice.name
        key = hashlib.sha256(repr((self._model_id, voice_id, text.tokens)).encode()).hexdigest()
        return PreparedPersona(persona, plan, text, label, notes, key)

    def generator(self, batch_size: int = 1, sampling: generator.Sampling = generator.Sampling(),
                  cuda_graphs: bool = True, per_row_sampling: bool = False) -> generator.Generator:
        self.release_loop()
        return generator.Generator(self.lm, batch_size, sampling, cuda_graphs,
                                   per_row_sampling=per_row_sampling)

    def warm_up(self, frames: int = 3, sampling=None, keep: bool = False) -> None:
        """Run a short silent conversation so that library start-up (cuBLAS, cuDNN,
        kernel loading) happens now, while the app says "loading", and not in the first
        frames the user hears. `keep`: its streams and frame graph stay for the first
        conversation with `sampling` (default: greedy; frame_loop.py's keep_warm)."""
        import numpy as np

        from .frame_loop import FrameLoop

        names = self.voices.names()
        persona = Persona(text="Hello.", voice=names[0]) if names else None
        if persona is None:
            return
        prepared = self.prepare(persona)
        prepared.key = ""  # not worth a cache slot
        sampling = sampling or generator.Sampling(greedy=True)
        with FrameLoop(self, prepared, sampling, keep_warm=keep) as loop:
            for _ in range(frames):
                loop.process(np.zeros(C.FRAME_SIZE, dtype=np.float32))

    def piece(self, token: int) -> str | None:
        """The display piece of a text token; None for padding and specials."""
        if token in C.HIDDEN_TEXT or token >= self.tokenizer.vocab_size():
            return None
        if self.tokenizer.is_control(token) or self.tokenizer.is_unknown(token):
            return None
        return self.tokenizer.id_to_piece(token)


def _compile_ahead(files, device, quant_mode: str, context, dep_steps: int, stt_dir,
                   user_words: bool):
    """The fused kernels compiled in a child process while the weights are read, on a
    first start (kernel_warmup.py)."""
    from . import fused, kernel_warmup, stt_checkpoint
    from .modes import NEEDS

    need = NEEDS.get(quant_mode, NEEDS[BF16])[0]
    stt = (stt_dir or stt_checkpoint.find_installed()) if user_words else None
    compiling = kernel_warmup.start(files.root, device, quant_mode, context, dep_steps, stt, need)
    fused.compiled_ahead(compiling)
    return compiling


def _model_identity(loaded: model.LoadedModel) -> tuple:
    """What a prefilled state depends on besides the persona: weights, voices, precision."""
    stats = []
    for path in (loaded.files.lm, loaded.files.voices):
        st = path.stat() if path.exists() else None  # benchmarks build models in memory
        stats.append((str(path.resolve()), st and st.st_size, st and st.st_mtime_ns))
    return (*stats, str(loaded.lm.dtype), loaded.lm.dep_q, str(loaded.device), loaded.quant_mode)


def seed_everything(seed: int | None) -> None:
    if seed is not None:
        torch.manual_seed(seed)
