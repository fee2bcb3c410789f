"""One conversation, one 80 ms frame at a time: Mimi encode, step, Mimi decode.

The offline `converse` command and the live app use this same loop.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from .torch_env import torch

from moshi.utils.compile import CUDAGraphed

from . import constants as C
from .engine import Engine, PreparedPersona
from .generator import Sampling


@dataclass
class FrameResult:
    pcm: np.ndarray  # 1920 samples the model says in this frame
    text_token: int
    piece: str | None  # visible text piece, "▁" marks a word start
    compute_ms: float


class FrameLoop:
    def __init__(self, engine: Engine, persona: PreparedPersona,
                 sampling: Sampling = Sampling(), cuda_graphs: bool = True) -> None:
        self.engine = engine
        self.cuda_graphs = cuda_graphs
        self.persona = persona
        self.sampling = sampling
        self._stack = ExitStack()
        self.prefill_ms = 0.0

    def __enter__(self) -> "FrameLoop":
        engine = self.engine
        self._stack.enter_context(torch.no_grad())
        self._stack.enter_context(engine.mimi.streaming(1))
        self.gen = self._stack.enter_context(engine.generator(1, self.sampling, self.cuda_graphs))
        t0 = time.perf_counter()
        key = self.persona.key
        state = engine.persona_states.get(key) if key else None
        self.persona_cached = state is not None
        if state is not None:
            self.gen.restore(0, state)
        else:
            self.gen.start(0, self.persona.plan)
            if key:
                engine.persona_states.put(key, self.gen.snapshot(0))
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        self.prefill_ms = (time.perf_counter() - t0) * 1e3
        # One CUDA graph for the whole frame: no CPU gaps between encode, step and decode.
        self._frame = CUDAGraphed(self._frame_fn, disable=engine.device.type != "cuda" or not self.cuda_graphs)
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _frame_fn(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mimi = self.engine.mimi
        codes = mimi.encode(x[None, None])  # [1, 8, 1]
        frame = self.gen.advance(codes[:, :, 0]).frames[0]
        audio = mimi.decode(frame[C.MODEL_AUDIO][None, :, None])  # [1, 1, 1920]
        return audio[0, 0].float(), frame[0]

    def process(self, pcm: np.ndarray) -> FrameResult:
        """Feed one frame of the user's audio (1920 samples at 24 kHz)."""
        t0 = time.perf_counter()
        x = torch.from_numpy(np.ascontiguousarray(pcm, dtype=np.float32)).to(self.engine.device)
        audio, text = self._frame(x)
        pcm_out = audio.cpu().numpy()  # copies: graph outputs are reused
        token = int(text)
        return FrameResult(pcm_out, token, self.engine.piece(token), (time.perf_counter() - t0) * 1e3)
