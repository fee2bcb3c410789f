"""What the one-conversation loop (frame_loop.py) and the batch loop (batch_loop.py) share:
the streams opened for B rows, a persona put in one row, and the frame itself (Mimi
encode, step, Mimi decode, and the speech-to-text step), graphed as one CUDA graph."""

from __future__ import annotations

from contextlib import ExitStack

from .torch_env import torch

from moshi.utils.compile import CUDAGraphed

from . import constants as C
from .engine import Engine, PreparedPersona
from .generator import Sampling


def open_streams(stack: ExitStack, engine: Engine, stt, rows: int, sampling: Sampling,
                 cuda_graphs: bool, **generator_options):
    """Streaming state for `rows` conversations, closed with `stack`: the codec (all of
    the speech-to-text model's codebooks while it runs), the speech-to-text model, and
    the generator, which is returned."""
    engine.release_loop()  # a kept conversation's streams (frame_loop.py) close first
    stack.enter_context(torch.no_grad())
    if stt is not None:
        engine.mimi.set_num_codebooks(stt.n_q)
        stack.callback(engine.mimi.set_num_codebooks, C.NUM_CODEBOOKS)
        stack.enter_context(stt.streaming(rows))
    stack.enter_context(engine.mimi.streaming(rows))
    return stack.enter_context(engine.generator(rows, sampling, cuda_graphs, **generator_options))


def put_persona(engine: Engine, gen, row: int, persona: PreparedPersona) -> bool:
    """The persona's state in `row`: restored from the persona cache, or prefilled (and
    cached). Whether it came from the cache."""
    key = persona.key
    state = engine.persona_states.get(key) if key else None
    if state is not None:
        gen.restore(row, state)
        return True
    gen.start(row, persona.plan)
    if key:
        engine.persona_states.put(key, gen.snapshot(row))
    return False


def wait_for_device(engine: Engine) -> None:
    """Until the GPU's queued work is done (for honest timings)."""
    if engine.device.type == "cuda":
        torch.cuda.synchronize()


def graphed(frame_fn, engine: Engine, cuda_graphs: bool) -> CUDAGraphed:
    """One CUDA graph for the whole frame: no CPU gaps between encode, step and decode."""
    return CUDAGraphed(frame_fn, disable=engine.device.type != "cuda" or not cuda_graphs)


def step(engine: Engine, gen, stt, x: torch.Tensor,
         active_only: bool = False) -> tuple[torch.Tensor, ...]:
    """One frame of every row: `x` [B, 1, 1920], the users' audio. Returns the model's
    audio [B, 1920], its text tokens [B] and, with `stt`, the user's tokens [B].
    `active_only`: rows that hold no conversation decode code 0, not their initial
    tokens (which are not codes)."""
    mimi = engine.mimi
    codes = mimi.encode(x)  # [B, 8 or 32, 1]
    frames = gen.advance(codes[:, : C.NUM_CODEBOOKS, 0]).frames
    model_codes = frames[:, C.MODEL_AUDIO]
    if active_only:  # initial tokens are not codes
        model_codes = torch.where(gen.active[:, None], model_codes, 0)
    audio = mimi.decode(model_codes[:, :, None])  # [B, 1, 1920]
    if stt is None:
        return audio[:, 0].float(), frames[:, 0]
    return audio[:, 0].float(), frames[:, 0], stt.step(codes)
