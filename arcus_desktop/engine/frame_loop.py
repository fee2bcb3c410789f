"""One conversation, one 80 ms frame at a time: Mimi encode, step, Mimi decode.

With a speech-to-text model the user's frame is encoded with all 32 codebooks: the
first 8 feed PersonaPlex (the same codes an 8-codebook encode gives), all 32 feed the
speech-to-text step, inside the same graphed frame function.
The offline `converse` command and the live app use this same loop.

`keep_warm`: the app's conversations leave their streams and captured frame graph with
the engine when they end, and the next conversation with the same settings resets and
reuses them: capturing the graph again cost the first two frames of every conversation
~140 ms on the H100 (docs/PERFORMANCE.md, bench/first_audio_gpu.py). Anything else that
needs the codec or the model's streams first closes the kept ones
(`Engine.release_loop`).
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from .torch_env import torch

from . import constants as C
from . import frame_step
from .engine import Engine, PreparedPersona
from .generator import Sampling


@dataclass
class FrameResult:
    pcm: np.ndarray  # 1920 samples the model says in this frame
    text_token: int
    piece: str | None  # visible text piece, "▁" marks a word start
    compute_ms: float
    user_token: int | None = None  # the speech-to-text token; None without that model
    user_piece: str | None = None  # a visible piece of the user's words
    user_time: float = 0.0  # when the user said user_piece: seconds from the start


@dataclass
class KeptStreams:
    """A finished conversation's streams and frame graph, kept for the next one."""
    key: tuple
    stack: ExitStack
    gen: object
    frame: object

    def close(self) -> None:
        self.stack.close()  # the codec goes back to 8 codebooks, streams close


class FrameLoop:
    def __init__(self, engine: Engine, persona: PreparedPersona,
                 sampling: Sampling = Sampling(), cuda_graphs: bool = True,
                 user_words: bool = True, keep_warm: bool = False) -> None:
        self.engine = engine
        self.cuda_graphs = cuda_graphs
        self.persona = persona
        self.sampling = sampling
        self.stt = engine.stt if user_words else None
        self.keep_warm = keep_warm
        self.frames = 0  # frames processed so far
        self._stack = ExitStack()
        self.prefill_ms = 0.0
        self.reused_streams = False  # whether the last conversation's streams were reused
        # The graph bakes in the sampling settings and which speech-to-text model runs
        # (id(None) when none does).
        self._key = (sampling, cuda_graphs, id(self.stt))

    def __enter__(self) -> "FrameLoop":
        try:
            self._start()
        except BaseException:
            self._stack.close()  # the codec goes back to 8 codebooks, streams close
            raise
        return self

    def _start(self) -> None:
        engine = self.engine
        kept = engine.take_kept_loop(self._key)
        if kept is not None:
            self._stack, self.gen, self._frame = kept.stack, kept.gen, kept.frame
            self.reused_streams = True
            self._reset()
        else:
            self.gen = frame_step.open_streams(self._stack, engine, self.stt, 1, self.sampling,
                                               self.cuda_graphs)
        t0 = time.perf_counter()
        self.persona_cached = frame_step.put_persona(engine, self.gen, 0, self.persona)
        frame_step.wait_for_device(engine)
        self.prefill_ms = (time.perf_counter() - t0) * 1e3
        if kept is None:
            self._frame = frame_step.graphed(self._frame_fn, engine, self.cuda_graphs)

    def _reset(self) -> None:
        """A fresh conversation in kept streams: in place, so the graph's addresses hold
        (the persona's start or restore resets the model's row)."""
        self.engine.mimi.reset_streaming()
        if self.stt is not None:
            self.stt.restart(0)

    def __exit__(self, exc_type, *exc) -> None:
        if self.keep_warm and exc_type is None:
            self.gen.stop(0)
            self.engine.keep_loop(KeptStreams(self._key, self._stack, self.gen, self._frame))
        else:
            self._stack.close()

    def _frame_fn(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = frame_step.step(self.engine, self.gen, self.stt, x[None, None])
        return out[0][0], out[1][0], *out[2:]  # [1920], a token, [1] (speech-to-text)

    def process(self, pcm: np.ndarray) -> FrameResult:
        """Feed one frame of the user's audio (1920 samples at 24 kHz)."""
        t0 = time.perf_counter()
        x = torch.from_numpy(np.ascontiguousarray(pcm, dtype=np.float32)).to(self.engine.device)
        out = self._frame(x)
        pcm_out = out[0].cpu().numpy()  # copies: graph outputs are reused
        token = int(out[1])
        result = FrameResult(pcm_out, token, self.engine.piece(token), 0.0)
        if self.stt is not None:
            self._user(result, int(out[2][0]))
        self.frames += 1
        result.compute_ms = (time.perf_counter() - t0) * 1e3
        return result

    def flush_user(self, frames: int | None = None) -> list[FrameResult]:
        """End of the conversation: the speech-to-text model runs behind the audio, so feed
        it silence (`frames`, default: its delay) for the user's last words. PersonaPlex
        does not step; the results carry no model audio or text."""
        if self.stt is None:
            return []
        if frames is None:
            frames = math.ceil(self.stt.delay_s * C.FRAME_RATE)
        mimi, out = self.engine.mimi, []
        silence = torch.zeros(1, 1, C.FRAME_SIZE, device=self.engine.device)
        for _ in range(frames):
            t0 = time.perf_counter()
            result = FrameResult(np.zeros(0, dtype=np.float32), C.TEXT_PAD, None, 0.0)
            self._user(result, int(self.stt.step(mimi.encode(silence))[0]))
            self.frames += 1
            result.compute_ms = (time.perf_counter() - t0) * 1e3
            out.append(result)
        return out

    def _user(self, result: FrameResult, token: int) -> None:
        result.user_token = token
        result.user_piece = self.stt.piece(token)
        result.user_time = self.stt.time_of(self.frames)
