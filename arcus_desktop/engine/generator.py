"""PersonaPlex generation on moshi's LMModel: persona prefill and the conversation step.

Vocabulary. The transformer consumes one *column* per position: 17 tokens where the
delay-1 streams hold the previous frame's values. Frame F[n] puts its delay-0 tokens in
column n and its delay-1 tokens in column n+1; column 0 is all initial tokens and the
first prompt frame is never seen (the reference's first step only does bookkeeping).

A step consumes the current column, predicts the next one (text, then the audio
codebooks through the depformer, each either forced or sampled) and returns the frame
that is now complete. Sessions live in rows of one batch and start and stop
independently.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass

from .torch_env import torch

from moshi.models.lm import LMModel
from moshi.utils.compile import CUDAGraphed
from moshi.utils.sampling import sample_token

from . import constants as C
from . import depformer, fused, trunk
from .row_sampling import RowSampling

FREE = -1  # a token to sample rather than force


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8
    top_k: int = 250
    text_temperature: float = 0.7
    text_top_k: int = 25
    greedy: bool = False


@dataclass
class PromptPlan:
    """What a session is conditioned on before the conversation.

    `prefix` holds precomputed transformer inputs for the first positions (a voice
    replayed from a .pt file), `columns` the token columns after it; the last column is
    not consumed by the prefill but by the first conversation step. `carry` holds the
    delay-1 tokens of the column after the last one.
    """

    prefix: torch.Tensor | None  # [P, dim]
    columns: torch.Tensor  # [N, 17] long
    carry: torch.Tensor  # [17] long

    @property
    def length(self) -> int:
        return (0 if self.prefix is None else self.prefix.shape[0]) + self.columns.shape[0]


def _delay_mask(lm: LMModel) -> torch.Tensor:
    return torch.tensor([d > 0 for d in lm.delays], dtype=torch.bool)


def _frame(text: int, model: list[int] | tuple[int, ...], user: list[int] | tuple[int, ...]) -> list[int]:
    return [text, *model, *user]


def plan_prompt(
    lm: LMModel,
    text_tokens: list[int],
    voice_codes: torch.Tensor | None = None,
    voice_embeddings: torch.Tensor | None = None,
    voice_ring: torch.Tensor | None = None,
) -> PromptPlan:
    """The forced frames of a persona: voice, silence, text prompt, silence.

    The voice is either Mimi codes [V, 8] or a replay of a reference `.pt` file:
    `voice_embeddings` [V-1, dim] (inputs of positions 0..V-2) plus its token ring
    [17, R] (slot = position mod R) that holds column V-1 and the delay-1 part of V.
    """
    if max(lm.delays) > 1:
        raise ValueError("only delays of 0 and 1 are supported")
    delayed = _delay_mask(lm)
    initial = torch.tensor([lm.text_initial_token_id] + [lm.initial_token_id] * lm.n_q)
    silence = _frame(C.TEXT_PAD, C.SILENCE_CODES, C.SINE_CODES)
    frames: list[list[int]] = []
    if voice_codes is not None:
        frames += [_frame(C.TEXT_PAD, row.tolist(), C.SINE_CODES) for row in voice_codes]
    frames += [silence] * C.SILENCE_FRAMES
    frames += [_frame(t, C.SILENCE_CODES, C.SINE_CODES) for t in text_tokens]
    frames += [silence] * C.SILENCE_FRAMES
    tail = torch.tensor(frames, dtype=torch.long)

    if voice_embeddings is not None:
        assert voice_ring is not None
        pos = voice_embeddings.shape[0] + 1  # frames the voice took, as in the reference
        ring_len = voice_ring.shape[-1]
        first = voice_ring[:, (pos - 1) % ring_len].clone()
        carry = torch.where(delayed, voice_ring[:, pos % ring_len], initial)
        prefix = voice_embeddings
    else:
        # The first frame is replaced by the initial column.
        first, tail = initial.clone(), tail[1:]
        carry = initial.clone()
        prefix = None
    columns = [first]
    for frame in tail:
        columns.append(torch.where(delayed, carry, frame))
        carry = torch.where(delayed, frame, initial)
    return PromptPlan(prefix, torch.stack(columns), carry)


@dataclass
class PersonaState:
    """A row right after its persona prefill: restoring it skips the prefill."""

    keys_values: list[torch.Tensor]  # per layer [2, heads, positions, head_dim]
    cur: torch.Tensor  # [17]
    carry: torch.Tensor  # [17]

    @property
    def positions(self) -> int:
        return self.keys_values[0].shape[2]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys_values)


@dataclass
class StepOutput:
    frames: torch.Tensor  # [B, 17]: the frame completed by this step, per row
    text_logits: torch.Tensor | None = None  # [B, text_card] (float32 with with_logits)
    audio_logits: torch.Tensor | None = None  # [B, steps, card], before forcing


class Generator:
    """A batch of independent PersonaPlex sessions on one LMModel."""

    def __init__(self, lm: LMModel, batch_size: int = 1, sampling: Sampling = Sampling(),
                 cuda_graphs: bool = True, lean: bool = True, per_row_sampling: bool = False) -> None:
        self.lm = lm
        self.batch_size = batch_size
        self.sampling = sampling
        # Per-row settings (a server's conversations each choose theirs), or where the
        # fused kernels run, one sampling kernel for every row alike; None: `sampling` for
        # every row, drawn exactly as moshi draws.
        self._per_row = per_row_sampling
        fused_draws = lean and fused.SAMPLE and fused.available(lm.device)
        self.rows = RowSampling(batch_size, lm.device, sampling, fused_draws) \
            if per_row_sampling or fused_draws else None
        self.device = lm.device
        self.dep_steps = lm.dep_q
        self._delayed = _delay_mask(lm).to(self.device)
        self._initial = torch.tensor(
            [lm.text_initial_token_id] + [lm.initial_token_id] * lm.n_q, device=self.device)
        self._stack = lm.streaming(batch_size)
        self._attention = [layer.self_attn for layer in lm.transformer.layers]
        self.active = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        self._cur = self._initial.repeat(batch_size, 1)
        self._carry = self._initial.repeat(batch_size, 1)
        # Lean single-frame passes over moshi's weights and state (see their modules).
        self._depformer = depformer.Depformer(lm, batch_size) if lean and depformer.supported(lm) else None
        self._lean_trunk = trunk.Trunk(lm, self._offset_tensors) if lean and trunk.supported(lm) else None
        # The 17 input streams' embeddings summed in one kernel where fused.py's run.
        tables = [lm.text_emb, *lm.emb]
        self._tables = fused.Tables(tables) if lean and fused.available(lm.device) and all(
            fused.plain_embedding(m, lm) for m in tables) else None
        self._use_graphs = cuda_graphs and self.device.type == "cuda"
        self._graphed = CUDAGraphed(self.advance, disable=not self._use_graphs)
        self.lm.set_exec_mask(self.active)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sessions -------------------------------------------------------------------
    @torch.no_grad()
    def start(self, row: int, plan: PromptPlan) -> None:
        """Reset `row` and condition it on a persona in one transformer pass."""
        lm = self.lm
        capacity = lm.context or 0
        if plan.length > capacity:
            raise ValueError(f"persona prompt of {plan.length} frames exceeds the context")
        mask = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        mask[row] = True
        lm.reset_streaming(mask)
        columns = plan.columns.to(self.device)
        parts = []
        if plan.prefix is not None:
            parts.append(plan.prefix.to(self.device, lm.dtype))
        if columns.shape[0] > 1:
            parts.append(self.embed(columns[None, :-1])[0])
        if parts and self._lean_trunk is not None:
            self._lean_trunk.prefill(row, torch.cat(parts))
        elif parts:
            x = torch.cat(parts)
            batch = torch.zeros(self.batch_size, *x.shape, device=self.device, dtype=x.dtype)
            batch[row] = x
            lm.set_exec_mask(mask)
            self._prefill(batch, mask)
        self._cur[row] = columns[-1]
        self._carry[row] = torch.where(self._delayed, plan.carry.to(self.device), self._initial)
        self.active[row] = True
        lm.set_exec_mask(self.active)

    def stop(self, row: int) -> None:
        self.active[row] = False
        self.lm.set_exec_mask(self.active)

    def set_running(self, mask: torch.Tensor) -> None:
        """Which rows the next steps advance; the others keep their state untouched (a
        paused row resumes as if the skipped steps never happened)."""
        self.active.copy_(mask.to(self.device))
        self.lm.set_exec_mask(self.active)

    def set_sampling(self, row: int, sampling: Sampling) -> None:
        if not self._per_row:
            raise RuntimeError("this generator samples every row alike (per_row_sampling=False)")
        self.rows.set(row, sampling)

    def snapshot(self, row: int) -> PersonaState:
        """The state of `row` right after `start`, for `restore` into any row later."""
        positions = int(self._attention[0]._streaming_state.kv_cache.end_offset[row])
        if positions > (self.lm.context or 0):
            raise ValueError("only a row that has not wrapped its ring can be snapshot")
        kv = [a._streaming_state.kv_cache.cache[:, row, :, :positions].clone() for a in self._attention]
        return PersonaState(kv, self._cur[row].clone(), self._carry[row].clone())

    @torch.no_grad()
    def restore(self, row: int, state: PersonaState) -> None:
        """Start `row` from a snapshot: a copy instead of a prefill, same tokens after."""
        mask = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        mask[row] = True
        self.lm.reset_streaming(mask)
        for attn, kv in zip(self._attention, state.keys_values):
            attn._streaming_state.kv_cache.cache[:, row, :, : state.positions] = kv
        for offsets in self._offset_tensors():
            offsets[row] = state.positions
        self._cur[row] = state.cur
        self._carry[row] = state.carry
        self.active[row] = True
        self.lm.set_exec_mask(self.active)

    def _offset_tensors(self) -> list[torch.Tensor]:
        return trunk.offset_tensors(self.lm)

    # -- conversation -----------------------------------------------------------------
    @torch.no_grad()
    def step(self, user_codes: torch.Tensor, with_logits: bool = False) -> StepOutput:
        """Advance every active row by one frame. `user_codes` is [B, 8]."""
        user = user_codes.to(self.device, torch.long)
        if with_logits:
            return self.advance(user, True)
        out = self._graphed(user)
        # Graph outputs are overwritten by the next replay.
        return StepOutput(out.frames.clone(), out.text_logits.clone())

    def advance(self, user: torch.Tensor, with_logits: bool = False) -> StepOutput:
        """`step` without its own CUDA graph: every state change is in place, so a caller
        may capture it inside a larger graph (the frame loop does)."""
        forced = torch.full_like(self._cur, FREE)
        forced[:, C.MODEL_AUDIO] = torch.where(
            self._delayed[C.MODEL_AUDIO], self._carry[:, C.MODEL_AUDIO], FREE)
        forced[:, C.USER_AUDIO] = torch.where(
            self._delayed[C.USER_AUDIO], self._carry[:, C.USER_AUDIO], user)
        out = self._core(self._cur, forced, with_logits)
        keep = self.active[:, None]
        self._cur.copy_(torch.where(keep, out[0], self._cur))
        carry = torch.full_like(self._carry, FREE)
        carry[:, C.USER_AUDIO] = user
        self._carry.copy_(torch.where(keep, carry, self._carry))
        return StepOutput(*out[1:])

    # -- internals ------------------------------------------------------------------
    def embed(self, columns: torch.Tensor) -> torch.Tensor:
        """Transformer inputs [..., dim] of token columns [..., 17] (what a voice .pt stores)."""
        lm = self.lm
        if self._tables is not None:
            return self._tables.sum(columns[..., :1 + lm.n_q])
        x = lm.text_emb(columns[..., 0])
        for k in range(lm.n_q):
            x = x + lm.emb[k](columns[..., k + 1])
        return x

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lm = self.lm
        if self._lean_trunk is not None and x.shape[1] == 1:
            hidden = self._lean_trunk.step(x, lm.out_norm or None)
        else:
            hidden = lm.transformer(x)
            if lm.out_norm:
                hidden = lm.out_norm(hidden)
        return hidden, lm.text_linear(hidden)

    def _prefill(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        """Run the trunk on a prompt for the rows in `mask` only.

        moshi's ring cache writes T slots in every row for T > 1; rows that are not
        prefilling get those slots back afterwards, so a running session is never hurt.
        """
        T = x.shape[1]
        saved = []
        if not bool(mask.all()):
            for attn in self._attention:
                kv = attn._streaming_state.kv_cache
                index = (kv.end_offset.view(-1, 1) + torch.arange(T, device=self.device)) % kv.capacity
                index = index[None, :, None, :, None].expand(2, -1, kv.cache.shape[2], -1, kv.cache.shape[4])
                saved.append((kv, index, kv.cache.gather(3, index)))
        self._trunk(x)
        keep = ~mask[None, :, None, None, None]
        for kv, index, old in saved:
            kv.cache.scatter_(3, index, torch.where(keep, old, kv.cache.gather(3, index)))

    def _sample(self, logits: torch.Tensor, temperature: float, top_k: int, which: int,
                forced: torch.Tensor, into: torch.Tensor) -> torch.Tensor:
        """Tokens [B] drawn from logits, or `forced` where it is >= 0, written to `into`
        ([B], a column of the next frame that holds `forced` already)."""
        if self.rows is not None and self.rows.fused:  # the override in the draw's kernel
            return self.rows.sample(logits, which, into)
        if self.rows is not None:
            token = self.rows.sample(logits, which)
        else:
            s = self.sampling
            use = not s.greedy and temperature > 0
            token = sample_token(logits.float(), use, temperature, top_k)
        into.copy_(torch.where(forced >= 0, forced, token))
        return into

    def _core(self, cur: torch.Tensor, forced: torch.Tensor, with_logits: bool = False):
        lm, s = self.lm, self.sampling
        hidden, text_logits = self._trunk(self.embed(cur[:, None]))
        nxt = forced.clone()
        prev = self._sample(text_logits[:, 0], s.text_temperature, s.text_top_k, RowSampling.TEXT,
                            forced[:, 0], nxt[:, 0])
        audio_logits = []
        with contextlib.ExitStack() as stack:
            if self._depformer is None:
                stack.enter_context(lm.depformer.streaming(cur.shape[0]))
            for k in range(self.dep_steps):
                if self._depformer is None:
                    logits = lm.forward_depformer(k, prev[:, None, None], hidden)[:, 0, 0]
                else:
                    logits = self._depformer.logits(k, prev, hidden)
                if with_logits:
                    audio_logits.append(logits.float())
                prev = self._sample(logits, s.temperature, s.top_k, RowSampling.AUDIO,
                                    forced[:, k + 1], nxt[:, k + 1])
        # Columns hold delay-1 streams one position late: un-delay to get a whole frame.
        frames = torch.where(self._delayed, nxt, cur)
        if with_logits:
            return nxt, frames, text_logits[:, 0].float(), torch.stack(audio_logits, 1)
        return nxt, frames, text_logits[:, 0]
