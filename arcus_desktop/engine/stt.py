"""The user's words: Kyutai's streaming speech-to-text on moshi's LMModel.

The model (`kyutai/stt-1b-en_fr`) reads all 32 Mimi codebooks of a frame and writes
one text token per 80 ms frame, greedily, 0.5 s behind the audio. PersonaPlex reads
the first 8 codebooks of the same encode (residual quantization: they equal an
8-codebook encode), so the frame loop encodes the user's audio once for both.

A step follows moshi's LMGen exactly (tests compare them token for token): the first
step sees only initial tokens, every later step sees the previous text token and this
frame's codes. All state changes are in place, so a step can sit inside the frame
loop's CUDA graph.
"""

from __future__ import annotations

import copy
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .torch_env import torch

import sentencepiece
from moshi.models.compression import MimiModel
from moshi.models.lm import LMModel

from ..core.errors import ArcusError, CheckpointShapeError, DeviceError
from ..core.modes import BF16, INT8
from ..core.transcript import Transcript
from . import checkpoint, model, stt_checkpoint, trunk
from . import constants as C
from .modes import GIB, kv_bytes
from .stt_checkpoint import HINT, NOT_INSTALLED, SttFiles

FRAME_SECONDS = C.FRAME_SIZE / C.SAMPLE_RATE


class SpeechToText:
    def __init__(self, lm: LMModel, tokenizer: sentencepiece.SentencePieceProcessor,
                 files: SttFiles, lean: bool = True) -> None:
        self.lm = lm
        self.tokenizer = tokenizer
        self.files = files
        self.device = lm.device
        self.n_q = lm.n_q
        self.delay_s = files.delay_seconds
        self.prefix_frames = math.ceil(files.prefix_seconds * C.FRAME_RATE)
        self.prefix_codes: torch.Tensor | None = None  # [P, n_q], set by attach()
        self._hidden = {lm.existing_text_padding_id, lm.existing_text_end_padding_id}
        lean = lean and trunk.supported(lm)
        self._trunk = trunk.Trunk(lm, lambda: trunk.offset_tensors(lm)) if lean else None
        self._started: torch.Tensor | None = None
        self._prev: torch.Tensor | None = None
        self._running: torch.Tensor | None = None

    @contextmanager
    def streaming(self, batch_size: int = 1) -> Iterator["SpeechToText"]:
        """Fresh streams for `batch_size` rows; `step` works only inside."""
        with self.lm.streaming(batch_size):
            self._started = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
            self._prev = torch.full((batch_size,), self.lm.text_initial_token_id,
                                    dtype=torch.long, device=self.device)
            self._running = torch.ones(batch_size, dtype=torch.bool, device=self.device)
            try:
                self._step_prefix(batch_size)
                yield self
            finally:
                self._started = self._prev = self._running = None

    def _step_prefix(self, batch_size: int) -> None:
        if self.prefix_codes is not None:
            for codes in self.prefix_codes:
                self.step(codes.expand(batch_size, -1))

    def set_running(self, mask: torch.Tensor) -> None:
        """Which rows the next steps advance (as Generator.set_running)."""
        self._running.copy_(mask.to(self.device))
        self.lm.set_exec_mask(self._running)

    @torch.no_grad()
    def restart(self, row: int) -> None:
        """A fresh stream in `row` (a new conversation there); other rows untouched.
        Leaves only `row` running: call set_running before the next batch step."""
        mask = torch.zeros_like(self._running)
        mask[row] = True
        self.lm.reset_streaming(mask)
        self._started[row] = False
        self._prev[row] = self.lm.text_initial_token_id
        self.set_running(mask)
        self._step_prefix(mask.shape[0])

    @torch.no_grad()
    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """One frame: Mimi codes [B, >=32, 1] or [B, >=32] in, text tokens [B] out."""
        if self._prev is None:
            raise RuntimeError("call step() inside `with stt.streaming():`")
        lm = self.lm
        if codes.dim() == 3:
            codes = codes[..., 0]
        codes = codes[:, : self.n_q].to(self.device, torch.long)
        first = ~self._started
        text = torch.where(first, lm.text_initial_token_id, self._prev)
        audio = torch.where(first[:, None], lm.initial_token_id, codes)
        # Same order of sums as moshi's forward_text, so the floats match exactly.
        x = lm.emb[0](audio[:, 0])
        for k in range(1, self.n_q):
            x = x + lm.emb[k](audio[:, k])
        x = (x + lm.text_emb(text))[:, None]
        hidden = self._trunk.step(x) if self._trunk is not None else lm.transformer(x)
        if lm.out_norm:
            hidden = lm.out_norm(hidden)
        token = lm.text_linear(hidden)[:, 0].float().argmax(-1)
        run = self._running
        self._prev.copy_(torch.where(run, token, self._prev))
        self._started.copy_(self._started | run)
        return token

    def piece(self, token: int) -> str | None:
        """The display piece of a text token; None for padding and specials."""
        sp = self.tokenizer
        if token in self._hidden or not 0 <= token < sp.vocab_size():
            return None
        if sp.is_control(token) or sp.is_unknown(token):
            return None
        return sp.id_to_piece(token)

    def time_of(self, frame: int) -> float:
        """When the user said what the token of conversation frame `frame` writes
        (seconds from the start): the frame's time less the model's text delay."""
        return max(0.0, frame * FRAME_SECONDS - self.delay_s)

    def words(self, tokens: Iterable[int], first_frame: int = 0) -> Transcript:
        return timed_words(tokens, self.piece, self.delay_s, first_frame)


