"""Many conversations on one model: N slots stepped together, one 80 ms tick for all.

Slots join and leave at any time, from any thread; every torch call happens on the
loop's own thread (CUDA graphs and their streaming state stay on one thread). A tick
steps the slots that have a whole frame of audio waiting and masks the others (moshi's
exec masks, for the LM, Mimi and the speech-to-text model alike): a masked slot's state
is untouched, so it resumes as if that tick had not happened. A joining persona is
prefilled (or restored from the persona cache) between two ticks, in its own row only
(the generator keeps the other rows' ring caches intact).

When a tick fires is engine/step_rule.py's: as soon as every running slot has a frame,
or at its due time for those that have one (real-time clients are paced by their own
audio, and one slow client never holds the others back by more than a period and a
grace).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from .torch_env import torch

from . import constants as C
from . import frame_step
from .engine import Engine, PreparedPersona, VoiceCodes
from .generator import Sampling
from .step_rule import StepRule

FRAME_PERIOD_S = C.FRAME_SIZE / C.SAMPLE_RATE


class NoFreeSlot(Exception):
    pass


@dataclass
class SlotReady:
    persona_cached: bool
    persona_ms: float


@dataclass
class SlotFrame:
    index: int  # this slot's frame number, from 0
    pcm: np.ndarray  # 1920 samples of the model's voice
    text_token: int
    piece: str | None  # the model's visible text piece ("▁" starts a word), or None
    user_piece: str | None = None  # the user's words, with a speech-to-text model
    user_time: float = 0.0  # when the user said user_piece, seconds from the slot's start
    backlog: int = 0  # whole frames of this slot's audio still waiting
    # How long this frame, once whole, waited for the others' frames (or the due time):
    # the wait that timing the frame's send can remove. Not counted: the loop busy with
    # other work, or waking late.
    wait_ms: float = 0.0


class SlotSink(Protocol):
    """What a slot reports, called on the loop's thread: never block in these."""

    def ready(self, info: SlotReady) -> None: ...

    def frame(self, frame: SlotFrame) -> None: ...

    def failed(self, error: BaseException) -> None: ...  # the slot is gone


class Slot:
    """One conversation's row. Thread-safe: push audio, close; the loop does the rest."""

    def __init__(self, loop: "BatchLoop", row: int) -> None:
        self.loop = loop
        self.row = row
        self.frames = 0  # steps taken
        self.closed = False
        self.running = False
        self._sink: SlotSink | None = None
        self._chunks: deque[np.ndarray] = deque()
        self._samples = 0
        self.ready_since = 0.0  # when its oldest waiting frame became whole

    @property
    def backlog(self) -> int:
        return self._samples // C.FRAME_SIZE

    def start(self, persona: PreparedPersona, sampling: Sampling, sink: SlotSink) -> None:
        """Prefill (or restore) the persona at the next chance; `sink.ready` follows."""
        self._sink = sink
        self.loop._queue(lambda: self.loop._start_slot(self, persona, sampling))

    def push(self, pcm: np.ndarray, limit: int | None = None) -> int:
        """Add the user's audio (24 kHz mono float32); returns the frames waiting. Audio
        that would make more than `limit` frames wait is not kept, and the count it would
        have made is returned: a flood never grows the slot."""
        return self.loop._push(self, pcm, limit)

    def close(self) -> None:
        self.loop._close_slot(self)


@dataclass
class LoopStats:
    sessions: int  # slots taken (starting or running)
    running: int
    max_sessions: int
    frames_total: int  # steps of the batch
    late_ticks: int
    slot_frames_total: int  # frames stepped, all slots together
    frame_ms: list[float] = field(default_factory=list)  # the last steps, oldest first
    wait_ms: list[float] = field(default_factory=list)  # how long the last frames waited for their step
    gpu_memory: int | None = None
    gpu_memory_peak: int | None = None
    frame_ms_sum: float = 0.0  # every step's time since the start
    wait_ms_sum: float = 0.0  # every frame's wait since the start (slot_frames_total of them)
    next_due: float = 0.0  # time.monotonic() by which the next step runs (if a frame waits)