def timed_words(tokens: Iterable[int], piece: Callable[[int], str | None], delay_s: float,
                first_frame: int = 0) -> Transcript:
    """Tokens of consecutive frames (from `first_frame`) as timed words, with the text
    delay taken off so that a word's time is when it was said; never before 0."""
    out = Transcript(FRAME_SECONDS)
    for i, token in enumerate(tokens):
        text = piece(int(token))
        if text is not None:
            out.add(int(token), text, max(0.0, (first_frame + i) * FRAME_SECONDS - delay_s))
    return out


def load(files: SttFiles, device: torch.device, dtype: torch.dtype | None = None,
         lean: bool = True, quant_mode: str = BF16) -> SpeechToText:
    """Check, then load the LM and tokenizer of a speech-to-text checkpoint (its
    weights quantized as they are read with quant_mode int8, as quant.py does)."""
    from .torch_env import default_dtype

    try:
        kwargs = stt_checkpoint.lm_kwargs(files.config, checkpoint.read_header(files.lm))
        tokenizer = model.load_tokenizer(files.tokenizer)
        if tokenizer.vocab_size() > kwargs["text_card"]:
            raise CheckpointShapeError(
                f"The speech-to-text tokenizer has {tokenizer.vocab_size()} pieces but the "
                f"model knows {kwargs['text_card']}.", HINT)
        lm = model.load_lm(files.lm, kwargs, 0, device, dtype or default_dtype(device), dep_steps=0,
                           quant_mode=quant_mode)
    except ArcusError as e:
        raise _reworded(e) from e
    return SpeechToText(lm, tokenizer, files, lean)


def check_codec(files: SttFiles, mimi: MimiModel, mimi_path: Path) -> None:
    """The speech-to-text model must read codes of the very codec PersonaPlex uses."""
    need = int(files.config.get("n_q", 32))
    if mimi.total_codebooks < need:
        raise CheckpointShapeError(
            f"PersonaPlex's Mimi codec has {mimi.total_codebooks} codebooks; the speech-to-text "
            f"model reads {need}.", "Use the Mimi checkpoint published with PersonaPlex.")
    try:
        same = (checkpoint.read_header(files.mimi) == checkpoint.read_header(mimi_path)
                and files.mimi.stat().st_size == mimi_path.stat().st_size)
    except ArcusError as e:
        raise _reworded(e) from e
    if not same:
        raise CheckpointShapeError(
            "The speech-to-text model was trained on another Mimi codec than PersonaPlex's, "
            "so one encoding of your voice cannot feed both.", "Use kyutai/stt-1b-en_fr.")


def attach(loaded: model.LoadedModel, stt_dir: str | os.PathLike | None = None,
           enabled: bool = True) -> tuple[SpeechToText | None, str, str]:
    """The speech-to-text model next to a loaded PersonaPlex, and why not when there is
    none. A folder given explicitly must load (errors are raised); one found in the
    Hugging Face cache is optional: if it cannot be used, the reason is returned, and the
    command line's way forward apart (the app offers its own: Settings > Engine)."""
    if not enabled:
        return None, ("Speech-to-text is switched off: user speech appears as timed turns "
                      "without words."), ""
    explicit = stt_dir is not None
    if not explicit:
        stt_dir = stt_checkpoint.find_installed()
        if stt_dir is None:
            return None, NOT_INSTALLED, ""
    try:
        files = stt_checkpoint.locate(stt_dir)
        check_codec(files, loaded.mimi, loaded.files.mimi)
        mode = quant_mode_for(loaded.quant_mode)
        _check_room(loaded, files, mode)
        speech = load(files, loaded.device, loaded.lm.dtype, quant_mode=mode)
        speech.prefix_codes = _silence_codes(loaded.mimi, speech.n_q, speech.prefix_frames)
    except ArcusError as e:
        if loaded.device.type == "cuda":
            torch.cuda.empty_cache()  # what a failed load took goes back to PersonaPlex
        if explicit:
            raise
        return None, (f"The speech-to-text model cannot be used: {e.message} "
                      "User speech appears as timed turns without words."), e.hint
    return speech, "", ""


STT_STATE = 0.15 * GIB  # its streaming state (0.09 GiB measured) and activations
CONVERSATION_WORKING = 0.5 * GIB  # PersonaPlex's activations and CUDA graph pools
# Of the bf16 file's bytes, what an 8-bit STT takes: 1.31 of 1.84 GiB measured (its
# embedding tables, 0.42 B parameters, stay bf16), with a margin.
INT8_SHARE = 0.75


def quant_mode_for(personaplex_mode: str) -> str:
    """The STT's precision next to PersonaPlex in `personaplex_mode`: full precision
    beside the full model; on a GPU small enough for a low-memory mode, 8-bit weights
    (1.31 instead of 1.84 GiB measured, at the same step time), so the user's words need
    half a GiB less of a small GPU."""
    return BF16 if personaplex_mode == BF16 else INT8


def shortfall(free: int, stt_bytes: int, persona_later: int) -> float:
    """Bytes missing for the STT's weights and state once PersonaPlex has taken what its
    conversations allocate later (0 when it fits)."""
    return max(0.0, stt_bytes + STT_STATE + persona_later + CONVERSATION_WORKING - free)


def _check_room(loaded: model.LoadedModel, files: SttFiles, mode: str) -> None:
    """PersonaPlex comes first: its key/value cache is only allocated when a conversation
    starts, so an STT loaded into that room would make every conversation fail."""
    if loaded.device.type != "cuda":
        return
    lm = loaded.lm
    free, _ = torch.cuda.mem_get_info(loaded.device)
    later = kv_bytes(lm.context or 0, len(lm.transformer.layers), lm.dim)
    size = files.lm.stat().st_size * (INT8_SHARE if mode == INT8 else 1)
    short = shortfall(free, int(size), later)
    if short:
        raise DeviceError(
            f"The GPU has too little memory for the speech-to-text model next to PersonaPlex "
            f"({short / GIB:.1f} GiB short).",
            "Close other programs that use the GPU, or choose a lower-precision mode in "
            "Settings > Engine.")


@torch.no_grad()
def _silence_codes(mimi: MimiModel, n_q: int, frames: int) -> torch.Tensor | None:
    """Codes of the silence the model expects before the audio (none for stt-1b-en_fr).
    Encoded once here: running them through the conversation's own encoder would shift
    PersonaPlex's input."""
    if frames == 0:
        return None
    before = mimi.num_codebooks
    mimi.set_num_codebooks(n_q)
    try:
        with mimi.streaming(1):
            zeros = torch.zeros(1, 1, C.FRAME_SIZE, device=next(mimi.parameters()).device)
            return torch.cat([mimi.encode(zeros)[0, :, 0][None] for _ in range(frames)])
    finally:
        mimi.set_num_codebooks(before)


def _reworded(e: ArcusError) -> ArcusError:
    """The same error, naming the speech-to-text model and its own download."""
    out = copy.copy(e)
    if "speech-to-text" not in e.message.lower():
        out.message = f"Speech-to-text model: {e.message}"
    if e.hint == checkpoint.REDOWNLOAD_HINT:
        out.hint = HINT
    out.args = (out.message,)
    return out