class BatchLoop:
    def __init__(self, engine: Engine, slots: int, cuda_graphs: bool = True,
                 frame_period: float = FRAME_PERIOD_S, user_words: bool = True,
                 default_sampling: Sampling = Sampling()) -> None:
        self.engine = engine
        self.slots = slots
        self.cuda_graphs = cuda_graphs and engine.device.type == "cuda"
        self.frame_period = frame_period
        self.stt = engine.stt if user_words else None
        self.default_sampling = default_sampling
        self._cond = threading.Condition()
        self._free = list(range(slots))
        self._taken: set[Slot] = set()
        self._running: list[Slot] = []
        self._ops: deque[Callable[[], None]] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._fatal: BaseException | None = None
        self._rule = StepRule(frame_period)
        self._mask_dirty = True
        self._applied: np.ndarray | None = None
        self._voice_mimi = None
        self._times: deque[float] = deque(maxlen=1000)
        self._waits: deque[float] = deque(maxlen=4000)
        self._frames_total = 0
        self._frame_ms_sum = 0.0
        self._wait_ms_sum = 0.0
        self._slot_frames = 0
        self._memory: tuple[int, int] | None = None

    # -- life ---------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> "BatchLoop":
        self._thread = threading.Thread(target=self._run, name="batch-loop", daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout):
            raise TimeoutError("the batch loop did not start")
        if self._fatal is not None:
            raise self._fatal
        return self

    def close(self, timeout: float | None = None) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:  # nothing runs any more: every slot is free
            for slot in self._taken:
                slot.closed = True
            self._taken.clear()
            self._running.clear()
            self._cond.notify_all()

    def __enter__(self) -> "BatchLoop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for other threads ----------------------------------------------------------------
    def reserve(self) -> Slot:
        with self._cond:
            if self._stopping or self._fatal is not None:
                raise NoFreeSlot("the engine has stopped")
            if not self._free:
                raise NoFreeSlot(f"all {self.slots} slots are in use")
            slot = Slot(self, self._free.pop(0))
            self._taken.add(slot)
            self._cond.notify_all()
            return slot

    @property
    def failed(self) -> BaseException | None:
        """Why the loop's thread died, if it did (no conversation can run then)."""
        return self._fatal

    @property
    def sessions(self) -> int:
        with self._cond:
            return len(self._taken)

    def wait_for(self, test: Callable[["BatchLoop"], bool], timeout: float | None = None) -> bool:
        """Wait until `test(loop)` holds (checked whenever a slot is taken or freed)."""
        with self._cond:
            return self._cond.wait_for(lambda: test(self), timeout)

    def call(self, fn: Callable[[], object]) -> Future:
        """Run `fn()` on the loop's thread between two ticks; its result in a Future."""
        future: Future = Future()
        if self._stopping or self._fatal is not None:
            future.set_exception(RuntimeError("the engine has stopped"))
            return future

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the caller
                future.set_exception(e)

        self._queue(job)
        return future

    def encode_voice(self, name: str, pcm: np.ndarray, key: str) -> Future:
        """Mimi codes of a prepared recording (24 kHz mono, loudness-normalised), as
        VoiceCodes, from a codec instance of its own (the batch's is streaming)."""
        return self.call(lambda: VoiceCodes(name, self._encode_voice(pcm), key))

    def stats(self) -> LoopStats:
        with self._cond:
            memory = self._memory
            return LoopStats(len(self._taken), len(self._running), self.slots,
                             self._frames_total, self._rule.late, self._slot_frames,
                             list(self._times), list(self._waits),
                             memory[0] if memory else None, memory[1] if memory else None,
                             self._frame_ms_sum, self._wait_ms_sum, self._rule.due)

    # -- slot plumbing (other threads) ----------------------------------------------------
    def _queue(self, op: Callable[[], None]) -> None:
        with self._cond:
            self._ops.append(op)
            self._cond.notify_all()

    def _push(self, slot: Slot, pcm: np.ndarray, limit: int | None = None) -> int:
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        with self._cond:
            if slot.closed or pcm.size == 0:
                return slot.backlog
            if limit is not None and (slot._samples + pcm.size) // C.FRAME_SIZE > limit:
                return (slot._samples + pcm.size) // C.FRAME_SIZE
            before = slot.backlog
            slot._chunks.append(pcm)
            slot._samples += pcm.size
            if before == 0 and slot.backlog > 0:
                slot.ready_since = time.monotonic()
                self._cond.notify_all()
            return slot.backlog

    def _close_slot(self, slot: Slot) -> None:
        with self._cond:
            if slot.closed:
                return
            slot.closed = True
            slot._chunks.clear()
            slot._samples = 0
            self._ops.append(lambda: self._release(slot))
            self._cond.notify_all()

    # -- the loop's thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            with ExitStack() as stack:
                self._open(stack)
                self._opened.set()
                while (work := self._next()) is not None:
                    work()
                    with self._cond:
                        self._rule.free_since = time.monotonic()
        except BaseException as e:  # the loop is dead: every slot is told
            with self._cond:
                self._fatal = e
                slots = list(self._taken)
                self._cond.notify_all()
            for slot in slots:
                self._fail(slot, e)
        finally:
            self._opened.set()

    def _open(self, stack: ExitStack) -> None:
        engine, B = self.engine, self.slots
        self.gen = frame_step.open_streams(stack, engine, self.stt, B, self.default_sampling,
                                           self.cuda_graphs, per_row_sampling=True)
        self._frame = frame_step.graphed(self._frame_fn, engine, self.cuda_graphs)
        self._apply_mask(np.zeros(B, dtype=bool))

    def _next(self) -> Callable[[], None] | None:
        """The next thing to do: an operation, a tick, or None to stop. Waits for one."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._ops:
                    return self._ops.popleft()
                ready = [s for s in self._running if s._samples >= C.FRAME_SIZE]
                now = time.monotonic()
                if self._rule.step_now(now, ready, len(self._running)):
                    return self._take_tick(ready, now)
                self._cond.wait(self._rule.due - now if ready else None)

    def _take_tick(self, ready: list[Slot], now: float) -> Callable[[], None]:
        """Under the lock: take one frame from each ready slot."""
        x = np.zeros((self.slots, C.FRAME_SIZE), dtype=np.float32)
        mask = np.zeros(self.slots, dtype=bool)
        self._slot_frames += len(ready)
        reported = self._rule.take(now, ready, len(self._running))
        waits = {}
        for slot, told in zip(ready, reported):
            wait_ms = (now - slot.ready_since) * 1e3
            self._waits.append(wait_ms)
            self._wait_ms_sum += wait_ms
            waits[slot.row] = told
            x[slot.row] = _take(slot)
            mask[slot.row] = True
            if slot.backlog:
                slot.ready_since = now
        return lambda: self._tick(x, mask, ready, waits)

    def _tick(self, x: np.ndarray, mask: np.ndarray, ready: list[Slot],
              waits: dict[int, float]) -> None:
        t0 = time.perf_counter()
        try:
            self._apply_mask(mask)
            out = self._frame(torch.from_numpy(x).to(self.engine.device))
            pcm = out[0].cpu().numpy()  # copies: graph outputs are reused
            tokens = out[1].cpu().tolist()
            users = out[2].cpu().tolist() if self.stt is not None else None
        except Exception as e:  # the batch's state is suspect: end every conversation
            self._fail_all(e)
            return
        ms = (time.perf_counter() - t0) * 1e3
        with self._cond:
            self._times.append(ms)
            self._frame_ms_sum += ms
            self._frames_total += 1
            if self._frames_total % 25 == 1:
                self._memory = _gpu_memory(self.engine.device)
        for slot in ready:
            if slot.closed:
                continue
            token = tokens[slot.row]
            frame = SlotFrame(slot.frames, pcm[slot.row].copy(), token, self.engine.piece(token),
                              backlog=slot.backlog, wait_ms=waits[slot.row])
            if users is not None:
                frame.user_piece = self.stt.piece(users[slot.row])
                frame.user_time = self.stt.time_of(slot.frames)
            slot.frames += 1
            self._deliver(slot, lambda sink, f=frame: sink.frame(f))

    def _frame_fn(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # Rows that hold no conversation carry initial tokens, which are not codes.
        return frame_step.step(self.engine, self.gen, self.stt, x[:, None], active_only=True)

    def _apply_mask(self, mask: np.ndarray) -> None:
        if not self._mask_dirty and self._applied is not None and np.array_equal(mask, self._applied):
            return
        m = torch.from_numpy(mask).to(self.engine.device)
        self.gen.set_running(m)
        self.engine.mimi.set_exec_mask(m)
        if self.stt is not None:
            self.stt.set_running(m)
        self._applied = mask.copy()
        self._mask_dirty = False

    def _start_slot(self, slot: Slot, persona: PreparedPersona, sampling: Sampling) -> None:
        if slot.closed:
            return
        engine, row = self.engine, slot.row
        self._mask_dirty = True  # resets and prefills below change the exec masks
        t0 = time.perf_counter()
        try:
            only = torch.zeros(self.slots, dtype=torch.bool, device=engine.device)
            only[row] = True
            engine.mimi.reset_streaming(only)
            if self.stt is not None:
                self.stt.restart(row)
            cached = frame_step.put_persona(engine, self.gen, row, persona)
            self.gen.set_sampling(row, sampling)
            frame_step.wait_for_device(engine)
        except Exception as e:
            self._fail(slot, e)
            return
        with self._cond:
            if slot.closed:
                return
            slot.running = True
            self._running.append(slot)
            if slot.backlog:
                slot.ready_since = time.monotonic()
        info = SlotReady(cached, (time.perf_counter() - t0) * 1e3)
        self._deliver(slot, lambda sink: sink.ready(info))

    def _release(self, slot: Slot) -> None:
        """The slot's row goes back to the free list (after its conversation ended)."""
        if slot.running:
            self.gen.stop(slot.row)
            self._mask_dirty = True
        with self._cond:
            slot.running = False
            if slot in self._running:
                self._running.remove(slot)
            if slot in self._taken:
                self._taken.discard(slot)
                self._free.append(slot.row)
            self._cond.notify_all()

    def _fail(self, slot: Slot, error: BaseException) -> None:
        sink = slot._sink
        self._close_slot(slot)
        if sink is not None:
            try:
                sink.failed(error)
            except Exception:
                pass

    def _fail_all(self, error: BaseException) -> None:
        with self._cond:
            slots = list(self._taken)
        for slot in slots:
            self._fail(slot, error)

    def _deliver(self, slot: Slot, call: Callable[[SlotSink], None]) -> None:
        sink = slot._sink
        if sink is None or slot.closed:
            return
        try:
            call(sink)
        except Exception as e:  # a broken sink ends its own conversation, no other
            self._fail(slot, e)

    def _encode_voice(self, pcm: np.ndarray) -> torch.Tensor:
        from . import checkpoint, model
        from .voices import encode_recording

        if self._voice_mimi is None:
            files = self.engine.loaded.files
            config = checkpoint.mimi_config(checkpoint.read_config(files))
            self._voice_mimi = model.load_mimi(files.mimi, config, self.engine.device)
        return encode_recording(self._voice_mimi, pcm)


def _take(slot: Slot) -> np.ndarray:
    """One frame from a slot's queued audio (caller holds the lock)."""
    out = np.empty(C.FRAME_SIZE, dtype=np.float32)
    filled = 0
    while filled < C.FRAME_SIZE:
        chunk = slot._chunks[0]
        n = min(C.FRAME_SIZE - filled, chunk.size)
        out[filled:filled + n] = chunk[:n]
        filled += n
        if n == chunk.size:
            slot._chunks.popleft()
        else:
            slot._chunks[0] = chunk[n:]
    slot._samples -= C.FRAME_SIZE
    return out


def _gpu_memory(device: torch.device) -> tuple[int, int] | None:
    if device.type != "cuda":
        return None
    return torch.cuda.memory_allocated(device), torch.cuda.max_memory_allocated(device)
